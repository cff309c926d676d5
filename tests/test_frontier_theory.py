"""The theory frontier: S(m, eta) and eta*(m) predicted (saddle.frontier.theory; docs/frontier.md).

Idea under test
---------------
Where an objective has a theory of the whole run, from the saddle to a target past it, the frontier can be
predicted: on the quadratic testbed the model reduced exactly to a chain of two scalars (the escape
coordinate and the stable coordinates' squared radius), run from the linear escape law to its first passage
below the target; on the teacher-student network the ODE of Saad & Solla (1995), in which the batch size
enters only through eta^2 / m.  Checked here: the quadratic's predicted median and 95% quantile against
simulation (1000 trials a cell, seed 1), its frontier's eta* and S against simulated tuning curves, the
geometric tail of the noise-dominated passage, its floor probability and stability rule against their
closed forms; the teacher-student ODE's exact invariance (eta S, and the samples m S, depend on eta / m
alone, so S(2m, 2 eta) = S(m, eta) / 2 to rounding, whereas a shared eta^2 / m alone is not enough), its
frontier's shape (eta* grows with m, S does not rise); no theory for the spike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import saddle
from saddle.config import EscapeConfig
from saddle.frontier.theory import (
    MAX_ETA_OVER_N,
    SUCCESS_FRACTION,
    QuadraticTheory,
    TeacherStudentTheory,
    generalized_chi2_cdf,
    predict_cell,
    predicted_steps,
    theory_frontier,
    theory_reason,
)
from saddle.objectives.teacher_student import ode
from saddle.objectives.teacher_student.model import generalisation_error, plateau_closed_form

# ------------------------------------------------------------------------------------------- shared


def test_generalized_chi2_cdf_matches_chi2_laws():
    """Imhof's inversion against chi^2_3 (three nearly equal weights, which take the general path) to 1e-6,
    and against a seeded Monte Carlo of 2 chi^2_1 + chi^2_1 / 4 (400,000 draws: within 4 standard errors)."""
    for x in (0.3, 2.0, 7.0):
        got = generalized_chi2_cdf(x, [1.0, 1.0 + 1e-7, 1.0 - 1e-7])
        assert got == pytest.approx(scipy.stats.chi2(3).cdf(x), abs=1e-6)
    gen = np.random.default_rng(7)
    draws = gen.standard_normal((400_000, 2)) ** 2 @ np.array([2.0, 0.25])
    for x in (0.5, 3.0):
        p = float(np.mean(draws <= x))
        assert generalized_chi2_cdf(x, [2.0, 0.25]) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / draws.size))


def test_objectives_without_a_theory_get_none():
    spike = EscapeConfig(objective="spike", m=(1,))
    assert theory_reason(spike)
    assert theory_frontier(spike, [1, 4], -0.5) is None
    with pytest.raises(ValueError, match="no theory"):
        predicted_steps(spike, 1, 0.01, -0.5)
    gd = EscapeConfig(objective="quadratic", m=(1,), optimizer="gd")
    assert theory_frontier(gd, [1], -0.2) is None


# ------------------------------------------------------------------------------------------- quadratic

TRIALS = 1000  # simulated trials a cell (seed 1) in the comparisons below


def _order_interval(steps: np.ndarray, p: float, level: float = 0.99) -> tuple[float, float]:
    """The distribution-free interval of the p-quantile from sorted samples: ranks n p -+ z sqrt(n p (1 - p))."""
    n = steps.size
    z = scipy.stats.norm.ppf(0.5 + level / 2)
    half = z * math.sqrt(n * p * (1 - p))
    lo = steps[max(int(math.floor(n * p - half)), 1) - 1]
    hi = steps[min(int(math.ceil(n * p + half)), n) - 1]
    return float(lo), float(hi)


def _simulate(m: int, eta: float, target: float, **options) -> np.ndarray:
    config = EscapeConfig(
        objective="quadratic",
        m=(m,),
        eta=eta,
        target=target,
        trials=TRIALS,
        max_steps=10_000,
        record_trials=0,
        seed=1,
        **options,
    )
    by_m = saddle.run_escape(config).by_m[m]
    assert np.all(np.asarray(by_m.status_names) == "escaped"), "every simulated trial reaches the target"
    return np.sort(by_m.steps.astype(float))


# (options, m, eta, target): the predicted median and 95% quantile against 1000 simulated trials (seed 1).
# Measured (predicted vs simulated median; 95% quantiles): 123 vs 122 (184 vs 179); 428 vs 431 (673 vs 677);
# 14 vs 14 (20 vs 20); 212 vs 212 (452 vs 474); 157 vs 163 (654 vs 639); 33 vs 34 (61 vs 63).
QUADRATIC_CELLS = [
    (dict(d=2), 64, 0.04, -0.225),  # default noise, target 90% of the way to f_min: reached on the way in
    (dict(d=10), 4, 0.01, -0.225),  # nine noisy stable directions at a small step size
    (dict(d=2, noise_var=0.01), 16, 0.5, -0.2475),  # target 99% of the way; the chains start from the linear law
    (dict(d=10), 1, 0.0283, -0.225),  # the simulated eta* at m = 1: stationary P(f <= target) is only 0.03
    (dict(d=10), 64, 0.7611, -0.225),  # stationary P = 0.004: reached by a fluctuation, a long geometric tail
    # two groups of stable coordinates (two alike, one apart) and unequal noise
    (dict(d=4, lam=(0.5, 0.5, 2.0), noise_var=(1.0, 2.0, 2.0, 0.5)), 4, 0.12, -0.225),
]


@pytest.mark.parametrize(("options", "m", "eta", "target"), QUADRATIC_CELLS)
def test_quadratic_prediction_matches_simulation(options, m, eta, target):
    """The predicted S(m, eta) lies in the simulated median's 99% order-statistic interval (1000 trials,
    seed 1) widened by 2% of S plus one step, and the predicted 95% quantile (the success rule's) in the
    simulated one's 99% interval widened by 5% plus one step.  The theory is exact in law except for its
    linear start, so the widening is for its own sampling error (4000 chains: about half the simulation's)
    and whole steps."""
    config = EscapeConfig(objective="quadratic", m=(m,), eta=eta, target=target, max_steps=10_000, **options)
    cell = predict_cell(config, m, eta, target)
    assert cell.success, cell.reason
    steps = _simulate(m, eta, target, **options)
    lo, hi = _order_interval(steps, 0.5)
    slack = 0.02 * cell.steps + 1.0
    assert lo - slack <= cell.steps <= hi + slack, (cell.steps, lo, hi)
    lo, hi = _order_interval(steps, SUCCESS_FRACTION)
    slack = 0.05 * cell.slow_steps + 1.0
    assert lo - slack <= cell.slow_steps <= hi + slack, (cell.slow_steps, lo, hi)


def test_quadratic_floor_probability_and_stability():
    """d = 1: the Lyapunov variance is eta^2 sigma^2 / (m (1 - (1 - 2 eta gamma)^2)) and the stationary excess
    gamma e^2 is gamma P chi^2_1, so the floor probability is a chi^2_1 CDF.  A floor probability below 1/2
    does not stop the trials (they reach the target by fluctuations); a step size beyond the minimum's
    stability (eta 2 gamma >= 2) fails."""
    target = -0.225  # gap to f_min = -0.25: 0.025
    config = EscapeConfig(objective="quadratic", d=1, m=(1,), target=target)
    theory = QuadraticTheory(config, target)
    for m, eta in [(1, 0.05), (4, 0.3)]:
        P = eta**2 / (m * (1.0 - (1.0 - 2.0 * eta) ** 2))
        assert theory.floor_probability(m, eta) == pytest.approx(scipy.stats.chi2(1).cdf(0.025 / P), rel=1e-9)
    noisy = theory.cell(1, 0.2)  # stationary excess ~ P = 0.11: f <= target with probability 0.47
    assert noisy.floor_probability < 0.5 and noisy.success and math.isfinite(noisy.steps)
    unstable = theory.cell(1024, 1.0)
    assert not unstable.success and "unstable" in unstable.reason


def test_quadratic_noise_dominated_tail():
    """d = 10, m = 1: where the target is reached by fluctuations the survival decays geometrically at the
    passage rate, so the 95% quantile follows the median by ln(0.5 / 0.05) / rate (within 15%: the rate is
    measured once the chains settle, the median a little before).  Further out (eta = 0.1, stationary
    P(f <= target) ~ 1e-4) the tail passes max_steps: the cell fails, and the chains stop once that is
    certain, long before max_steps."""
    target = -0.225
    config = EscapeConfig(objective="quadratic", m=(1,), target=target)
    theory = QuadraticTheory(config, target)
    cell = theory.cell(1, 0.0476)
    assert cell.success and math.isfinite(cell.passage_rate)
    assert (cell.slow_steps - cell.steps) * cell.passage_rate == pytest.approx(math.log(10.0), rel=0.15)
    far = theory.cell(1, 0.1)
    assert not far.success and "max_steps" in far.reason
    assert theory.passage(1, 0.1).end < config.max_steps / 4


@pytest.fixture(scope="module")
def default_frontier():
    """The predicted frontier of the default quadratic (d = 10, unit noise), target 90% of the way to f_min."""
    config = EscapeConfig(objective="quadratic", m=(1,), target=-0.225)
    return theory_frontier(config, [1, 4, 16, 64, 256, 1024], -0.225)


def test_quadratic_frontier_shape(default_frontier):
    """eta* grows with m up to the minimum's stability bound eta < 1 / gamma; S falls by more than half from
    m = 1 to 16; every batch size finds a step size that meets the success rule."""
    fr = default_frontier
    assert fr is not None
    assert set(fr) >= {"m", "eta_star", "S", "E", "edge", "eta", "steps"}
    assert np.all(np.isfinite(fr["S"])) and np.all(np.diff(fr["eta_star"]) >= 0)
    assert fr["eta_star"][-1] < 1.0 and fr["S"][0] > 2 * fr["S"][2]
    assert np.all(fr["edge"] == 0)
    assert fr["steps"].shape == (6, fr["eta"].size)


@pytest.mark.parametrize("m", [1, 16, 256])
def test_quadratic_frontier_matches_simulation(default_frontier, m):
    """At the predicted eta* and its grid neighbours (a factor 2^(1/4)), 1000 simulated trials each (seed 1):
    the predicted S(m) lies in the simulated median's 99% interval at eta* widened by 2% plus one step, and
    no neighbour beats eta* in the simulation beyond the intervals (eta* is optimal to the grid's and the
    simulation's resolution: the tuning curve is flat within a few percent near its minimum)."""
    fr = default_frontier
    j = list(fr["m"]).index(m)
    i = int(np.flatnonzero(fr["eta"] == fr["eta_star"][j])[0])
    sims = {k: _simulate(m, float(fr["eta"][k]), -0.225, d=10) for k in (i - 1, i, i + 1)}
    lo, hi = _order_interval(sims[i], 0.5)
    S = float(fr["S"][j])
    assert lo - 0.02 * S - 1.0 <= S <= hi + 0.02 * S + 1.0, (S, lo, hi)
    for k in (i - 1, i + 1):
        assert _order_interval(sims[k], 0.5)[1] + 1.0 >= lo, (k, _order_interval(sims[k], 0.5), lo)


# ------------------------------------------------------------------------------------- teacher-student


def test_teacher_student_velocity_is_the_odes():
    """The theory's own evaluation of dX/dtau equals ode.rhs at eta = 1, m = 1 / r (K = 3, M = 2, label noise)."""
    config = EscapeConfig(objective="teacher-student", K=3, M=2, output_noise=0.3, start="random", target=0.1)
    theory = TeacherStudentTheory(config, 0.1)
    gen = np.random.default_rng(3)
    W = gen.standard_normal((3, 40)) * 0.5
    Q, R = W @ W.T / 40, W[:, :2] / math.sqrt(40)
    dQ, dR = ode.rhs(Q, R, np.eye(2), 1.0, 1.0 / 0.7, 0.3)
    np.testing.assert_allclose(theory.velocity(ode.coordinates(Q, R), 0.7), ode.coordinates(dQ, dR), rtol=1e-12)


def test_teacher_student_depends_on_eta_over_m():
    """dX/dalpha = eta F + (eta^2 / m) G: in tau = eta alpha the path depends on eta / m only, so eta S and
    m S are the same at (m, eta) and (2m, 2 eta), exactly (to rounding), plateau start and its noise-driven
    exit included.  Sharing eta^2 / m is not enough: (m, eta) = (1, 1) and (4, 2) differ."""
    target = plateau_closed_form(2)[3] / 2.0
    config = EscapeConfig(objective="teacher-student", m=(1,), target=target)
    s1 = predicted_steps(config, 1, 1.0, target)
    s2 = predicted_steps(config, 2, 2.0, target)
    assert math.isfinite(s1) and s1 == pytest.approx(2.0 * s2, rel=1e-12)
    s4 = predicted_steps(config, 4, 2.0, target)  # eta^2 / m = 1 as at (1, 1), but eta / m = 1/2
    assert abs(s4 / s1 - 1.0) > 0.05


def test_teacher_student_frontier_shape():
    """Random start, target 90% of the way from f(u_0) to 0 (above the plateau: the ODE alone reaches it).
    eta* = r* m (so m S is the same) until eta meets MAX_ETA_OVER_N * N; eta* never falls and S never rises."""
    f0 = generalisation_error(0.1 * np.eye(2), np.zeros((2, 2)), np.eye(2))
    target = 0.1 * f0
    config = EscapeConfig(objective="teacher-student", m=(1,), start="random", target=target)
    grid = 2.0 ** (np.arange(-8, 20) / 4)  # 1/4 to 27 (N = 50: the validity bound is eta <= 12.5)
    fr = theory_frontier(config, [1, 4, 16, 64], target, eta_grid=grid)
    assert fr is not None and np.all(np.isfinite(fr["S"]))
    assert np.all(np.diff(fr["eta_star"]) >= 0) and np.all(np.diff(fr["S"]) <= 0)
    assert fr["eta_star"][1] == pytest.approx(4 * fr["eta_star"][0]) and fr["E"][1] == pytest.approx(fr["E"][0])
    assert np.all(fr["eta_star"] <= MAX_ETA_OVER_N * 50)
