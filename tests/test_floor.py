"""The noise floor at a minimum (saddle.theory.floor; SPEC 8).

Idea under test
---------------
At a fixed step eta and batch m, SGD does not settle at a minimum u*: linearised there, its tangent
coordinate follows y_{t+1} = (I - eta H*) y_t + (eta / sqrt(m)) xi_t, Cov xi = Sigma*, whose stationary
covariance P solves the discrete Lyapunov equation P = A P A^T + (eta^2 / m) Sigma*, so the excess f - f_min
is a generalised chi-square of mean tr(H* P) / 2 = sum_k eta s_k / (2 m (2 - eta h_k)).  For small eta this
is eta tr(Sigma*) / (4 m) (the curvature cancels); at eta h_k of order 1 it is larger by up to 2 / (2 - eta h_k),
and there is no floor at all from eta lambda_max = 2 on.

Checked here: the law of the excess (Ruben's series and Imhof's inversion against chi-square laws, each
other and a seeded Monte Carlo); the minimum, Hessian and noise that :func:`noise_floor` finds on the
quadratic (H* = diag(2 gamma, lambda_k + gamma) at x* = sqrt(gamma / beta) e_1, derived in the test) and on
the spike (a component a_l, H* = 4 I, Sigma* = 16 mu_6 / kappa^2 I); P against SciPy's Lyapunov solver;
the refusal of unstable steps; the small-eta limit; the Monte Carlo covariance against the exact one; and
the floor against simulation, the stationary law being that of ``final_f`` over many independent trials
run to a target no trial can reach (f_min itself):

- quadratic (Gaussian noise: the linearisation is exact up to the quartic term), 4000 trials a cell, seed 1,
  at eta h = 1.2 (the eta-correction is 2.5: the small-eta formula is off by ~40 standard errors, the
  Lyapunov mean within 4 standard errors + 2%) and at eta h = 0.1;
- spike (d = 10, uniform data), 1000 trials a cell, seed 1, at eta lambda = 1.2 and 0.4 with m = 2048 and
  1024: within 4 standard errors + 4% (measured: -1.5% and +1.2% at seed 1); and where it fails: at
  m = 64 (eta = 0.1) the iterate wanders so far from the minimum that the simulated mean is 1.7 times the
  theory's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.spike import SpikeTensor
from saddle.theory.floor import RUBEN_MAX_TERMS, WeightedChi2, _imhof_cdf, local_minimum, noise_floor
from saddle.theory.quantities import stable_heat

# ------------------------------------------------------------------------------------ the law of the excess


def test_equal_weights_are_a_scaled_chi_square():
    """Q = 0.3 chi^2_5: CDF and quantiles to 1e-12 (Ruben's series is then its first term)."""
    law = WeightedChi2(np.full(5, 0.3))
    x = np.array([0.01, 0.5, 1.5, 4.0])
    assert law.cdf(x) == pytest.approx(scipy.stats.chi2(5).cdf(x / 0.3), abs=1e-12)
    q = np.array([0.05, 0.5, 0.95])
    assert law.quantile(q) == pytest.approx(0.3 * scipy.stats.chi2(5).ppf(q), rel=1e-10)
    assert law.mean == pytest.approx(1.5) and law.variance == pytest.approx(2 * 5 * 0.09)


def test_ruben_series_and_imhof_inversion_agree_and_match_monte_carlo():
    """Unequal weights: Ruben's series (its error bounded by 1e-13) and Imhof's inversion agree to 1e-8; both
    agree with 400,000 seeded draws within 4 binomial standard errors; the quantile inverts the CDF to 1e-10.
    Weights spread by 10^4 take Imhof's path (Ruben's would need ~3 x 10^5 terms) and match the draws too."""
    gen = np.random.default_rng(3)
    for w in ([0.1, 0.5, 1.0, 3.0], [2.0, 0.25]):
        law = WeightedChi2(w)
        assert law.method == "Ruben's series"
        draws = gen.standard_normal((400_000, len(w))) ** 2 @ np.asarray(w)
        for x in (0.2, 1.0, 4.0, 9.0):
            assert float(law.cdf(x)) == pytest.approx(_imhof_cdf(x, np.asarray(w)), abs=1e-8)
            p = float(np.mean(draws <= x))
            assert float(law.cdf(x)) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / draws.size) + 1e-12)
        levels = np.array([0.01, 0.3, 0.5, 0.99])
        assert law.cdf(law.quantile(levels)) == pytest.approx(levels, abs=1e-10)
    spread = WeightedChi2([1e-4, 0.01, 1.0])
    assert spread.method == "Imhof's inversion" and 28 * 1e4 > RUBEN_MAX_TERMS
    draws = gen.standard_normal((400_000, 3)) ** 2 @ np.array([1e-4, 0.01, 1.0])
    for x in (0.01, 0.5, 3.0):
        p = float(np.mean(draws <= x))
        assert float(spread.cdf(x)) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / draws.size))


