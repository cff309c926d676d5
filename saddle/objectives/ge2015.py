"""ge2015: k-component orthogonal tensor decomposition (Ge, Huang, Jin, Yuan, COLT 2015).

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
mini-batches never leave it: u_1 = u_2 is invariant (the symmetry trap: docs/objectives.md, ge2015).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from saddle import rng
from saddle._numba import inline_njit, njit
from saddle.manifolds import ProductSpheres
from saddle.objectives.base import EXACT_GRADIENT, KernelHooks, Objective, ParamLayout, register
from saddle.objectives.ge2015_moments import (
    covariance_block,
    data_covariance,
    data_tensors,
    frame_covariance,
    lower_matvec,
    psd_cholesky,
)
from saddle.objectives.lane_rows import lane_dots, lane_mean_minus, lane_outer, lane_scale, lane_weights
from saddle.objectives.spike import (
    DIST,
    ROTATION_SEED,
    data_distribution,
    lane_tile_samples,
    rotate_sample,
    rotation,
    tile_samples,
)
from saddle.objectives.spike_moments import latent_cumulants
from saddle.options import ConfigError, Option

if TYPE_CHECKING:
    from saddle.options import Settings

GAUSSIAN_SCRATCH_LIMIT = 256 * 2**20
"""The most scratch (bytes per trial) the Gaussian batch-noise mode may take; larger d, k are refused."""

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
    title = "ge2015 objective (Ge et al. 2015): k components on a product of spheres, from the collision saddle"
    options = (
        Option("k", "number of components", "int", default=lambda config: config.d, low=2, default_text="d"),
        Option(
            "sampling",
            "shared: one mini-batch for all columns; per-column: k m samples a step",
            "choice",
            default="per-column",
            choices=tuple(SAMPLINGS),
        ),
        DIST,
        ROTATION_SEED,
    )
    min_d = 2
    random_start = "uniform on each sphere"
    gpu_code = 2
    # Its own scale (docs/objectives.md, ge2015): d = k = 5, independent samples per column (shared samples
    # keep the collision saddle's symmetry exactly: no trial escapes), and a step small enough for its
    # large per-sample noise (tr Sigma is in the thousands); 200 trials keep the default run near 20 s.
    generic_defaults = {"d": 5, "eta": 0.005, "trials": 200}

    @classmethod
    def from_config(cls, config: Settings) -> GeTensorDecomposition:
        return cls(config.d, config.k, config.dist, rotation(config.d, config.rotation_seed), config.sampling)

    @classmethod
    def check_config(cls, config: Settings) -> None:
        if config.k > config.d:
            raise ConfigError(f"k must be <= d, got k = {config.k}, d = {config.d}")
        if getattr(config, "batch_noise", "exact") == "gaussian":
            d, k = config.d, config.k
            words = gaussian_words(d, k, config.sampling == "shared")
            if 8 * words > GAUSSIAN_SCRATCH_LIMIT:
                raise ConfigError(
                    f"batch_noise 'gaussian' for ge2015 d={d}, k={k} with {config.sampling} samples needs "
                    f"{8 * words / 2**20:.0f} MiB of scratch per trial (k d^3 cubic-tensor entries"
                    f"{' and the (d k)^2 covariance' if config.sampling == 'shared' else ''}), more than "
                    f"{GAUSSIAN_SCRATCH_LIMIT // 2**20} MiB; use --batch-noise exact or smaller d, k"
                )

    def start_point(self, config: Settings) -> np.ndarray:
        """The collision saddle u_1 = u_2 = (a_1 + a_2)/sqrt 2, flat."""
        return self.flatten(self.collision_saddle())

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """0: f is a sum of squares, zero at the signed permutations of A (docs/objectives.md, ge2015)."""
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
        """The per-sample gradient (docs/objectives.md, ge2015) for each row of x: an n x d x k array."""
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
        """u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i for i >= 3 (the collision saddle: docs/objectives.md, ge2015)."""
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
        """(pf, pa, pi) for the kernel hooks: the data's cumulants kappa, k6, k8; A; distribution code, whether
        A is not I, k, sampling."""
        code, kappa = data_distribution(self.dist)
        _, k6, k8 = latent_cumulants(self.dist)
        rotated = 0 if np.array_equal(self.A, np.eye(self.d)) else 1
        return LAYOUT.pack(
            self.A, kappa=kappa, k6=k6, k8=k8, dist=code, rotated=rotated, k=self.k, sampling=SAMPLINGS[self.sampling]
        )

    covariance_source = "exact ge2015 moments"

    def gradient_noise_covariance(self, U: npt.ArrayLike) -> np.ndarray:
        """Sigma(U): the covariance of the per-sample gradient at U, (d k) x (d k) for U flattened column by
        column (docs/escape.md, Gaussian batch noise); with per-column sampling the columns' samples are
        independent and the blocks between columns are 0.  The mini-batch mean has Sigma(U) / m."""
        U = np.asarray(U, dtype=float)
        if U.ndim == 1:
            U = self.unflatten(U)
        cumulants = latent_cumulants(self.dist)
        S = frame_covariance((self.A.T @ U).T, cumulants, self.sampling == "shared")
        frame = np.kron(np.eye(self.k), self.A)
        return (16.0 / cumulants[0] ** 2) * (frame @ S @ frame.T)


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

LAYOUT = ParamLayout(floats=("kappa", "k6", "k8"), ints=("dist", "rotated", "k", "sampling"))
_KAPPA = LAYOUT.float_index("kappa")
_K6 = LAYOUT.float_index("k6")
_K8 = LAYOUT.float_index("k8")
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


# -- the Gaussian batch-noise mode (docs/escape.md, Gaussian batch noise) -----------------------------


@njit
def gaussian_words(d: int, k: int, shared: bool) -> int:
    """The scratch gaussian_minibatch_gradient needs, in 64-bit words: one Philox block, then as doubles
    W (n = d k), K (d^2), the cubic tensors (k d^3), tr, d3 and mu (n each), L xi (n) and the covariance
    (n^2 with shared samples, one d x d block at a time with per-column samples)."""
    n = d * k
    return 4 + n + d * d + k * d * d * d + 3 * n + n + (n * n if shared else d * d)


@inline_njit
def gaussian_scratch_words(objective: int, n: int, pi: np.ndarray) -> int:
    """:func:`gaussian_words` for a state of length n (the Gaussian kernel's ``scratch_words`` hook)."""
    k = pi[_K]
    return gaussian_words(n // k, k, pi[_SAMPLING] == SHARED)


@inline_njit
def same_noise_for_equal_columns(u: np.ndarray, k: int, y: np.ndarray) -> None:
    """With shared samples, columns that are equal (bit for bit) have the same per-sample gradient, so their
    noise is the same draw: copy the first such column's noise into the others.  The factor gives them
    the same noise up to rounding only, which the dynamics would amplify out of the invariant set u_i = u_j
    (the symmetry trap, docs/objectives.md: ge2015) after about a thousand steps."""
    n = u.shape[0]
    d = n // k
    for j in range(1, k):
        for i in range(j):
            equal = True
            for a in range(d):
                if u[i * d + a] != u[j * d + a]:
                    equal = False
                    break
            if equal:
                for a in range(d):
                    y[j * d + a] = y[i * d + a]
                break


@njit
def gaussian_minibatch_gradient(
    u: np.ndarray,
    A: np.ndarray,
    rotated: bool,
    kappa: float,
    k6: float,
    k8: float,
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
    """The exact gradient plus N(0, Sigma(U) / m), Sigma(U) the exact per-sample gradient covariance at U
    (the central limit of the mean of m per-sample gradients; docs/escape.md, Gaussian batch noise).

    In the frame W = A^T U, :func:`saddle.objectives.ge2015_moments.data_covariance` gives the covariance
    Sigma_z of the random parts (h_i(z) z)_i (all columns together with shared samples; column by column,
    the blocks between columns 0, with per-column samples); its Cholesky factor L (zero columns for
    directions of zero variance) turns the step's d k normals xi of the BATCH_NOISE stream into
    g_i = grad_i f + 4 A (L xi)_i / (|kappa| sqrt(m)), columns equal with shared samples getting the same
    noise exactly (:func:`same_noise_for_equal_columns`).  ``z`` (length d k) is scratch for the exact
    gradient, ``x`` receives xi, ``block`` holds ``gaussian_scratch_words`` words.  O(d^4 k^2) a step
    with shared samples (O(d^4 k) per-column) and the factor's O((d k)^3), whatever m.
    """
    n = u.shape[0]
    d = n // k
    shared = sampling == SHARED
    exact_gradient(u, A, rotated, k, z, g)
    rng.normals_at(key0, key1, t, m, rng.BATCH_NOISE, 0, x, block[:4])  # xi
    buf = block.view(np.float64)
    o = 4
    W = buf[o : o + n].reshape((k, d))
    o += n
    K = buf[o : o + d * d].reshape((d, d))
    o += d * d
    T = buf[o : o + k * d * d * d].reshape((k, d, d, d))
    o += k * d * d * d
    tr = buf[o : o + n].reshape((k, d))
    d3 = buf[o + n : o + 2 * n].reshape((k, d))
    mu = buf[o + 2 * n : o + 3 * n].reshape((k, d))
    o += 3 * n
    y = buf[o : o + n]
    o += n
    for i in range(k):
        for a in range(d):
            W[i, a] = component(u, A, rotated, d, i, a)
    if shared:
        S = buf[o : o + n * n].reshape((n, n))
        data_covariance(W, kappa, k6, k8, True, K, T, tr, d3, mu, S)
        psd_cholesky(S)
        lower_matvec(S, x, 0, y)
        same_noise_for_equal_columns(u, k, y)
    else:
        S = buf[o : o + d * d].reshape((d, d))
        data_tensors(W, kappa, K, T, tr, d3, mu)
        for i in range(k):  # the columns' samples are independent: one d x d block each
            covariance_block(T[i], T[i], tr[i], tr[i], d3[i], d3[i], mu[i], mu[i], kappa, k6, k8, S)
            psd_cholesky(S)
            lower_matvec(S, x, i * d, y)
    scale = 4.0 / (abs(kappa) * math.sqrt(m))
    for i in range(k):
        for r in range(d):
            if rotated:
                acc = 0.0
                for l in range(d):
                    acc += A[r, l] * y[i * d + l]
            else:
                acc = y[i * d + r]
            g[i * d + r] += scale * acc


@inline_njit
def gaussian_gradient(
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
    """The gradient hook of the Gaussian batch-noise mode (``GeTensorDecomposition.gaussian_kernel``)."""
    if optimizer == EXACT_GRADIENT:
        exact_gradient(u, pa, pi[_ROTATED] != 0, pi[_K], z, g)
    else:
        gaussian_minibatch_gradient(
            u,
            pa,
            pi[_ROTATED] != 0,
            pf[_KAPPA],
            pf[_K6],
            pf[_K8],
            pi[_K],
            pi[_SAMPLING],
            key0,
            key1,
            t,
            m,
            z,
            x,
            block,
            g,
        )


# -- lockstep lanes (saddle.kernels.cpu.run_lanes): sums in whole rows of lanes (saddle.objectives.lane_rows)


@inline_njit
def lane_scratch_rows(objective: int, n: int, pi: np.ndarray) -> int:
    """The rows of the lanes' scratch (``words``, uint64 (rows, TRIAL_LANES)) that lane_gradient needs: a
    tile's words lane by lane (used in a rotated frame) and its samples in rows of lanes (T d rows each,
    T = lane_tile_samples(d)), c then w (T k) and S (T) of its samples, the Gram matrix and -2 u_i.u_j
    (k k each), N and N - n_i."""
    k = pi[_K]
    d = n // k
    tile = lane_tile_samples(d)
    return 2 * tile * d + tile * k + tile + 2 * k * k + 2


@inline_njit
def lane_gradient(
    objective: int,
    U: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    keys: np.ndarray,
    ts: np.ndarray,
    m: int,
    Z: np.ndarray,
    X: np.ndarray,
    V: np.ndarray,
    words: np.ndarray,
    G: np.ndarray,
) -> None:
    """minibatch_gradient for every lane r of U (saddle.kernels.cpu.run_lanes): the same words, the same
    operations, every sum in the same order.  A tile's words come straight into rows of lanes
    (``rng.lane_word_doubles``) and become variates row by row (``rng.data_variates_in_place``); in a
    rotated frame each lane draws and rotates its tile as minibatch_gradient does (``rotate_sample``)
    and the tile is transposed into rows.  The sums run in the row intrinsics (lane_dots, lane_weights,
    lane_outer).  ``words`` has lane_scratch_rows(0, n, pi) rows; X's first d numbers are scratch for a
    rotated frame."""
    n = U.shape[0]
    A = pa
    rotated = pi[_ROTATED] != 0
    dist = pi[_DIST]
    kappa = pf[_KAPPA]
    k = pi[_K]
    d = n // k
    per_column = pi[_SAMPLING] == PER_COLUMN
    L = rng.TRIAL_LANES
    tile = lane_tile_samples(d)
    lane_words = tile * d  # each lane's tile of words: rows 0 .. tile d - 1, lane by lane
    flat = words.reshape(words.size)
    rows = words.view(np.float64)
    raw = flat.view(np.float64)
    xr = lane_words  # the tile's samples, sample s coordinate q at row xr + s d + q
    cr = xr + tile * d  # c_i then w_i of sample s at row cr + s k + i
    sr = cr + tile * k  # S of sample s at row sr + s
    gr = sr + tile  # the Gram matrix, u_i.u_j at row gr + i k + j
    tr = gr + k * k  # -2 u_i.u_j at row tr + i k + j
    nr = tr + k * k  # N, then N - n_i at nr + 1
    z = X.reshape(X.size)[:d]
    scale = 4.0 / kappa
    lane_dots(G, 0, G, 0, 0, G, 0, 0, n, 0)  # G = 0 (empty sums)
    total = k * m if per_column else m  # samples drawn this step
    for i0 in range(0, total, tile):
        ns = min(tile, total - i0)
        nw = ns * d
        if rotated:  # each lane's tile as minibatch_gradient draws and rotates it (x = A z), transposed
            for r in range(L):
                buf = raw[r * lane_words : (r + 1) * lane_words]
                rng.stream_word_doubles(
                    key0, keys[r], ts[r], m, rng.DATA, i0 * d // 4, (nw + 3) // 4, flat[r * lane_words :]
                )
                rng.data_variates_in_place(buf, nw, dist)
                for off in range(0, nw, d):
                    rotate_sample(A, buf, off, z)
            for e in range(nw):
                for r in range(L):
                    rows[xr + e, r] = raw[r * lane_words + e]
        else:  # the same words drawn straight into rows of lanes, turned into variates row by row
            rng.lane_word_doubles(key0, keys, ts, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, words, xr)
            rng.data_variates_in_place(raw[xr * L : (xr + nw) * L], nw * L, dist)
        for s in range(ns):
            lane_dots(rows, cr + s * k, U, 0, d, rows, xr + s * d, 0, k, d)  # c_i = u_i . x
            lane_dots(rows, sr + s, rows, cr + s * k, 0, rows, cr + s * k, 0, 1, k)  # S = sum_i c_i^2
            lane_weights(rows, cr + s * k, rows, sr + s, k)  # w_i = c_i (S - c_i^2)
        if per_column:  # sample i0 + s belongs to column (i0 + s) // m alone
            s = 0
            while s < ns:
                i = (i0 + s) // m
                run = min(ns, (i + 1) * m - i0) - s
                lane_outer(G, i * d, rows, cr + s * k + i, k, rows, xr + s * d, d, d, run)
                s += run
        else:
            for i in range(k):
                lane_outer(G, i * d, rows, cr + i, k, rows, xr, d, d, ns)
    # G <- (4/kappa) [G / m - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j], as minibatch_gradient ends
    for i in range(k):  # u_i.u_j for j >= i; then -2 u_i.u_j at (i, j) and (j, i)
        lane_dots(rows, gr + i * k + i, U, i * d, 0, U, i * d, d, k - i, d)
        for j in range(i + 1, k):  # (g - t u is g + (-t) u exactly)
            lane_scale(rows, tr + i * k + j, rows, gr + i * k + j, 1, -2.0)
            lane_scale(rows, tr + j * k + i, rows, gr + i * k + j, 1, -2.0)
    lane_dots(rows, nr, U, 0, 0, U, 0, 0, 1, n)  # N
    for i in range(k):
        for r in range(L):
            rows[nr + 1, r] = rows[nr, r] - rows[gr + i * k + i, r]  # N - n_i
        lane_mean_minus(G, i * d, float(m), rows, nr + 1, U, i * d, d)
        lane_outer(G, i * d, rows, tr + i * k, 1, U, 0, d, d, i)  # j < i
        lane_outer(G, i * d, rows, tr + i * k + i + 1, 1, U, (i + 1) * d, d, d, k - i - 1)  # j > i
        lane_scale(G, i * d, G, i * d, d, scale)


@inline_njit
def lane_value(
    objective: int,
    U: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    X: np.ndarray,
    V: np.ndarray,
    F: np.ndarray,
) -> None:
    """objective_value for every lane r of U: F[r] = sum_l [(sum_i c_li^2)^2 - sum_i c_li^4], as
    objective_value computes it (V[0]: S, V[1]: Q, V[2]: c_li)."""
    n = U.shape[0]
    A = pa
    rotated = pi[_ROTATED] != 0
    k = pi[_K]
    d = n // k
    L = rng.TRIAL_LANES
    for r in range(L):
        F[r] = 0.0
    for l in range(d):
        for r in range(L):
            V[0, r] = 0.0
            V[1, r] = 0.0
        for i in range(k):
            if rotated:
                for r in range(L):
                    V[2, r] = 0.0
                for q in range(d):
                    for r in range(L):
                        V[2, r] += A[q, l] * U[i * d + q, r]
            else:
                for r in range(L):
                    V[2, r] = U[i * d + l, r]
            for r in range(L):
                c2 = V[2, r] * V[2, r]
                V[0, r] += c2
                V[1, r] += c2 * c2
        for r in range(L):
            F[r] += V[0, r] * V[0, r] - V[1, r]


GeTensorDecomposition.kernel = KernelHooks(
    kernel_value,
    kernel_gradient,
    kernel_block,
    name="ge2015",
    scratch_words=scratch_words,
    lane_gradient=lane_gradient,
    lane_value=lane_value,
    lanes_below_m=rng.MAX_M + 1,  # lanes are faster at every m measured (1 to 1024: 2.2x to 3x, d = k = 10)
    lane_scratch_rows=lane_scratch_rows,
)
GeTensorDecomposition.gaussian_kernel = KernelHooks(
    kernel_value,
    gaussian_gradient,
    kernel_block,
    name="ge2015_gaussian",
    scratch_words=gaussian_scratch_words,
)
GeTensorDecomposition.gaussian_trusted_m = 16  # 8000 trials a mode at its defaults: KS p = 0.002 at m = 8, 0.23 at 16
