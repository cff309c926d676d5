"""The gradient noise scale along the noiseless path (saddle.frontier.noise; McCandlish et al. 2018).

Idea under test
---------------
B_simple = tr(P Sigma P) / |G|^2 and B_noise = tr(H P Sigma P) / (G^T H G), with the Riemannian gradient G
and Hessian H and the per-sample covariance Sigma restricted to the tangent space, are evaluated along
gradient descent with the exact gradient from the point past the saddle where f = f(u0) - delta down to
the target.  Checked: the exact spike moments against Monte Carlo from per-sample gradients (200,000
samples, 4 standard errors: a two-sided level of 6e-5 per comparison); the path's Monte Carlo branch
against its exact one; the quadratic testbed against its closed forms; where the path starts and ends;
B_simple ~ tr(Sigma(u0)) / (2 gamma delta) as the start approaches the saddle; the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from saddle.config import EscapeConfig
from saddle.frontier.noise import noise_scale_at, noise_scale_path
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.spike import SpikeTensor
from saddle.objectives.spike_moments import latent_sample


@pytest.fixture(scope="module")
def spike_path():
    """The spike default (d = 10, s = 2, uniform data, delta = 0.1) down to f = -0.95, 30 states."""
    config = EscapeConfig(m=(1,), target=-0.95)
    return config, noise_scale_path(config, -0.95, points=30)


def test_spike_exact_moments_match_monte_carlo(spike_path):
    """At the path's first, middle and last states, the numerators tr(P Sigma P) and tr(H P Sigma P)
    from the exact spike moments agree with their Monte Carlo means over 200,000 per-sample gradients
    g(u; x) = (12 |u|^2 u - 4 (u.x)^3 x) / kappa, x = A z (uniform z), within 4 standard errors of the
    mean.  The denominators |G|^2 and G^T H G are exact in both, so B_simple and B_noise agree to the
    same relative error (a standard error of about 0.6% at 200,000 samples)."""
    _, res = spike_path
    obj = SpikeTensor(10, "uniform")
    rng = np.random.default_rng(20181214)
    n = 200_000
    x = obj.samples(latent_sample(rng, n, obj.d, obj.dist))
    for i in (0, len(res["f"]) // 2, len(res["f"]) - 1):
        u = res["u"][i]
        basis = obj.manifold.tangent_basis(u)
        G = basis.T @ obj.rgrad(u)
        H = basis.T @ obj.rhess(u) @ basis
        g = obj.per_sample_grad(u, x)
        y = (g - g.mean(axis=0)) @ basis
        corr = n / (n - 1.0)
        for q, exact, denominator in (
            (np.sum(y * y, axis=1) * corr, res["B_simple"][i], G @ G),
            (np.einsum("ni,ij,nj->n", y, H, y) * corr, res["B_noise"][i], G @ H @ G),
        ):
            if not np.isfinite(exact):  # B_noise is undefined where G^T H G <= 0 (the path's first part)
                assert denominator <= 0
                continue
            se = q.std(ddof=1) / np.sqrt(n)
            assert se < 0.02 * abs(q.mean())
            assert abs(exact * denominator - q.mean()) < 4 * se


def test_monte_carlo_path_matches_exact_path(spike_path):
    """The path's Monte Carlo branch (method='monte-carlo', 40,000 samples shared by every state) gives the
    exact branch's noise scales: the path and its states are the same, and the relative standard error of
    the covariance traces at 40,000 samples is about 1.4% (0.6% at 200,000: previous test), so 6% is about
    4 standard errors (the states share their samples, so their errors move together)."""
    config, exact = spike_path
    mc = noise_scale_path(config, -0.95, points=30, mc_samples=40_000, seed=3, method="monte-carlo")
    assert mc["method"] == "monte carlo" and exact["method"] == "exact"
    np.testing.assert_array_equal(mc["f"], exact["f"])
    np.testing.assert_allclose(mc["B_simple"], exact["B_simple"], rtol=0.06)
    defined = np.isfinite(exact["B_noise"])
    np.testing.assert_array_equal(np.isfinite(mc["B_noise"]), defined)
    np.testing.assert_allclose(mc["B_noise"][defined], exact["B_noise"][defined], rtol=0.06)
    assert mc["B_simple_mean"] == pytest.approx(exact["B_simple_mean"], rel=0.06)
    assert mc["B_noise_mean"] == pytest.approx(exact["B_noise_mean"], rel=0.06)


def test_quadratic_closed_form_at_a_point():
    """On the quadratic testbed (R^d, per-sample noise N(0, Sigma) independent of x) P = I, and at any x
    B_simple = tr(Sigma) / |G|^2 and B_noise = tr(H Sigma) / (G^T H G) with G = h x + beta |x|^2 x and
    H = diag(h) + beta (|x|^2 I + 2 x x^T), h = (-gamma, lambdas); a full (non-diagonal) Sigma.
    Floating point only: relative 1e-12."""
    Sigma = np.array([[2.0, 0.3, -0.1], [0.3, 1.0, 0.2], [-0.1, 0.2, 0.5]])
    obj = QuadraticSaddle(3, gamma=1.0, lambdas=[2.0, 3.0], beta=0.5, Sigma=Sigma)
    x = np.array([1.1, 0.2, -0.3])
    h = np.array([-1.0, 2.0, 3.0])
    G = h * x + 0.5 * (x @ x) * x
    H = np.diag(h) + 0.5 * ((x @ x) * np.eye(3) + 2.0 * np.outer(x, x))
    b_simple, b_noise = noise_scale_at(obj, x)
    assert b_simple == pytest.approx(np.trace(Sigma) / (G @ G), rel=1e-12)
    assert b_noise == pytest.approx(np.trace(H @ Sigma) / (G @ H @ G), rel=1e-12)


def test_quadratic_path_closed_form():
    """From x = 0 the quadratic's noiseless path runs along e_1 (x = a e_1), where G = (-gamma a + beta a^3) e_1,
    so B_simple = tr(Sigma) / G_1^2 and B_noise = [sum_i (h_i + beta a^2) Sigma_ii + 2 beta a^2 Sigma_11]
    / (G_1^2 (3 beta a^2 - gamma)) where 3 beta a^2 > gamma, undefined (NaN) before.  Relative 1e-10."""
    config = EscapeConfig(
        objective="quadratic", d=3, m=(1,), gamma=1.0, lam=(2.0, 3.0), beta=1.0, noise_var=(1.0, 2.0, 0.5)
    )
    res = noise_scale_path(config, -0.2, points=40)
    u = res["u"]
    assert np.all(u[:, 1:] == 0.0)
    a = u[:, 0]
    var, h = np.array([1.0, 2.0, 0.5]), np.array([-1.0, 2.0, 3.0])
    G1 = -a + a**3
    np.testing.assert_allclose(res["B_simple"], var.sum() / G1**2, rtol=1e-10)
    convex = 3.0 * a**2 > 1.0
    numerator = np.sum((h[None, :] + a[:, None] ** 2) * var, axis=1) + 2.0 * a**2 * var[0]
    np.testing.assert_allclose(res["B_noise"][convex], (numerator / (G1**2 * (3.0 * a**2 - 1.0)))[convex], rtol=1e-10)
    assert np.all(np.isnan(res["B_noise"][~convex]))
    assert 0.0 < res["convex_fraction"] < 1.0


def test_path_starts_at_the_f_drop_and_ends_at_the_target(spike_path):
    """The first state is on the retraction curve R_u0(s v) (the great circle through a_1 and a_2 at the
    s = 2 saddle) with f = f(u0) - delta to round-off; the last is the first step with f <= target, so the
    state before it is above the target and it is below by at most one small step's decrease.  The path is
    gradient flow on the great circle u = cos(theta) a_1 + sin(theta) a_2, f = -1 + sin^2(2 theta) / 2, so
    theta' = -sin(4 theta) and its time from f = -0.6 (tan 2 theta = 2) to -0.95 (tan 2 theta = 1/3) is
    ln(6) / 4: within 0.2% (the step's O(h c) = 0.1% and the last step's overshoot)."""
    config, res = spike_path
    f = res["f"]
    assert res["saddle_f"] == pytest.approx(-0.5, abs=1e-12)
    assert f[0] == pytest.approx(-0.5 - config.delta, abs=1e-12) and res["start_f"] == f[0]
    assert np.all(res["u"][0][2:] == 0.0) and np.linalg.norm(res["u"][0]) == pytest.approx(1.0, abs=1e-14)
    assert f[-1] <= -0.95 < f[-2] and f[-1] > -0.95 - 1e-2
    assert np.all(np.diff(f) < 0)  # descent with a small step
    assert np.all(np.diff(res["time"]) > 0) and np.all(np.diff(res["steps"]) > 0)
    assert res["total_steps"] == res["steps"][-1]
    assert res["total_time"] == pytest.approx(np.log(6.0) / 4.0, rel=2e-3)


def test_noise_scale_grows_as_the_start_nears_the_saddle():
    """Past the saddle by delta, |G|^2 = 2 gamma delta (1 + O(delta)) and Sigma -> Sigma(u0), so B_simple
    at the path's start grows like tr(P Sigma(u0) P) / (2 gamma delta): infinite at the saddle.  Spike
    default, gamma = 4; at delta = 1e-3 within 1% (the O(delta) terms: 14% at delta = 0.1, 1.2% at 0.01,
    0.12% at 1e-3)."""
    obj = SpikeTensor(10, "uniform")
    u0 = obj.saddle(2)
    basis = obj.manifold.tangent_basis(u0)
    trace0 = np.trace(basis.T @ obj.gradient_noise_covariance(u0) @ basis)
    starts = []
    for delta in (0.1, 0.01, 0.001):
        config = EscapeConfig(m=(1,), delta=delta)
        starts.append(noise_scale_path(config, -0.65, points=4)["B_simple"][0])
    assert starts[0] < starts[1] < starts[2]
    assert starts[2] == pytest.approx(trace0 / (2 * 4.0 * 0.001), rel=0.01)


def test_bad_targets_are_refused():
    """A target not below f(u0) - delta (the path would start past it) or not above the minimum of f (the
    path never reaches it) is a ValueError with one line saying which."""
    config = EscapeConfig(m=(1,))
    with pytest.raises(ValueError, match=r"must be below f\(u0\) - delta = -0.6"):
        noise_scale_path(config, -0.55)
    with pytest.raises(ValueError, match="must be above the minimum of f"):
        noise_scale_path(config, -1.0)


def test_objectives_without_riemannian_hessian_give_none():
    """The teacher-student network (state: order parameters or weights; no rgrad or rhess) and 'user'
    (built from Python objects, not from a configuration) have no noise scale here: None."""
    assert noise_scale_path(EscapeConfig(objective="teacher-student", m=(1,)), 0.001) is None
    assert noise_scale_path(EscapeConfig(objective="user", m=(1,)), -1.0) is None


def test_product_of_spheres_per_column_exact_and_monte_carlo():
    """ge2015 (d = k = 3, per-column sampling): the path uses its exact covariance (block diagonal: with
    independent samples per column the columns' gradients are uncorrelated), so B_simple is the sum of the
    columns' traces over |G|^2 and positive along the whole path; Monte Carlo with 20000 samples a point
    (seed 0) agrees with it within 5% at every point (a relative standard error of about 1% here)."""
    config = EscapeConfig(objective="ge2015", d=3, k=3, m=(1,), sampling="per-column")
    res = noise_scale_path(config, 0.1, points=10)
    assert res["method"] == "exact"
    assert res["f"][0] == pytest.approx(1.0 - config.delta, abs=1e-12) and res["f"][-1] <= 0.1
    assert np.all(np.isfinite(res["B_simple"])) and np.all(res["B_simple"] > 0)
    mc = noise_scale_path(config, 0.1, points=10, mc_samples=20_000, method="monte-carlo")
    assert mc["method"] == "monte carlo"
    np.testing.assert_allclose(mc["B_simple"], res["B_simple"], rtol=0.05)
    assert np.isfinite(res["B_simple_mean"]) and np.isfinite(res["B_noise_mean"])
