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
    z = (
        g.uniform(-np.sqrt(3), np.sqrt(3), (200_000, 4))
        if dist == "uniform"
        else g.laplace(0, 1 / np.sqrt(2), (200_000, 4))
    )
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


# -- the kernel ---------------------------------------------------------------------

from saddle.kernels import CENSORED, ESCAPED, run_trials  # noqa: E402
from tests.reference import reference_ge2015_trial  # noqa: E402

KERNEL_CASES = [
    # dist, sampling, optimizer, m, eta, sigma_iso, rotated, start
    ("uniform", "per-column", "sgd", 16, 0.005, 0.0, False, "collision"),
    ("laplace", "per-column", "sgd", 8, 0.005, 0.0, True, "collision"),
    ("uniform", "shared", "noisy-sgd", 16, 0.005, 0.5, False, "collision"),
    ("rademacher", "shared", "sgd", 16, 0.005, 0.0, True, "perturbed"),
    ("uniform", "shared", "gd", 1, 0.02, 0.0, False, "perturbed"),
]
# (At m = 1 the per-sample noise of ge2015 is so large that eta = 0.005 keeps the iterate hot,
# f ~ 3.5 ~ its average over random U: such chaotic runs amplify rounding and are no test of the
# arithmetic.)


@pytest.mark.parametrize(
    "case", KERNEL_CASES, ids=["-".join(map(str, c[:3])) + ("-rot" if c[6] else "") for c in KERNEL_CASES]
)
def test_kernel_matches_reference_trial_by_trial(case):
    dist, sampling, optimizer, m, eta, sigma_iso, rotated, start = case
    d = k = 4
    A = scipy.stats.ortho_group.rvs(d, random_state=5) if rotated else None
    obj = GeTensorDecomposition(d, k, dist, A, sampling)
    U0 = obj.collision_saddle()
    if start == "perturbed":
        U0 = obj.manifold.retract(U0, 0.05 * obj.manifold.random_tangent(U0, np.random.default_rng(1)))
    kw = dict(eta=eta, sigma_iso=sigma_iso, delta=0.2, radius=None, max_steps=400)
    block = run_trials(obj, obj.flatten(U0), optimizer=optimizer, batch_size=m, seed=7, trial_start=0, n_trials=6, **kw)
    for n in range(6):
        steps, status, final_f, _ = reference_ge2015_trial(
            seed=7, trial=n, U0=U0, A=obj.A, dist=dist, sampling=sampling, optimizer=optimizer, m=m, **kw
        )
        assert (block.steps[n], block.status[n]) == (steps, status), n
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
    assert np.count_nonzero(block.status == ESCAPED) >= 3


@pytest.mark.parametrize("m", [16, 256])
def test_symmetry_trap_shared_samples_never_escape_per_column_samples_do(m):
    """SPEC 2.2: from the collision saddle, shared mini-batches keep u_1 = u_2 exactly (every trial
    censored, f stays 1), while per-column sampling escapes in every trial."""
    kw = dict(
        optimizer="sgd",
        batch_size=m,
        eta=0.005,
        sigma_iso=0.0,
        delta=0.2,
        radius=None,
        max_steps=3000,
        seed=3,
        trial_start=0,
        n_trials=20,
    )
    shared = GeTensorDecomposition(5, 5, "uniform", None, "shared")
    out = run_trials(shared, shared.flatten(shared.collision_saddle()), **kw)
    assert np.all(out.status == CENSORED)
    per_col = GeTensorDecomposition(5, 5, "uniform", None, "per-column")
    out = run_trials(per_col, per_col.flatten(per_col.collision_saddle()), **kw)
    assert np.all(out.status == ESCAPED)


def test_recovery_error_fast_path_agrees_with_enumeration():
    """The nearest-component shortcut is the exact bottleneck assignment when it is a permutation."""
    g = np.random.default_rng(7)
    obj = GeTensorDecomposition(5, 4, "uniform", scipy.stats.ortho_group.rvs(5, random_state=g))
    for _ in range(20):
        U = obj.manifold.retract(obj.A[:, [3, 1, 4, 0]], 0.2 * obj.manifold.random_tangent(obj.A[:, [3, 1, 4, 0]], g))
        C = np.abs(obj.A.T @ U)
        dist = np.sqrt(np.maximum(2 - 2 * C, 0))
        brute = min(max(dist[p[i], i] for i in range(4)) for p in itertools.permutations(range(5), 4))
        assert obj.recovery_error(U) == pytest.approx(brute)
