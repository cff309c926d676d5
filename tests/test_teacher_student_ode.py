"""teacher-student theory (SPEC 2.6): closed-form averages, the ODE, the plateau and its exit time.

Every statistical assertion states its significance level and its number of samples.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.objectives.teacher_student import kernels as kk
from saddle.objectives.teacher_student import ode
from saddle.objectives.teacher_student.model import TeacherStudent, g, g_prime, plateau_closed_form
from tests.reference_teacher_student import escape_steps


@st.composite
def covariances(draw, n):
    """An n x n covariance A A^T + eps I with entries of order one."""
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.floats(0.2, 1.5))
    A = np.random.default_rng(seed).standard_normal((n, n)) * scale
    return A @ A.T + draw(st.floats(0.01, 0.5)) * np.eye(n), seed


def _mc_check(values, exact):
    """|MC mean - exact| < 5 standard errors: two-sided significance 6e-7."""
    se = values.std() / math.sqrt(values.shape[0])
    assert abs(values.mean() - exact) < 5 * se + 1e-12, (values.mean(), exact, se)


N_MC = 200_000


@settings(max_examples=8)
@given(covariances(2))
def test_I2_and_J2_against_monte_carlo(cov):
    """200,000 Gaussian samples per example, 5 standard errors."""
    C, seed = cov
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(2), C, size=N_MC)
    _mc_check(g(z[:, 0]) * g(z[:, 1]), ode.I2(C))
    _mc_check(g_prime(z[:, 0]) * g_prime(z[:, 1]), ode.J2(C))


@settings(max_examples=8)
@given(covariances(3))
def test_I3_against_monte_carlo(cov):
    """200,000 Gaussian samples per example, 5 standard errors."""
    C, seed = cov
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(3), C, size=N_MC)
    _mc_check(g_prime(z[:, 0]) * z[:, 1] * g(z[:, 2]), ode.I3(C))


@settings(max_examples=8)
@given(covariances(4))
def test_I4_against_monte_carlo(cov):
    """200,000 Gaussian samples per example, 5 standard errors."""
    C, seed = cov
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(4), C, size=N_MC)
    _mc_check(g_prime(z[:, 0]) * g_prime(z[:, 1]) * g(z[:, 2]) * g(z[:, 3]), ode.I4(C))


def test_rhs_is_the_mean_reduced_step_at_large_N():
    """E[X_{t+1} - X_t] / (eta / N) of the exact reduced chain -> the ODE right-hand side, eta^2/m term
    and output noise included.  N = 10^6 (finite-N corrections O(eta / N)), 100,000 one-step samples,
    each component within 5 standard errors (two-sided significance 6e-7 each)."""
    K, M, N, eta, m, sigma = 2, 3, 10**6, 1.0, 2, 0.5
    model = TeacherStudent(N, K, M, sigma=sigma)
    Q = np.array([[0.6, 0.2], [0.2, 0.4]])
    R = np.array([[0.3, 0.1, 0.0], [0.2, 0.4, 0.1]])
    u0 = np.concatenate([Q.ravel(), R.ravel()])
    pf, pa, pi = kk.pack(model, kk.REDUCED)
    n = 100_000
    out = np.empty((n, u0.size))
    kk.one_step(kk.REDUCED, 3, n, 1, u0, pf, pa, pi, MINIBATCH_GRADIENT, m, eta, out)
    steps = (out - u0) / (eta / N)
    dQ, dR = ode.rhs(Q, R, np.eye(M), eta, m, sigma)
    expected = np.concatenate([dQ.ravel(), dR.ravel()])
    se = steps.std(0) / math.sqrt(n)
    assert np.all(np.abs(steps.mean(0) - expected) < 5 * se), (steps.mean(0), expected, se)
    # the eta^2 / m term is resolved: without it the Q means would be off by many standard errors
    dQ0, _ = ode.rhs(Q, R, np.eye(M), eta, math.inf, 0.0)
    assert np.max(np.abs(steps.mean(0)[: K * K] - dQ0.ravel()) / se[: K * K]) > 20


@pytest.mark.parametrize("K", [2, 3])
def test_plateau_tends_to_closed_form(K):
    """The fixed point moves linearly in eta/m away from Saad and Solla's closed form."""
    q0, c0, r0, eps0 = plateau_closed_form(K)
    for e in (1e-6, 1e-4, 1e-3, 1e-2):
        p = ode.plateau(K, e)
        assert abs(p.q - q0) < 2 * e and abs(p.c - c0) < 2 * e and abs(p.r - r0) < 2 * e
        assert p.q > p.c
        assert abs(p.eps - eps0) < 2 * e
    p = ode.plateau(K, 0.0)
    assert (p.q, p.c, p.r) == (q0, c0, r0)


