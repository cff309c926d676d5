"""The linear theory of SPEC section 5 (saddle.theory): formulas against direct simulation, exact noise
moments against Monte Carlo, the spike's saddle spectrum, regimes and the heat-path model.

Every statistical assertion has a fixed seed and a stated level: simulation checks use 40,000 trials and
3 standard errors (two-sided level 0.0027 each), Monte Carlo moment checks 200,000 samples and 5 standard
errors, the distribution check a KS test at level 0.001.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from saddle import theory
from saddle.objectives import spike, spike_moments
from saddle.objectives.spike import DISTRIBUTIONS, SpikeTensor
from saddle.theory import quantities

TRIALS = 40_000
ETA, GAMMA = 0.01, 4.0  # rho = 1.04: the spike default's escape rate
SIGMA2_SIM = 1.0  # R = 1: R / s_Z = 28.6 at m = 1, the linear theory's regime (R >> s_Z sqrt(2 / eta gamma) = 7 s_Z)


def simulate_first_exit(eta, gamma, sigma2, radii, trials, seed, max_steps=5000):
    """First t >= 1 with |z_t| >= R for each R, z_{t+1} = rho z_t + eta xi_t, xi ~ N(0, sigma2), z_0 = 0.

    Batch size m enters only through the noise scale 1/sqrt(m): the exit of the m-batch recursion past R
    is the exit of this one past R sqrt(m), so one simulation serves every m (``radii`` = R sqrt(m)).
    Returns an array (len(radii), trials).
    """
    rng = np.random.default_rng(seed)
    rho = 1.0 + eta * gamma
    radii = np.asarray(radii, dtype=float)
    z = np.zeros(trials)
    tau = np.zeros((radii.size, trials))
    alive = np.ones((radii.size, trials), dtype=bool)
    for t in range(1, max_steps + 1):
        z = rho * z + eta * math.sqrt(sigma2) * rng.standard_normal(trials)
        hit = alive & (np.abs(z)[None, :] >= radii[:, None])
        tau[hit] = t
        alive &= ~hit
        if not alive.any():
            return tau
    raise AssertionError("some trials did not escape")


def lower_median(x):
    return np.sort(x)[(x.size + 1) // 2 - 1]


def median_band(pred, n, z=3.0):
    """3-SE band of a sample median: the law's quantiles at 1/2 -+ z / (2 sqrt n) (order-statistic binomial)."""
    return pred.quantile(0.5 - z * 0.5 / math.sqrt(n)), pred.quantile(0.5 + z * 0.5 / math.sqrt(n))


def sd_standard_error(x):
    """SE of the sample SD: sd sqrt((excess kurtosis + 2) / (4 n))."""
    return x.std() * math.sqrt((scipy.stats.kurtosis(x) + 2.0) / (4.0 * x.size))


# -- 1. the linear escape-time law against the scalar recursion ------------------------------------


def test_distance_criterion_mean_median_sd_match_simulation():
    """First exit of |z| past R at m = 1, 32, 1024 (independent runs): E tau (with the +1/2), median and SD
    within 3 SE at 40,000 trials each; the SD is the same (pi/sqrt8)/ln rho at every m."""
    R = 1.0
    residuals = []
    for m, seed in ((1, 11), (32, 12), (1024, 13)):
        tau = simulate_first_exit(ETA, GAMMA, SIGMA2_SIM / m, [R], TRIALS, seed)[0]
        pred = theory.linear_prediction(ETA, GAMMA, SIGMA2_SIM, m, radius=R)
        se_mean = tau.std() / math.sqrt(TRIALS)
        assert abs(tau.mean() - pred.mean) <= 3 * se_mean
        lo, hi = median_band(pred, TRIALS)
        assert lo <= lower_median(tau) <= hi
        assert abs(tau.std() - pred.sd) <= 3 * sd_standard_error(tau)
        residuals.append((tau.mean() - pred.mean, se_mean))
    assert pred.sd == pytest.approx(math.sqrt((math.pi / math.sqrt(8)) ** 2 / math.log(1 + ETA * GAMMA) ** 2 + 1 / 12))
    # the discrete-time +1/2 is resolved: pooled over the three runs (SE 0.08 steps), dropping it is > 3 SE off
    pooled = np.mean([r for r, _ in residuals])
    pooled_se = math.sqrt(sum(se**2 for _, se in residuals)) / len(residuals)
    assert abs(pooled) <= 3 * pooled_se < abs(pooled + 0.5)


