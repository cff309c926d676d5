"""When a schedule acts: its trigger.

A trigger fires once per trial, at the end of a step: ``start`` before the first step (step 0),
``drop`` at the first step with f(u_t) <= f(u_0) - delta (the escape), ``step:N`` after step N,
``f:LEVEL`` at the first step with f(u_t) <= LEVEL.  A rule that follows a trigger fired at step t_s
acts from step t_s + 1 on, and counts its own time tau = t - t_s (tau = 1 at its first step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from saddle.options import ConfigError, integer, real

NEVER, START, DROP, STEP, LEVEL = 0, 1, 2, 3, 4
"""The triggers' codes in the run record (NEVER: the rule is off)."""


def number_text(x: float) -> str:
    """The shortest text of ``x`` that reads back to it exactly ('200', '-0.9', '0.1')."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


@dataclass(frozen=True)
class Trigger:
    """When a rule of a schedule starts acting: ``kind`` 'start', 'drop', 'step' (after step ``value``)
    or 'f' (at the first f(u_t) <= ``value``)."""

    kind: str = "drop"
    value: float = 0.0

    KINDS: ClassVar[dict[str, int]] = {"start": START, "drop": DROP, "step": STEP, "f": LEVEL}

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ConfigError(f"unknown trigger {self.kind!r}; choose one of start, drop, step:N, f:LEVEL")
        if self.kind == "step":
            object.__setattr__(self, "value", float(integer("a step trigger's step", self.value, 0)))
        elif self.kind == "f":
            object.__setattr__(self, "value", real("a trigger's f level", self.value, positive=False))
        elif self.value != 0.0:
            raise ConfigError(f"the {self.kind} trigger takes no value, got {self.value!r}")

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """'start', 'drop', 'step:N' or 'f:LEVEL'."""
        kind, _, value = text.strip().partition(":")
        if kind in ("step", "f"):
            if not value:
                raise ConfigError(f"the {kind} trigger needs a value: {kind}:{'N' if kind == 'step' else 'LEVEL'}")
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(f"the {kind} trigger's value must be a number, got {value!r}") from None
            return cls(kind, number)
        if value:
            raise ConfigError(f"the {kind} trigger takes no value, got {text!r}")
        return cls(kind)

    @property
    def code(self) -> int:
        return self.KINDS[self.kind]

    @property
    def text(self) -> str:
        if self.kind == "step":
            return f"step:{int(self.value)}"
        if self.kind == "f":
            return f"f:{number_text(self.value)}"
        return self.kind

    def describe(self) -> str:
        """Words for tables and figures."""
        return {
            "start": "from the start",
            "drop": "after the f-drop",
            "step": f"after step {int(self.value)}",
            "f": f"once f <= {self.value:g}",
        }[self.kind]

    def check(self, *, max_steps: int, f_min: float | None, target: float | None) -> None:
        """ConfigError when the trigger can never act in a run of ``max_steps`` steps that ends at
        ``target`` (None: no target) on an objective whose minimum is ``f_min`` (None: unknown)."""
        if self.kind == "step" and self.value >= max_steps:
            raise ConfigError(
                f"the trigger step:{int(self.value)} never fires: the run stops at max_steps = {max_steps}"
            )
        if self.kind == "f":
            if f_min is not None and self.value < f_min:
                raise ConfigError(
                    f"the trigger f:{self.value:g} never fires: it is below the objective's minimum f_min = {f_min:.6g}"
                )
            if target is not None and math.isfinite(target) and self.value <= target:
                raise ConfigError(
                    f"the trigger f:{self.value:g} never acts: the run ends at the target {target:g} first"
                )
