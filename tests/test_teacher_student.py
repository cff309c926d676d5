"""teacher-student (SPEC 2.6): eps_g, gradients, the full and the reduced kernels, equality in law.

Every statistical assertion states its significance level and its number of trials; the Bonferroni
correction is applied where several components are tested at once.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from saddle.objectives.base import EXACT_GRADIENT, MINIBATCH_GRADIENT
from saddle.objectives.teacher_student import kernels as kk
from saddle.objectives.teacher_student.model import (
    TeacherStudent,
    generalisation_error,
    plateau_closed_form,
)
from tests import reference_teacher_student as ref


@st.composite
def problems(draw, max_k=3, max_m=3, max_extra=6):
    """A TeacherStudent (canonical or random teacher, with or without output noise) and a student W."""
    K = draw(st.integers(1, max_k))
    M = draw(st.integers(1, max_m))
    N = K + M + draw(st.integers(0, max_extra))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    V = None if draw(st.booleans()) else gen.standard_normal((M, N)) * draw(st.floats(0.5, 1.5))
    sigma = draw(st.sampled_from([0.0, 0.3]))
    W = gen.standard_normal((K, N)) * draw(st.floats(0.1, 1.5))
    return TeacherStudent(N, K, M, sigma=sigma, V=V), W, seed


# -- the objective -------------------------------------------------------------------------------


@given(M=st.integers(1, 6), K=st.integers(1, 4))
def test_zero_student_has_eps_M_over_6(M, K):
    model = TeacherStudent(K + M, K, M)
    assert model.eps_g(np.zeros((K, K + M))) == pytest.approx(M / 6.0, rel=1e-14)


def test_plateau_closed_form_numbers():
    """SPEC 2.6: eps* = 0.0116108 (K = 2) and 0.0202966 (K = 3), and it is the eps_g of its (q, c, r)."""
    assert plateau_closed_form(2)[3] == pytest.approx(0.0116108, abs=5e-8)
    assert plateau_closed_form(3)[3] == pytest.approx(0.0202966, abs=5e-8)
    for K in (2, 3, 4):
        q, c, r, eps = plateau_closed_form(K)
        model = TeacherStudent(2 * K + 1, K, K)
        assert model.eps_g(model.plateau_student(q, c, r)) == pytest.approx(eps, abs=1e-14)


@settings(max_examples=12)
@given(problems())
def test_eps_g_is_the_mean_loss(problem):
    """eps_g + sigma^2 / 2 = E[l] by Monte Carlo: 40,000 fresh samples, |error| < 5 standard errors
    (two-sided significance 6e-7 per example)."""
    model, W, seed = problem
    gen = np.random.default_rng(seed + 1)
    n = 40_000
    x = gen.standard_normal((n, model.N))
    xi = gen.standard_normal(n)
    loss = model.per_sample_loss(W, x, xi)
    se = loss.std() / math.sqrt(n)
    assert abs(loss.mean() - model.eps_g(W) - 0.5 * model.sigma**2) < 5 * se + 1e-12


@given(problems())
def test_per_sample_gradient_matches_finite_differences(problem):
    model, W, seed = problem
    gen = np.random.default_rng(seed + 2)
    x = gen.standard_normal((3, model.N))
    xi = gen.standard_normal(3)
    grads = model.per_sample_grad(W, x, xi)
    h = 1e-6
    for s in range(3):
        fd = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            E = np.zeros_like(W)
            E[idx] = h
            fd[idx] = (
                model.per_sample_loss(W + E, x[s : s + 1], xi[s : s + 1])[0]
                - model.per_sample_loss(W - E, x[s : s + 1], xi[s : s + 1])[0]
            ) / (2 * h)
        np.testing.assert_allclose(grads[s], fd, rtol=1e-5, atol=1e-8)


@given(problems())
def test_population_gradient_matches_finite_differences_of_eps_g(problem):
    model, W, _ = problem
    G = model.population_gradient(W)
    h = 1e-6
    fd = np.empty_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        fd[idx] = (model.eps_g(W + E) - model.eps_g(W - E)) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("canonical", [True, False])
def test_plateau_student_realises_the_order_parameters(canonical):
    K, M, N = 3, 3, 11
    V = None if canonical else np.random.default_rng(3).standard_normal((M, N))
    model = TeacherStudent(N, K, M, V=V)
    q, c, r = 0.5, 0.3, 0.2
    Q, R = model.order_parameters(model.plateau_student(q, c, r))
    np.testing.assert_allclose(Q, np.full((K, K), c) + (q - c) * np.eye(K), atol=1e-13)
    np.testing.assert_allclose(R, np.full((K, M), r), atol=1e-13)


# -- the full kernel -------------------------------------------------------------------------------


def _hooks_state(model, W, mode):
    pf, pa, pi = kk.pack(model, mode)
    if mode == kk.FULL:
        return pf, pa, pi, np.ascontiguousarray(W, dtype=float).ravel()
    Q, R = model.order_parameters(W)
    return pf, pa, pi, np.concatenate([Q.ravel(), R.ravel()])


@settings(max_examples=15)
@given(problems(), st.sampled_from([1, 2, 5]), st.integers(1, 1000))
def test_full_kernel_gradient_is_the_reference_minibatch_gradient(problem, m, t):
    """The kernel's mini-batch gradient equals the NumPy reference on the same normals (1e-12)."""
    model, W, seed = problem
    pf, pa, pi, u = _hooks_state(model, W, kk.FULL)
    g = np.empty_like(u)
    kk.full_gradient(
        0,
        MINIBATCH_GRADIENT,
        u,
        pf,
        pa,
        pi,
        np.uint64(seed),
        np.uint64(7),
        t,
        m,
        0.1,
        np.empty_like(u),
        np.empty_like(u),
        np.empty(4, np.uint64),
        g,
    )
    expected = ref.full_sgd_gradient(model, W, seed, 7, t, m)
    np.testing.assert_allclose(g.reshape(W.shape), expected, rtol=1e-12, atol=1e-14)
    assert kk.full_value(0, u, pf, pa, pi, np.empty_like(u)) == pytest.approx(model.eps_g(W), abs=1e-13)
    kk.full_gradient(
        0,
        EXACT_GRADIENT,
        u,
        pf,
        pa,
        pi,
        np.uint64(seed),
        np.uint64(7),
        t,
        m,
        0.1,
        np.empty_like(u),
        np.empty_like(u),
        np.empty(4, np.uint64),
        g,
    )
    np.testing.assert_allclose(g.reshape(W.shape), model.population_gradient(W), rtol=1e-11, atol=1e-14)


