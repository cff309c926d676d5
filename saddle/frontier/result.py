"""What a frontier run gives back: :class:`FrontierResult`, its tables as column arrays.

``tuning`` has one row per cell (a batch size m and a step size eta, every one the search tried):

    m, eta, k (eta = eta_ref * 2 ** (k / 4)), cell (the cell's key), trials,
    reached (fraction of trials reaching the target by max_steps), diverged (count),
    success (bool: the success rule met), median_steps (S(m, eta), inf when unreached) with
    steps_lo, steps_hi (its 95% interval), median_samples, escape_steps (median step of the f-drop),
    converge_steps (median steps from the f-drop to the target), wall_seconds, step_seconds
    (the measured cost of one step of one trial on the backend that ran it).

``frontier`` has one row per batch size, at eta*(m):

    m, eta_star, eta_lo, eta_hi (the bracket: the nearest step sizes tried on either side, NaN where
    none), edge ('' or which search bound eta* sits on), S, S_lo, S_hi, E, E_lo, E_hi (samples),
    escape_steps, converge_steps, reached, seconds, seconds_lo, seconds_hi, step_seconds (pooled over the
    batch size's cells: their kernel seconds over the steps their trials ran),
    model_S (the fitted model's S at m), regime ('perfect scaling', 'diminishing returns' or
    'maximal data parallelism').

``fit`` is a dict: S_min, S_min_lo, S_min_hi, E_min, E_min_lo, E_min_hi, B_crit, B_crit_lo,
B_crit_hi, fits (bool), misfit (list of m where the model leaves the measured interval),
best_m_steps, best_m_samples, best_m_seconds.

``noise`` (or None) is :func:`saddle.frontier.noise.noise_scale_path`'s dict: f, B_simple, B_noise (arrays
along the noiseless path from the f-drop past the saddle to the target), B_simple_mean (its average over
the path's time), B_noise_mean (weighted by the optimally tuned steps, G^T H G / |G|^2 dt, where that is
positive), method ('exact' or 'monte carlo').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FrontierResult"]


@dataclass
class FrontierResult:
    """A frontier run's tables (module docstring), its configuration and its folder."""

    config: Any
    tuning: dict[str, np.ndarray]
    frontier: dict[str, np.ndarray]
    fit: dict[str, Any]
    noise: dict[str, Any] | None = None
    theory: dict[str, np.ndarray] | None = None
    out: Any = None
    notes: list[str] = field(default_factory=list)

    def to_pandas(self) -> tuple[Any, Any]:
        """(tuning, frontier) as pandas DataFrames: one row per cell tried, one row per batch size.

        Needs pandas (``pip install 'saddle[pandas]'``); without it an ImportError says so in one line.
        """
        from saddle.records import _pandas

        pd = _pandas()
        return pd.DataFrame(self.tuning), pd.DataFrame(self.frontier)
