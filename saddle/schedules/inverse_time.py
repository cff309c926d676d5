"""Inverse-time decay: eta_t = eta / (1 + tau / t0), tau the steps since the trigger (Robbins-Monro's
1/t decay with a time scale: the step size halves after t0 steps and falls as 1/t after that)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from saddle.options import ConfigError
from saddle.schedules.base import StepRule, as_array, register

INVERSE_TIME = 1
"""Its code in the run record."""


@register
@dataclass(frozen=True)
class InverseTime(StepRule):
    """eta_t = eta / (1 + tau / t0)."""

    name = "inverse-time"
    code = INVERSE_TIME
    params = ("t0",)
    t0: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.t0, bool) or not isinstance(self.t0, int | float) or not math.isfinite(self.t0):
            raise ConfigError(f"inverse-time's t0 must be a finite number, got {self.t0!r}")
        if self.t0 <= 0:
            raise ConfigError(f"inverse-time's t0 must be > 0 (steps), got {self.t0:g}")
        object.__setattr__(self, "t0", float(self.t0))

    def factor(self, tau: Any) -> Any:
        return 1.0 / (1.0 + as_array(tau) / self.t0)

    def numbers(self) -> tuple[float, float]:
        return self.t0, 0.0

    def describe(self) -> str:
        return f"eta / (1 + tau/{self.t0:g}) {self.trigger.describe()}"
