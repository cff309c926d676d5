"""The batch-size rule: m -> m' once its trigger fires (the seed's "finish with m = 1"; an increase is
Smith et al. 2018's "increase the batch size" instead of decaying the step size)."""

from __future__ import annotations

from dataclasses import dataclass, field

from saddle.options import MAX_BATCH_SIZE, ConfigError, integer
from saddle.schedules.trigger import Trigger


@dataclass(frozen=True)
class BatchSwitch:
    """From the step after ``trigger`` fires, every step draws ``m`` samples (the objective's samples per
    step at m: k m for ge2015's per-column sampling)."""

    m: int
    trigger: Trigger = field(default_factory=Trigger)

    def __post_init__(self) -> None:
        object.__setattr__(self, "m", integer("the batch size after the trigger (m=)", self.m, 1, MAX_BATCH_SIZE))
        if self.trigger.kind == "start":
            raise ConfigError("m=...@start is the batch size itself: give it as m (--m) instead")

    @property
    def text(self) -> str:
        return f"m={self.m}@{self.trigger.text}"

    def describe(self) -> str:
        return f"m -> {self.m} {self.trigger.describe()}"

    def fields(self) -> dict[str, float | int]:
        """Its fields of the run record (:mod:`saddle.kernels.record`)."""
        return {
            "m_trigger": self.trigger.code,
            "m_trigger_value": self.trigger.value,
            "m_after": self.m,
        }