def test_zero_weights_are_a_point_mass_and_negative_ones_are_refused():
    law = WeightedChi2([0.0, 0.0])
    assert law.cdf([-1.0, 0.0, 1.0]).tolist() == [0.0, 1.0, 1.0] and float(law.quantile(0.5)) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        WeightedChi2([1.0, -0.1])


# ------------------------------------------------------------------------------------ minimum, Hessian, noise


def test_quadratic_minimum_hessian_and_lyapunov_covariance():
    """f = x'Hx/2 + beta |x|^4 / 4, H = diag(-gamma, lambda_k): grad f = H x + beta |x|^2 x vanishes on e_1 at
    |x|^2 = gamma / beta, and the Hessian there, H + beta (|x|^2 I + 2 x x'), is diag(2 gamma, lambda_k + gamma);
    f_min = -gamma^2 / (4 beta).  The gradient flow from the saddle finds it (to 1e-12), P equals SciPy's
    solve_discrete_lyapunov(A, eta^2 Sigma / m) for a full Sigma (to 1e-12 relative), the weights are the
    eigenvalues of P^{1/2} H* P^{1/2} / 2, and the mean is sum_k eta s_k / (2 m (2 - eta h_k))."""
    gamma, beta, lam = 1.5, 0.5, np.array([0.7, 3.0])
    config = EscapeConfig(objective="quadratic", d=3, gamma=gamma, beta=beta, lam=tuple(lam), m=(1,))
    floor = noise_floor(config, 0.2, 8)
    assert abs(floor.minimum[0]) == pytest.approx(math.sqrt(gamma / beta), abs=1e-12)
    assert floor.minimum[1:] == pytest.approx(0.0, abs=1e-12)
    assert floor.f_min == pytest.approx(-(gamma**2) / (4 * beta), abs=1e-14) and not floor.note
    assert floor.hessian_eigenvalues == pytest.approx(np.sort([2 * gamma, *(lam + gamma)]), rel=1e-12)

    rng = np.random.default_rng(0)
    G = rng.standard_normal((3, 3))
    Sigma = G @ G.T + 0.1 * np.eye(3)
    objective = QuadraticSaddle(3, gamma, lam, beta, Sigma)
    eta, m = 0.3, 4
    floor = noise_floor(objective, eta, m)
    A = np.eye(3) - eta * floor.hessian
    P = scipy.linalg.solve_discrete_lyapunov(A, eta**2 * Sigma / m)
    assert floor.covariance == pytest.approx(P, rel=1e-12, abs=1e-15)
    root = np.real(scipy.linalg.sqrtm(P))
    assert floor.weights == pytest.approx(np.linalg.eigvalsh(root @ floor.hessian @ root) / 2, rel=1e-10)
    assert floor.mean_excess == pytest.approx(0.5 * np.trace(floor.hessian @ P), rel=1e-12)
    assert floor.mean_excess == pytest.approx(floor.law.mean, rel=1e-12)
    h, V = np.linalg.eigh(floor.hessian)
    s = np.diag(V.T @ Sigma @ V)
    assert floor.mean_excess == pytest.approx(np.sum(eta * s / (2 * m * (2 - eta * h))), rel=1e-12)
    assert floor.small_eta_excess == pytest.approx(eta * np.trace(Sigma) / (4 * m), rel=1e-12)
    assert floor.method == "exact"


