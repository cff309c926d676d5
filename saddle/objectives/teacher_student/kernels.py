"""teacher-student: the Numba hooks of the escape kernel (docs/objectives.md, teacher-student), in two modes.

Each mode is a (value, gradient, block_size, random_start) quadruple with the kernel's signatures

    value(objective, u, pf, pa, pi, work) -> f = eps_g(Q, R)
    gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)
    block_size(objective, n, pi) -> n                      (the state lives on R^d)
    random_start(objective, sphere, bs, pf, pa, pi, key0, key1, m, start, noise, block)

and the kernel steps u <- u - eta g.  ``optimizer`` is SGD (0, m fresh samples of step t) or GD (1, the
exact population gradient of eps_g, i.e. the m -> infinity step).

**full** -- u = W flattened row-major (K N floats).  g = the mean of the m per-sample gradients
-Delta_s g'(lambda_{k,s}) x_s / sqrt(N), so u - eta g is the sgd step
w_k <- w_k + (eta / (m sqrt N)) sum_s Delta_s g'(lambda_{k,s}) x_s.  GD: g = (2/N) A W + (1/N) H V with
(A, H) the derivatives of the eps_g formula (``model.generalisation_error_gradient``).

**reduced** -- u = concat(Q.ravel(), R.ravel()) (K^2 + K M floats), the exact Markov chain on (Q, R),
at a cost per step independent of N.  With the teacher first, C = [[T, R^T], [R, Q]] = L L^T,
L = [[L_T, 0], [L_21, L_22]], L_T = chol(T) (packed), L_21 = R L_T^{-T}, L_22 L_22^T = Q - L_21 L_21^T
(a Cholesky factor that tolerates a singular Schur complement: a student in the teacher's span).  Per
sample s, z_s ~ N(0, I_{M+K}), rho_s = L_T z_s[:M], lambda_s = L_21 z_s[:M] + L_22 z_s[M:],
c_{i,s} = Delta_s g'(lambda_{i,s}).  Writing a_i = sum_s c_{i,s} z_s (so sum_s c_{i,s} f_s = L a_i for the
fields f = (rho, lambda)) and Gram = sum_s c_s c_s^T,

    R_in += (eta / (N m)) (L a_i)_{rho_n},
    Q_ik += (eta / (N m)) ((L a_i)_{lambda_k} + (L a_k)_{lambda_i}) + (eta^2 / (N^2 m^2)) (a_i.a_k + Wc_ik),

Wc = c^T W c ~ S Wishart_K(N - K - M, I) S^T with S S^T = Gram (S from the same tolerant Cholesky, which
works when Gram is singular, m < K; any factor gives the same law because Wishart_K(n, I) is invariant
under rotations).  Wishart_K(n, I) is drawn by Bartlett's decomposition (B lower triangular,
B_jj^2 ~ chi^2_{n-j}, B_jk ~ N(0, 1) below the diagonal) when n >= K, and as G G^T with G a K x n matrix
of normals when n < K (n = 0: Wc = 0).  chi^2_nu is z^2 for nu = 1 and 2 Gamma(nu/2) otherwise, Gamma by
Marsaglia and Tsang (2000) with its squeeze, whose uniform is Phi(z) of a normal of the stream (exact
in law).  If C is singular (students in the teacher's span) the unused components of z_s stand for the
extra dimensions of the complement of span{w, v}: the law is still exact.  The hook writes
g = -(new state - state) / eta computed term by term (no subtraction of states), Q's two triangles
identically, so u - eta g is the chain's next state.  GD maps W' = W - eta grad eps_g to (Q', R'):
with B = I - (2 eta / N) A, Q' = B Q B^T - (eta/N)(B R H^T + H R^T B^T) + (eta/N)^2 H T H^T and
R' = B R - (eta/N) H T, exactly the (Q, R) of full-mode GD.

Random numbers (only through saddle.rng's public functions, keyed by (seed, trial) = (key0, key1)):

- full, step t: purpose DATA; sample s's N input coordinates are normals s * S_N + [0, N) and its output
  noise xi_s is normal s * S_N + N, S_N = ceil((N + 1) / NORMALS_PER_BLOCK) * NORMALS_PER_BLOCK
  (xi_s is drawn only when sigma > 0; the layout does not depend on sigma).
- reduced, step t: purpose DATA; sample s's z_s is normals s * S_r + [0, M + K) (teacher components
  first), its output noise normal s * S_r + M + K, S_r = ceil((M + K + 1) / NORMALS_PER_BLOCK) *
  NORMALS_PER_BLOCK; the Wishart draw reads normals from m * S_r onwards, in order (Bartlett: for row
  j = 0..K-1 the j below-diagonal normals, then the chi-square's variates; Marsaglia-Tsang uses two
  normals per attempt: the proposal, then the one whose Phi is the uniform).
- random starts: purpose START at t = 0.  full: W = sigma0 times normals 0..K N - 1 (row-major).
  reduced: the (Q, R) of such a W exactly in law, without drawing W: with U an orthonormal basis of
  the teacher's span, W U^T = G_1 (K x M normals: START normals 0..K M - 1, row-major) gives
  R = sigma0 G_1 L_T^T / sqrt(N), and Q = sigma0^2 (G_1 G_1^T + Wishart_K(N - M, I)) / N, the Wishart
  drawn as above from START normals K M rounded up to a multiple of NORMALS_PER_BLOCK onwards.

Scratch: the full mode needs only the kernel's z, x; the reduced mode allocates one small workspace per
step (O(K (K + M)) floats; the kernel's z, x have the length K^2 + K M of the state, too short for it)
and the Wishart cursor.  Without output noise (sigma = 0) a sample's noise normal (position M + K of
its record) is not generated: the layout and the numbers are unchanged, but when M + K is a multiple
of NORMALS_PER_BLOCK the generator block that would hold only that normal is skipped (K = M = 2: two
blocks a sample instead of three; benchmarks/teacher_student_bench.py measures the step).
"""

