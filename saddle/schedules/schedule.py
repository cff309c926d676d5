"""A schedule: a batch-size rule, a step-size rule and a sample budget, each optional, as one value.

Its text (``--schedule``) lists its parts, comma-separated, each rule with its trigger after '@'
(the f-drop when none is given):

- ``m=M@TRIGGER``: the batch size becomes M (:class:`~saddle.schedules.batch.BatchSwitch`);
- ``eta=inverse-time:T0@TRIGGER``: eta / (1 + tau/T0) (:class:`~saddle.schedules.inverse_time.InverseTime`);
- ``eta=step:GAMMA:EVERY@TRIGGER``: eta x GAMMA^floor(tau/EVERY) (:class:`~saddle.schedules.step_decay.StepDecay`);
- ``budget=N``: a trial ends once it has drawn N samples after its f-drop (matched sample budgets);
- ``constant``: none of them.

Triggers (:class:`~saddle.schedules.trigger.Trigger`): ``start``, ``drop``, ``step:N``, ``f:LEVEL``.
For example ``m=1@drop,budget=100000`` is the seed's "finish with m = 1" at a budget of 10^5 samples
after the escape, and ``m=1@drop,eta=inverse-time:200@drop`` the same with the step size decaying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saddle.options import ConfigError, integer
from saddle.schedules.base import StepRule, rule_from_text
from saddle.schedules.batch import BatchSwitch
from saddle.schedules.trigger import NEVER, Trigger

OFF_FIELDS: dict[str, float | int] = {
    "m_trigger": NEVER,
    "m_trigger_value": 0.0,
    "m_after": 0,
    "eta_trigger": NEVER,
    "eta_trigger_value": 0.0,
    "decay": 0,
    "decay_a": 0.0,
    "decay_b": 0.0,
    "budget": 0,
    "samples_per_m": 1,
}
"""The run record's schedule fields of a constant schedule."""

MAX_BUDGET = 2**62
PARTS = "m=M@TRIGGER, eta=RULE:...@TRIGGER, budget=N, constant"
TRIGGERS = "start, drop, step:N, f:LEVEL"


