"""ge2015: k-component orthogonal tensor decomposition (Ge, Huang, Jin, Yuan, COLT 2015; SPEC 2.2).

Variables U = [u_1 .. u_k] (k <= d), each column on the unit sphere, and

    f(U) = sum_{i != j} T(u_i, u_i, u_j, u_j) = sum_{i != j} sum_l (a_l.u_i)^2 (a_l.u_j)^2 >= 0.

For k = d the global minima (f = 0) are the signed permutations of A and
every local minimum is global.  From the ICA identity
E[(u.x)^2 (v.x)^2] = ||u||^2 ||v||^2 + 2 (u.v)^2 + kappa sum_l (a_l.u)^2 (a_l.v)^2,
with c = U^T x, n_i = ||u_i||^2, N = sum_i n_i and S = sum_i c_i^2, the
unbiased per-sample gradient is

    grad_{u_i} l(U; x) = (4/kappa) [c_i (S - c_i^2) x - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j].

The canonical "collision" saddle u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i
(i >= 3) has f = 1 and, for d = k = 5, a Riemannian Hessian with one
eigenvalue -4, six +2 and thirteen +4 (an index-1 strict saddle).  Shared
mini-batches never leave it: u_1 = u_2 is invariant (SPEC 2.2, the symmetry trap).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from saddle import rng
from saddle._numba import inline_njit, njit
from saddle.manifolds import ProductSpheres
from saddle.objectives.base import EXACT_GRADIENT, KernelHooks, Objective, ParamLayout, register
from saddle.objectives.spike import DIST, ROTATION_SEED, data_distribution, rotate_sample, rotation, tile_samples
from saddle.options import ConfigError, Option

if TYPE_CHECKING:
    from saddle.options import Settings

SHARED, PER_COLUMN = 0, 1
"""Sampling modes: one mini-batch for all columns, or an independent one per column."""
SAMPLINGS = {"shared": SHARED, "per-column": PER_COLUMN}


@register
@dataclass(frozen=True, init=False)
class GeTensorDecomposition(Objective):
    """f(U) = sum_{i != j} sum_l (a_l.u_i)^2 (a_l.u_j)^2 on the product of k spheres in R^d.

    Parameters
    ----------
    d, k : int
        Dimension and number of components (2 <= k <= d).
    dist : str
        Data distribution of the ICA model (uniform, rademacher or laplace).
    A : ndarray (d, d), optional
        Orthogonal components; the identity when omitted.
    sampling : str
        'shared' (the default SGD: one mini-batch of m samples for all columns)
        or 'per-column' (an independent mini-batch for each column: k m samples
        per step, still unbiased, and it breaks the u_1 = u_2 symmetry).
    """

    d: int
    k: int
    dist: str
    A: np.ndarray = field(repr=False, compare=False)
    sampling: str

    name = "ge2015"
    rank = 1
    title = (
        "ge2015 objective (SPEC 2.2, Ge et al. 2015): k components on a product of spheres, from the collision saddle"
    )
    options = (
        Option("k", "number of components", "int", default=lambda config: config.d, low=2, default_text="d"),
        Option(
            "sampling",
            "shared: one mini-batch for all columns; per-column: k m samples a step",
            "choice",
            default="shared",
            choices=tuple(SAMPLINGS),
        ),
        DIST,
        ROTATION_SEED,
    )
    min_d = 2
    random_start = "uniform on each sphere"
    gpu_code = 2

    @classmethod
    def from_config(cls, config: Settings) -> GeTensorDecomposition:
        return cls(config.d, config.k, config.dist, rotation(config.d, config.rotation_seed), config.sampling)

    @classmethod
    def check_config(cls, config: Settings) -> None:
        if config.k > config.d:
            raise ConfigError(f"k must be <= d, got k = {config.k}, d = {config.d}")

    def start_point(self, config: Settings) -> np.ndarray:
        """The collision saddle u_1 = u_2 = (a_1 + a_2)/sqrt 2, flat."""
        return self.flatten(self.collision_saddle())

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """0: f is a sum of squares, zero at the signed permutations of A (SPEC 2.2)."""
        return 0.0

    @classmethod
    def max_drop(cls, config: Settings) -> float:
        """f = 1 at the collision saddle."""
        return 1.0

    @classmethod
    def describe(cls, config: Settings) -> str:
        rotated = f", rotated A (seed {config.rotation_seed})" if config.rotation_seed is not None else ""
        return f"ge2015 d={config.d}, k={config.k}, {config.dist}, {config.sampling} samples, collision start{rotated}"

    trap_exits = (
        "--sampling per-column (independent samples per column), --optimizer noisy-sgd (isotropic "
        "noise) or --start-perturbation R (a perturbed start)"
    )

    @classmethod
    def traps(cls, config: Settings) -> list[str]:
        """Shared samples keep u_1 = u_2 for every optimiser without noise of its own (sgd, momentum,
        nesterov, gd, cnc-pgd: the symmetry trap of docs/objectives.md, ge2015)."""
        if config.sampling == "shared" and not config.optimizer_class.own_noise:
            return [
                f"the collision saddle is a fixed point of shared-sample {config.optimizer}: u_1 = u_2 stays "
                "exactly invariant, so no trial can escape at any m"
            ]
        return []

    @classmethod
    def samples_per_step(cls, config: Settings, m: int) -> int:
        """m, or k m with per-column sampling."""
        return config.k * m if config.sampling == "per-column" else m

    @classmethod
    def words_per_step(cls, config: Settings, m: int) -> int:
        """One word per coordinate of each sample; k m samples a step with per-column sampling."""
        return max(m, 2) * config.d * config.k

    @classmethod
    def memory_bytes(cls, config: Settings) -> int:
        return 4 * 8 * config.d**2 * (1 + config.k)

    def __init__(
        self, d: int, k: int, dist: str = "uniform", A: npt.ArrayLike | None = None, sampling: str = "shared"
    ) -> None:
        # not the dataclass's __init__: A may be None here (the identity), and is always an array once stored
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "sampling", sampling)
        if int(self.d) != self.d or self.d < 2:
            raise ValueError(f"d must be an integer >= 2, got {self.d!r}")
        if int(self.k) != self.k or not 2 <= self.k <= self.d:
            raise ValueError(f"k must be an integer with 2 <= k <= d = {self.d}, got {self.k!r}")
        data_distribution(self.dist)
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {self.sampling!r}; choose one of {', '.join(SAMPLINGS)}")
        frame = np.eye(self.d) if A is None else np.asarray(A, dtype=float)
        if frame.shape != (self.d, self.d) or not np.allclose(frame.T @ frame, np.eye(self.d), atol=1e-10):
            raise ValueError("A must be an orthogonal d x d matrix")
        object.__setattr__(self, "A", frame)

    @property
    def manifold(self) -> ProductSpheres:
        return ProductSpheres(self.d, self.k)

    @property
    def kappa(self) -> float:
        return data_distribution(self.dist)[1]

    # -- the population objective (U is d x k) ----------------------------------------
    def f(self, U: npt.ArrayLike) -> float:
        """f(U); U is d x k, or flat column by column (as the kernels hold it)."""
        U = np.asarray(U)
        if U.ndim == 1:
            U = self.unflatten(U)
        C = self.A.T @ U  # C[l, i] = a_l . u_i
        C2 = C**2
        return float(np.sum(np.sum(C2, axis=1) ** 2 - np.sum(C2**2, axis=1)))

    def egrad(self, U: np.ndarray) -> np.ndarray:
        """d f / d u_i = 4 sum_l c_li (S_l - c_li^2) a_l, with S_l = sum_j c_lj^2."""
        C = self.A.T @ U
        S = np.sum(C**2, axis=1, keepdims=True)
        return 4.0 * self.A @ (C * (S - C**2))

    def ehess(self, U: np.ndarray) -> np.ndarray:
        """Euclidean Hessian on U flattened column by column ((d k) x (d k)).

        In the coordinates c_li: d^2 f / dc_li dc_lj = 4 S_l delta_ij + 8 c_li c_lj - 12 c_li^2 delta_ij,
        and zero between different l.
        """
        d, k = self.d, self.k
        C = self.A.T @ U
        S = np.sum(C**2, axis=1)
        H = np.zeros((k, d, k, d))
        for l in range(d):
            M = 4.0 * S[l] * np.eye(k) + 8.0 * np.outer(C[l], C[l]) - 12.0 * np.diag(C[l] ** 2)
            aa = np.outer(self.A[:, l], self.A[:, l])
            H += M[:, None, :, None] * aa[None, :, None, :]
        return H.reshape(k * d, k * d)

    def rgrad(self, U: np.ndarray) -> np.ndarray:
        return self.manifold.riemannian_gradient(U, self.egrad(U))

    def rhess(self, U: np.ndarray) -> np.ndarray:
        return self.manifold.riemannian_hessian(U, self.egrad(U), self.ehess(U))

    # -- data and per-sample quantities ------------------------------------------------
    def samples(self, z: npt.ArrayLike) -> np.ndarray:
        return np.asarray(z) @ self.A.T

    def per_sample_grad(self, U: np.ndarray, x: npt.ArrayLike) -> np.ndarray:
        """The SPEC 2.2 per-sample gradient for each row of x: an n x d x k array."""
        x = np.atleast_2d(x)
        c = x @ U  # n x k
        S = np.sum(c**2, axis=1, keepdims=True)
        n = np.sum(U**2, axis=0)  # k
        G = U.T @ U  # Gram matrix
        cross = U @ (G - np.diag(np.diag(G)))  # column i: sum_{j != i} (u_i.u_j) u_j
        data = (c * (S - c**2))[:, None, :] * x[:, :, None]
        return (4.0 / self.kappa) * (data - ((n.sum() - n) * U)[None] - 2.0 * cross[None])

    # -- start points and success metrics ----------------------------------------------
    def collision_saddle(self) -> np.ndarray:
        """u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i for i >= 3 (SPEC 2.2)."""
        U = self.A[:, : self.k].copy()
        U[:, 0] = U[:, 1] = (self.A[:, 0] + self.A[:, 1]) / np.sqrt(2.0)
        return U

    def recovery_error(self, U: np.ndarray) -> float:
        """min over signed permutations pi of max_i ||u_i -+ a_pi(i)|| (a bottleneck assignment).

        Exact: when the columns' nearest components are distinct, that assignment is optimal (no
        assignment can beat every column's own minimum); otherwise, for k <= 8, by enumeration.
        """
        C = self.A.T @ U  # C[l, i] = a_l . u_i; ||u_i - s a_l||^2 = 2 - 2 s c_li for unit vectors
        dist = np.sqrt(np.maximum(2.0 - 2.0 * np.abs(C), 0.0))
        nearest = np.argmin(dist, axis=0)
        if len(set(nearest.tolist())) == self.k:
            return float(np.max(dist[nearest, np.arange(self.k)]))
        if self.k > 8:
            raise ValueError(
                "columns share a nearest component and k > 8: the exact bottleneck assignment "
                "would enumerate too many permutations"
            )
        best = np.inf
        for perm in itertools.permutations(range(self.d), self.k):
            best = min(best, max(dist[perm[i], i] for i in range(self.k)))
        return float(best)

    # -- packing for the kernels (U flattened column by column) --------------------------
    def flatten(self, U: npt.ArrayLike) -> np.ndarray:
        return np.asarray(U, dtype=float).ravel(order="F")

    def unflatten(self, u: npt.ArrayLike) -> np.ndarray:
        return np.asarray(u).reshape(self.k, self.d).T

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) for the kernel hooks: kappa; A; distribution code, whether A is not I, k, sampling."""
        code, kappa = data_distribution(self.dist)
        rotated = 0 if np.array_equal(self.A, np.eye(self.d)) else 1
        return LAYOUT.pack(self.A, kappa=kappa, dist=code, rotated=rotated, k=self.k, sampling=SAMPLINGS[self.sampling])


