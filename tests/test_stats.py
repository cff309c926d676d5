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
