"""The numbers the escape figure draws, computed once for the panels and for the tidy CSV tables beside it.

Each panel of :mod:`saddle.plotting.escape` draws what a function here returns, and
:func:`write_figure_tables` writes the same numbers as tidy CSV (one row per point, a ``run`` column naming
the run), so that a figure can be redrawn in pgfplots, seaborn or a spreadsheet without recomputing them:

- :func:`survival_with_interval`: the Kaplan-Meier survival P(tau > t) with its pointwise 95% interval;
- :func:`median_points`: the median escape time per batch size, its 95% interval, lower bounds;
- :func:`theory_curves`: the linear theory's median and 25-75% band over m, the heat-path model's medians
  and an objective's own prediction (docs/theory.md, sections 1-2);
- :func:`trajectory_band`: f(u_t) of the recorded trials of one batch size, as a median and a 10-90% band
  on a log-uniform grid of steps.

docs/figures.md, "Exporting the numbers", describes the tables.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

from saddle.kernels import ESCAPED
from saddle.plotting.common import log_uniform_indices
from saddle.stats import survival_curve
from saddle.store.folder import atomic_write_text, csv_text

__all__ = [
    "SURVIVAL_CONFIDENCE",
    "TRAJECTORY_POINTS",
    "TRAJECTORY_QUANTILES",
    "MedianPoints",
    "TheoryCurves",
    "TrajectoryBand",
    "figure_tables",
    "median_points",
    "survival_with_interval",
    "theory_curves",
    "trajectory_band",
    "write_figure_tables",
]

SURVIVAL_CONFIDENCE = 0.95
"""The pointwise confidence of the survival curves' interval (Greenwood's, on the log(-log) scale)."""
TRAJECTORY_QUANTILES = (0.1, 0.5, 0.9)
"""The band (10% and 90%) and the line (the median) of the trajectory panel, over the recorded trials."""
TRAJECTORY_POINTS = 160
"""About how many steps the trajectory panel draws per batch size, spread log-uniformly in the step."""
THEORY_BAND = (0.25, 0.75)
"""The quantiles of the linear theory's band on the batch-size panel."""


# ----------------------------------------------------------------------------------------------- survival