# -- what the Numba kernels call: U is flat, column i at u[i*d:(i+1)*d] ----------------


@inline_njit
def component(u: np.ndarray, A: np.ndarray, rotated: bool, d: int, i: int, l: int) -> float:
    """c_li = a_l . u_i for the flat state u (column i at u[i*d:(i+1)*d])."""
    if not rotated:
        return u[i * d + l]
    c = 0.0
    for r in range(d):
        c += A[r, l] * u[i * d + r]
    return c


@njit
def objective_value(u: np.ndarray, A: np.ndarray, rotated: bool, k: int) -> float:
    """f = sum_l [(sum_i c_li^2)^2 - sum_i c_li^4], c_li = a_l.u_i."""
    d = u.shape[0] // k
    f = 0.0
    for l in range(d):
        S = 0.0
        Q = 0.0
        for i in range(k):
            c = component(u, A, rotated, d, i, l)
            c2 = c * c
            S += c2
            Q += c2 * c2
        f += S * S - Q
    return f


@njit
def exact_gradient(u: np.ndarray, A: np.ndarray, rotated: bool, k: int, work: np.ndarray, g: np.ndarray) -> None:
    """g_i = 4 sum_l c_li (S_l - c_li^2) a_l; ``work`` has length >= d k."""
    d = u.shape[0] // k
    for l in range(d):  # work[i*d + l] = c_li
        for i in range(k):
            work[i * d + l] = component(u, A, rotated, d, i, l)
    for l in range(d):
        S = 0.0
        for i in range(k):
            S += work[i * d + l] * work[i * d + l]
        for i in range(k):
            c = work[i * d + l]
            work[i * d + l] = 4.0 * c * (S - c * c)
    for i in range(k):
        for r in range(d):
            if rotated:
                acc = 0.0
                for l in range(d):
                    acc += A[r, l] * work[i * d + l]
                g[i * d + r] = acc
            else:
                g[i * d + r] = work[i * d + r]


