"""The quadratic testbed (SPEC 2.3): its maths, and the kernel against the NumPy reference."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle import rng
from saddle.kernels import DIVERGED, ESCAPED, FROZEN, Recorder, run_trials
from saddle.objectives import QuadraticSaddle
from saddle.objectives.quadratic import minibatch_gradient
from tests.reference import reference_quadratic_trial

pos = st.floats(0.1, 5.0)


@st.composite
def quadratic_and_point(draw):
    d = draw(st.integers(1, 6))
    obj = QuadraticSaddle(
        d,
        draw(pos),
        draw(st.lists(pos, min_size=d - 1, max_size=d - 1)) or 1.0,
        draw(pos),
        draw(st.lists(pos, min_size=d, max_size=d)),
    )
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return obj, g.standard_normal(d), g.standard_normal(d)


@given(quadratic_and_point())
def test_gradient_and_hessian_match_central_differences(case):
    obj, x, v = case
    h = 1e-5
    assert (obj.f(x + h * v) - obj.f(x - h * v)) / (2 * h) == pytest.approx(np.dot(obj.egrad(x), v), rel=1e-6, abs=1e-7)
    fd = (obj.egrad(x + h * v) - obj.egrad(x - h * v)) / (2 * h)
    np.testing.assert_allclose(fd, obj.ehess(x) @ v, rtol=1e-5, atol=1e-6)


@given(quadratic_and_point())
def test_the_origin_is_a_strict_saddle_with_curvature_minus_gamma(case):
    obj, _, _ = case
    x0 = obj.start()
    assert obj.f(x0) == 0.0 and np.all(obj.egrad(x0) == 0.0)
    eig = np.linalg.eigvalsh(obj.rhess(x0))
    assert eig[0] == pytest.approx(-obj.gamma) and np.all(eig[1:] > 0)


def test_invalid_parameters_are_refused():
    for kw in [
        dict(gamma=0.0),
        dict(beta=-1.0),
        dict(lambdas=[1.0, -1.0]),
        dict(Sigma=[1.0, 0.0, 1.0]),
        dict(Sigma=[[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        dict(gamma=float("nan")),
    ]:
        with pytest.raises(ValueError):
            QuadraticSaddle(3, **kw)


@pytest.mark.parametrize("m", [1, 4, 64])
def test_kernel_minibatch_noise_is_unbiased_with_covariance_sigma_over_m(m):
    """6000 kernel mini-batch gradients at a fixed x: mean within 5 standard errors of grad f,
    and the covariance's trace within 10% of tr(Sigma) / m (a 4-sigma band for 6000 draws)."""
    Sigma = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
    obj = QuadraticSaddle(3, 1.5, [1.0, 2.0], 0.5, Sigma)
    x = np.array([0.3, -0.2, 0.1])
    pf, pa, pi = obj.kernel_params()
    xi, block, g = np.empty(3), np.empty(4, np.uint64), np.empty(3)
    G = np.empty((6000, 3))
    for t in range(1, 6001):
        minibatch_gradient(x, pf, pa, pi, np.uint64(4), np.uint64(0), t, m, xi, block, g, rng.DATA)
        G[t - 1] = g
    se = G.std(axis=0, ddof=1) / np.sqrt(len(G))
    assert np.all(np.abs(G.mean(axis=0) - obj.egrad(x)) <= 5 * se)
    assert np.trace(np.cov(G.T)) == pytest.approx(np.trace(Sigma) / m, rel=0.10)
    # and the full covariance, entry by entry, within 0.15 tr(Sigma)/m
    np.testing.assert_allclose(np.cov(G.T) * m, Sigma, atol=0.15 * np.trace(Sigma))


