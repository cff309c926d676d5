"""McCandlish et al.'s model of the batch-size frontier, fitted to measured steps-to-target.

McCandlish, Kaplan, Amodei et al. (2018), "An empirical model of large-batch training", eq. 2.11: with
the step size tuned at every batch size m, the steps S and the samples E = m S to reach a goal trade
off as

    (S / S_min - 1) (E / E_min - 1) = 1,   i.e.   S(m) = S_min (1 + B_crit / m),   B_crit = E_min / S_min.

S_min is the fewest steps any batch size needs (m -> infinity), E_min the fewest samples (m -> 0), and
B_crit the critical batch size where both are twice their minimum.  :func:`fit_frontier` fits S_min and
B_crit by least squares on log S (each batch size's relative error counts alike), and
:func:`bootstrap_fit` gives percentile intervals by refitting to medians of trials resampled at each m.

The regimes (docs/frontier.md) follow from the model's efficiency: below B_crit / 10 a doubling of m
halves S to within 10% (perfect scaling); above 10 B_crit it changes S by less than 10% (maximal data
parallelism); between lie diminishing returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saddle.stats import lower_median

__all__ = [
    "REGIME_FACTOR",
    "MISFIT_TOLERANCE",
    "FrontierFit",
    "bootstrap_fit",
    "fit_frontier",
    "misfits",
    "model_steps",
    "regime",
]

REGIME_FACTOR = 10.0
"""m below B_crit / REGIME_FACTOR is perfect scaling; above REGIME_FACTOR B_crit, maximal data parallelism."""
MISFIT_TOLERANCE = 0.10
"""The model misses a batch size when it lies outside the measured 95% interval of S by more than this
fraction of S: the grid of step sizes (a factor 2^(1/4)) alone moves a tuned S by up to about that much."""


def model_steps(m: np.ndarray | float, s_min: float, b_crit: float) -> np.ndarray:
    """The model's steps to the target: ``S_min (1 + B_crit / m)``."""
    return s_min * (1.0 + b_crit / np.asarray(m, dtype=float))


@dataclass(frozen=True)
class FrontierFit:
    """The fitted model: S_min (steps), B_crit (samples per step) and E_min = S_min B_crit (samples)."""

    s_min: float
    b_crit: float

    @property
    def e_min(self) -> float:
        return self.s_min * self.b_crit


def fit_frontier(m: Sequence[float] | np.ndarray, steps: Sequence[float] | np.ndarray) -> FrontierFit:
    """Least-squares fit of ``log S = log S_min + log(1 + B_crit / m)`` over the finite S.

    Starts from the linear fit S = a + b / m (a = S_min, b = E_min) and refines with
    scipy.optimize.least_squares on (log S_min, log B_crit).  Needs at least two batch sizes with a
    finite S (ValueError otherwise).
    """
    from scipy.optimize import least_squares

    m_all = np.asarray(m, dtype=float)
    s_all = np.asarray(steps, dtype=float)
    keep = np.isfinite(s_all) & (s_all > 0) & np.isfinite(m_all) & (m_all > 0)
    ms, ss = m_all[keep], s_all[keep]
    if np.unique(ms).size < 2:
        raise ValueError("fitting S = S_min (1 + B_crit / m) needs a finite S at two batch sizes at least")
    a, b = np.polyfit(1.0 / ms, ss, 1)[::-1]  # S = a + b / m
    s0 = a if a > 0 else float(ss.min())
    b0 = b / s0 if b > 0 else float(np.median(ms))
    log_s = np.log(ss)

    def residual(p: np.ndarray) -> np.ndarray:
        return p[0] + np.log1p(np.exp(p[1]) / ms) - log_s

    fit = least_squares(residual, x0=np.log([s0, b0]), method="lm")
    return FrontierFit(float(np.exp(fit.x[0])), float(np.exp(fit.x[1])))


def bootstrap_fit(
    m: Sequence[float] | np.ndarray,
    ranked_steps: Sequence[np.ndarray],
    *,
    n_resamples: int = 400,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of S_min, B_crit and E_min from refits to bootstrap medians.

    ``ranked_steps[i]`` holds the trials of batch size ``m[i]`` at its tuned step size, each trial's step of
    the target with the trials that missed it ranked last (inf or max_steps + 1).  Each resample draws the
    trials of every batch size with replacement, takes each median (the ceil(n/2)-th smallest) and refits.
    """
    gen = np.random.default_rng(seed)
    m = np.asarray(m, dtype=float)
    fits = []
    medians = np.empty(m.size)
    for _ in range(n_resamples):
        for i, x in enumerate(ranked_steps):
            x = np.asarray(x, dtype=float)
            medians[i] = lower_median(x[gen.integers(0, x.size, x.size)])
        try:
            f = fit_frontier(m, medians)
        except ValueError:
            continue
        fits.append((f.s_min, f.b_crit, f.e_min))
    alpha = (1 - confidence) / 2
    out = {}
    arr = np.array(fits) if fits else np.full((1, 3), np.nan)
    for j, name in enumerate(("S_min", "B_crit", "E_min")):
        lo, hi = np.quantile(arr[:, j], [alpha, 1 - alpha])
        out[name] = (float(lo), float(hi))
    return out


def regime(m: float, b_crit: float) -> str:
    """The model's regime at batch size m (module docstring)."""
    if not np.isfinite(b_crit):
        return ""
    if m < b_crit / REGIME_FACTOR:
        return "perfect scaling"
    if m > REGIME_FACTOR * b_crit:
        return "maximal data parallelism"
    return "diminishing returns"


def misfits(
    m: np.ndarray, steps: np.ndarray, steps_lo: np.ndarray, steps_hi: np.ndarray, fit: FrontierFit
) -> list[int]:
    """The batch sizes where the fitted model leaves the measured interval [S_lo, S_hi] by more than
    :data:`MISFIT_TOLERANCE` of S."""
    model = model_steps(m, fit.s_min, fit.b_crit)
    out = []
    for mi, s, lo, hi, y in zip(m, steps, steps_lo, steps_hi, model):
        if not np.isfinite(s):
            continue
        slack = MISFIT_TOLERANCE * s
        if y < lo - slack or y > hi + slack:
            out.append(int(mi))
    return out
