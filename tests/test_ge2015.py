"""The ge2015 objective (SPEC 2.2): gradients, Hessian, the collision saddle, unbiasedness, the trap."""

import itertools

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle.manifolds import check_gradient, check_hessian
from saddle.objectives.ge2015 import GeTensorDecomposition


@st.composite
def ge_and_point(draw):
    d = draw(st.integers(2, 6))
    k = draw(st.integers(2, d))
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A = scipy.stats.ortho_group.rvs(d, random_state=g) if draw(st.booleans()) else None
    obj = GeTensorDecomposition(d, k, draw(st.sampled_from(["uniform", "rademacher", "laplace"])), A)
    U = obj.manifold.random_point(g)
    return obj, U, obj.manifold.random_tangent(U, g)


@given(ge_and_point())
def test_riemannian_gradient_matches_central_differences(case):
    obj, U, V = case
    h = 1e-5
    R = obj.manifold.retract
    fd = (obj.f(R(U, h * V)) - obj.f(R(U, -h * V))) / (2 * h)
    assert fd == pytest.approx(np.sum(obj.rgrad(U) * V), abs=1e-7)


@given(ge_and_point())
def test_riemannian_hessian_matches_second_differences(case):
    obj, U, V = case
    h = 1e-3
    R = obj.manifold.retract
    fd = (obj.f(R(U, h * V)) - 2 * obj.f(U) + obj.f(R(U, -h * V))) / h**2
    v = V.ravel(order="F")
    assert fd == pytest.approx(v @ obj.rhess(U) @ v, abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_taylor_slopes_on_the_product_of_spheres(seed):
    g = np.random.default_rng(seed)
    obj = GeTensorDecomposition(5, 3, "uniform", scipy.stats.ortho_group.rvs(5, random_state=g))
    U = obj.manifold.random_point(g)
    V = obj.manifold.random_tangent(U, g)
    assert check_gradient(obj.manifold, obj.f, obj.rgrad, U, V) == pytest.approx(2.0, abs=0.1)
    assert check_hessian(obj.manifold, obj.f, obj.rgrad, obj.rhess, U, V) == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("rotated", [False, True])
def test_collision_saddle_is_an_index_one_strict_saddle(rotated):
    """SPEC 2.2, d = k = 5: f = 1, zero Riemannian gradient, spectrum {-4 x1, +2 x6, +4 x13}."""
    A = scipy.stats.ortho_group.rvs(5, random_state=3) if rotated else None
    obj = GeTensorDecomposition(5, 5, "uniform", A)
    U = obj.collision_saddle()
    assert obj.f(U) == pytest.approx(1.0)
    assert np.linalg.norm(obj.rgrad(U)) < 1e-12
    B = obj.manifold.tangent_basis(U)
    eig = np.linalg.eigvalsh(B.T @ obj.rhess(U) @ B)
    np.testing.assert_allclose(eig, [-4.0] + [2.0] * 6 + [4.0] * 13, atol=1e-10)


def test_signed_permutations_of_A_are_global_minima_with_zero_recovery_error():
    g = np.random.default_rng(0)
    A = scipy.stats.ortho_group.rvs(4, random_state=g)
    obj = GeTensorDecomposition(4, 4, "laplace", A)
    U = A[:, [2, 0, 3, 1]] * np.array([1, -1, -1, 1])
    assert obj.f(U) == pytest.approx(0.0, abs=1e-12)
    assert obj.recovery_error(U) == pytest.approx(0.0, abs=1e-6)
    assert obj.recovery_error(obj.collision_saddle()) > 0.5


@pytest.mark.parametrize("d, k", [(2, 2), (3, 2), (4, 3)])
def test_per_sample_gradient_is_exactly_unbiased_for_rademacher(d, k):
    """Rademacher data takes 2^d values: the expectation is an exact average."""
    g = np.random.default_rng(d + k)
    A = scipy.stats.ortho_group.rvs(d, random_state=g)
    obj = GeTensorDecomposition(d, k, "rademacher", A)
    U = g.standard_normal((d, k))  # off the manifold too: the identity holds on all of R^{d x k}
    x = obj.samples(np.array(list(itertools.product([-1.0, 1.0], repeat=d))))
    np.testing.assert_allclose(obj.per_sample_grad(U, x).mean(axis=0), obj.egrad(U), atol=1e-10)


@pytest.mark.parametrize("dist", ["uniform", "laplace"])
def test_per_sample_gradient_is_unbiased_monte_carlo(dist):
    """200,000 samples from NumPy's generator: every entry within 5 standard errors."""
    g = np.random.default_rng(1)
    obj = GeTensorDecomposition(4, 3, dist, scipy.stats.ortho_group.rvs(4, random_state=g))
    U = obj.manifold.random_point(g)
    z = (g.uniform(-np.sqrt(3), np.sqrt(3), (200_000, 4)) if dist == "uniform"
         else g.laplace(0, 1 / np.sqrt(2), (200_000, 4)))
    G = obj.per_sample_grad(U, obj.samples(z))
    se = G.std(axis=0, ddof=1) / np.sqrt(len(G))
    assert np.all(np.abs(G.mean(axis=0) - obj.egrad(U)) <= 5 * se)


def test_shared_samples_give_columns_one_and_two_identical_gradients_at_the_collision():
    """The symmetry trap: at u_1 = u_2 the per-sample gradients of columns 1 and 2 coincide."""
    obj = GeTensorDecomposition(5, 5)
    U = obj.collision_saddle()
    x = np.random.default_rng(2).uniform(-np.sqrt(3), np.sqrt(3), (100, 5))
    G = obj.per_sample_grad(U, x)
    np.testing.assert_array_equal(G[:, :, 0], G[:, :, 1])
