"""How escape times are summarised: survival curves, medians, bootstrap intervals.

Every trial ends escaped (at its escape step), censored (not escaped by
max_steps), diverged (its iterate became non-finite) or frozen (gd reached an
exact fixed point: it never escapes, and ranks with the censored trials).  Censoring here is
administrative and common to all trials: it happens at max_steps, after every
observed escape.  Divergence is a competing event, never an escape.  The
quantity summarised is therefore the cumulative incidence of escape

    F(t) = P(escaped by step t) = #{escaped with tau <= t} / n,

which is what the Kaplan-Meier estimator returns when every non-escaped trial
is right-censored at max_steps (``survival_curve`` uses scipy.stats.ecdf for
it).  Its median is the smallest t with F(t) >= 1/2, i.e. the ceil(n/2)-th
smallest escape time with non-escaped trials ranked last.  When fewer than half
of the trials escape, the median is only known to exceed max_steps: it is then
reported as the lower bound max_steps + 1 and flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from saddle.kernels import DIVERGED, ESCAPED, FROZEN

CONFIDENCE_LEVEL = 0.95
N_BOOTSTRAP = 2000
BOOTSTRAP_ELEMENTS = 2**22
"""The most resampled values the bootstrap holds at once (32 MiB of float64): above n = 2097 trials its
resamples are drawn and reduced in batches of BOOTSTRAP_ELEMENTS // n (scipy.stats.bootstrap's
``batch``), so its memory does not grow with the number of trials.  The batches draw the same resamples
from the same generator, so the interval does not depend on the batch size."""
BOOTSTRAP_BYTES = 4 * 8 * BOOTSTRAP_ELEMENTS
"""The bootstrap's peak memory at most: a batch of resampled indices and values, and the partition's copy."""
STATISTICS_BYTES_PER_TRIAL = 40
"""The statistics' own copies of a batch size's trials: the ranked times, a partition's or a sort's copy,
and the masks (float64, float64, float64 and two booleans' worth)."""


BOOTSTRAP_MAX_TRIALS = 100_000
"""Above this many trials the median's interval is the distribution-free order-statistic interval
(scipy.stats.quantile_test), which the bootstrap approximates there: 2000 resamples of n trials would
draw 2000 n random indices (2e10 at ten million trials)."""


def bootstrap_batch(n: int) -> int | None:
    """Resamples per batch of the bootstrap of n trials (None: all 2000 at once)."""
    return None if n * N_BOOTSTRAP <= BOOTSTRAP_ELEMENTS else max(1, BOOTSTRAP_ELEMENTS // n)


def ranked_times(steps: np.ndarray, status: np.ndarray, max_steps: int) -> np.ndarray:
    """Escape steps with every non-escaped trial ranked after all escapes (max_steps + 1)."""
    steps = np.asarray(steps, dtype=np.int64)
    return np.where(np.asarray(status) == ESCAPED, steps, max_steps + 1).astype(np.float64)


def lower_median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The ceil(n/2)-th smallest value along ``axis`` (the median of an empirical CDF)."""
    x = np.asarray(x)
    k = (x.shape[axis] + 1) // 2 - 1
    return np.take(np.partition(x, k, axis=axis), k, axis=axis)


def median_with_interval(x: np.ndarray) -> tuple[float, float, float]:
    """The lower median of ``x`` and its distribution-free 95% interval (order statistics, as
    scipy.stats.quantile_test gives it); NaNs without values."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    median = float(lower_median(x))
    ci = scipy.stats.quantile_test(x, q=median, p=0.5).confidence_interval(CONFIDENCE_LEVEL)
    return median, float(ci.low), float(ci.high)


def survival_curve(steps: np.ndarray, status: np.ndarray, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of P(tau > t), non-escaped trials censored at max_steps.

    Returns
    -------
    t, surv : ndarray
        Distinct escape steps (and max_steps) and the survival just after each.
    """
    status = np.asarray(status)
    escaped = np.asarray(steps)[status == ESCAPED]
    n_other = int(np.count_nonzero(status != ESCAPED))
    if escaped.size == 0:
        return np.array([0, max_steps]), np.array([1.0, 1.0])
    data = scipy.stats.CensoredData(uncensored=escaped, right=np.full(n_other, max_steps))
    sf = scipy.stats.ecdf(data).sf
    return np.concatenate([[0], sf.quantiles]), np.concatenate([[1.0], sf.probabilities])


@dataclass(frozen=True)
class EscapeSummary:
    """Summary of one configuration's escape times (one row of summary.csv)."""

    trials: int
    escaped: int
    censored: int
    diverged: int
    frozen: int
    median_steps: float
    median_steps_lo: float
    median_steps_hi: float
    median_is_lower_bound: bool
    mean_steps: float
    mean_is_lower_bound: bool


def counts_only(steps: np.ndarray, status: np.ndarray, max_steps: int) -> EscapeSummary:
    """The counts of a batch size's trials, every statistic NaN: the summary stored when the statistics
    themselves failed, so that the trials stay stored and loadable."""
    status = np.asarray(status)
    n = status.size
    escaped = int(np.count_nonzero(status == ESCAPED))
    diverged = int(np.count_nonzero(status == DIVERGED))
    frozen = int(np.count_nonzero(status == FROZEN))
    nan = float("nan")
    others = n - escaped - diverged - frozen
    return EscapeSummary(n, escaped, others, diverged, frozen, nan, nan, nan, False, nan, False)


def summarize(steps: np.ndarray, status: np.ndarray, max_steps: int, seed: int = 0) -> EscapeSummary:
    """Counts, median with a 95% percentile-bootstrap interval, and mean of the escape steps.

    The bootstrap (scipy.stats.bootstrap, percentile method, 2000 resamples,
    seeded by ``seed``; in batches of :func:`bootstrap_batch` resamples above 2097 trials, so its memory
    stays under BOOTSTRAP_BYTES) resamples whole trials, escaped or not; above BOOTSTRAP_MAX_TRIALS
    trials the interval is the order-statistic one of scipy.stats.quantile_test instead.  An interval
    end that is not reached by half of the resampled trials is +inf.  The mean
    is over escape steps when every trial escaped; otherwise non-escaped trials
    count as max_steps and the mean is flagged as a lower bound.
    """
    status = np.asarray(status)
    n = status.size
    escaped = int(np.count_nonzero(status == ESCAPED))
    diverged = int(np.count_nonzero(status == DIVERGED))
    frozen = int(np.count_nonzero(status == FROZEN))
    ranked = ranked_times(steps, status, max_steps)
    median = float(lower_median(ranked))
    if np.all(ranked == ranked[0]):
        lo = hi = median
    elif n > BOOTSTRAP_MAX_TRIALS:
        ci = scipy.stats.quantile_test(ranked, q=median, p=0.5).confidence_interval(CONFIDENCE_LEVEL)
        lo, hi = float(ci.low), float(ci.high)
    else:
        res = scipy.stats.bootstrap(
            (ranked,),
            lower_median,
            vectorized=True,
            n_resamples=N_BOOTSTRAP,
            batch=bootstrap_batch(ranked.size),
            confidence_level=CONFIDENCE_LEVEL,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    over = max_steps + 1
    return EscapeSummary(
        trials=n,
        escaped=escaped,
        censored=n - escaped - diverged - frozen,
        diverged=diverged,
        frozen=frozen,
        median_steps=median,
        median_steps_lo=np.inf if lo >= over else lo,
        median_steps_hi=np.inf if hi >= over else hi,
        median_is_lower_bound=median >= over,
        mean_steps=float(np.mean(np.minimum(ranked, max_steps))),
        mean_is_lower_bound=escaped < n,
    )