def test_fdrop_median_slope_in_log2_m_and_distribution():
    """f-drop criterion (gamma/2) z^2 >= delta: medians for m = 1 .. 1024 in their 3-SE bands, slope of the
    median against log2 m within 5% of ln 2 / (2 ln rho), and the whole law by a KS test at level 0.001."""
    delta = GAMMA / 2  # z* = 1
    ms = 2.0 ** np.arange(11)
    pred = theory.linear_prediction(ETA, GAMMA, SIGMA2_SIM, ms, delta=delta)
    assert pred.radius == pytest.approx(1.0)
    tau = simulate_first_exit(ETA, GAMMA, SIGMA2_SIM, pred.radius * np.sqrt(ms), TRIALS, seed=21)
    medians = np.array([lower_median(x) for x in tau])
    lo, hi = median_band(pred, TRIALS)
    assert np.all((lo <= medians) & (medians <= hi))
    slope = np.polyfit(np.log2(ms), medians, 1)[0]
    assert slope == pytest.approx(math.log(2) / (2 * math.log(1 + ETA * GAMMA)), rel=0.05)
    assert pred.slope_per_log2_m == pytest.approx(math.log(2) / (2 * math.log(1.04)))
    # KS for a discrete law: D = max_t |F_n(t) - F(t)| over the integers; kstwo is conservative for it
    for i in (0, 5, 10):
        x = tau[i]
        t = np.arange(1, x.max() + 1)
        F_n = np.searchsorted(np.sort(x), t, side="right") / x.size
        F = theory.linear_prediction(ETA, GAMMA, SIGMA2_SIM, ms[i], delta=delta).cdf(t)
        D = np.max(np.abs(F_n - F))
        assert scipy.stats.kstwo.sf(D, x.size) > 0.001


pos = st.floats(0.05, 20.0)


@settings(max_examples=60)
@given(
    eta=st.floats(1e-4, 0.1),
    gamma=pos,
    sigma2=st.floats(1e-3, 1e3),
    delta=st.floats(1e-3, 1.0),
    m=st.integers(1, 4096),
    k=st.integers(1, 4),
)
def test_linear_law_is_consistent(eta, gamma, sigma2, delta, m, k):
    """The median is quantile(1/2) and the smallest t with cdf >= 1/2; the k = 1 mean is SPEC's closed form
    where the first step cannot reach the radius (P(tau = 1) negligible), and above it (tau >= 1) where it can;
    f-drop with delta equals distance with R = z*; the slope does not depend on the noise."""
    p = theory.linear_prediction(eta, gamma, sigma2, m, delta=delta, n_escape=k)
    assert p.median == p.quantile(0.5)
    assert p.cdf(p.median) >= 0.5
    if p.median > 1:
        assert p.cdf(p.median - 1) < 0.5
    q = theory.linear_prediction(eta, gamma, sigma2, m, radius=math.sqrt(2 * delta / gamma), n_escape=k)
    assert q.median == p.median and q.mean == pytest.approx(p.mean)
    assert p.slope_per_log2_m == theory.linear_prediction(eta, gamma, 7 * sigma2, m, delta=delta).slope_per_log2_m
    if k == 1:
        R2 = 2 * delta / gamma
        spec = (math.log(R2 * m * gamma * (2 + eta * gamma) / (eta * sigma2)) + np.euler_gamma + math.log(2)) / (
            2 * math.log(1 + eta * gamma)
        ) + 0.5
        if p.cdf(1) < theory.linear.FIRST_STEP_TOLERANCE:
            assert p.mean == pytest.approx(spec, rel=1e-9)
        else:  # the closed form is E[T] + 1/2 (the discrete-time correction, exact only when T spreads over
            # many steps); tau = max(1, ceil(T)) >= ceil(T) >= T, so E[tau] >= max(1, E[T]) = max(1, spec - 1/2)
            assert p.mean >= max(1.0, spec - 0.5)
        spec_median = math.log(math.sqrt(R2) / (0.6744897501960817 * p.s_Z)) / math.log(1 + eta * gamma)
        assert p.median_continuous == pytest.approx(spec_median, rel=1e-9)
        assert p.median == max(1.0, math.ceil(spec_median))