def test_spike_minimum_is_a_component_with_isotropic_curvature_and_noise():
    """Rotated frame (seed 5), d = 10, uniform data: the flow from the s = 2 saddle ends at +-a_1 or +-a_2,
    f_min = -1; on the tangent space H* = 4 I (SPEC 2.1, s = 1) and Sigma* = 16 mu_6 / kappa^2 I =
    16 (27/7) / (36/25) I = (300/7) I (g = (12 u - 4 (u.x)^3 x) / kappa at u = a_1: its tangent part is
    -4 z_1^3 z_j / kappa); so the weights are all equal and the excess is a scaled chi^2_9."""
    config = EscapeConfig(objective="spike", d=10, rotation_seed=5, m=(1,))
    A = SpikeTensor.from_config(config).A
    eta, m = 0.1, 100
    floor = noise_floor(config, eta, m)
    overlaps = np.sort(np.abs(A.T @ floor.minimum))
    assert overlaps[-1] == pytest.approx(1.0, abs=1e-12) and overlaps[:-1] == pytest.approx(0.0, abs=1e-6)
    assert floor.f_min == pytest.approx(-1.0, abs=1e-12)
    assert floor.hessian == pytest.approx(4.0 * np.eye(9), abs=1e-10)
    assert floor.noise_covariance == pytest.approx(300 / 7 * np.eye(9), rel=1e-10, abs=1e-9)
    expected = 9 * eta * (300 / 7) / (2 * m * (2 - 4 * eta))
    assert floor.mean_excess == pytest.approx(expected, rel=1e-10)
    assert floor.weights == pytest.approx(np.full(9, expected / 9), rel=1e-9)
    assert floor.quantiles[0.5] == pytest.approx(expected / 9 * scipy.stats.chi2(9).ppf(0.5), rel=1e-9)


def test_a_given_minimum_is_used_and_a_saddle_is_refused():
    objective = SpikeTensor(6)
    found = local_minimum(objective, objective.saddle(3))
    assert np.sort(np.abs(found))[-1] == pytest.approx(1.0, abs=1e-12)
    a3 = np.eye(6)[2]
    assert noise_floor(objective, 0.05, 16, minimum=a3).minimum == pytest.approx(a3)
    with pytest.raises(ValueError, match="not a strict minimum"):
        noise_floor(objective, 0.05, 16, minimum=objective.saddle(2))


def test_products_of_spheres_are_refused():
    config = EscapeConfig(objective="ge2015", sampling="per-column", m=(1,))
    with pytest.raises(ValueError, match="product of spheres"):
        noise_floor(config, 0.01, 1)


def test_monte_carlo_covariance_agrees_with_the_exact_one():
    """Spike, d = 10: 20,000 seeded samples (seed 4) give the mean excess and its small-eta limit within 4 of
    their standard errors (about 1.3%) of the exact spike moments."""
    config = EscapeConfig(objective="spike", d=10, m=(1,))
    exact = noise_floor(config, 0.1, 1024)
    mc = noise_floor(config, 0.1, 1024, method="monte-carlo", n_samples=20_000, seed=4)
    assert mc.method == "monte carlo" and 0 < mc.mean_excess_se < 0.02 * mc.mean_excess
    assert abs(mc.mean_excess - exact.mean_excess) <= 4 * mc.mean_excess_se
    assert abs(mc.small_eta_excess - exact.small_eta_excess) <= 4 * mc.small_eta_excess_se


# ------------------------------------------------------------------------------------ where it is defined


