"""The spike objective (SPEC 2.1): gradients, Hessians, critical points, data identities, unbiasedness."""

import itertools

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle import rng
from saddle.manifolds import Sphere, check_gradient, check_hessian
from saddle.objectives.spike import DISTRIBUTIONS, SpikeTensor, data_distribution, minibatch_gradient, scratch_words

dists = st.sampled_from(sorted(DISTRIBUTIONS))


@st.composite
def spike_and_point(draw, max_d=8, rotated=True):
    d = draw(st.integers(2, max_d))
    seed = draw(st.integers(0, 2**32 - 1))
    g = np.random.default_rng(seed)
    A = scipy.stats.ortho_group.rvs(d, random_state=g) if rotated and draw(st.booleans()) else None
    obj = SpikeTensor(d, draw(dists), A)
    u = Sphere(d).random_point(g)
    v = Sphere(d).random_tangent(u, g)
    return obj, u, v


@given(spike_and_point())
def test_riemannian_gradient_matches_central_differences(case):
    """d/dh f(R_u(h v)) at 0 equals <grad f(u), v>: central difference, error O(h^2) = 1e-10."""
    obj, u, v = case
    h = 1e-5
    R = obj.manifold.retract
    fd = (obj.f(R(u, h * v)) - obj.f(R(u, -h * v))) / (2 * h)
    assert fd == pytest.approx(np.dot(obj.rgrad(u), v), abs=1e-7)


@given(spike_and_point())
def test_riemannian_hessian_matches_second_differences(case):
    """d^2/dh^2 f(R_u(h v)) at 0 equals <v, Hess f(u) v> for the (second-order) metric
    retraction: second central difference, truncation O(h^2) = 1e-6, round-off 1e-16 / h^2 = 1e-8."""
    obj, u, v = case
    h = 1e-3
    R = obj.manifold.retract
    fd = (obj.f(R(u, h * v)) - 2 * obj.f(u) + obj.f(R(u, -h * v))) / h**2
    assert fd == pytest.approx(np.dot(v, obj.rhess(u) @ v), abs=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_taylor_slopes_are_second_and_third_order(seed):
    """pymanopt-style slope checks at random points (the remainders' orders are 2 and 3)."""
    g = np.random.default_rng(seed)
    d = 3 + seed
    obj = SpikeTensor(d, "uniform", scipy.stats.ortho_group.rvs(d, random_state=g))
    u = Sphere(d).random_point(g)
    v = Sphere(d).random_tangent(u, g)
    assert check_gradient(obj.manifold, obj.f, obj.rgrad, u, v) == pytest.approx(2.0, abs=0.1)
    assert check_hessian(obj.manifold, obj.f, obj.rgrad, obj.rhess, u, v) == pytest.approx(3.0, abs=0.1)


def test_slope_checks_catch_a_wrong_gradient_and_hessian():
    obj = SpikeTensor(5)
    g = np.random.default_rng(0)
    u = Sphere(5).random_point(g)
    v = Sphere(5).random_tangent(u, g)
    assert check_gradient(obj.manifold, obj.f, lambda x: 1.1 * obj.rgrad(x), u, v) < 1.5
    assert check_hessian(obj.manifold, obj.f, obj.rgrad, lambda x: obj.ehess(x), u, v) < 2.5  # no Weingarten term


@given(d=st.integers(2, 9), data=st.data())
def test_critical_points_have_the_spec_value_and_spectrum(d, data):
    s = data.draw(st.integers(1, d))
    S = data.draw(st.permutations(range(d)))[:s]
    signs = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=s, max_size=s))
    A = scipy.stats.ortho_group.rvs(d, random_state=data.draw(st.integers(0, 2**32 - 1))) if d > 1 else None
    obj = SpikeTensor(d, "uniform", A)
    u = obj.critical_point(S, signs)
    f_expected, spectrum = SpikeTensor.critical_spectrum(d, s)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    assert obj.f(u) == pytest.approx(f_expected, abs=1e-12)
    assert np.linalg.norm(obj.rgrad(u)) < 1e-12
    B = obj.manifold.tangent_basis(u)
    eig = np.linalg.eigvalsh(B.T @ obj.rhess(u) @ B)
    np.testing.assert_allclose(eig, np.sort(spectrum), atol=1e-10)


def test_gaussian_data_is_refused_with_kappa_in_the_message():
    with pytest.raises(ValueError, match="kappa = 0"):
        data_distribution("gaussian")
    with pytest.raises(ValueError, match="unknown data distribution"):
        SpikeTensor(4, "cauchy")


@pytest.mark.parametrize("d", [2, 3, 6])
def test_fourth_moment_identity_and_unbiased_gradient_exact_for_rademacher(d):
    """SPEC 2.1 identities, exactly: rademacher data takes 2^d values, all enumerated."""
    g = np.random.default_rng(d)
    A = scipy.stats.ortho_group.rvs(d, random_state=g)
    obj = SpikeTensor(d, "rademacher", A)
    z = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    x = obj.samples(z)
    u = g.standard_normal(d)  # off the sphere too: the identities hold on all of R^d
    kappa = obj.kappa
    assert np.mean((x @ u) ** 4) == pytest.approx(3 * np.dot(u, u) ** 2 + kappa * np.sum((A.T @ u) ** 4))
    assert np.mean(obj.per_sample_loss(u, x)) == pytest.approx(obj.f(u))
    np.testing.assert_allclose(obj.per_sample_grad(u, x).mean(axis=0), obj.egrad(u), atol=1e-12)