CASES = [
    # optimizer, m, eta, sigma_iso, radius, Sigma
    ("sgd", 1, 0.1, 0.0, None, [1.0, 0.5, 2.0]),
    ("sgd", 16, 0.1, 0.0, None, [[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.7]]),
    ("sgd", 4, 0.1, 0.0, 0.5, [1.0, 1.0, 1.0]),
    ("noisy-sgd", 8, 0.1, 0.2, None, [1.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-m{c[1]}{'-radius' if c[4] else ''}" for c in CASES])
def test_kernel_matches_reference_trial_by_trial(case):
    optimizer, m, eta, sigma_iso, radius, Sigma = case
    obj = QuadraticSaddle(3, 1.0, [1.0, 3.0], 1.0, Sigma)
    rec = Recorder.empty(4, 1024)
    block = run_trials(
        obj,
        obj.start(),
        optimizer=optimizer,
        batch_size=m,
        eta=eta,
        sigma_iso=sigma_iso,
        delta=0.1,
        radius=radius,
        max_steps=500,
        seed=11,
        trial_start=0,
        n_trials=12,
        recorder=rec,
    )
    for n in range(12):
        steps, status, final_f, fs = reference_quadratic_trial(
            seed=11,
            trial=n,
            h=obj.h,
            beta=obj.beta,
            Sigma=obj.Sigma,
            optimizer=optimizer,
            m=m,
            eta=eta,
            sigma_iso=sigma_iso,
            delta=0.1,
            radius=radius,
            max_steps=500,
        )
        assert (block.steps[n], block.status[n]) == (steps, status)
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
        if n < 4:
            t, f = rec.trajectory(n)
            np.testing.assert_allclose(f, np.asarray(fs)[t], rtol=1e-9, atol=1e-12)
    assert np.count_nonzero(block.status == ESCAPED) >= 6


def test_gd_at_the_saddle_never_escapes_and_too_large_a_step_diverges():
    obj = QuadraticSaddle(4, 1.0, 2.0, 1.0, 1.0)
    kw = dict(sigma_iso=0.0, delta=0.1, radius=None, seed=0, trial_start=0)
    gd = run_trials(obj, obj.start(), optimizer="gd", batch_size=1, eta=0.1, max_steps=5000, n_trials=3, **kw)
    assert np.all(gd.status == FROZEN) and np.all(gd.steps == 1) and np.all(gd.final_f == 0.0)
    # eta * lambda = 2.4 > 2: the stable coordinates oscillate with growing amplitude until overflow
    hot = run_trials(obj, obj.start(), optimizer="sgd", batch_size=1, eta=1.2, max_steps=5000, n_trials=20, **kw)
    assert np.all(hot.status == DIVERGED)


def test_one_dimensional_escape_time_distribution_matches_direct_simulation():
    """d = 1: two-sample KS test (1500 trials each, level 0.001) against a NumPy simulation of
    x <- x - eta (-gamma x + beta x^3 + xi / sqrt(m)) with NumPy's own generator."""
    gamma, beta, eta, m, delta = 1.0, 1.0, 0.05, 8, 0.1
    obj = QuadraticSaddle(1, gamma, 1.0, beta, 1.0)
    ours = run_trials(
        obj,
        obj.start(),
        optimizer="sgd",
        batch_size=m,
        eta=eta,
        sigma_iso=0.0,
        delta=delta,
        radius=None,
        max_steps=5000,
        seed=5,
        trial_start=0,
        n_trials=1500,
    )
    g = np.random.default_rng(6)
    x = np.zeros(1500)
    tau = np.zeros(1500)
    alive = np.ones(1500, bool)
    for t in range(1, 5001):
        x = x - eta * (-gamma * x + beta * x**3 + g.standard_normal(1500) / np.sqrt(m))
        done = alive & (-0.5 * gamma * x**2 + 0.25 * beta * x**4 <= -delta)
        tau[done] = t
        alive &= ~done
        if not alive.any():
            break
    assert np.all(ours.status == ESCAPED) and not alive.any()
    assert scipy.stats.ks_2samp(ours.steps, tau).pvalue > 1e-3
