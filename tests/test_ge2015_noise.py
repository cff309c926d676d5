"""ge2015's exact per-sample gradient covariance and its Gaussian batch-noise mode (docs/escape.md).

- Sigma(U) (saddle.objectives.ge2015_moments, by the cumulant expansion) against the covariance of the
  objective's own per-sample gradients over a product quadrature that integrates the data's polynomials of
  degree 8 exactly: every data distribution, both samplings, with and without a rotated frame;
- the kernel's noise is F xi with F F^T = Sigma(U) / m;
- at the collision saddle with shared samples the noise keeps u_1 = u_2 (the symmetry trap holds in law);
- a run escapes, and its escape steps are those of exact sampling in law at m = 256 (a KS test).
"""

import itertools

import numpy as np
import pytest
import scipy.special
import scipy.stats

from saddle import rng
from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.objectives.ge2015 import GeTensorDecomposition, gaussian_minibatch_gradient, gaussian_scratch_words
from saddle.options import ConfigError

ALPHA = 0.01
"""Significance of the two-sample KS test."""


def _rule(dist):
    """Nodes and weights of a 1-D rule that integrates the polynomials of degree <= 9 of the data
    coordinate exactly: the distribution itself (rademacher), Gauss-Legendre (uniform on [-sqrt3, sqrt3]),
    Gauss-Laguerre on |z| (laplace of scale 1/sqrt2: |z| is exponential of rate sqrt2)."""
    if dist == "rademacher":
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    if dist == "uniform":
        x, w = np.polynomial.legendre.leggauss(5)
        return np.sqrt(3.0) * x, w / 2
    t, w = scipy.special.roots_laguerre(5)
    t = t / np.sqrt(2.0)
    return np.concatenate([-t, t]), np.concatenate([w, w]) / 2


def _quadrature_covariance(objective, U):
    """Cov of the per-sample gradient (GeTensorDecomposition.per_sample_grad), exactly: over the product
    rule (the gradient is a polynomial of degree 4 in the data, its products of degree 8)."""
    d, k = objective.d, objective.k
    x1, w1 = _rule(objective.dist)
    Z = np.array(list(itertools.product(x1, repeat=d)))
    w = np.prod(np.array(list(itertools.product(w1, repeat=d))), axis=1)
    G = objective.per_sample_grad(U, objective.samples(Z)).transpose(0, 2, 1).reshape(len(Z), k * d)
    centred = G - w @ G
    C = centred.T @ (centred * w[:, None])
    if objective.sampling == "per-column":  # independent samples: no covariance between columns
        mask = np.kron(np.eye(k), np.ones((d, d)))
        C *= mask
    return C


def _point(d, k, seed):
    U = np.random.default_rng(seed).normal(size=(d, k))
    return U / np.linalg.norm(U, axis=0)


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "laplace"])
@pytest.mark.parametrize("sampling", ["shared", "per-column"])
@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize("d, k", [(3, 3), (4, 2)])
def test_covariance_is_that_of_the_per_sample_gradients(dist, sampling, rotated, d, k):
    A = scipy.stats.ortho_group.rvs(d, random_state=1) if rotated else None
    objective = GeTensorDecomposition(d, k, dist, A, sampling)
    U = _point(d, k, 2)
    want = _quadrature_covariance(objective, U)
    np.testing.assert_allclose(objective.gradient_noise_covariance(U), want, rtol=0, atol=1e-13 * np.abs(want).max())


def _noise(objective, U, m, steps, seed=5, trial=2):
    """The kernel's g - grad f(U) at steps 1 .. steps, and the step's normals xi, both flat (d k)."""
    u = objective.flatten(U)
    pf, pa, pi = objective.kernel_params()
    n = len(u)
    z, x, g = np.empty(n), np.empty(n), np.empty(n)
    block = np.empty(gaussian_scratch_words(0, n, pi), dtype=np.uint64)
    grad = objective.flatten(objective.egrad(U))
    noise, xi = np.empty((steps, n)), np.empty((steps, n))
    for t in range(1, steps + 1):
        gaussian_minibatch_gradient(
            u,
            pa,
            pi[1] != 0,
            pf[0],
            pf[1],
            pf[2],
            pi[2],
            pi[3],
            np.uint64(seed),
            np.uint64(trial),
            t,
            m,
            z,
            x,
            block,
            g,
        )
        noise[t - 1] = g - grad
        xi[t - 1] = rng.normals(seed, trial, t, m, rng.BATCH_NOISE, n)
    return noise, xi