def test_linear_prediction_vectorises_over_m():
    ms = [1, 3, 64, 1000]
    vec = theory.linear_prediction(ETA, GAMMA, 80 / 7, ms, delta=0.1)
    for i, m in enumerate(ms):
        one = theory.linear_prediction(ETA, GAMMA, 80 / 7, m, delta=0.1)
        assert (vec.median[i], vec.mean[i], vec.sd[i]) == pytest.approx((one.median, one.mean, one.sd))


def test_linear_prediction_rejects_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        theory.linear_prediction(ETA, GAMMA, 1.0, 1)
    with pytest.raises(ValueError, match="sigma_v2"):
        theory.linear_prediction(ETA, GAMMA, 0.0, 1, delta=0.1)


# -- 2. saddle quantities of the spike --------------------------------------------------------------

dists = st.sampled_from(sorted(DISTRIBUTIONS))


def test_spike_default_numbers_match_spec():
    """d = 10, s = 2, uniform: sigma_v^2 = 80/7, tr(Sigma_stable) = 4800/7, H(m) = (12/7)/m = 1.714/m at
    eta = 0.01 (SPEC 5: 'about 1.7/m'), one escape direction with gamma = 4, stable eigenvalues +2."""
    q = spike.spike_saddle(10, 2, "uniform")
    assert q.gamma == 4.0 and q.n_escape == 1
    assert q.sigma_v2 == pytest.approx(80 / 7, rel=1e-14)
    assert q.trace_stable == pytest.approx(4800 / 7, rel=1e-14)
    assert q.stable_heat(0.01, 1) == pytest.approx(12 / 7, rel=1e-14)
    assert q.stable_heat(0.01, np.array([1, 16])) == pytest.approx([1.714, 0.107], abs=1e-3)
    np.testing.assert_allclose(q.stable_eigenvalues, 2.0, rtol=1e-12)
    v = q.escape_directions[:, 0]
    assert abs(v @ np.r_[1, -1, np.zeros(8)] / math.sqrt(2)) == pytest.approx(1.0)


