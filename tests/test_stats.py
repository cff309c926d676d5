"""Escape-time statistics: Kaplan-Meier survival, medians (or lower bounds), bootstrap intervals."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle.kernels import CENSORED, DIVERGED, ESCAPED
from saddle.stats import lower_median, ranked_times, summarize, survival_curve


@st.composite
def trials(draw):
    max_steps = draw(st.integers(5, 200))
    n = draw(st.integers(1, 60))
    steps = np.array(draw(st.lists(st.integers(1, max_steps), min_size=n, max_size=n)))
    status = np.array(draw(st.lists(st.sampled_from([ESCAPED] * 4 + [CENSORED, DIVERGED]), min_size=n, max_size=n)))
    steps = np.where(status == CENSORED, max_steps, steps)
    return steps, status, max_steps


@given(trials())
def test_kaplan_meier_curve_is_the_fraction_not_yet_escaped(case):
    steps, status, max_steps = case
    t, surv = survival_curve(steps, status, max_steps)
    escaped = steps[status == ESCAPED]
    for ti, si in zip(t, surv):
        if ti < max_steps:
            assert si == pytest.approx(1 - np.count_nonzero(escaped <= ti) / steps.size)


@given(trials())
def test_median_is_the_kaplan_meier_median_or_a_flagged_lower_bound(case):
    steps, status, max_steps = case
    s = summarize(steps, status, max_steps)
    t, surv = survival_curve(steps, status, max_steps)
    reached = t[(surv <= 0.5 + 1e-12) & (t <= max_steps)]
    escaped_half = np.count_nonzero(status == ESCAPED) >= (steps.size + 1) // 2
    assert s.median_is_lower_bound == (not escaped_half)
    if escaped_half:
        assert s.median_steps == reached.min()
        assert s.median_steps_lo <= s.median_steps <= s.median_steps_hi
    else:
        assert s.median_steps == max_steps + 1
        assert s.median_steps_hi == np.inf
    assert s.escaped + s.censored + s.diverged == steps.size


def test_diverged_trials_are_never_counted_as_escaped():
    steps = np.array([3, 4, 5, 6, 7])
    status = np.array([ESCAPED, DIVERGED, DIVERGED, DIVERGED, ESCAPED])
    s = summarize(steps, status, max_steps=100)
    assert (s.escaped, s.diverged, s.censored) == (2, 3, 0)
    assert s.median_is_lower_bound and s.mean_is_lower_bound


def test_lower_median_is_the_ceil_half_order_statistic():
    assert lower_median(np.array([4.0, 1.0, 3.0, 2.0])) == 2.0
    assert lower_median(np.array([5.0, 1.0, 3.0])) == 3.0
    np.testing.assert_array_equal(lower_median(np.array([[1.0, 2.0], [9.0, 8.0]]), axis=-1), [1.0, 8.0])


def test_bootstrap_interval_covers_the_true_median_at_its_level():
    """100 seeded data sets of 300 exponential escape times: the number of 95% intervals that
    cover the true median must not fall in the lower 0.001 tail of binomial(100, 0.95)."""
    g = np.random.default_rng(0)
    true_median = 100 * np.log(2)
    n_sets = 100
    covered = 0
    for i in range(n_sets):
        steps = np.ceil(g.exponential(100, size=300)).astype(np.int64)
        s = summarize(steps, np.zeros(300, np.int8), max_steps=10**6, seed=i)
        covered += s.median_steps_lo <= np.ceil(true_median) <= s.median_steps_hi
    assert covered >= scipy.stats.binom.ppf(0.001, n_sets, 0.95)


def test_ranked_times_put_non_escaped_trials_last():
    r = ranked_times(np.array([5, 10, 2]), np.array([ESCAPED, CENSORED, DIVERGED]), max_steps=10)
    np.testing.assert_array_equal(r, [5, 11, 11])
    assert scipy.stats.rankdata(r)[0] == 1


def test_the_bootstrap_in_batches_gives_the_same_interval(monkeypatch):
    """Above 2097 trials the 2000 resamples are drawn in batches (memory bounded by BOOTSTRAP_BYTES,
    whatever the number of trials): the same resamples from the same generator, so the same interval
    as all at once (3000 trials: batches of 1398, against one batch of 2000)."""
    from saddle import stats

    gen = np.random.default_rng(4)
    steps = gen.geometric(0.002, 3000)
    status = np.where(steps > 1500, CENSORED, ESCAPED)
    batched = summarize(steps, status, 1500, seed=9)
    assert stats.bootstrap_batch(3000) == 1398
    monkeypatch.setattr(stats, "BOOTSTRAP_ELEMENTS", 2000 * 3000)
    assert stats.bootstrap_batch(3000) is None
    whole = summarize(steps, status, 1500, seed=9)
    assert (batched.median_steps_lo, batched.median_steps_hi) == (whole.median_steps_lo, whole.median_steps_hi)


def test_a_million_trials_are_summarised_in_bounded_memory_and_time():
    """The 95% interval of a million trials' median is the order-statistic interval (scipy.stats.quantile_test),
    not 2000 resamples of a million (16 GB at once, or 2e9 draws in batches): under BOOTSTRAP_BYTES + 40
    bytes a trial of traced memory, and it covers the true median of the law (a
    geometric law with p = 1e-3: median 693; a 95% interval, seeded, misses it with probability 0.05)."""
    import tracemalloc

    from saddle.stats import BOOTSTRAP_BYTES, BOOTSTRAP_MAX_TRIALS, STATISTICS_BYTES_PER_TRIAL

    n = 1_000_000
    assert n > BOOTSTRAP_MAX_TRIALS
    steps = np.random.default_rng(5).geometric(1e-3, n)
    status = np.where(steps > 5000, CENSORED, ESCAPED)
    tracemalloc.start()
    s = summarize(steps, status, 5000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < BOOTSTRAP_BYTES + STATISTICS_BYTES_PER_TRIAL * n
    true_median = np.ceil(np.log(0.5) / np.log(1 - 1e-3))
    assert s.median_steps_lo <= true_median <= s.median_steps_hi