@pytest.mark.parametrize("sampling", ["shared", "per-column"])
def test_kernel_noise_is_a_factor_of_the_covariance(sampling):
    """d = 4, k = 3, uniform data, a rotated frame, m = 16: the noise is F xi with xi the step's BATCH_NOISE
    normals, and F (fitted from 40 steps, exactly determined) has F F^T = Sigma(U) / m to 1e-12."""
    objective = GeTensorDecomposition(4, 3, "uniform", scipy.stats.ortho_group.rvs(4, random_state=3), sampling)
    U, m = _point(4, 3, 4), 16
    noise, xi = _noise(objective, U, m, 40)
    F = np.linalg.lstsq(xi, noise, rcond=None)[0].T
    want = objective.gradient_noise_covariance(U) / m
    np.testing.assert_allclose(F @ F.T, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_shared_samples_keep_the_collision_symmetric():
    """At the collision saddle (u_1 = u_2) shared samples give columns 1 and 2 the same per-sample gradient,
    so their noise is one draw: the mode gives them the same noise bit for bit (not only to rounding,
    which the dynamics would amplify), and a run with the trap allowed stays in it like exact sampling:
    20 trials, m = 64, 3000 steps, none escapes (with noise equal only to rounding they left it after
    about 1900 steps)."""
    objective = GeTensorDecomposition(5, 5, "uniform", sampling="shared")
    noise, _ = _noise(objective, objective.collision_saddle(), 1, 20)
    np.testing.assert_array_equal(noise[:, 0:5], noise[:, 5:10])
    assert np.abs(noise[:, 0:5]).max() > 0.1
    options = dict(objective="ge2015", sampling="shared", allow_trap=True, m=[64], trials=20, max_steps=3000)
    run = run_escape(batch_noise="gaussian", seed=1, record_trials=0, **options).by_m[64]
    assert np.all(run.status != 0)


def test_a_run_has_the_law_of_exact_sampling_at_large_m():
    """ge2015's defaults (d = k = 5, uniform, per-column samples, the collision start), m = 256, seed 4, 300
    trials of each mode: every trial escapes in both, and the KS test of their escape steps does not reject
    at ALPHA (docs/escape.md measures the error at m = 16 ... 4096 with 1000 trials)."""
    options = dict(objective="ge2015", m=[256], trials=300, seed=4, record_trials=0)
    exact = run_escape(**options).by_m[256]
    gaussian = run_escape(batch_noise="gaussian", **options).by_m[256]
    assert np.all(exact.status == 0) and np.all(gaussian.status == 0)
    assert not np.array_equal(exact.steps, gaussian.steps)
    assert scipy.stats.ks_2samp(exact.steps, gaussian.steps).pvalue > ALPHA


@pytest.mark.parametrize("objective, m, warned", [("ge2015", 8, True), ("ge2015", 16, False), ("spike", 16, True)])
def test_a_run_below_the_measured_batch_size_says_so(objective, m, warned):
    """Each objective's own threshold (docs/escape.md): ge2015 from m = 16, the spike from m = 32."""
    lines = EscapeConfig(objective=objective, m=[m], batch_noise="gaussian").start_warnings()
    assert any("measurably wrong" in line for line in lines) == warned


def test_sizes_whose_scratch_is_too_large_are_refused_in_one_line():
    """d = k = 70 with shared samples: the (d k)^2 covariance and the k d^3 tensors need 367 MiB a trial."""
    with pytest.raises(ConfigError, match=r"needs 367 MiB of scratch per trial") as err:
        EscapeConfig(objective="ge2015", d=70, k=70, sampling="shared", batch_noise="gaussian", allow_trap=True)
    assert "\n" not in str(err.value)
    EscapeConfig(objective="ge2015", d=70, k=70, batch_noise="gaussian")  # per-column: one d x d block at a time
