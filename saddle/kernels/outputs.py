"""What a kernel call gives back, on either backend: :class:`TrialBlock` (one entry per trial) and the
:class:`Recorder` that the recorded trials' f(u_t) are written into.  :mod:`saddle.kernels` re-exports
both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Recorder", "TrialBlock"]


@dataclass
class TrialBlock:
    """Outputs of trials trial_start .. trial_start + n - 1 (one entry per trial)."""

    trial_start: int
    steps: np.ndarray  # int64: escape step, max_steps if censored, the step of divergence or of freezing
    status: np.ndarray  # int8: ESCAPED, CENSORED, DIVERGED or FROZEN (gd at an exact fixed point)
    final_f: np.ndarray  # float64: f at the last step
    final_u: np.ndarray | None = None  # float64 (n, d): the final points, when asked for
    drop_steps: np.ndarray | None = None  # int64: first step with f <= f(u_0) - delta, 0 if none (CPU backend)
    switch_steps: np.ndarray | None = None  # int64: the step after which a schedule switched m, 0 if none


@dataclass
class Recorder:
    """f(u_t) of the first n trials, at most ``points`` values each (step i * stride[r])."""

    f: np.ndarray
    count: np.ndarray
    stride: np.ndarray

    @classmethod
    def empty(cls, n_trials: int, points: int) -> Recorder:
        return cls(np.full((n_trials, points), np.nan), np.zeros(n_trials, np.int64), np.ones(n_trials, np.int64))

    def trajectory(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, f) of recorded trial r."""
        c = int(self.count[r])
        return np.arange(c, dtype=np.int64) * int(self.stride[r]), self.f[r, :c].copy()
