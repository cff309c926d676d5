"""What a step-size rule is, and the registry of them.

A step-size rule (one module each: :mod:`~saddle.schedules.inverse_time`,
:mod:`~saddle.schedules.step_decay`) says how the step size falls once its trigger fires:
eta_t = eta x ``factor(tau)``, tau = t - t_s the steps since the trigger fired at step t_s.  It is
data in the run record (its ``code`` and two numbers, ``a`` and ``b``), which the kernel's one
schedule function (:func:`saddle.kernels.cpu.scheduled_eta`) reads: no schedule compiles a kernel of
its own.  ``factor`` is its NumPy reference, against which the kernel is tested step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from saddle.options import ConfigError
from saddle.schedules.trigger import Trigger, number_text


@dataclass(frozen=True)
class StepRule:
    """A step-size rule; subclass it (a frozen dataclass of its parameters; ``trigger`` is
    keyword-only), fill in the class attributes, and ``@register``.

    Class attributes
    ----------------
    name : str
        Its name in a schedule's text (``eta=NAME:...``).
    code : int
        Its code in the run record's ``decay`` field (the kernel's branch).
    params : tuple of str
        Its parameters, in the order its text gives them (``eta=NAME:P1:P2``).
    """

    name: ClassVar[str] = ""
    code: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ()
    trigger: Trigger = field(default_factory=Trigger, kw_only=True)

    def factor(self, tau: Any) -> Any:
        """eta_t / eta at tau >= 1 steps after the trigger (NumPy; arrays welcome)."""
        raise NotImplementedError

    def numbers(self) -> tuple[float, float]:
        """Its two numbers in the run record (``decay_a``, ``decay_b``)."""
        raise NotImplementedError

    @property
    def text(self) -> str:
        values = ":".join(number_text(getattr(self, p)) for p in self.params)
        return f"eta={self.name}:{values}@{self.trigger.text}"

    def describe(self) -> str:
        raise NotImplementedError

    def fields(self) -> dict[str, float | int]:
        """Its fields of the run record (:mod:`saddle.kernels.record`)."""
        a, b = self.numbers()
        return {
            "eta_trigger": self.trigger.code,
            "eta_trigger_value": self.trigger.value,
            "decay": self.code,
            "decay_a": a,
            "decay_b": b,
        }


_RULES: dict[str, type[StepRule]] = {}


def register(cls: type[StepRule]) -> type[StepRule]:
    """Class decorator: add a step-size rule to the registry under ``cls.name``."""
    old = _RULES.get(cls.name)
    if old is not None and old is not cls:
        raise ValueError(f"a step-size rule named {cls.name!r} is already registered")
    _RULES[cls.name] = cls
    return cls


def rules() -> dict[str, type[StepRule]]:
    """Every registered step-size rule, by name."""
    return dict(_RULES)


def rule_from_text(text: str, trigger: Trigger) -> StepRule:
    """A rule from 'NAME:P1:P2' (the part of ``eta=...`` before '@')."""
    name, *values = text.split(":")
    cls = _RULES.get(name)
    if cls is None:
        raise ConfigError(f"unknown step-size rule {name!r}; choose one of {', '.join(sorted(_RULES))}")
    if len(values) != len(cls.params):
        shape = ":".join(p.upper() for p in cls.params)
        raise ConfigError(f"the {name} rule takes {len(cls.params)} number(s): eta={name}:{shape}")
    numbers = []
    for p, v in zip(cls.params, values, strict=True):
        try:
            numbers.append(float(v))
        except ValueError:
            raise ConfigError(f"the {name} rule's {p} must be a number, got {v!r}") from None
    return cls(**dict(zip(cls.params, numbers, strict=True)), trigger=trigger)


def as_array(tau: Any) -> np.ndarray:
    return np.asarray(tau, dtype=np.float64)
