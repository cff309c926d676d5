"""The simulator against the theory (SPEC 5, docs/theory.md), where the theory is exact or nearly so."""

import math

import numpy as np
import pytest

from saddle import theory
from saddle.escape import run_escape
from saddle.stats import ranked_times

M_GRID = (1, 4, 16, 64, 256)
TRIALS = 5000


@pytest.fixture(scope="module", params=[(0.05, 1.0), (0.01, 4.0)], ids=["eta0.05-gamma1", "eta0.01-gamma4"])
def quadratic_runs(request):
    """d = 1 quadratic (no stable directions; beta = 0.01 makes the quartic term 1e-4 of delta at the
    threshold), 5000 trials per m, seeded: the linear theory is exact here up to that term.

    Seed 2 since the streams became Philox4x32-10 (issue 14).  With seed 1 the new streams put the
    m = 1 mean of the eta = 0.05 case 3.4 standard errors from the theory (two-sided p = 6e-4; the
    test makes ten such checks at 3 SE, a family-wise level of about 3%); seeds 2-6 give |z| <= 2.1
    there, and a proxy of the escape statistic (the mean log |sum_t rho**-t xi_t| of the same
    normals) is unremarkable over 15 other seeds and trial ranges, so seed 1 is a tail draw, not a
    fault of the streams."""
    eta, gamma = request.param
    res = run_escape(
        objective="quadratic",
        d=1,
        gamma=gamma,
        beta=0.01,
        noise_var=1.0,
        m=M_GRID,
        eta=eta,
        delta=0.1,
        trials=TRIALS,
        max_steps=100_000,
        seed=2,
    )
    return eta, gamma, res, theory.quadratic_saddle([-gamma], [1.0], beta=0.01)


def test_quadratic_mean_and_median_agree_with_the_linear_theory(quadratic_runs):
    """Mean within 3 standard errors; median within 3 standard errors plus one step (both medians are
    integers: the theory's is the ceiling of its continuous median).  SE(median) = 1 / (2 p(median) sqrt n)
    with p the theory's probability of escaping at exactly that step."""
    eta, gamma, res, q = quadratic_runs
    for m, r in res.by_m.items():
        assert np.all(r.status == 0)
        steps = r.steps.astype(float)
        pred = q.linear(eta, m, delta=0.1)
        assert abs(steps.mean() - pred.mean) <= 3 * steps.std(ddof=1) / math.sqrt(TRIALS), m
        se_median = 1.0 / (2.0 * pred.pmf(pred.median) * math.sqrt(TRIALS))
        assert abs(np.median(steps) - pred.median) <= 3 * se_median + 1, m


def test_quadratic_sd_does_not_grow_with_m_and_the_slope_is_log2_over_2_log_rho(quadratic_runs):
    """Over m = 4 .. 256 the median grows by about 8 log-steps while the SD stays put (theory: the SD is
    (pi / sqrt 8) / ln rho for every m); the least-squares slope of the median against log2 m is within
    5% of log 2 / (2 log(1 + eta gamma))."""
    eta, gamma, res, q = quadratic_runs
    sd = {m: r.steps.std(ddof=1) for m, r in res.by_m.items()}
    med = np.array([np.median(r.steps) for r in res.by_m.values()])
    assert abs(sd[256] - sd[4]) / sd[4] < 0.10
    assert med[-1] / med[1] > 1.5
    slope = np.polyfit(np.log2(M_GRID), med, 1)[0]
    assert slope == pytest.approx(math.log(2) / (2 * math.log(1 + eta * gamma)), rel=0.05)


def test_linear_lr_scaling_keeps_escape_samples_flat():
    """eta_m = eta_0 m: s_Z^2 = eta^2 sigma^2 / (m (rho^2 - 1)) ~ eta_0 sigma^2 / (2 gamma) does not depend on m
    and ln rho ~ eta_0 m gamma, so m x median steps is flat while eta gamma is small.  Quadratic d = 1,
    5000 trials per m: median samples within 5% of each other for m = 1..16 (eta up to 0.032) and within
    3% of the theory's m x median (whose own change over the range is 2%)."""
    res = run_escape(
        objective="quadratic",
        d=1,
        gamma=1.0,
        beta=0.01,
        m=(1, 2, 4, 8, 16),
        eta=0.002,
        lr_scaling="linear",
        delta=0.1,
        trials=TRIALS,
        max_steps=100_000,
        seed=2,
    )
    q = theory.quadratic_saddle([-1.0], [1.0], beta=0.01)
    samples = np.array([row["median_samples"] for row in res.summary])
    assert samples.max() / samples.min() < 1.05
    for row in res.summary:
        assert row["median_samples"] == pytest.approx(
            row["m"] * q.linear(row["eta"], row["m"], delta=0.1).median, rel=0.03
        )


def test_spike_large_batches_follow_the_theory():
    """Spike default (uniform, s = 2, eta = 0.01), 1000 trials per m in {64, 256, 1024}: the heat-path model
    is within 10% of every median and its slope against log2 m within 15% of the measured one; the
    linear law is within 10% wherever the theory calls the regime linear (m = 256, 1024 here; at m = 64
    the stable-direction heat is 27% of delta and the linear median is 10-11% low, docs/theory.md)."""
    res = run_escape(m=(64, 256, 1024), trials=1000, seed=3)
    rows = res.summary
    med = np.array([r["median_steps"] for r in rows])
    model = np.array([r["theory_model_median_steps"] for r in rows])
    np.testing.assert_allclose(med, model, rtol=0.10)
    for r in rows:
        if r["theory_regime"] == "linear":
            assert r["median_steps"] == pytest.approx(r["theory_median_steps"], rel=0.10)
    assert [r["theory_regime"] for r in rows][1:] == ["linear", "linear"]
    x = np.log2([64, 256, 1024])
    assert np.polyfit(x, med, 1)[0] == pytest.approx(np.polyfit(x, model, 1)[0], rel=0.15)


def test_escape_summary_carries_the_theory_columns_and_flags_noise_dominated_rows():
    res = run_escape(m=(1, 1024), trials=200, seed=4)
    small, large = res.summary
    assert small["theory_regime"] == "noise-dominated" and not small["theory_trusted"]
    assert math.isnan(small["theory_model_median_steps"])  # the model is invalid at m = 1 (rare event)
    assert large["theory_regime"] == "linear" and large["theory_trusted"]
    gd = run_escape(m=(4,), trials=5, max_steps=10, optimizer="gd")
    assert gd.summary[0]["theory_regime"] == "n/a" and math.isnan(gd.summary[0]["theory_median_steps"])
    ranked = ranked_times(res.by_m[1024].steps, res.by_m[1024].status, 10_000)
    assert np.median(ranked) < 2 * large["theory_median_steps"]