def test_unstable_step_sizes_are_refused():
    """Quadratic with gamma = lambda = 1: H* = 2 I, so eta = 1 (eta lambda_max = 2) has no floor; spike: H* = 4 I,
    eta = 0.5.  Just below, the floor exists and grows like 1 / (2 - eta lambda)."""
    quadratic = EscapeConfig(objective="quadratic", d=2, m=(1,))
    with pytest.raises(ValueError, match="linearly unstable"):
        noise_floor(quadratic, 1.0, 1)
    assert noise_floor(quadratic, 0.999, 1).eta_correction == pytest.approx(2 / (2 - 1.998), rel=1e-9)
    with pytest.raises(ValueError, match="linearly unstable"):
        noise_floor(EscapeConfig(objective="spike", d=10, m=(1,)), 0.5, 1024)
    for eta, m in ((0.0, 1), (-0.1, 1), (math.nan, 1), (0.1, 0), (0.1, math.inf)):
        with pytest.raises(ValueError, match="eta|m must"):
            noise_floor(quadratic, eta, m)


def test_small_eta_limit_is_recovered():
    """mean / (eta tr Sigma / (4 m)) = 1 + eta sum_k h_k s_k / (2 sum_k s_k) + O(eta^2) -> 1: on the spike
    (h = 4) it is exactly 1 / (1 - 2 eta); at eta = 1e-6 the two agree to 3e-6."""
    config = EscapeConfig(objective="spike", d=10, m=(1,))
    ratios = [noise_floor(config, eta, 4).eta_correction for eta in (0.1, 1e-2, 1e-3, 1e-6)]
    assert ratios == pytest.approx([1 / (1 - 2 * eta) for eta in (0.1, 1e-2, 1e-3, 1e-6)], rel=1e-12)
    assert np.all(np.diff(ratios) < 0) and abs(ratios[-1] - 1) < 3e-6
    floor = noise_floor(config, 1e-6, 4)
    assert floor.small_eta_excess == pytest.approx(float(stable_heat(9 * 300 / 7, 1e-6, 4)), rel=1e-10)


# ------------------------------------------------------------------------------------ against simulation


def _stationary_excess(config: EscapeConfig, m: int) -> np.ndarray:
    """f - f_min at max_steps over the trials of ``config`` (target = f_min: no trial stops early)."""
    result = run_escape(config).by_m[m]
    assert np.all(result.status == 1), "a trial stopped or diverged"
    return result.final_f - config.objective_class.min_value(config)


@pytest.mark.parametrize(
    ("eta", "m", "noise_var", "max_steps"),
    [(0.6, 1, 0.0025, 60), (0.05, 4, 0.01, 600)],
    ids=["eta-h-1.2", "eta-h-0.1"],
)
def test_quadratic_floor_matches_simulation(eta, m, noise_var, max_steps):
    """d = 2, gamma = lambda = beta = 1 (H* = 2 I, f_min = -1/4), 4000 trials, seed 1, run past the escape and
    the relaxation (60 steps at eta = 0.6: |1 - eta h| = 0.2 a step; 600 at eta = 0.05).  The mean within
    4 standard errors + 2% (the quartic's bias: measured +1.5 +- 0.5% at noise 0.01 and eta = 0.6, +3.9% at
    0.04, so about +0.4% here); the law by Kolmogorov-Smirnov (p > 0.001) and at three quantiles.  At
    eta h = 1.2 the small-eta formula eta tr Sigma / (4 m) is 2.5 times too small: far outside that band."""
    config = EscapeConfig(
        objective="quadratic",
        d=2,
        noise_var=noise_var,
        m=(m,),
        eta=eta,
        target=-0.25,
        max_steps=max_steps,
        trials=4000,
        record_trials=0,
        seed=1,
    )
    floor = noise_floor(config, eta, m)
    assert floor.f_min == -0.25
    excess = _stationary_excess(config, m)
    mean, se = excess.mean(), excess.std(ddof=1) / math.sqrt(excess.size)
    band = 4 * se + 0.02 * floor.mean_excess
    assert abs(mean - floor.mean_excess) <= band
    assert scipy.stats.kstest(excess, floor.cdf).pvalue > 1e-3
    for level in (0.1, 0.5, 0.9):
        assert float(floor.cdf(np.quantile(excess, level))) == pytest.approx(level, abs=0.03)
    if eta * 2 > 1:
        assert floor.eta_correction == pytest.approx(2.5)
        assert mean - floor.small_eta_excess > 5 * band