@settings(max_examples=25)
@given(d=st.integers(2, 12), data=st.data())
def test_escape_spectrum_at_the_spike_saddle_is_spec_2_1(d, data):
    """gamma = 8/s with s - 1 escape directions in span{a_l : l in S}, d - s stable eigenvalues 4/s, and the
    noise isotropic on the escape space (CNC constant = sigma_v^2), from rhess and the tangent basis."""
    s = data.draw(st.integers(2, d))
    dist = data.draw(dists)
    A = scipy.stats.ortho_group.rvs(d, random_state=data.draw(st.integers(0, 2**32 - 1)))
    obj = SpikeTensor(d, dist, A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = theory.saddle_quantities(obj, obj.saddle(s))
        exact = spike.spike_saddle(d, s, dist)
    assert q.gamma == pytest.approx(8 / s, rel=1e-9)
    assert q.n_escape == s - 1
    np.testing.assert_allclose(q.stable_eigenvalues, 4 / s, rtol=1e-9)
    assert q.stable_directions.shape[1] == d - s
    in_span = A[:, :s] @ (A[:, :s].T @ q.escape_directions)
    np.testing.assert_allclose(in_span, q.escape_directions, atol=1e-9)
    scale = max(exact.sigma_v2, exact.trace_stable, 1.0)
    assert q.sigma_v2 == pytest.approx(exact.sigma_v2, abs=1e-9 * scale)
    assert q.cnc == pytest.approx(q.sigma_v2, abs=1e-9 * scale)
    assert q.trace_stable == pytest.approx(exact.trace_stable, abs=1e-9 * scale)


@settings(max_examples=20)
@given(d=st.integers(1, 8), dist=dists, data=st.data())
def test_general_point_covariance_equals_exact_fractions_at_saddles(d, dist, data):
    """The float series routine (any u) reproduces the exact rational covariance at every saddle."""
    s = data.draw(st.integers(1, d))
    u = np.r_[np.ones(s), np.zeros(d - s)] / math.sqrt(s)
    exact = spike_moments.spike_gradient_covariance(d, s, dist)
    np.testing.assert_allclose(
        spike_moments.spike_gradient_covariance_at(u, dist), exact, rtol=1e-11, atol=1e-11 * np.abs(exact).max()
    )


def monte_carlo_moments(obj, u, V, W, n, seed):
    """sigma_v^2 along V and tr over W from obj.per_sample_grad with data x = A z, z from default_rng."""
    z = spike_moments.latent_sample(np.random.default_rng(seed), n, obj.d, obj.dist)
    g = obj.per_sample_grad(u, obj.samples(z))
    gv, gw = g @ V, g @ W
    qv = (gv - gv.mean()) ** 2
    qw = np.sum((gw - gw.mean(axis=0)) ** 2, axis=1)
    return (qv.mean(), qv.std() / math.sqrt(n)), (qw.mean(), qw.std() / math.sqrt(n))


@pytest.mark.parametrize("dist, seed", [("uniform", 31), ("laplace", 32), ("rademacher", 33)])
def test_exact_noise_moments_match_monte_carlo(dist, seed):
    """sigma_v^2 and tr(Sigma_stable) at the s = 2 saddle: exact against 200,000 per-sample gradients
    (SpikeTensor.per_sample_grad), within 5 standard errors.  (Laplace's per-sample variance has heavy tails:
    its SE is itself noisy.)  For rademacher sigma_v^2 is exactly 0 and every sample is 0 to rounding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = spike.spike_saddle(10, 2, dist)
    obj = SpikeTensor(10, dist)
    (sv, sv_se), (tr, tr_se) = monte_carlo_moments(
        obj, obj.saddle(2), q.escape_directions[:, 0], q.stable_directions, 200_000, seed
    )
    assert abs(tr - q.trace_stable) <= 5 * tr_se
    if dist == "rademacher":
        assert q.sigma_v2 == 0.0 and sv <= 1e-20 * q.trace_stable
    else:
        assert abs(sv - q.sigma_v2) <= 5 * sv_se


def test_covariance_at_a_general_point_matches_monte_carlo():
    """The exact covariance away from critical points (used along the escape path), 200,000 samples, 5 SE
    on every diagonal entry of the covariance in the tangent basis."""
    g = np.random.default_rng(41)
    obj = SpikeTensor(6, "uniform")
    u = obj.manifold.random_point(g)
    C = spike_moments.spike_gradient_covariance_at(u, "uniform")
    z = spike_moments.latent_sample(g, 200_000, 6, "uniform")
    G = obj.per_sample_grad(u, obj.samples(z))
    B = obj.manifold.tangent_basis(u)
    P = (G - G.mean(axis=0)) @ B
    est, se = np.mean(P**2, axis=0), np.std(P**2, axis=0) / math.sqrt(P.shape[0])
    assert np.all(np.abs(est - np.diag(B.T @ C @ B)) <= 5 * se)


def test_rademacher_cnc_constant_is_exactly_zero_and_warns():
    """SPEC 2.1 note: at the s = 2 saddle with rademacher data the CNC condition fails exactly."""
    with pytest.warns(UserWarning, match="CNC"):
        q = spike.spike_saddle(10, 2, "rademacher")
    assert q.cnc == 0.0 and q.sigma_v2 == 0.0
    with pytest.warns(UserWarning, match="CNC"):
        g = theory.saddle_quantities(SpikeTensor(10, "rademacher"))
    assert g.cnc == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spike.spike_saddle(10, 3, "rademacher").cnc > 0  # s = 3 has noise along its escape plane
        assert spike.spike_saddle(10, 2, "uniform").cnc > 0


def test_monte_carlo_path_is_rotation_invariant():
    """A Haar-random A gives the same sigma_v^2 and tr(Sigma_stable) from the Monte Carlo path (saddle
    quantities of the rotated objective, 200,000 samples, 5 SE) and, to rounding, from the exact one."""
    exact = spike.spike_saddle(10, 2, "uniform")
    A = scipy.stats.ortho_group.rvs(10, random_state=np.random.default_rng(51))
    obj = SpikeTensor(10, "uniform", A)
    mc = theory.saddle_quantities(obj, method="monte-carlo", n_samples=200_000, seed=52)
    assert not mc.exact and mc.sigma_v2_se > 0
    assert abs(mc.sigma_v2 - exact.sigma_v2) <= 5 * mc.sigma_v2_se
    assert abs(mc.trace_stable - exact.trace_stable) <= 5 * mc.trace_stable_se
    rotated = theory.saddle_quantities(obj)
    assert rotated.sigma_v2 == pytest.approx(exact.sigma_v2, rel=1e-10)
    assert rotated.trace_stable == pytest.approx(exact.trace_stable, rel=1e-10)


def test_monte_carlo_fallback_for_a_generic_objective():
    """An objective with only rhess, manifold and per_sample_grad, plus a sampler: estimates with SEs
    (quadratic testbed with a correlated Sigma, 200,000 samples, 5 SE)."""
    Sigma = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    exact = theory.quadratic_saddle([-1.0, 2.0, 3.0], Sigma, beta=1.0)
    model = quantities._Quadratic(np.array([-1.0, 2.0, 3.0]), Sigma, 1.0)

    class Generic:  # no covariance known
        manifold = model.manifold
        rhess = staticmethod(model.rhess)
        per_sample_grad = staticmethod(model.per_sample_grad)

    L = np.linalg.cholesky(Sigma)
    q = theory.saddle_quantities(
        Generic(), np.zeros(3), sampler=lambda rng, n: rng.standard_normal((n, 3)) @ L.T, n_samples=200_000, seed=61
    )
    assert abs(q.sigma_v2 - 2.0) <= 5 * q.sigma_v2_se
    assert abs(q.trace_stable - 1.5) <= 5 * q.trace_stable_se
    assert (exact.sigma_v2, exact.trace_stable, exact.gamma) == (2.0, 1.5, 1.0)


def test_quadratic_saddle_from_plain_arrays():
    q = theory.quadratic_saddle([3.0, -2.0, 1.0], [0.1, 0.7, 0.4])
    assert q.gamma == 2.0 and q.sigma_v2 == pytest.approx(0.7) and q.trace_stable == pytest.approx(0.5)
    assert abs(q.escape_directions[1, 0]) == 1.0
    np.testing.assert_allclose(sorted(q.stable_eigenvalues), [1.0, 3.0])


# -- 3./4. regimes, the heat-path model, the best batch size ----------------------------------------


@settings(max_examples=25)
@given(
    eta=st.floats(0.01, 0.05),
    gamma=st.floats(0.5, 5.0),
    sigma2=st.floats(1e-4, 1.0),
    delta=st.floats(0.01, 1.0),
    m=st.integers(1, 2048),
)
def test_heat_path_model_reduces_to_the_linear_law_on_a_pure_saddle(eta, gamma, sigma2, delta, m):
    """On f = -gamma z^2 / 2 (d = 1, no stable directions, no quartic) the model's median trajectory escapes
    at exactly the linear median: both use the first integer t >= 1 past the threshold."""
    q = theory.quadratic_saddle([-gamma], sigma2)
    lin = q.linear(eta, m, delta=delta)
    assume(abs(lin.median_continuous - round(lin.median_continuous)) > 1e-6)
    assert theory.heat_path_escape(q, eta, m, delta=delta) == lin.median


def test_heat_path_model_on_the_quadratic_sits_between_delta_and_delta_plus_heat():
    """With stable directions (beta = 0) the heat builds up towards its discrete-time stationary value
    sum_k eta Sigma_kk / (2 m (2 - eta lambda_k)) (SPEC's H(m) = eta tr / (4 m) to first order in eta lambda):
    the median lies between the linear medians for delta and for delta + that heat."""
    q = theory.quadratic_saddle([-1.0, 2.0, 2.0], [1.0, 4.0, 4.0])
    lam = q.stable_eigenvalues
    for m in (1, 4, 16):
        H = np.sum(0.05 * q.stable_noise / (2 * m * (2 - 0.05 * lam)))
        assert H == pytest.approx(q.stable_heat(0.05, m), rel=0.06)
        t = theory.heat_path_escape(q, 0.05, m, delta=0.2)
        assert q.linear(0.05, m, delta=0.2).median <= t <= q.linear(0.05, m, delta=0.2 + H).median


def test_regimes_at_the_spike_default():
    """H(m) < delta/4 (linear) from m = 128 on (H = 1.714/m); heat at the minimum 0.964/m exceeds the margin
    0.4 for m <= 2 (rare event); curvature softening 5.4/m >= 1 for m <= 4 (delocalised)."""
    q = spike.spike_saddle()
    ms = [2**k for k in range(11)]
    rows = theory.regime(q, 0.01, ms, delta=0.1)
    assert [r.regime for r in rows] == ["noise-dominated"] * 7 + ["linear"] * 4
    assert [r.rare_event for r in rows] == [True] * 2 + [False] * 9
    assert [r.delocalised for r in rows] == [True] * 3 + [False] * 8
    assert rows[0].heat_end == pytest.approx(0.01 * 9 * (100 / 9) * (27 / 7) / 4)  # 9 directions, E z^6 = 27/7
    assert rows[0].margin == pytest.approx(0.4)
    assert rows[0].softening == pytest.approx(16 * rows[4].softening)
    assert all(r.linear_trusted == (r.regime == "linear") for r in rows)


def test_optimal_batch_size_at_the_spike_default():
    """The heat-path model picks m = 16 for steps and m = 8 for samples (measured with 2000 trials: 32 at 85
    steps with 16 one step behind, and m = 8 is the cheapest in samples; docs/theory.md); the plain linear
    theory picks m = 1 for both.  At large m the model is the linear median plus the path's curvature offset
    (~3 steps).  Batch sizes are ints."""
    best = theory.optimal_batch_size(spike.spike_saddle(), 0.01, delta=0.1)
    assert (best.m_steps, best.m_samples) == (16, 8)
    assert all(type(m) is int for m in (best.m_steps, best.m_samples, best.linear_m_steps, best.linear_m_samples))
    assert (best.linear_m_steps, best.linear_m_samples) == (1, 1)
    big = best.rows[-1]
    assert big["m"] == 1024 and 2 <= big["model_median"] - big["linear_median"] <= 4
    assert [r["model_valid"] for r in best.rows] == [False] * 3 + [True] * 8


def test_adiabatic_closed_form_optimum():
    """H* = sqrt(delta drop) - delta and m* = eta tr / (4 H*): 13.9 at the spike default, whose nearest grid
    point in log2 m is the heat-path model's 16; m* scales with eta."""
    q = spike.spike_saddle()
    m_star = theory.adiabatic_optimal_batch_size(q.trace_stable, 0.01, 0.1, 0.5)
    assert m_star == pytest.approx((12 / 7) / (math.sqrt(0.05) - 0.1))
    assert 2 ** round(math.log2(m_star)) == 16
    assert theory.adiabatic_optimal_batch_size(q.trace_stable, 0.005, 0.1, 0.5) == pytest.approx(m_star / 2)
    assert theory.adiabatic_optimal_batch_size(q.trace_stable, 0.01, 0.6, 0.5) == math.inf


def test_no_linear_escape_without_noise_along_v():
    """Rademacher at s = 2: sigma_v^2 = 0, so neither the linear law nor the model predicts an escape."""
    with pytest.warns(UserWarning, match="CNC"):
        q = spike.spike_saddle(10, 2, "rademacher")
    assert theory.heat_path_escape(q, 0.01, 32, delta=0.1) == math.inf
    best = theory.optimal_batch_size(q, 0.01, delta=0.1, m_grid=(8, 32))
    assert best.m_steps is None and all(r["linear_median"] == math.inf for r in best.rows)