def _minibatch_gradients(obj, u, m, n_draws, seed, dist_code):
    d = obj.d
    out = np.empty((n_draws, d))
    z, x, g = np.empty(d), np.empty(d), np.empty(d)
    block = np.empty(scratch_words(0, d, np.zeros(2, np.int64)), np.uint64)  # one tile of samples' words
    rotated = not obj.is_identity_frame
    for t in range(1, n_draws + 1):
        minibatch_gradient(u, obj.A, rotated, obj.kappa, dist_code, np.uint64(seed), np.uint64(0), t, m, z, x, block, g)
        out[t - 1] = g
    return out


@given(spike_and_point(max_d=6), st.sampled_from([1, 3]))
def test_kernel_minibatch_gradient_is_unbiased(case, m):
    """Mean of 3000 kernel mini-batch gradients vs the exact gradient: every coordinate within
    5 standard errors (two-sided level about 6e-7 per coordinate)."""
    obj, u, _ = case
    G = _minibatch_gradients(obj, u, m, 3000, seed=1, dist_code=DISTRIBUTIONS[obj.dist][0])
    se = G.std(axis=0, ddof=1) / np.sqrt(G.shape[0])
    err = np.abs(G.mean(axis=0) - obj.egrad(u))
    assert np.all(err <= 5 * se + 1e-12)


@pytest.mark.parametrize(("d", "m", "rotated"), [(100, 37, False), (100, 25, True), (6, 1, False), (10, 300, False)])
def test_tiled_minibatch_gradient_is_the_sum_in_sample_order_bit_for_bit(d, m, rotated):
    """The kernel's gradient, drawn in tiles (d = 100: 12 samples a tile, so m = 37 is three tiles and
    one sample; d = 10, m = 300: 128, 128, 44), equals the documented order computed here one float
    at a time: samples in order, each u.x in coordinate order, c**3 x added coordinate by coordinate,
    then (-4 / (m kappa)) g + (12 / kappa) ||u||^2 u.  No tolerance."""
    g0 = np.random.default_rng(d + m)
    A = scipy.stats.ortho_group.rvs(d, random_state=g0) if rotated else None
    obj = SpikeTensor(d, "laplace", A)
    u = Sphere(d).random_point(g0)
    seed, trial, t = 11, 3, 17
    z, x, g = np.empty(d), np.empty(d), np.empty(d)
    block = np.empty(scratch_words(0, d, np.zeros(2, np.int64)), np.uint64)
    key0, key1 = np.uint64(seed), np.uint64(trial)
    minibatch_gradient(u, obj.A, rotated, obj.kappa, rng.LAPLACE, key0, key1, t, m, z, x, block, g)
    words = rng.words(seed, trial, t, m, rng.DATA, m * d).astype(np.uint64)
    latent = np.array([rng.data_variate(h, rng.LAPLACE) for h in words]).reshape(m, d)
    acc = [0.0] * d
    for i in range(m):
        xi = [float(v) for v in latent[i]]
        if rotated:
            xi = [sum_in_order(obj.A[k, l] * xi[l] for l in range(d)) for k in range(d)]
        c = sum_in_order(u[k] * xi[k] for k in range(d))
        c3 = c * c * c
        acc = [acc[k] + c3 * xi[k] for k in range(d)]
    norm2 = sum_in_order(u[k] * u[k] for k in range(d))
    want = [(-4.0 / (m * obj.kappa)) * acc[k] + (12.0 / obj.kappa) * norm2 * u[k] for k in range(d)]
    np.testing.assert_array_equal(g, np.array(want))


def sum_in_order(terms):
    """0.0 + t_0 + t_1 + ..., left to right (Python floats are IEEE doubles: no reordering)."""
    total = 0.0
    for term in terms:
        total += term
    return total


@pytest.mark.parametrize("m", [1, 4, 16])
def test_kernel_minibatch_covariance_is_the_per_sample_covariance_over_m(m):
    """Rademacher data, d = 5: the per-sample covariance is exact by enumeration; the trace of
    the covariance of 6000 kernel mini-batch gradients must be within 10% of tr(Cov_1) / m
    (the estimator's relative standard error here is about 2.5%, so this is a 4-sigma band)."""
    d = 5
    g = np.random.default_rng(5)
    obj = SpikeTensor(d, "rademacher", scipy.stats.ortho_group.rvs(d, random_state=g))
    u = Sphere(d).random_point(g)
    x = obj.samples(np.array(list(itertools.product([-1.0, 1.0], repeat=d))))
    exact_trace = np.trace(np.cov(obj.per_sample_grad(u, x).T, bias=True))
    G = _minibatch_gradients(obj, u, m, 6000, seed=2, dist_code=rng.RADEMACHER)
    assert np.trace(np.cov(G.T)) == pytest.approx(exact_trace / m, rel=0.10)


def test_rademacher_noise_vanishes_along_the_escape_direction_at_the_s2_saddle():
    """SPEC 2.1 note: with rademacher data the CNC condition fails at the s = 2 saddle."""
    d = 6
    obj = SpikeTensor(d, "rademacher")
    u = obj.saddle(2)
    v = (obj.A[:, 0] - obj.A[:, 1]) / np.sqrt(2)
    x = obj.samples(np.array(list(itertools.product([-1.0, 1.0], repeat=d))))
    assert np.var(obj.per_sample_grad(u, x) @ v) < 1e-20
    uniform = SpikeTensor(d, "uniform")
    zu = rng.data_variates(rng.words(0, 0, 1, 1, rng.DATA, 5000 * d), rng.UNIFORM)
    assert np.var(uniform.per_sample_grad(u, uniform.samples(zu.reshape(-1, d))) @ v) > 1.0
