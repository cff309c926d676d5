"""The theory frontier: S(m, eta) and eta*(m) predicted (saddle.frontier.theory; docs/frontier.md).

Idea under test
---------------
Where an objective has a theory of the whole run, from the saddle to a target past it, the frontier can be
predicted: on the quadratic testbed the linear escape law, the exact noiseless map and the Lyapunov noise
floor; on the teacher-student network the ODE of Saad & Solla (1995), in which the batch size enters only
through eta^2 / m.  Checked here: the quadratic's predicted median steps against simulation (400 trials a
cell, seed 1), its floor and stability rules against their closed forms; the teacher-student ODE's exact
invariance (eta S, and the samples m S, depend on eta / m alone, so S(2m, 2 eta) = S(m, eta) / 2 to rounding,
whereas a shared eta^2 / m alone is not enough), its frontier's shape (eta* grows with m, S does not rise);
no theory for the spike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import saddle
from saddle.config import EscapeConfig
from saddle.frontier.theory import (
    FLOOR_PROBABILITY,
    MAX_ETA_OVER_N,
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

# (options, m, eta, target): the predicted median and 95% quantile against 400 simulated trials (seed 1).
# Measured: 123 vs 123 (95%: 183 vs 184); 428 vs 433 (669 vs 663); 14 vs 14 (20 vs 20).
QUADRATIC_CELLS = [
    (dict(d=2), 64, 0.04, -0.225),  # default noise, target 90% of the way to f_min
    (dict(d=10), 4, 0.01, -0.225),  # nine noisy stable directions: their mean heat and softening matter
    (dict(d=2, noise_var=0.01), 16, 0.5, -0.2475),  # target 99% of the way: close to the floor's scale
]


@pytest.mark.parametrize(("options", "m", "eta", "target"), QUADRATIC_CELLS)
def test_quadratic_prediction_matches_simulation(options, m, eta, target):
    """The predicted S(m, eta) lies in the simulated median's 99% order-statistic interval (400 trials),
    widened by 5% of S plus one step: the model's own approximations (the escape coordinate's noise after
    the escape, the stable directions' mean heat in place of its law, whole steps) are of that size.  The
    predicted 95% quantile (the success rule's) lies within 10% of the simulated one."""
    trials = 400
    config = EscapeConfig(
        objective="quadratic",
        m=(m,),
        eta=eta,
        target=target,
        trials=trials,
        max_steps=20_000,
        record_trials=0,
        seed=1,
        **options,
    )
    cell = predict_cell(config, m, eta, target)
    assert cell.success, cell.reason
    steps = np.sort(saddle.run_escape(config).by_m[m].steps.astype(float))
    z = scipy.stats.norm.ppf(0.995)
    lo = steps[int(math.floor(trials / 2 - z * math.sqrt(trials) / 2)) - 1]
    hi = steps[int(math.ceil(trials / 2 + z * math.sqrt(trials) / 2)) - 1]
    slack = 0.05 * cell.steps + 1.0
    assert lo - slack <= cell.steps <= hi + slack, (cell.steps, lo, hi)
    assert cell.slow_steps == pytest.approx(np.quantile(steps, 0.95), rel=0.10)


def test_quadratic_floor_and_stability_rules():
    """d = 1: the Lyapunov variance is eta^2 sigma^2 / (m (1 - (1 - 2 eta gamma)^2)) and the stationary excess
    gamma e^2 is gamma P chi^2_1, so the floor probability is a chi^2_1 CDF; a step size whose floor
    probability is below FLOOR_PROBABILITY, or beyond the minimum's stability (eta 2 gamma >= 2), fails."""
    target = -0.225  # gap to f_min = -0.25: 0.025
    config = EscapeConfig(objective="quadratic", d=1, m=(1,), target=target)
    theory = QuadraticTheory(config, target)
    for m, eta in [(1, 0.05), (4, 0.3)]:
        P = eta**2 / (m * (1.0 - (1.0 - 2.0 * eta) ** 2))
        assert theory.floor_probability(m, eta) == pytest.approx(scipy.stats.chi2(1).cdf(0.025 / P), rel=1e-9)
    noisy = theory.cell(1, 0.2)  # stationary excess ~ P = 0.11: f <= target with probability 0.46
    assert noisy.floor_probability < FLOOR_PROBABILITY and math.isinf(noisy.steps) and "noise floor" in noisy.reason
    unstable = theory.cell(1024, 1.0)
    assert not unstable.success and "unstable" in unstable.reason


def test_quadratic_frontier_shape():
    """The predicted frontier (d = 2, default noise): eta* grows with m up to the minimum's stability bound
    eta < 1 / gamma; at small m the floor rule decides eta* (the next grid step fails it)."""
    target = -0.225
    config = EscapeConfig(objective="quadratic", d=2, m=(1,), target=target, max_steps=20_000)
    fr = theory_frontier(config, [1, 4, 16, 64, 1024], target)
    assert fr is not None
    assert set(fr) >= {"m", "eta_star", "S", "E", "edge", "eta", "steps"}
    assert np.all(np.isfinite(fr["S"])) and np.all(np.diff(fr["eta_star"]) >= 0)
    assert fr["eta_star"][-1] < 1.0 and fr["S"][0] > 2 * fr["S"][2]
    above = predict_cell(config, 1, fr["eta_star"][0] * 2**0.25, target)
    assert "noise floor" in above.reason
    assert fr["steps"].shape == (5, fr["eta"].size)


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