@pytest.mark.parametrize(
    ("eta", "m", "max_steps"),
    [(0.3, 2048, 30), (0.1, 1024, 60)],
    ids=["eta-lambda-1.2", "eta-lambda-0.4"],
)
def test_spike_floor_matches_simulation(eta, m, max_steps):
    """d = 10, uniform data, 1000 trials, seed 1, from the s = 2 saddle to a component (escape in ~10 steps, then
    |1 - 4 eta| = 0.2 or 0.6 a step).  Not exact: the curvature and the noise change away from a_l, the sphere's
    normal noise multiplies y; each is a relative correction of order the excess itself.  The mean within
    4 standard errors + 4% (measured, 1000 trials at seeds 1, 2, 3: -1.5, -2.7, -3.1% and +1.2, +0.7, -0.1%,
    each +- 1.5%); the 10%, 50% and 90%
    quantiles within 0.05 in probability.  The small-eta formula is off by 2.5x and 1.25x."""
    config = EscapeConfig(
        objective="spike", d=10, m=(m,), eta=eta, target=-1.0, max_steps=max_steps, trials=1000, record_trials=0, seed=1
    )
    floor = noise_floor(config, eta, m)
    excess = _stationary_excess(config, m)
    mean, se = excess.mean(), excess.std(ddof=1) / math.sqrt(excess.size)
    band = 4 * se + 0.04 * floor.mean_excess
    assert abs(mean - floor.mean_excess) <= band
    for level in (0.1, 0.5, 0.9):
        assert float(floor.cdf(np.quantile(excess, level))) == pytest.approx(level, abs=0.05)
    assert mean - floor.small_eta_excess > 2 * band


def test_spike_floor_fails_at_small_batches():
    """Where the linearisation fails: eta = 0.1, m = 64 (predicted excess 0.19, a fifth of the way to the s = 2
    saddles' f = -1/2), 200 trials, seed 1: the simulated mean is about 1.7 times the Lyapunov one (at m = 256:
    1.09, at m = 1024: 1.02)."""
    config = EscapeConfig(
        objective="spike", d=10, m=(64,), eta=0.1, target=-1.0, max_steps=100, trials=200, record_trials=0, seed=1
    )
    ratio = _stationary_excess(config, 64).mean() / noise_floor(config, 0.1, 64).mean_excess
    assert 1.4 < ratio < 2.0


def test_theory_command_prints_the_floor(capsys):
    """``theory`` prints the floor at each m: the Lyapunov mean beside the small-eta limit, as noise_floor
    computes them (the spike default, m = 1 and 32)."""
    from saddle.config import EscapeConfig
    from saddle.experiments.cli import main
    from saddle.theory.floor import noise_floor

    assert main(["theory", "--m", "1", "32"]) == 0
    out = capsys.readouterr().out
    assert "noise floor near the minimum (f_min = -1)" in out
    for m in (1, 32):
        fl = noise_floor(EscapeConfig(m=(m,)), 0.01, m)
        floor = out[out.index("noise floor near the minimum") :].splitlines()
        row = next(line.split() for line in floor if line.split()[:2] == [str(m), "0.01"])
        assert f"{fl.mean_excess:.4g}" in row and f"{fl.small_eta_excess:.4g}" in row


def test_theory_refuses_schedules_and_flags_a_floor_beyond_the_linearisation(capsys):
    """A step-size or batch-size schedule is refused in one line (the theory assumes both constant); a floor
    above a tenth of the well's depth is printed with a note that it is not to be trusted (the spike at
    m = 1: 0.98 against a depth of 0.5)."""
    from saddle.experiments.cli import main

    assert main(["theory", "--m", "32", "--lr-decay", "10"]) == 2
    assert "do not apply to theory" in capsys.readouterr().err
    assert main(["theory", "--m", "1", "32"]) == 0
    floor = capsys.readouterr().out.split("noise floor near the minimum")[1].splitlines()
    one = next(line for line in floor if line.split()[:1] == ["1"])
    big = next(line for line in floor if line.split()[:1] == ["32"])
    assert "not to be trusted" in one and "not to be trusted" not in big