from __future__ import annotations

import math

import numpy as np

from saddle import rng
from saddle._numba import inline_njit, njit
from saddle.objectives.base import EXACT_GRADIENT as GD
from saddle.objectives.teacher_student.model import TeacherStudent, teacher_error

FULL, REDUCED = 0, 1
"""Simulation modes."""

# -- packed parameters: named slots -------------------------------------------------------------
PF_SIGMA = 0
"""pf: output-noise standard deviation sigma."""
PF_SIGMA0 = 1
"""pf: standard deviation sigma0 of the random start's weights."""
PF_EPS_TEACHER = 2
"""pf: the teacher-teacher part of eps_g, (1/pi) sum_nm asin(T_nm / sqrt((1+T_nn)(1+T_mm)))."""
PF_LENGTH = 3

PI_N = 0
PI_K = 1
PI_M = 2
PI_CANONICAL = 3
"""pi: 1 when V = sqrt(N) [e_1..e_M] (rho_n = x_n, T = I), else 0."""
PI_MODE = 4
"""pi: FULL or REDUCED (the mode the parameters were packed for)."""
PI_LENGTH = 5

PA_T = 0
"""pa: rows [0, M) hold T (first M columns)."""
PA_CHOL_T = 1
"""pa: rows [M, 2M) hold L_T = chol(T) (first M columns)."""
PA_V = 2
"""pa: rows [2M, 3M) hold V (N columns), full mode only."""

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)