def survival_with_interval(
    steps: np.ndarray, status: np.ndarray, max_steps: int, confidence: float = SURVIVAL_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Kaplan-Meier survival P(tau > t) (:func:`saddle.stats.survival_curve`: trials that did not escape
    censored at max_steps) with its pointwise ``confidence`` interval (Greenwood's variance on the
    log(-log) scale; Kalbfleisch and Prentice 2002, section 1.4).

    Returns
    -------
    t, survival, lo, hi : ndarray
        Step 0, the distinct escape steps and max_steps; the survival just after each and its interval
        (the survival itself where the interval is undefined: at 1 and at 0).
    """
    t, surv = survival_curve(steps, status, max_steps)
    lo, hi = surv.copy(), surv.copy()
    status = np.asarray(status)
    escaped = np.asarray(steps)[status == ESCAPED]
    if escaped.size:
        data = scipy.stats.CensoredData(
            uncensored=escaped, right=np.full(int(np.count_nonzero(status != ESCAPED)), max_steps)
        )
        sf = scipy.stats.ecdf(data).sf
        with warnings.catch_warnings():  # undefined where the survival is 1 or 0: the survival stands there
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = sf.confidence_interval(confidence, method="log-log")
        if np.array_equal(sf.quantiles, t[1:]):
            lo[1:] = np.where(np.isfinite(ci.low.probabilities), ci.low.probabilities, surv[1:])
            hi[1:] = np.where(np.isfinite(ci.high.probabilities), ci.high.probabilities, surv[1:])
    return t, surv, np.minimum(lo, surv), np.maximum(hi, surv)


# ----------------------------------------------------------------------------------------------- medians


@dataclass(frozen=True)
class MedianPoints:
    """The batch-size panel's points of one run: per stored batch size (summary row), the median escape
    time in ``cost`` units, its 95% bootstrap interval (the median itself where the summary has none),
    whether it is only a lower bound (half of the trials never escaped) and whether those trials froze."""

    cost: str
    m: np.ndarray
    median: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lower_bound: np.ndarray
    frozen: np.ndarray
    per_step: np.ndarray  # samples per step (1 in steps): what turns a prediction in steps into ``cost``


def median_points(result: Any, cost: str = "steps") -> MedianPoints:
    """The median escape time against m of ``result`` (its summary rows), in steps or samples."""
    if cost not in ("steps", "samples"):
        raise ValueError(f"cost must be 'steps' or 'samples', got {cost!r}")
    rows = result.summary

    def column(name: str, dtype: Any = float) -> np.ndarray:
        return np.array([row.get(name, 0) for row in rows], dtype=dtype)

    med = column(f"median_{cost}")
    lo, hi = column(f"median_{cost}_lo"), column(f"median_{cost}_hi")
    steps = column("median_steps")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_step = med / steps if cost == "samples" else np.ones(len(rows))
    return MedianPoints(
        cost=cost,
        m=column("m"),
        median=med,
        lo=np.where(np.isfinite(lo), lo, med),
        hi=np.where(np.isfinite(hi), hi, med),
        lower_bound=column("median_is_lower_bound", bool),
        frozen=column("frozen", bool),
        per_step=per_step,
    )


# ----------------------------------------------------------------------------------------------- theory


@dataclass(frozen=True)
class TheoryCurves:
    """What the batch-size panel draws of a run's theory, in the panel's cost units.

    ``linear_m``, ``linear_median``, ``linear_lo``, ``linear_hi``: the linear theory's median and 25-75%
    band on a grid of m (only where the summary trusts it: ``theory_trusted`` of the nearest stored m;
    empty where nothing is trusted), ``all_trusted`` whether it holds over the whole range;
    ``model_m``, ``model_median``: the heat-path model's medians; ``own_m``, ``own_median``: an objective's
    own prediction (the teacher-student plateau exit) where it has no linear theory.
    """

    linear_m: np.ndarray
    linear_median: np.ndarray
    linear_lo: np.ndarray
    linear_hi: np.ndarray
    all_trusted: bool
    model_m: np.ndarray
    model_median: np.ndarray
    own_m: np.ndarray
    own_median: np.ndarray

    @property
    def empty(self) -> bool:
        return not (self.linear_m.size or self.model_m.size or self.own_m.size)


def _trusted_on(grid: np.ndarray, ms: np.ndarray, trusted: np.ndarray) -> np.ndarray:
    """Whether each grid point's nearest stored batch size (in log m) trusts the linear theory."""
    nearest = np.abs(np.log(grid)[:, None] - np.log(ms)[None, :]).argmin(axis=1)
    return trusted[nearest]


def theory_curves(result: Any, cost: str = "steps", points: int = 60) -> TheoryCurves:
    """The theory of ``result`` as the batch-size panel draws it (in steps or samples).

    The linear theory (docs/theory.md, sections 1-2) on ``points`` batch sizes spread log-uniformly over
    the stored ones, kept where the summary trusts it; the heat-path model's and an objective's own
    medians at the stored batch sizes.
    """
    none = np.zeros(0)
    points_m = median_points(result, cost)
    ms, per_step = points_m.m, points_m.per_step
    cfg, q, rows = result.config, result.theory, result.summary
    linear_m, linear_median, linear_lo, linear_hi = none, none, none, none
    all_trusted = False
    model_m, model, own_m, own = none, none, none, none
    if len(ms) and q is not None and getattr(q, "sigma_v2", 0) > 0:
        trusted = np.array([bool(row.get("theory_trusted", False)) for row in rows])
        all_trusted = bool(trusted.all())
        if trusted.any():
            grid = np.geomspace(ms.min(), ms.max(), points) if ms.min() < ms.max() else ms.astype(float)
            grid = grid[_trusted_on(grid, ms, trusted)]
            scale = np.interp(np.log(grid), np.log(ms), per_step.astype(float))
            delta = None if cfg.radius else cfg.delta
            lin = [q.linear(cfg.eta_for(m), m, delta=delta, radius=cfg.radius) for m in grid]
            linear_m = grid
            linear_median = np.array([p.median for p in lin]) * scale
            linear_lo = np.array([p.quantile(THEORY_BAND[0]) for p in lin]) * scale
            linear_hi = np.array([p.quantile(THEORY_BAND[1]) for p in lin]) * scale
        values = np.array([row.get("theory_model_median_steps", np.nan) for row in rows], dtype=float) * per_step
        ok = np.isfinite(values)
        model_m, model = ms[ok], values[ok]
    elif len(ms) and q is None:
        values = np.array([row.get("theory_median_steps", np.nan) for row in rows], dtype=float) * per_step
        ok = np.isfinite(values)
        own_m, own = ms[ok], values[ok]
    return TheoryCurves(linear_m, linear_median, linear_lo, linear_hi, all_trusted, model_m, model, own_m, own)


# ----------------------------------------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class TrajectoryBand:
    """f(u_t) of the recorded trials of one batch size at common steps: the median and the 10-90% band
    (:data:`TRAJECTORY_QUANTILES`) over ``trials`` trials."""

    steps: np.ndarray
    lo: np.ndarray
    median: np.ndarray
    hi: np.ndarray
    trials: int


def trajectory_band(
    trajectories: Sequence[tuple[np.ndarray, np.ndarray]],
    points: int = TRAJECTORY_POINTS,
    quantiles: tuple[float, float, float] = TRAJECTORY_QUANTILES,
) -> TrajectoryBand:
    """The quantiles of f(u_t) over recorded trials, at about ``points`` steps spread log-uniformly.

    The recorder keeps f(u_t) of each trial at t = 0, s, 2s, ... (its stride s doubles as the trial runs
    on, so that a long trial keeps as many values as a short one) and at the trial's last step.  The
    quantiles are taken only at the steps where every trial still running has a recorded value (for
    power-of-two strides: the multiples of the longest trial's stride), so that no value is interpolated;
    a trial that has stopped (escaped, diverged) counts with its last value from then on.  Non-finite
    values (a diverged trial's) are left out of the quantiles.  Step 0 is always among the steps.

    Parameters
    ----------
    trajectories : list of (steps, f)
        ``MResult.trajectories``: each trial's recorded steps (increasing, from 0) and f there.
    points : int
        About how many steps to keep (:func:`~saddle.plotting.common.log_uniform_indices`).
    quantiles : (low, middle, high)
        The band's edges and its line.
    """
    trials = [(np.asarray(t, dtype=np.int64), np.asarray(f, dtype=float)) for t, f in trajectories if len(t)]
    if not trials:
        empty = np.zeros(0)
        return TrajectoryBand(empty.astype(np.int64), empty, empty, empty, 0)
    candidates = np.unique(np.concatenate([t for t, _ in trials]))
    common = np.ones(candidates.size, dtype=bool)
    for t, _ in trials:
        common &= (candidates > t[-1]) | np.isin(candidates, t)
    steps = candidates[common]
    steps = steps[log_uniform_indices(steps, points)]
    values = np.empty((len(trials), steps.size))
    for i, (t, f) in enumerate(trials):
        at = np.minimum(np.searchsorted(t, steps), t.size - 1)  # an exact match, or the last value once stopped
        values[i] = f[at]
    values[~np.isfinite(values)] = np.nan
    lo, mid, hi = (np.full(steps.size, np.nan) for _ in range(3))
    seen = np.isfinite(values).any(axis=0)
    if seen.any():
        lo[seen], mid[seen], hi[seen] = np.nanquantile(values[:, seen], quantiles, axis=0)
    return TrajectoryBand(steps, lo, mid, hi, len(trials))


# ----------------------------------------------------------------------------------------------- tables

TABLE_COLUMNS = {
    "survival": ("run", "m", "step", "survival", "lo", "hi"),
    "medians": ("run", "cost", "m", "median", "lo", "hi", "lower_bound"),
    "theory": ("run", "cost", "curve", "m", "median", "lo", "hi"),
    "trajectories": ("run", "m", "step", "median", "lo", "hi", "trials"),
}
"""The columns of each table :func:`figure_tables` gives (``lo`` and ``hi``: the interval or band drawn)."""


def figure_tables(
    results: Sequence[Any],
    runs: Sequence[str],
    *,
    panels: Sequence[str] = ("survival", "median", "trajectories"),
    costs: Sequence[str] = ("steps",),
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the tidy tables of what the panels draw, by table name (:data:`TABLE_COLUMNS`).

    ``survival``: the survival curves and their 95% interval (the ``survival`` panel); ``medians`` and
    ``theory``: the medians with their 95% interval, the linear theory's median and 25-75% band
    (``curve`` "linear theory"), the heat-path model's and an objective's own medians (``lo`` and ``hi``
    NaN) (the ``median`` panel, in each of ``costs``); ``trajectories``: the median and 10-90% band of
    f(u_t) (the ``trajectories`` panel).  ``runs`` names each result in the ``run`` column.
    """
    tables: dict[str, list[tuple[Any, ...]]] = {}
    if "survival" in panels:
        rows: list[tuple[Any, ...]] = []
        for run, res in zip(runs, results):
            for m, r in res.by_m.items():
                t, s, lo, hi = survival_with_interval(r.steps, r.status, res.config.max_steps)
                rows += [(run, m, int(a), float(b), float(c), float(d)) for a, b, c, d in zip(t, s, lo, hi)]
        tables["survival"] = rows
    if "median" in panels:
        medians: list[tuple[Any, ...]] = []
        theory: list[tuple[Any, ...]] = []
        for cost in costs:
            for run, res in zip(runs, results):
                p = median_points(res, cost)
                medians += [
                    (run, cost, int(m), float(a), float(b), float(c), bool(d))
                    for m, a, b, c, d in zip(p.m, p.median, p.lo, p.hi, p.lower_bound)
                ]
                th = theory_curves(res, cost)
                theory += [
                    (run, cost, "linear theory", float(m), float(a), float(b), float(c))
                    for m, a, b, c in zip(th.linear_m, th.linear_median, th.linear_lo, th.linear_hi)
                ]
                for curve, ms, values in (
                    ("heat-path model", th.model_m, th.model_median),
                    ("objective's prediction", th.own_m, th.own_median),
                ):
                    theory += [(run, cost, curve, float(m), float(a), math.nan, math.nan) for m, a in zip(ms, values)]
        tables["medians"], tables["theory"] = medians, theory
    if "trajectories" in panels:
        bands: list[tuple[Any, ...]] = []
        for run, res in zip(runs, results):
            for m, r in res.by_m.items():
                b = trajectory_band(r.trajectories)
                bands += [
                    (run, m, int(t), float(x), float(y), float(z), b.trials)
                    for t, x, y, z in zip(b.steps, b.median, b.lo, b.hi)
                ]
        tables["trajectories"] = bands
    return tables


def write_figure_tables(
    results: Sequence[Any],
    stem: str | Path,
    runs: Sequence[str],
    *,
    panels: Sequence[str] = ("survival", "median", "trajectories"),
    costs: Sequence[str] = ("steps",),
) -> list[Path]:
    """Write :func:`figure_tables` beside a figure: ``STEM-survival.csv``, ``STEM-medians.csv``,
    ``STEM-theory.csv``, ``STEM-trajectories.csv`` (those of the panels drawn), each atomically, with a
    header row; NaN is written ``nan`` and booleans ``True``/``False``, as in summary.csv.  Returns the
    paths written."""
    stem = Path(stem)
    paths = []
    for name, rows in figure_tables(results, runs, panels=panels, costs=costs).items():
        path = stem.with_name(f"{stem.name}-{name}.csv")
        atomic_write_text(path, csv_text(TABLE_COLUMNS[name], rows))
        paths.append(path)
    return paths
