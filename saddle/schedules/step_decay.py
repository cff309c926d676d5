"""Step decay: the step size multiplied by ``gamma`` every ``every`` steps after the trigger,
eta_t = eta x gamma^floor(tau / every) (the piecewise-constant schedule of most training recipes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from saddle.options import ConfigError
from saddle.schedules.base import StepRule, as_array, register
from saddle.schedules.trigger import number_text

STEP_DECAY = 2
"""Its code in the run record."""


@register
@dataclass(frozen=True)
class StepDecay(StepRule):
    """eta_t = eta x gamma^floor(tau / every)."""

    name = "step"
    code = STEP_DECAY
    params = ("gamma", "every")
    gamma: float = 0.5
    every: float = 1000.0

    def __post_init__(self) -> None:
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, int | float) or not math.isfinite(g) or not 0 < g < 1:
            raise ConfigError(f"step decay's gamma must be in (0, 1), got {g!r}")
        e = self.every
        if isinstance(e, bool) or not isinstance(e, int | float) or not math.isfinite(e) or e != int(e) or e < 1:
            raise ConfigError(f"step decay's every must be a whole number of steps >= 1, got {e!r}")
        object.__setattr__(self, "gamma", float(g))
        object.__setattr__(self, "every", float(int(e)))

    def factor(self, tau: Any) -> Any:
        return self.gamma ** np.floor(as_array(tau) / self.every)

    def numbers(self) -> tuple[float, float]:
        return self.every, self.gamma

    @property
    def text(self) -> str:
        return f"eta=step:{number_text(self.gamma)}:{int(self.every)}@{self.trigger.text}"

    def describe(self) -> str:
        return f"eta x {self.gamma:g} every {int(self.every)} steps {self.trigger.describe()}"