def pack(model: TeacherStudent, mode: int = FULL, sigma0_sq: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pf, pa, pi) for the hooks of ``mode`` from a :class:`TeacherStudent`.

    The reduced mode needs T positive definite (V of full row rank) and, like the full mode's plateau
    and Wishart layout, N >= K + M.
    """
    if not isinstance(model, TeacherStudent):
        raise TypeError("pack expects a TeacherStudent")
    N, K, M = model.N, model.K, model.M
    if N < K + M:
        raise ValueError(f"teacher-student kernels need N >= K + M = {K + M}, got N = {N}")
    if mode not in (FULL, REDUCED):
        raise ValueError(f"mode must be FULL ({FULL}) or REDUCED ({REDUCED}), got {mode!r}")
    if not (math.isfinite(sigma0_sq) and sigma0_sq >= 0.0):
        raise ValueError(f"sigma0^2 must be finite and >= 0, got {sigma0_sq}")
    T = model.T
    try:
        LT = np.linalg.cholesky(T)
    except np.linalg.LinAlgError:
        raise ValueError("the teacher's overlaps T = V V^T / N must be positive definite") from None
    canonical = model.is_canonical
    pf = np.zeros(PF_LENGTH)
    pf[PF_SIGMA] = model.sigma
    pf[PF_SIGMA0] = math.sqrt(sigma0_sq)
    pf[PF_EPS_TEACHER] = teacher_error(T)
    pi = np.zeros(PI_LENGTH, dtype=np.int64)
    pi[PI_N], pi[PI_K], pi[PI_M] = N, K, M
    pi[PI_CANONICAL] = 1 if canonical else 0
    pi[PI_MODE] = mode
    cols = N if mode == FULL else M
    pa = np.zeros((3 * M if mode == FULL else 2 * M, cols))
    pa[PA_T * M : PA_T * M + M, :M] = T
    pa[PA_CHOL_T * M : PA_CHOL_T * M + M, :M] = LT
    if mode == FULL:
        pa[PA_V * M : PA_V * M + M, :] = model.V
    return pf, pa, pi


# -- small helpers ------------------------------------------------------------------------------


@inline_njit
def _g(z):
    return math.erf(z * INV_SQRT2)


@inline_njit
def _g_prime(z):
    return SQRT_2_OVER_PI * math.exp(-0.5 * z * z)


@inline_njit
def _stride(n):
    """Positions per record of n normals, rounded up to whole generator blocks."""
    b = rng.NORMALS_PER_BLOCK
    return (n + b - 1) // b * b


@njit
def eps_from_order_parameters(qr: np.ndarray, K: int, M: int, pa: np.ndarray, eps_teacher: float) -> float:
    """eps_g from qr = concat(Q.ravel(), R.ravel()) (T from pa, its own part precomputed)."""
    student = 0.0
    for i in range(K):
        qi = qr[i * K + i]
        for k in range(K):
            qk = qr[k * K + k]
            student += math.asin(qr[i * K + k] / math.sqrt((1.0 + qi) * (1.0 + qk)))
    cross = 0.0
    off = K * K
    for i in range(K):
        qi = qr[i * K + i]
        for n in range(M):
            tn = pa[PA_T * M + n, n]
            cross += math.asin(qr[off + i * M + n] / math.sqrt((1.0 + qi) * (1.0 + tn)))
    return (student - 2.0 * cross) / math.pi + eps_teacher


@njit
def error_derivatives(qr: np.ndarray, K: int, M: int, pa: np.ndarray, A: np.ndarray, H: np.ndarray) -> None:
    """A (K x K, symmetric) and H (K x M): dE = tr(A dQ) + sum H_in dR_in (model.generalisation_error_gradient)."""
    off = K * K
    for i in range(K):
        qi = qr[i * K + i]
        diag = 1.0 / ((1.0 + qi) * math.sqrt(1.0 + 2.0 * qi))
        for k in range(K):
            if k != i:
                qk = qr[k * K + k]
                qik = qr[i * K + k]
                dq = math.sqrt((1.0 + qi) * (1.0 + qk) - qik * qik)
                A[i, k] = 1.0 / (math.pi * dq)
                diag -= qik / ((1.0 + qi) * dq)
        for n in range(M):
            tn = pa[PA_T * M + n, n]
            rin = qr[off + i * M + n]
            dr = math.sqrt((1.0 + qi) * (1.0 + tn) - rin * rin)
            diag += rin / ((1.0 + qi) * dr)
            H[i, n] = -2.0 / (math.pi * dr)
        A[i, i] = diag / math.pi


@njit
def psd_cholesky(S: np.ndarray, L: np.ndarray) -> None:
    """Lower-triangular L with L L^T = S for a symmetric positive SEMI-definite S (K x K).

    A pivot below 1e-14 times the largest diagonal entry (rounding noise of a singular S) gives a zero
    column, so rank-deficient S (a student in the teacher's span, or m < K samples) is handled.
    """
    n = S.shape[0]
    scale = 0.0
    for i in range(n):
        scale = max(scale, abs(S[i, i]))
    tiny = 1e-14 * scale
    for j in range(n):
        for i in range(n):
            L[i, j] = 0.0
    for j in range(n):
        d = S[j, j]
        for p in range(j):
            d -= L[j, p] * L[j, p]
        if d <= tiny:
            continue  # column j stays zero
        ljj = math.sqrt(d)
        L[j, j] = ljj
        for i in range(j + 1, n):
            s = S[i, j]
            for p in range(j):
                s -= L[i, p] * L[j, p]
            L[i, j] = s / ljj


# -- a cursor over a stream of normals -------------------------------------------------------------


@inline_njit
def _next_normal(key0, key1, t, m, purpose, buf, cursor, block):
    """The next normal of the stream (t, m, purpose): position cursor[0], buffered a block at a time."""
    pos = cursor[0]
    b = rng.NORMALS_PER_BLOCK
    lane = pos % b
    if lane == 0:
        rng.fill_normals_at(key0, key1, t, m, purpose, pos, buf, block)
    cursor[0] = pos + 1
    return buf[lane]


@njit
def _gamma(a, key0, key1, t, m, purpose, buf, cursor, block):
    """Gamma(a, 1), a >= 1: Marsaglia and Tsang (2000) with the squeeze; uniform = Phi(normal)."""
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        xn = _next_normal(key0, key1, t, m, purpose, buf, cursor, block)
        v = 1.0 + c * xn
        zu = _next_normal(key0, key1, t, m, purpose, buf, cursor, block)
        if v <= 0.0:
            continue
        v = v * v * v
        u = 0.5 * math.erfc(-zu * INV_SQRT2)
        x2 = xn * xn
        if u < 1.0 - 0.0331 * x2 * x2:
            return d * v
        if u > 0.0 and math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            return d * v


@njit
def _chi_square(nu, key0, key1, t, m, purpose, buf, cursor, block):
    """chi^2 with nu >= 1 degrees of freedom, exact in law: z^2 (nu = 1) or 2 Gamma(nu / 2)."""
    if nu == 1:
        z = _next_normal(key0, key1, t, m, purpose, buf, cursor, block)
        return z * z
    return 2.0 * _gamma(0.5 * nu, key0, key1, t, m, purpose, buf, cursor, block)


@njit
def wishart_factor(
    n: int,
    key0: int,
    key1: int,
    t: int,
    m: int,
    purpose: int,
    buf: np.ndarray,
    cursor: np.ndarray,
    block: np.ndarray,
    B: np.ndarray,
) -> int:
    """Fill B (K x K, or its first n columns when n < K) with G such that G G^T ~ Wishart_K(n, I).

    Returns the number of columns used: K (Bartlett, n >= K: B lower triangular, B_jj^2 ~ chi^2_{n-j},
    B_jk ~ N(0, 1) for k < j; row by row, the below-diagonal normals first) or n (n < K: i.i.d. normals,
    row-major).
    """
    K = B.shape[0]
    if n >= K:
        for j in range(K):
            for k in range(K):
                B[j, k] = 0.0
            for k in range(j):
                B[j, k] = _next_normal(key0, key1, t, m, purpose, buf, cursor, block)
            B[j, j] = math.sqrt(_chi_square(n - j, key0, key1, t, m, purpose, buf, cursor, block))
        return K
    for j in range(K):
        for k in range(n):
            B[j, k] = _next_normal(key0, key1, t, m, purpose, buf, cursor, block)
    return n


# -- full mode --------------------------------------------------------------------------------------


@njit
def full_value(
    objective: int, u: np.ndarray, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, work: np.ndarray
) -> float:
    """eps_g of the student W = u.reshape(K, N): Q and R into ``work``, then the exact formula."""
    N, K, M = pi[PI_N], pi[PI_K], pi[PI_M]
    canonical = pi[PI_CANONICAL] != 0
    for i in range(K):
        for k in range(i, K):
            acc = 0.0
            for j in range(N):
                acc += u[i * N + j] * u[k * N + j]
            work[i * K + k] = acc / N
            work[k * K + i] = acc / N
    off = K * K
    inv_sqrt_n = 1.0 / math.sqrt(N)
    for i in range(K):
        for n in range(M):
            if canonical:
                work[off + i * M + n] = u[i * N + n] * inv_sqrt_n
            else:
                acc = 0.0
                for j in range(N):
                    acc += u[i * N + j] * pa[PA_V * M + n, j]
                work[off + i * M + n] = acc / N
    return eps_from_order_parameters(work, K, M, pa, pf[PF_EPS_TEACHER])


@njit
def full_block_size(objective: int, n: int, pi: np.ndarray) -> int:
    return n


@njit
def full_gradient(
    objective: int,
    optimizer: int,
    u: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    t: int,
    m: int,
    eta: float,
    z: np.ndarray,
    x: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """g = mean per-sample gradient of m fresh samples of step t (SGD), or grad eps_g (GD)."""
    N, K, M = pi[PI_N], pi[PI_K], pi[PI_M]
    canonical = pi[PI_CANONICAL] != 0
    d = K * N
    if optimizer == GD:
        qr = np.empty(K * K + K * M)
        full_value(objective, u, pf, pa, pi, qr)
        A = np.empty((K, K))
        H = np.empty((K, M))
        error_derivatives(qr, K, M, pa, A, H)
        for i in range(K):
            for j in range(N):
                acc = 0.0
                for k in range(K):
                    acc += 2.0 * A[i, k] * u[k * N + j]
                for n in range(M):
                    acc += H[i, n] * pa[PA_V * M + n, j]
                g[i * N + j] = acc / N
        return
    sigma = pf[PF_SIGMA]
    inv_sqrt_n = 1.0 / math.sqrt(N)
    stride = _stride(N + 1)
    for k in range(d):
        g[k] = 0.0
    xs = x[:N]
    for s in range(m):
        base = s * stride
        xi = 0.0
        if sigma != 0.0:  # the block holding normal base + N, into z
            head = N // rng.NORMALS_PER_BLOCK * rng.NORMALS_PER_BLOCK
            tail = z[: N - head + 1] if N - head + 1 <= d else np.empty(N - head + 1)
            rng.fill_normals_at(key0, key1, t, m, rng.DATA, base + head, tail, block)
            xi = tail[N - head]
        rng.fill_normals_at(key0, key1, t, m, rng.DATA, base, xs, block)
        y = 0.0
        for n in range(M):
            if canonical:
                rho = xs[n]
            else:
                acc = 0.0
                for j in range(N):
                    acc += pa[PA_V * M + n, j] * xs[j]
                rho = acc * inv_sqrt_n
            y += _g(rho)
        y += sigma * xi
        phi = 0.0
        for k in range(K):
            acc = 0.0
            for j in range(N):
                acc += u[k * N + j] * xs[j]
            lam = acc * inv_sqrt_n
            z[k] = lam
            phi += _g(lam)
        delta = y - phi
        for k in range(K):
            ck = delta * _g_prime(z[k]) * inv_sqrt_n
            for j in range(N):
                g[k * N + j] -= ck * xs[j]
    inv_m = 1.0 / m
    for k in range(d):
        g[k] *= inv_m


@njit
def full_random_start(
    objective: int,
    sphere: bool,
    bs: int,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    m: int,
    start: np.ndarray,
    noise: np.ndarray,
    block: np.ndarray,
) -> None:
    """W ~ N(0, sigma0^2 I) row by row: sigma0 times START normals 0 .. K N - 1 of step 0."""
    rng.fill_normals_at(key0, key1, 0, m, rng.START, 0, start, block)
    s0 = pf[PF_SIGMA0]
    for k in range(start.shape[0]):
        start[k] *= s0


# -- reduced mode -----------------------------------------------------------------------------------


@njit
def reduced_value(
    objective: int, u: np.ndarray, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, work: np.ndarray
) -> float:
    """eps_g of the state u = concat(Q.ravel(), R.ravel())."""
    return eps_from_order_parameters(u, pi[PI_K], pi[PI_M], pa, pf[PF_EPS_TEACHER])


@njit
def reduced_block_size(objective: int, n: int, pi: np.ndarray) -> int:
    return n


@njit
def _reduced_gd(u, pa, pi, eta, g):
    """g = -(X' - X) / eta for the (Q, R) image of one exact gradient step on W (see module docstring)."""
    N, K, M = pi[PI_N], pi[PI_K], pi[PI_M]
    off = K * K
    A = np.empty((K, K))
    H = np.empty((K, M))
    error_derivatives(u, K, M, pa, A, H)
    a = eta / N
    # B = I - 2 a A;  HT = H T;  BR = B R
    B = np.empty((K, K))
    for i in range(K):
        for k in range(K):
            B[i, k] = (1.0 if i == k else 0.0) - 2.0 * a * A[i, k]
    HT = np.empty((K, M))
    BR = np.empty((K, M))
    for i in range(K):
        for n in range(M):
            acc = 0.0
            for p in range(M):
                acc += H[i, p] * pa[PA_T * M + p, n]
            HT[i, n] = acc
            acc = 0.0
            for k in range(K):
                acc += B[i, k] * u[off + k * M + n]
            BR[i, n] = acc
    # R' - R = (B - I) R - a H T = -2 a A R - a H T  ->  g_R = (2 A R + H T) / N
    for i in range(K):
        for n in range(M):
            acc = 0.0
            for k in range(K):
                acc += 2.0 * A[i, k] * u[off + k * M + n]
            g[off + i * M + n] = (acc + HT[i, n]) / N
    # Q' - Q = B Q B^T - Q - a (BR H^T + H BR^T) + a^2 H T H^T
    for i in range(K):
        for k in range(i, K):
            bqb = 0.0
            for p in range(K):
                row = 0.0
                for r in range(K):
                    row += B[i, p] * u[p * K + r] * B[k, r]
                bqb += row
            cross = 0.0
            hth = 0.0
            for n in range(M):
                cross += BR[i, n] * H[k, n] + H[i, n] * BR[k, n]
                hth += HT[i, n] * H[k, n]
            change = (bqb - u[i * K + k]) - a * cross + a * a * hth
            g[i * K + k] = -change / eta
            g[k * K + i] = g[i * K + k]


@njit
def reduced_gradient(
    objective: int,
    optimizer: int,
    u: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    t: int,
    m: int,
    eta: float,
    z: np.ndarray,
    x: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """g = -(X_{t+1} - X_t) / eta for one step of the exact (Q, R) chain (SGD) or of GD."""
    N, K, M = pi[PI_N], pi[PI_K], pi[PI_M]
    canonical = pi[PI_CANONICAL] != 0
    if optimizer == GD:
        _reduced_gd(u, pa, pi, eta, g)
        return
    off = K * K
    P = M + K  # fields: teacher first, then student
    sigma = pf[PF_SIGMA]
    # workspace: L21 (K M), L22 (K K), S (K K), a (K P), gram (K K), zs (P + 1), c (K), B (K K), D (K K), buf
    nb = rng.NORMALS_PER_BLOCK
    ws = np.empty(K * M + 6 * K * K + K * P + P + 1 + K + nb)
    L21 = ws[0 : K * M].reshape(K, M)
    p0 = K * M
    L22 = ws[p0 : p0 + K * K].reshape(K, K)
    p0 += K * K
    S = ws[p0 : p0 + K * K].reshape(K, K)
    p0 += K * K
    acc_a = ws[p0 : p0 + K * P].reshape(K, P)
    p0 += K * P
    gram = ws[p0 : p0 + K * K].reshape(K, K)
    p0 += K * K
    zs = ws[p0 : p0 + P + 1]
    p0 += P + 1
    cvec = ws[p0 : p0 + K]
    p0 += K
    Bw = ws[p0 : p0 + K * K].reshape(K, K)
    p0 += K * K
    buf = ws[p0 : p0 + nb]
    p0 += nb
    D = ws[p0 : p0 + K * K].reshape(K, K)
    # only the M + K fields' normals when there is no output noise (the noise's normal, the next position
    # of the record, is then never read, and its generator block is not drawn when M + K fills whole blocks)
    zfill = zs if sigma != 0.0 else zs[:P]
    # L21 = R L_T^{-T}: solve L_T L21[i]^T = R[i]^T by forward substitution
    for i in range(K):
        for n in range(M):
            v = u[off + i * M + n]
            if not canonical:
                for p in range(n):
                    v -= pa[PA_CHOL_T * M + n, p] * L21[i, p]
                v /= pa[PA_CHOL_T * M + n, n]
            L21[i, n] = v
    for i in range(K):
        for k in range(K):
            v = u[i * K + k]
            for n in range(M):
                v -= L21[i, n] * L21[k, n]
            S[i, k] = v
    psd_cholesky(S, L22)
    for i in range(K):
        for p in range(P):
            acc_a[i, p] = 0.0
        for k in range(K):
            gram[i, k] = 0.0
    stride = _stride(P + 1)
    for s in range(m):
        rng.fill_normals_at(key0, key1, t, m, rng.DATA, s * stride, zfill, block)
        y = 0.0
        for n in range(M):
            if canonical:
                rho = zs[n]
            else:
                rho = 0.0
                for p in range(n + 1):
                    rho += pa[PA_CHOL_T * M + n, p] * zs[p]
            y += _g(rho)
        if sigma != 0.0:
            y += sigma * zs[P]
        phi = 0.0
        for i in range(K):
            lam = 0.0
            for n in range(M):
                lam += L21[i, n] * zs[n]
            for k in range(i + 1):
                lam += L22[i, k] * zs[M + k]
            cvec[i] = lam
            phi += _g(lam)
        delta = y - phi
        for i in range(K):
            cvec[i] = delta * _g_prime(cvec[i])
        for i in range(K):
            ci = cvec[i]
            for p in range(P):
                acc_a[i, p] += ci * zs[p]
            for k in range(i + 1):
                gram[i, k] += ci * cvec[k]
    for i in range(K):
        for k in range(i):
            gram[k, i] = gram[i, k]
    # Wc = S_c W S_c^T with S_c S_c^T = gram; D = S_c Bw, Wc = D D^T
    psd_cholesky(gram, S)  # S now holds S_c
    cursor = np.empty(1, dtype=np.int64)
    cursor[0] = m * stride
    ncol = wishart_factor(N - K - M, key0, key1, t, m, rng.DATA, buf, cursor, block, Bw)
    for i in range(K):
        for j in range(ncol):
            acc = 0.0
            for p in range(i + 1):
                acc += S[i, p] * Bw[p, j]
            D[i, j] = acc
    # Lambda_ik = sum_s c_is lambda_ks = (L a_i)_{lambda_k};  Rho_in = (L a_i)_{rho_n}
    c1 = 1.0 / (N * m)  # per unit eta
    c2 = eta / (float(N) * N * m * m)
    for i in range(K):
        for n in range(M):
            if canonical:
                rho = acc_a[i, n]
            else:
                rho = 0.0
                for p in range(n + 1):
                    rho += pa[PA_CHOL_T * M + n, p] * acc_a[i, p]
            g[off + i * M + n] = -c1 * rho
    for i in range(K):
        for k in range(i, K):
            lam_ik = 0.0  # (L a_i)_{lambda_k}
            lam_ki = 0.0
            for n in range(M):
                lam_ik += L21[k, n] * acc_a[i, n]
                lam_ki += L21[i, n] * acc_a[k, n]
            for p in range(K):
                lam_ik += L22[k, p] * acc_a[i, M + p]
                lam_ki += L22[i, p] * acc_a[k, M + p]
            aa = 0.0
            for p in range(P):
                aa += acc_a[i, p] * acc_a[k, p]
            wc = 0.0
            for j in range(ncol):
                wc += D[i, j] * D[k, j]
            v = -(c1 * (lam_ik + lam_ki) + c2 * (aa + wc))
            g[i * K + k] = v
            g[k * K + i] = v


@njit
def reduced_random_start(
    objective: int,
    sphere: bool,
    bs: int,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    m: int,
    start: np.ndarray,
    noise: np.ndarray,
    block: np.ndarray,
) -> None:
    """(Q, R) of W ~ N(0, sigma0^2 I_N) rows, exactly in law (module docstring), from the START stream."""
    N, K, M = pi[PI_N], pi[PI_K], pi[PI_M]
    off = K * K
    s0 = pf[PF_SIGMA0]
    nb = rng.NORMALS_PER_BLOCK
    G1 = np.empty(K * M)
    rng.fill_normals_at(key0, key1, 0, m, rng.START, 0, G1, block)
    # R = sigma0 G1 L_T^T / sqrt(N)
    for i in range(K):
        for n in range(M):
            acc = 0.0
            for p in range(n + 1):
                acc += G1[i * M + p] * pa[PA_CHOL_T * M + n, p]
            start[off + i * M + n] = s0 * acc / math.sqrt(N)
    Bw = np.empty((K, K))
    buf = np.empty(nb)
    cursor = np.empty(1, dtype=np.int64)
    cursor[0] = _stride(K * M)
    ncol = wishart_factor(N - M, key0, key1, 0, m, rng.START, buf, cursor, block, Bw)
    for i in range(K):
        for k in range(i, K):
            acc = 0.0
            for n in range(M):
                acc += G1[i * M + n] * G1[k * M + n]
            for j in range(ncol):
                acc += Bw[i, j] * Bw[k, j]
            v = s0 * s0 * acc / N
            start[i * K + k] = v
            start[k * K + i] = v


HOOKS = {
    FULL: (full_value, full_gradient, full_block_size, full_random_start),
    REDUCED: (reduced_value, reduced_gradient, reduced_block_size, reduced_random_start),
}
"""(value, gradient, block_size, random_start) of each mode, for the package's kernel."""


# -- one step of many trials from one state: the noise moments of the ODE theory (ode.predict_exit) ---------


@njit
def one_step(
    mode: int,
    seed: int,
    trials: int,
    t: int,
    u0: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    optimizer: int,
    m: int,
    eta: float,
    out: np.ndarray,
) -> None:
    """out[r] = the state after one step t from u0 with keys (seed, r): for one-step moment tests."""
    d = u0.shape[0]
    g = np.empty(d)
    z = np.empty(d)
    x = np.empty(d)
    block = np.empty(4, dtype=np.uint64)
    for r in range(trials):
        key0 = np.uint64(seed)
        key1 = np.uint64(r)
        if mode == FULL:
            full_gradient(0, optimizer, u0, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)
        else:
            reduced_gradient(0, optimizer, u0, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)
        for k in range(d):
            out[r, k] = u0[k] - eta * g[k]