@dataclass(frozen=True)
class Schedule:
    """The batch size's rule ``batch``, the step size's rule ``step`` and the ``budget`` of samples
    after the f-drop (None: each off).  ``Schedule()`` is the constant schedule."""

    batch: BatchSwitch | None = None
    step: StepRule | None = None
    budget: int | None = None

    def __post_init__(self) -> None:
        if self.batch is not None and not isinstance(self.batch, BatchSwitch):
            raise ConfigError(f"a schedule's batch rule must be a BatchSwitch, got {self.batch!r}")
        if self.step is not None and not isinstance(self.step, StepRule):
            raise ConfigError(f"a schedule's step-size rule must be a StepRule, got {self.step!r}")
        if self.budget is not None:
            object.__setattr__(
                self, "budget", integer("a schedule's budget (samples after the f-drop)", self.budget, 1, MAX_BUDGET)
            )

    # ------------------------------------------------------------------------------------ text
    @classmethod
    def parse(cls, text: Any) -> Schedule:
        """The schedule a ``--schedule`` text names (module docstring); ConfigError in one line if it names none."""
        if isinstance(text, Schedule):
            return text
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"a schedule must be a text such as 'm=1@drop,budget=100000', got {text!r}")
        batch: BatchSwitch | None = None
        step: StepRule | None = None
        budget: int | None = None
        for part in (p.strip() for p in text.split(",")):
            if part == "constant":
                continue
            key, eq, value = part.partition("=")
            if not eq or not value:
                raise ConfigError(f"schedule part {part!r} is not KEY=VALUE; parts: {PARTS}")
            body, at, trig = value.rpartition("@") if "@" in value else (value, "", "drop")
            if at and not trig:
                raise ConfigError(
                    f"schedule part {part!r} names no trigger after '@'; triggers: start, drop, step:N, f:LEVEL"
                )
            trigger = Trigger.parse(trig)
            if key == "m":
                if batch is not None:
                    raise ConfigError("a schedule takes one m=... part")
                try:
                    m_after = float(body)
                except ValueError:
                    raise ConfigError(f"the batch size after the trigger must be an integer, got {body!r}") from None
                batch = BatchSwitch(m_after, trigger)  # type: ignore[arg-type]
            elif key == "eta":
                if step is not None:
                    raise ConfigError("a schedule takes one eta=... part")
                step = rule_from_text(body, trigger)
            elif key == "budget":
                if budget is not None:
                    raise ConfigError("a schedule takes one budget=... part")
                if at:
                    raise ConfigError("budget counts samples after the f-drop; it takes no trigger")
                try:
                    number = float(body)
                except ValueError:
                    raise ConfigError(f"a schedule's budget must be a whole number of samples, got {body!r}") from None
                budget = integer("a schedule's budget (samples after the f-drop)", number, 1, MAX_BUDGET)
            else:
                raise ConfigError(
                    f"unknown schedule part {key!r}; parts: m=M@TRIGGER, eta=RULE:...@TRIGGER, budget=N, constant"
                )
        return cls(batch, step, budget)

    @property
    def text(self) -> str:
        """Its canonical text (what ``parse`` reads back to an equal schedule; config.json stores it)."""
        parts = [r.text for r in (self.batch, self.step) if r is not None]
        if self.budget is not None:
            parts.append(f"budget={self.budget}")
        return ",".join(parts) or "constant"

    def describe(self) -> str:
        """Words for tables and figures."""
        parts = [r.describe() for r in (self.batch, self.step) if r is not None]
        if self.budget is not None:
            parts.append(f"{self.budget} samples after the f-drop")
        return "; ".join(parts) or "constant"

    @property
    def constant(self) -> bool:
        return self.batch is None and self.step is None and self.budget is None

    @property
    def needs_drop(self) -> bool:
        """Whether it acts only after the f-drop (a rule triggered by it, or a budget)."""
        rules = [r.trigger.kind for r in (self.batch, self.step) if r is not None]
        return "drop" in rules or self.budget is not None

    # ------------------------------------------------------------------------------- the kernel
    def fields(self, samples_per_m: int = 1) -> dict[str, float | int]:
        """Its fields of the run record (:mod:`saddle.kernels.record`); ``samples_per_m`` is the samples
        one step draws per unit of m (1; k for ge2015's per-column sampling), which the budget counts."""
        out = dict(OFF_FIELDS)
        for rule in (self.batch, self.step):
            if rule is not None:
                out.update(rule.fields())
        out["budget"] = self.budget or 0
        out["samples_per_m"] = int(samples_per_m)
        return out

    def check(
        self,
        *,
        max_steps: int,
        f_min: float | None,
        target: float | None,
        radius: float | None,
        drop_possible: bool = True,
    ) -> None:
        """ConfigError in one line where the schedule can never act in the run described: a trigger
        that never fires (:meth:`Trigger.check`), a rule triggered by the f-drop in a run that ends at
        the f-drop (no target, radius or budget), or an f-drop the run cannot make (``drop_possible``)."""
        for rule in (self.batch, self.step):
            if rule is not None:
                rule.trigger.check(max_steps=max_steps, f_min=f_min, target=target)
        if self.needs_drop and not drop_possible:
            raise ConfigError(f"the schedule {self.text!r} acts after the f-drop, which no trial of this run can make")
        ends_at_drop = target is None and radius is None and self.budget is None
        after_drop = [r for r in (self.batch, self.step) if r is not None and r.trigger.kind == "drop"]
        if ends_at_drop and after_drop:
            raise ConfigError(
                f"the schedule {self.text!r} never acts: each trial ends at its f-drop; give a target (--target) "
                "or a budget (budget=N in the schedule) so that trials run on past it"
            )
        if self.budget is not None and self.batch is not None:
            per = self.batch.m
            if self.budget % per:
                raise ConfigError(
                    f"budget = {self.budget} samples is not a whole number of steps at m = {per} after the switch"
                )


def legacy(lr_decay: float | None, batch_after_drop: int | None) -> Schedule:
    """The schedule of the older options: eta / (1 + t / lr_decay) from the start, and m ->
    batch_after_drop after the f-drop."""
    from saddle.schedules.inverse_time import InverseTime

    step = InverseTime(lr_decay, trigger=Trigger("start")) if lr_decay else None
    batch = BatchSwitch(batch_after_drop, Trigger("drop")) if batch_after_drop else None
    return Schedule(batch, step)