def test_full_random_start_is_the_reference():
    model = TeacherStudent(9, 2, 3)
    pf, pa, pi = kk.pack(model, kk.FULL, sigma0_sq=0.1)
    start = np.empty(2 * 9)
    kk.full_random_start(
        0, False, 1, pf, pa, pi, np.uint64(5), np.uint64(2), 4, start, start.copy(), np.empty(4, np.uint64)
    )
    np.testing.assert_array_equal(start.reshape(2, 9), ref.full_random_start(model, 5, 2, 4, 0.1))


def test_identical_students_stay_identical_under_sgd():
    """The symmetry trap of SPEC 2.6: w_1 = w_2 receive identical updates from every mini-batch."""
    model = TeacherStudent(12, 2, 2)
    q, c, r, _ = plateau_closed_form(2)
    W = model.plateau_student(q, c, r)  # at eta -> 0 the plateau students coincide
    assert np.array_equal(W[0], W[1])
    pf, pa, pi, u = _hooks_state(model, W, kk.FULL)
    out = np.empty((1, u.size))
    for t in range(1, 50):
        kk.one_step(kk.FULL, 3, 1, t, u, pf, pa, pi, MINIBATCH_GRADIENT, 4, 0.5, out)
        u = out[0].copy()
    Wt = u.reshape(2, 12)
    assert np.array_equal(Wt[0], Wt[1]) and not np.array_equal(Wt, W)


def test_pack_validates():
    with pytest.raises(ValueError, match="N >= K \\+ M"):
        kk.pack(TeacherStudent(4, 3, 2))
    with pytest.raises(ValueError, match="positive definite"):
        kk.pack(TeacherStudent(6, 2, 2, V=np.ones((2, 6))))
    with pytest.raises(ValueError, match="mode"):
        kk.pack(TeacherStudent(6, 2, 2), mode=7)


# -- the reduced chain ----------------------------------------------------------------------------------


def test_reduced_gd_is_the_image_of_full_gd():
    """40 exact-gradient steps: the reduced chain's (Q, R) equals full gd's, and Q stays symmetric."""
    for V in (None, np.random.default_rng(4).standard_normal((2, 9))):
        model = TeacherStudent(9, 3, 2, V=V)
        W = np.random.default_rng(5).standard_normal((3, 9)) * 0.5
        pff, paf, pif, uf = _hooks_state(model, W, kk.FULL)
        pfr, par, pir, ur = _hooks_state(model, W, kk.REDUCED)
        of = np.empty((1, uf.size))
        orr = np.empty((1, ur.size))
        for t in range(1, 41):
            kk.one_step(kk.FULL, 1, 1, t, uf, pff, paf, pif, EXACT_GRADIENT, 1, 2.0, of)
            kk.one_step(kk.REDUCED, 1, 1, t, ur, pfr, par, pir, EXACT_GRADIENT, 1, 2.0, orr)
            uf, ur = of[0].copy(), orr[0].copy()
        Q, R = model.order_parameters(uf.reshape(3, 9))
        np.testing.assert_allclose(ur, np.concatenate([Q.ravel(), R.ravel()]), rtol=1e-10, atol=1e-12)
        Qr = ur[:9].reshape(3, 3)
        assert np.array_equal(Qr, Qr.T)