@pytest.mark.parametrize("K,e", [(2, 0.1), (2, 1.0), (3, 0.5)])
def test_plateau_is_a_fixed_point_of_the_full_ode(K, e):
    p = ode.plateau(K, e)
    Q, R = p.order_parameters()
    dQ, dR = ode.rhs(Q, R, np.eye(K), 1.0, 1.0 / e)
    assert np.max(np.abs(dQ)) < 1e-9 and np.max(np.abs(dR)) < 1e-9
    assert p.q > p.c


def test_escape_rate_and_unstable_multiplicity():
    """K = 2: one unstable direction; K = 3: a 4-fold one ((K - 1)^2, the permutations of students and
    of teachers); both rates positive and decreasing with eta/m."""
    for K, mult in ((2, 1), (3, 4)):
        rates = []
        for e in (0.0, 0.1, 0.5):
            p = ode.plateau(K, e)
            top = p.eigenvalues.real.max()
            assert np.sum(np.abs(p.eigenvalues - top) < 1e-4 * top) == mult
            rates.append(p.rate)
        assert rates[0] > rates[1] > rates[2] > 0


def test_ode_stays_on_the_plateau():
    """The ODE started exactly on the fixed point stays there (the symmetry trap of SPEC 2.6)."""
    p = ode.plateau(2, 0.5)
    Q, R = p.order_parameters()
    sol = ode.integrate(Q, R, np.eye(2), 1.0, 2, 300.0, n_eval=50)
    assert np.max(np.abs(sol.eps_g - p.eps)) < 1e-9


def test_plateau_height_of_the_reduced_chain():
    """From a plateau start, N = 500, eta = 0.1, m = 1: eps_g after 2,000 steps (alpha = 4, long before
    the exit at ~10^5 steps), averaged over 400 trials, equals the ODE fixed point's eps* within 1e-5
    (its standard error is 1.5e-6) and is 4.7e-4 above the eta -> 0 closed form."""
    K, N, eta, m = 2, 500, 0.1, 1
    p = ode.plateau(K, eta / m)
    Q, R = p.order_parameters()
    pf, pa, pi = kk.pack(TeacherStudent(N, K, K), kk.REDUCED)
    n = 400
    s = np.empty(n, np.int64)
    f = np.empty(n)
    escape_steps(
        kk.REDUCED,
        5,
        n,
        np.concatenate([Q.ravel(), R.ravel()]),
        False,
        pf,
        pa,
        pi,
        MINIBATCH_GRADIENT,
        m,
        eta,
        -1.0,
        2000,
        s,
        f,
    )
    assert np.all(s == -1)
    assert abs(f.mean() - p.eps) < 1e-5
    assert f.mean() - plateau_closed_form(K)[3] > 4e-4


def test_exit_prediction_matches_reduced_chain():
    """Plateau start, K = 2, N = 50, eta = 1, m = 2: the predicted median exit step against the median
    of 200 reduced-chain trials, within 10 % (the median's standard error is about 3 %)."""
    K, N, eta, m = 2, 50, 1.0, 2
    pred = ode.predict_exit(K, N, eta, m, "plateau", n_noise=20_000)
    assert pred.reason == "" and pred.steps > 0
    p = ode.plateau(K, eta / m)
    Q, R = p.order_parameters()
    pf, pa, pi = kk.pack(TeacherStudent(N, K, K), kk.REDUCED)
    n = 200
    s = np.empty(n, np.int64)
    f = np.empty(n)
    escape_steps(
        kk.REDUCED,
        7,
        n,
        np.concatenate([Q.ravel(), R.ravel()]),
        False,
        pf,
        pa,
        pi,
        MINIBATCH_GRADIENT,
        m,
        eta,
        p.eps / 2,
        10**6,
        s,
        f,
    )
    assert np.all(s > 0)
    assert abs(pred.steps / np.median(s) - 1) < 0.10, (pred.steps, np.median(s))
    assert pred.alpha == pytest.approx(pred.steps / N) and pred.samples_over_N == pytest.approx(m * pred.steps / N)


@pytest.mark.filterwarnings("error")  # no plateau is a reason, not a RuntimeWarning from the solver's trial points
def test_exit_prediction_is_never_negative():
    assert math.isnan(ode.predict_exit(1, 50, 1.0, 1).steps)  # K = 1: no plateau
    bad = ode.predict_exit(2, 50, 50.0, 1)  # eta/m far too large: no plateau
    assert math.isnan(bad.steps) and bad.reason
    rand = ode.predict_exit(2, 200, 0.5, 1, "random", n_noise=5000, n_init=8)
    assert rand.steps > 0 and math.isfinite(rand.steps) and rand.alpha_arrival > 0