@inline_njit
def scratch_words(objective: int, n: int, pi: np.ndarray) -> int:
    """The scratch (``block``) ge2015's gradient needs: one tile of samples' words (spike.tile_samples),
    U and the data term transposed (n each), the Gram matrix (k x k), c and w (k each)."""
    k = pi[_K]
    return tile_samples(n // k) * (n // k) + 2 * n + k * k + 2 * k


@njit
def minibatch_gradient(
    u: np.ndarray,
    A: np.ndarray,
    rotated: bool,
    kappa: float,
    dist: int,
    k: int,
    sampling: int,
    key0: int,
    key1: int,
    t: int,
    m: int,
    z: np.ndarray,
    x: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """Mean per-sample gradient (docs/objectives.md, ge2015) of a mini-batch of step t, for every column:

        g_i = (4/kappa) [ (1/m) sum_s c_i (S - c_i^2) x_s - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j ],

    c = U^T x_s, S = sum_i c_i^2, n_i = ||u_i||^2, N = sum_i n_i.  shared: samples 0..m-1 of the step's
    DATA stream serve every column; per-column: column i uses samples i m .. (i + 1) m - 1 (sample q,
    coordinate r is 32-bit word q d + r).

    The order of every sum: each c_i over coordinates in order, S over columns in order, the data term
    of each entry over samples in order, the Gram entries (u_i.u_j, the same number for (i, j) and
    (j, i)) over coordinates in order, the cross term over j in order.  The samples come in tiles
    (``rng.stream_word_doubles``, ``rng.data_variates_in_place``), and U and the data term are held
    transposed (column index fastest) so that the loops over columns run in vector instructions; none
    of this changes a sum's order.  ``block`` (uint64) holds the scratch, at least
    ``scratch_words(0, n, pi)`` words; ``z`` (length >= d) is scratch for a rotated frame; ``x`` is unused.
    """
    n = u.shape[0]
    d = n // k
    tile = tile_samples(d)
    base = tile * d
    if block.shape[0] < base + 2 * n + k * k + 2 * k:
        raise ValueError("ge2015's gradient needs scratch_words(n) words of scratch in block")
    buf = block.view(np.float64)  # the tile's variates, sample by sample, in place of their words
    Ut = buf[base : base + n]  # Ut[q k + i] = u_i[q]
    Gt = buf[base + n : base + 2 * n]  # Gt[q k + i]: the data term of u_i[q], summed over samples
    gram = buf[base + 2 * n : base + 2 * n + k * k]
    c = buf[base + 2 * n + k * k : base + 2 * n + k * k + k]
    w = buf[base + 2 * n + k * k + k : base + 2 * n + k * k + 2 * k]
    for i in range(k):
        for q in range(d):
            Ut[q * k + i] = u[i * d + q]
            Gt[q * k + i] = 0.0
    per_column = sampling == PER_COLUMN
    total = k * m if per_column else m  # samples drawn this step
    for i0 in range(0, total, tile):
        nw = min(tile, total - i0) * d
        rng.stream_word_doubles(key0, key1, t, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, block)
        rng.data_variates_in_place(buf, nw, dist)
        for off in range(0, nw, d):
            if rotated:  # x = A z
                rotate_sample(A, buf, off, z[:d])
            for i in range(k):
                c[i] = 0.0
            for q in range(d):  # c_i = u_i . x, coordinate by coordinate, all columns at once
                xq = buf[off + q]
                for i in range(k):
                    c[i] += Ut[q * k + i] * xq
            S = 0.0
            for i in range(k):
                S += c[i] * c[i]
            if per_column:  # sample number i0 + off / d belongs to column (i0 + off / d) // m alone
                i = (i0 + off // d) // m
                wi = c[i] * (S - c[i] * c[i])
                for q in range(d):
                    Gt[q * k + i] += wi * buf[off + q]
            else:
                for i in range(k):
                    w[i] = c[i] * (S - c[i] * c[i])
                for q in range(d):
                    xq = buf[off + q]
                    for i in range(k):
                        Gt[q * k + i] += w[i] * xq
    # g_i = (4/kappa) [G_i / m - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j]
    for i in range(k):
        for j in range(i, k):
            dot = 0.0
            for q in range(d):
                dot += u[i * d + q] * u[j * d + q]
            gram[i * k + j] = dot
            gram[j * k + i] = dot
    N = 0.0
    for q in range(n):
        N += u[q] * u[q]
    scale = 4.0 / kappa
    for i in range(k):
        rest = N - gram[i * k + i]
        for q in range(d):
            g[i * d + q] = Gt[q * k + i] / m - rest * u[i * d + q]
        for j in range(k):
            if j == i:
                continue
            two_dot = 2.0 * gram[i * k + j]
            for q in range(d):
                g[i * d + q] -= two_dot * u[j * d + q]
        for q in range(d):
            g[i * d + q] *= scale


# -- the kernel hooks (saddle.objectives.base.KernelHooks) ----------------------------------------------

LAYOUT = ParamLayout(floats=("kappa",), ints=("dist", "rotated", "k", "sampling"))
_KAPPA = LAYOUT.float_index("kappa")
_DIST = LAYOUT.int_index("dist")
_ROTATED = LAYOUT.int_index("rotated")
_K = LAYOUT.int_index("k")
_SAMPLING = LAYOUT.int_index("sampling")


@inline_njit
def kernel_block(objective: int, n: int, pi: np.ndarray) -> int:
    """Each column u_i is a sphere block of length d = n / k."""
    return n // pi[_K]


@inline_njit
def kernel_value(
    objective: int, u: np.ndarray, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, work: np.ndarray
) -> float:
    return objective_value(u, pa, pi[_ROTATED] != 0, pi[_K])


@inline_njit
def kernel_gradient(
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
    if optimizer == EXACT_GRADIENT:
        exact_gradient(u, pa, pi[_ROTATED] != 0, pi[_K], z, g)
    else:
        minibatch_gradient(
            u, pa, pi[_ROTATED] != 0, pf[_KAPPA], pi[_DIST], pi[_K], pi[_SAMPLING], key0, key1, t, m, z, x, block, g
        )


GeTensorDecomposition.kernel = KernelHooks(
    kernel_value, kernel_gradient, kernel_block, name="ge2015", scratch_words=scratch_words
)