def _one_step_samples(model, W, mode, seed, n, m, eta):
    pf, pa, pi, u = _hooks_state(model, W, mode)
    out = np.empty((n, u.size))
    kk.one_step(mode, seed, n, 1, u, pf, pa, pi, MINIBATCH_GRADIENT, m, eta, out)
    if mode == kk.FULL:
        Ws = out.reshape(n, model.K, model.N)
        Q = np.einsum("sij,skj->sik", Ws, Ws) / model.N
        R = np.einsum("sij,nj->sin", Ws, model.V) / model.N
        out = np.concatenate([Q.reshape(n, -1), R.reshape(n, -1)], axis=1)
    iu = np.triu_indices(model.K)
    Q = out[:, : model.K**2].reshape(n, model.K, model.K)
    return np.concatenate([Q[:, iu[0], iu[1]], out[:, model.K**2 :]], axis=1)


ONE_STEP_SETTINGS = [
    # (N, K, M, sigma, V random?, student, m, eta): small N, where the O(eta^2 / N) terms matter
    (8, 2, 2, 0.2, False, "random", 3, 1.0),
    (5, 2, 2, 0.0, True, "random", 1, 1.5),  # m < K (singular Gram) and N - K - M = 1 < K
    (6, 2, 2, 0.0, False, "span", 2, 1.0),  # students in the teacher's span: singular C
    (7, 3, 1, 0.1, False, "random", 2, 0.8),
]


@pytest.mark.parametrize("setting", ONE_STEP_SETTINGS)
def test_one_step_moments_reduced_equal_full(setting):
    """Mean and covariance of (Q, R) after one step from the same W: reduced chain vs full simulation.

    40,000 independent one-step samples of each; every mean and every covariance entry is compared by a
    two-sample z-test, two-sided significance 1e-3 overall (Bonferroni over the components).
    """
    N, K, M, sigma, rand_v, student, m, eta = setting
    gen = np.random.default_rng(N * 100 + K)
    V = gen.standard_normal((M, N)) if rand_v else None
    model = TeacherStudent(N, K, M, sigma=sigma, V=V)
    if student == "span":
        q, c, r, _ = plateau_closed_form(K)
        W = model.plateau_student(q, c, r)
    else:
        W = gen.standard_normal((K, N)) * 0.7
    n = 40_000
    a = _one_step_samples(model, W, kk.FULL, 11, n, m, eta)
    b = _one_step_samples(model, W, kk.REDUCED, 12, n, m, eta)
    d = a.shape[1]
    z_mean = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / n + b.var(0) / n)
    pa_ = (a - a.mean(0))[:, :, None] * (a - a.mean(0))[:, None, :]
    pb_ = (b - b.mean(0))[:, :, None] * (b - b.mean(0))[:, None, :]
    iu = np.triu_indices(d)
    pa_, pb_ = pa_[:, iu[0], iu[1]], pb_[:, iu[0], iu[1]]
    z_cov = (pa_.mean(0) - pb_.mean(0)) / np.sqrt(pa_.var(0) / n + pb_.var(0) / n)
    z_crit = stats.norm.isf(0.5e-3 / (d + len(iu[0])))
    assert np.max(np.abs(z_mean)) < z_crit, z_mean
    assert np.max(np.abs(z_cov)) < z_crit, z_cov


def test_reduced_random_start_equals_full_in_law():
    """(Q, R) of the reduced random start vs of the full one: two-sample KS per coordinate, 3,000 starts
    each, significance 1e-3 overall (Bonferroni)."""
    model = TeacherStudent(9, 2, 2, V=np.random.default_rng(1).standard_normal((2, 9)))
    n = 3000
    pff, paf, pif = kk.pack(model, kk.FULL, 0.1)
    pfr, par, pir = kk.pack(model, kk.REDUCED, 0.1)
    block = np.empty(4, np.uint64)
    full, red = [], []
    for r in range(n):
        w = np.empty(18)
        kk.full_random_start(0, False, 1, pff, paf, pif, np.uint64(1), np.uint64(r), 1, w, w.copy(), block)
        Q, R = model.order_parameters(w.reshape(2, 9))
        full.append(np.concatenate([Q.ravel(), R.ravel()]))
        x = np.empty(8)
        kk.reduced_random_start(0, False, 1, pfr, par, pir, np.uint64(2), np.uint64(r), 1, x, x.copy(), block)
        red.append(x)
    full, red = np.array(full), np.array(red)
    for j in (0, 1, 3, 4, 5, 6, 7):
        assert stats.ks_2samp(full[:, j], red[:, j]).pvalue > 1e-3 / 7


def test_gamma_and_wishart_variates_are_exact_in_law():
    """Marsaglia-Tsang Gamma(a) against scipy's cdf (KS, 20,000 draws, significance 1e-3 each) and
    the mean n I and variance of Wishart_2(n, I) entries (20,000 draws, 5 standard errors)."""
    import numba

    @numba.njit
    def gammas(a, n, out):
        buf = np.empty(16)
        cur = np.zeros(1, np.int64)
        blk = np.empty(4, np.uint64)
        for r in range(n):
            out[r] = kk._gamma(a, np.uint64(9), np.uint64(1), 1, 1, 0, buf, cur, blk)

    @numba.njit
    def wisharts(dof, K, n, out):
        buf = np.empty(16)
        cur = np.zeros(1, np.int64)
        blk = np.empty(4, np.uint64)
        B = np.empty((K, K))
        for r in range(n):
            c = kk.wishart_factor(dof, np.uint64(9), np.uint64(r), 1, 1, 0, buf, cur, blk, B)
            for i in range(K):
                for k in range(K):
                    acc = 0.0
                    for j in range(c):
                        acc += B[i, j] * B[k, j]
                    out[r, i * K + k] = acc

    n = 20_000
    for a in (1.0, 2.5, 50.0):
        out = np.empty(n)
        gammas(a, n, out)
        assert stats.kstest(out, stats.gamma(a).cdf).pvalue > 1e-3
    for dof in (1, 2, 7):
        out = np.empty((n, 4))
        wisharts(dof, 2, n, out)
        mean = np.array([dof, 0, 0, dof])
        var = np.array([2 * dof, dof, dof, 2 * dof])  # Var(W_ii) = 2n, Var(W_ik) = n for Sigma = I
        assert np.all(np.abs(out.mean(0) - mean) < 5 * np.sqrt(var / n))
        assert np.all(np.abs(out.var(0) / var - 1) < 5 * np.sqrt(2.0 / n) * 3)


KS_SETTINGS = [
    # (N, K, eta, m, random start)
    (10, 2, 1.0, 1, False),
    (10, 2, 0.5, 4, True),
    (12, 3, 1.0, 2, True),
]


@pytest.mark.parametrize("setting", KS_SETTINGS)
def test_escape_steps_full_and_reduced_are_equal_in_law(setting):
    """Plateau escape (eps_g <= eps*/2): 300 trials of each mode, two-sample KS, significance 1e-3."""
    from saddle.objectives.teacher_student import ode

    N, K, eta, m, random_start = setting
    model = TeacherStudent(N, K, K)
    pl = ode.plateau(K, eta / m)
    W = model.plateau_student(pl.q, pl.c, pl.r)
    n = 300
    steps = {}
    for mode, seed in ((kk.FULL, 1), (kk.REDUCED, 2)):
        pf, pa, pi, u = _hooks_state(model, W, mode)
        s = np.empty(n, np.int64)
        f = np.empty(n)
        ref.escape_steps(
            mode, seed, n, u, random_start, pf, pa, pi, MINIBATCH_GRADIENT, m, eta, pl.eps / 2, 200_000, s, f
        )
        assert np.all(s > 0)
        steps[mode] = s
    assert stats.ks_2samp(steps[kk.FULL], steps[kk.REDUCED]).pvalue > 1e-3


def test_full_escape_steps_match_numpy_reference():
    """A few trials of the NumPy step-by-step full simulation give exactly the kernel's escape steps."""
    from saddle.objectives.teacher_student import ode

    model = TeacherStudent(8, 2, 2, sigma=0.1)
    pl = ode.plateau(2, 0.5)
    W = model.plateau_student(pl.q, pl.c, pl.r)
    pf, pa, pi, u = _hooks_state(model, W, kk.FULL)
    s = np.empty(3, np.int64)
    f = np.empty(3)
    ref.escape_steps(kk.FULL, 4, 3, u, False, pf, pa, pi, MINIBATCH_GRADIENT, 1, 0.5, pl.eps / 2, 5000, s, f)
    assert np.all(s > 100)
    np.testing.assert_array_equal(s, ref.full_escape_steps(model, W, 4, 3, 1, 0.5, pl.eps / 2, 5000))


def test_generalisation_error_function_matches_model():
    model = TeacherStudent(7, 2, 3, V=np.random.default_rng(0).standard_normal((3, 7)))
    W = np.random.default_rng(1).standard_normal((2, 7))
    Q, R = model.order_parameters(W)
    assert generalisation_error(Q, R, model.T) == model.eps_g(W)
