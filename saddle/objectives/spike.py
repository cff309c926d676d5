"""spike: the single-component orthogonal 4th-order tensor (docs/objectives.md, spike).

T = sum_l a_l^{(x)4} with A = [a_1 .. a_d] orthogonal, and on the unit sphere

    f(u) = -T(u, u, u, u) = -sum_l (a_l . u)^4.

Critical points are u = sum_{l in S} +-a_l / sqrt(s), s = |S|, with f = -1/s
and a Riemannian Hessian with s - 1 eigenvalues -8/s and d - s eigenvalues
+4/s: global minima for s = 1, strict saddles of index s - 1 for s >= 2.

Data follow the ICA model x = A z with i.i.d. mean-0 variance-1 coordinates of
excess kurtosis kappa != 0.  From E[(u.x)^4] = 3||u||^4 + kappa sum_l (a_l.u)^4
the unbiased per-sample loss and gradient are

    l(u; x) = (3 ||u||^4 - (u.x)^4) / kappa,
    g(u; x) = (12 ||u||^2 u - 4 (u.x)^3 x) / kappa.

This module holds the maths in plain NumPy (``SpikeTensor``) and the
per-sample gradient that the Numba kernels call (``minibatch_gradient``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from saddle import rng
from saddle._numba import inline_njit
from saddle.manifolds import Sphere
from saddle.objectives.base import EXACT_GRADIENT, KernelHooks, Objective, ParamLayout, register
from saddle.objectives.lane_rows import lane_cube, lane_dots, lane_outer
from saddle.objectives.spike_moments import (
    DISTRIBUTIONS,
    data_distribution,
    latent_cumulants,
    latent_sample,
    spike_gradient_covariance_at,
    spike_noise_moments,
)
from saddle.options import Option

if TYPE_CHECKING:
    from saddle.options import Settings
    from saddle.theory import SaddleQuantities


def distribution_option(value: Any) -> str:
    """The ``dist`` option's check: a known distribution with kappa != 0, as lower-case text."""
    data_distribution(value)
    return str(value).lower()


DIST = Option(
    "dist",
    "data distribution of the ICA model x = A z",
    "choice",
    default="uniform",
    choices=tuple(DISTRIBUTIONS),
    validate=distribution_option,
)
ROTATION_SEED = Option(
    "rotation_seed", "draw a random orthogonal A with this seed (default: A = I)", "int", high=2**32 - 1
)


def rotation(d: int, seed: int | None) -> np.ndarray | None:
    """The components A: a Haar-random orthogonal matrix drawn with ``seed`` (scipy.stats.ortho_group), or
    None (the identity) without a seed."""
    if seed is None:
        return None
    import scipy.stats

    return scipy.stats.ortho_group.rvs(d, random_state=seed)


def _samples_only(config: Settings) -> bool:
    """Whether the run's optimiser moves by its mini-batches' noise alone (no noise of its own)."""
    optimizer = config.optimizer_class
    return bool(optimizer.minibatch and not optimizer.own_noise)


@register
@dataclass(frozen=True, init=False)
class SpikeTensor(Objective):
    """The spike objective f(u) = -sum_l (a_l.u)^4 on the unit sphere S^{d-1}.

    Parameters
    ----------
    d : int
        Dimension (d >= 2).
    dist : str
        Data distribution of the ICA model: 'uniform', 'rademacher' or 'laplace'.
    A : ndarray of shape (d, d), optional
        Orthogonal matrix whose columns are the components a_l; the identity
        (the frame in which the kernels work fastest) when omitted.
    """

    d: int
    dist: str
    A: np.ndarray = field(repr=False, compare=False)

    name = "spike"
    rank = 0
    title = "spike objective: f(u) = -sum_l (a_l.u)^4 on the sphere, from the index-(s-1) saddle"
    options = (
        Option("s", "saddle order: start at (a_1+..+a_s)/sqrt(s), a saddle of index s-1", "int", default=2, low=2),
        DIST,
        ROTATION_SEED,
    )
    min_d = 2
    random_start = "uniform on the sphere"
    gpu_code = 0

    @classmethod
    def from_config(cls, config: Settings) -> SpikeTensor:
        return cls(config.d, config.dist, rotation(config.d, config.rotation_seed))

    @classmethod
    def check_config(cls, config: Settings) -> None:
        if config.s > config.d:
            from saddle.options import ConfigError

            raise ConfigError(
                f"s must be <= d (the saddle uses s of the d components), got s = {config.s}, d = {config.d}"
            )

    def start_point(self, config: Settings) -> np.ndarray:
        """The index-(s-1) saddle (a_1 + ... + a_s) / sqrt(s)."""
        return self.saddle(config.s)

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """-1, at the components +-a_l."""
        return -1.0

    @classmethod
    def max_drop(cls, config: Settings) -> float:
        """f(u_0) = -1/s, so 1 - 1/s."""
        return 1.0 - 1.0 / config.s

    @classmethod
    def describe(cls, config: Settings) -> str:
        rotated = f", rotated A (seed {config.rotation_seed})" if config.rotation_seed is not None else ""
        return f"spike d={config.d}, s={config.s}, {config.dist}{rotated}"

    @classmethod
    def start_warnings(cls, config: Settings) -> list[str]:
        if config.dist == "rademacher" and config.s == 2 and _samples_only(config):
            return [
                "rademacher data at the s = 2 saddle: the gradient noise has zero variance along the escape "
                "direction (the CNC condition fails), so SGD escapes only through higher-order terms"
            ]
        return []

    def saddle_theory(self, config: Settings) -> SaddleQuantities:
        """Exact noise moments at the order-s saddle (:func:`saddle.objectives.spike_moments.spike_saddle`)."""
        with warnings.catch_warnings():  # the CNC warning is given once, by start_warnings
            warnings.simplefilter("ignore")
            return spike_saddle(self.d, config.s, self.dist, self.A, warn=False)

    covariance_source = "exact spike moments"

    def gradient_noise_covariance(self, u: np.ndarray) -> np.ndarray:
        """The exact per-sample gradient covariance at any u on the sphere (exact spike moments)."""
        return spike_gradient_covariance_at(u, self.dist, self.A)

    def noise_sampler(self) -> Callable[[np.random.Generator, int], np.ndarray]:
        """sampler(rng, n) -> n x d data x = A z, for Monte Carlo (saddle.theory.monte_carlo_noise)."""
        return spike_sampler(self)

    def __init__(self, d: int, dist: str = "uniform", A: npt.ArrayLike | None = None) -> None:
        # not the dataclass's __init__: A may be None here (the identity), and is always an array once stored
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "dist", dist)
        if int(self.d) != self.d or self.d < 2:
            raise ValueError(f"d must be an integer >= 2, got {self.d!r}")
        data_distribution(self.dist)
        frame = np.eye(self.d) if A is None else np.asarray(A, dtype=np.float64)
        if frame.shape != (self.d, self.d) or not np.allclose(frame.T @ frame, np.eye(self.d), atol=1e-10):
            raise ValueError("A must be an orthogonal d x d matrix")
        object.__setattr__(self, "A", frame)

    @property
    def manifold(self) -> Sphere:
        return Sphere(self.d)

    def start(self, s: int = 2) -> np.ndarray:
        """The escape experiment's start: the index-(s-1) saddle (a_1 + ... + a_s) / sqrt(s)."""
        return self.saddle(s)

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) for the kernel hooks: kappa and the 6th and 8th cumulants of the data coordinates
        (:func:`latent_cumulants`); A; the distribution's code and whether A is not I."""
        code, kappa = data_distribution(self.dist)
        _, k6, k8 = latent_cumulants(self.dist)
        return LAYOUT.pack(self.A, kappa=kappa, k6=k6, k8=k8, dist=code, rotated=0 if self.is_identity_frame else 1)

    @property
    def kappa(self) -> float:
        """Excess kurtosis of the data coordinates."""
        return data_distribution(self.dist)[1]

    @property
    def is_identity_frame(self) -> bool:
        return bool(np.array_equal(self.A, np.eye(self.d)))

    # -- the population objective -------------------------------------------------
    def f(self, u: np.ndarray) -> float:
        """f(u) = -sum_l (a_l.u)^4."""
        return -np.sum((self.A.T @ u) ** 4)

    def egrad(self, u: np.ndarray) -> np.ndarray:
        """Euclidean gradient -4 sum_l (a_l.u)^3 a_l."""
        return -4.0 * self.A @ (self.A.T @ u) ** 3

    def ehess(self, u: np.ndarray) -> np.ndarray:
        """Euclidean Hessian -12 sum_l (a_l.u)^2 a_l a_l^T."""
        return -12.0 * (self.A * (self.A.T @ u) ** 2) @ self.A.T

    def rgrad(self, u: np.ndarray) -> np.ndarray:
        return self.manifold.riemannian_gradient(u, self.egrad(u))

    def rhess(self, u: np.ndarray) -> np.ndarray:
        """Riemannian Hessian on the sphere (d x d matrix on the tangent space at u)."""
        return self.manifold.riemannian_hessian(u, self.egrad(u), self.ehess(u))

    # -- data and per-sample quantities ------------------------------------------------
    def samples(self, z: npt.ArrayLike) -> np.ndarray:
        """Map latent coordinates z (n x d, i.i.d. rows) to data x = A z (n x d)."""
        return np.asarray(z) @ self.A.T

    def per_sample_loss(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        """l(u; x) = (3||u||^4 - (u.x)^4) / kappa for each row x of an n x d array."""
        return (3.0 * np.dot(u, u) ** 2 - (x @ u) ** 4) / self.kappa

    def per_sample_grad(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        """g(u; x) = (12||u||^2 u - 4 (u.x)^3 x) / kappa for each row of x (n x d -> n x d)."""
        c = x @ u
        return (12.0 * np.dot(u, u) * u[None, :] - 4.0 * (c**3)[:, None] * x) / self.kappa

    # -- critical points ------------------------------------------------------------
    def critical_point(self, S: Iterable[int], signs: npt.ArrayLike | None = None) -> np.ndarray:
        """u = sum_{l in S} signs_l a_l / sqrt(|S|) (columns indexed from 0)."""
        S = list(S)
        if not S or len(set(S)) != len(S) or min(S) < 0 or max(S) >= self.d:
            raise ValueError(f"S must be a non-empty set of distinct indices in 0..{self.d - 1}")
        signs = np.ones(len(S)) if signs is None else np.asarray(signs, dtype=float)
        return self.A[:, S] @ signs / np.sqrt(len(S))

    def saddle(self, s: int) -> np.ndarray:
        """The start point of the escape experiment: the critical point on a_1..a_s."""
        if not 2 <= s <= self.d:
            raise ValueError(f"saddle order s must satisfy 2 <= s <= d = {self.d}, got {s}")
        return self.critical_point(range(s))

    @staticmethod
    def critical_spectrum(d: int, s: int) -> tuple[float, np.ndarray]:
        """f = -1/s; s-1 eigenvalues -8/s and d-s eigenvalues +4/s on the tangent space."""
        return -1.0 / s, np.concatenate([np.full(s - 1, -8.0 / s), np.full(d - s, 4.0 / s)])


# -- what the Numba kernels call (plain arrays, frame given by A and a flag) ---------


@inline_njit
def frame_matvec(A: np.ndarray, rotated: bool, transpose: bool, v: np.ndarray, out: np.ndarray) -> None:
    """out = A^T v (transpose: the coordinates a_l.v) or A v; v itself in the identity frame."""
    d = v.shape[0]
    for i in range(d):
        if rotated:
            acc = 0.0
            for k in range(d):
                acc += (A[k, i] if transpose else A[i, k]) * v[k]
            out[i] = acc
        else:
            out[i] = v[i]


@inline_njit
def objective_value(u: np.ndarray, A: np.ndarray, rotated: bool, work: np.ndarray) -> float:
    """f(u) = -sum_l (a_l.u)^4; ``work`` is a length-d scratch array (for a rotated frame)."""
    c = u
    if rotated:
        frame_matvec(A, rotated, True, u, work)
        c = work
    f = 0.0
    for l in range(u.shape[0]):
        c2 = c[l] * c[l]
        f -= c2 * c2
    return f


@inline_njit
def exact_gradient(u: np.ndarray, A: np.ndarray, rotated: bool, work: np.ndarray, g: np.ndarray) -> None:
    """g = -4 sum_l (a_l.u)^3 a_l, the gradient that gd uses."""
    frame_matvec(A, rotated, True, u, work)
    for l in range(u.shape[0]):
        work[l] = -4.0 * work[l] * work[l] * work[l]
    frame_matvec(A, rotated, False, work, g)


TILE_WORDS = 1280
"""About how many 32-bit words (variates) of a step's samples the spike's gradient draws at a time: a
tile of whole samples (a multiple of 4 samples, so that every tile starts on a whole Philox block) that
stays in the L1 cache, 128 samples at d = 10."""


@inline_njit
def tile_samples(d: int) -> int:
    """Samples per tile of the gradient's draws at dimension d: a multiple of 4, at least 4."""
    return max(4, TILE_WORDS // d // 4 * 4)


@inline_njit
def scratch_words(objective: int, n: int, pi: np.ndarray) -> int:
    """The scratch (``block``) the spike's gradient needs: one tile of samples' words and their c**3."""
    return tile_samples(n) * (n + 1)


@inline_njit
def rotate_sample(A: np.ndarray, buf: np.ndarray, off: int, z: np.ndarray) -> None:
    """x = A z for the sample z = buf[off : off + d], written back there (z: a length-d scratch)."""
    d = z.shape[0]
    for k in range(d):
        acc = 0.0
        for l in range(d):
            acc += A[k, l] * buf[off + l]
        z[k] = acc
    for k in range(d):
        buf[off + k] = z[k]


@inline_njit
def minibatch_gradient(
    u: np.ndarray,
    A: np.ndarray,
    rotated: bool,
    kappa: float,
    dist: int,
    key0: int,
    key1: int,
    t: int,
    m: int,
    z: np.ndarray,
    x: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """Mean of m per-sample gradients (12||u||^2 u - 4 (u.x)^3 x) / kappa.

    The m samples x = A z are drawn for step t from the DATA stream of key (key0, key1) (see
    saddle.rng): sample i, coordinate k is the 32-bit word i * d + k of the stream.  The sum over
    samples is in sample order, each u.x in coordinate order (docs/performance.md).

    The samples are drawn in tiles of ``tile_samples(d)`` (nothing of size m x d is stored): a tile's
    Philox blocks in one loop that vectorises across blocks, its words turned into variates in one
    loop per distribution (``rng.stream_word_doubles``, ``rng.data_variates_in_place``); then the
    dot products u.x of four samples at a time (four independent chains of additions, which the CPU
    overlaps, each still in coordinate order), and c**3 x added into g sample by sample.  ``block``
    (uint64) is the tile's scratch, at least ``scratch_words(0, d, pi)`` words; ``z`` (length d) is
    scratch for a rotated frame; ``x`` is unused.
    """
    d = u.shape[0]
    tile = tile_samples(d)
    if block.shape[0] < tile * (d + 1):
        raise ValueError("the spike's gradient needs scratch_words(d) words of scratch in block")
    buf = block.view(np.float64)  # the tile's variates, sample by sample, in place of their words
    c3 = buf[tile * d : tile * (d + 1)]  # (u.x)**3 of the tile's samples
    norm2 = 0.0
    for k in range(d):
        norm2 += u[k] * u[k]
        g[k] = 0.0
    for i0 in range(0, m, tile):
        nt = min(tile, m - i0)
        nw = nt * d
        rng.stream_word_doubles(key0, key1, t, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, block)
        rng.data_variates_in_place(buf, nw, dist)
        if rotated:  # x = A z
            for off in range(0, nw, d):
                rotate_sample(A, buf, off, z)
        n4 = nt - nt % 4
        for s in range(0, n4, 4):  # u.x of four samples at once, each in coordinate order
            off = s * d
            c0 = c1 = c2 = c3_ = 0.0
            for k in range(d):
                uk = u[k]
                c0 += uk * buf[off + k]
                c1 += uk * buf[off + d + k]
                c2 += uk * buf[off + 2 * d + k]
                c3_ += uk * buf[off + 3 * d + k]
            c3[s] = c0 * c0 * c0
            c3[s + 1] = c1 * c1 * c1
            c3[s + 2] = c2 * c2 * c2
            c3[s + 3] = c3_ * c3_ * c3_
        for s in range(n4):  # c**3 x into g, sample by sample
            off = s * d
            for k in range(d):
                g[k] += c3[s] * buf[off + k]
        for off in range(n4 * d, nw, d):  # the last samples (fewer than four), each in one pass
            c = 0.0
            for k in range(d):
                c += u[k] * buf[off + k]
            cube = c * c * c
            for k in range(d):
                g[k] += cube * buf[off + k]
    scale = -4.0 / (m * kappa)
    for k in range(d):
        g[k] = scale * g[k] + (12.0 / kappa) * norm2 * u[k]


# -- the kernel hooks (saddle.objectives.base.KernelHooks) ----------------------------------------------

LAYOUT = ParamLayout(floats=("kappa", "k6", "k8"), ints=("dist", "rotated"))
_KAPPA = LAYOUT.float_index("kappa")
_K6 = LAYOUT.float_index("k6")
_K8 = LAYOUT.float_index("k8")
_DIST = LAYOUT.int_index("dist")
_ROTATED = LAYOUT.int_index("rotated")


@inline_njit
def kernel_value(
    objective: int, u: np.ndarray, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, work: np.ndarray
) -> float:
    return objective_value(u, pa, pi[_ROTATED] != 0, work)


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
        exact_gradient(u, pa, pi[_ROTATED] != 0, z, g)
    else:
        minibatch_gradient(u, pa, pi[_ROTATED] != 0, pf[_KAPPA], pi[_DIST], key0, key1, t, m, z, x, block, g)


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
    """The gradient hook of the Gaussian batch-noise mode (``SpikeTensor.gaussian_kernel``)."""
    if optimizer == EXACT_GRADIENT:
        exact_gradient(u, pa, pi[_ROTATED] != 0, z, g)
    else:
        gaussian_minibatch_gradient(
            u, pa, pi[_ROTATED] != 0, pf[_KAPPA], pf[_K6], pf[_K8], key0, key1, t, m, z, x, block, g
        )


PIVOT_TOLERANCE = 1e-12
"""Pivots of the covariance's Cholesky factor at or below this times E[(u.x)^6] are zero (a direction
of zero variance, such as the escape direction of rademacher data at the s = 2 saddle)."""


@inline_njit
def gaussian_minibatch_gradient(
    u: np.ndarray,
    A: np.ndarray,
    rotated: bool,
    kappa: float,
    k6: float,
    k8: float,
    key0: int,
    key1: int,
    t: int,
    m: int,
    w: np.ndarray,
    y: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """The exact gradient plus N(0, Sigma(u) / m), Sigma(u) the exact per-sample gradient covariance at u
    (the central limit of the mean of m per-sample gradients; docs/escape.md, Gaussian batch noise).

    In the frame w = A^T u, with n_p = sum_l w_l^p, E4 = 3 n_2^2 + kappa n_4 and
    E6 = 15 n_2^3 + 15 kappa n_2 n_4 + k6 n_6 (the 4th and 6th moments of c = w.z; kappa, k6, k8 the
    cumulants of a data coordinate), the cumulant expansion E[z_j F(z)] = sum_n k_{n+1} / n! E[d_j^n F]
    gives, exactly,

        Sigma_w = (16 / kappa^2) (diag(D) + V C V^T),   V = [w, w^3, w^5] (powers entrywise),
        D_j = E6 + 15 kappa E4 w_j^2 + 15 k6 n_2 w_j^4 + k8 w_j^6,
        C = [[30 E4 - 9 n_2^2, 57 kappa n_2, 6 k6], [57 kappa n_2, 19 kappa^2, 0], [6 k6, 0, 0]],

    and Sigma(u) = A Sigma_w A^T (:func:`saddle.objectives.spike_moments.spike_gradient_covariance_at`
    computes the same matrix by power series).  A diagonal plus rank 3 has a Cholesky factor
    L = diag(l) + strictly_lower(V G^T) whose columns come from a 3 x 3 Schur complement M
    (M <- C, then per coordinate j in order: q = M v_j, l_j^2 = D_j + v_j.q, g_j = q / l_j,
    M <- M - g_j g_j^T), so the noise L xi costs O(d) and the factor is never stored:
    (L xi)_j = l_j xi_j + v_j . (sum_{i<j} g_i xi_i).  xi are the step's d normals of the BATCH_NOISE
    stream; a pivot l_j^2 <= PIVOT_TOLERANCE E6 is a zero-variance direction (its column of L is 0).
    Then g = A (-4 w^3 + 4 L xi / (|kappa| sqrt(m))).  ``w``, ``y`` are length-d scratch, ``block``
    4 words of generator scratch.
    """
    d = u.shape[0]
    frame_matvec(A, rotated, True, u, w)
    n2 = n4 = n6 = 0.0
    for l in range(d):
        w2 = w[l] * w[l]
        n2 += w2
        n4 += w2 * w2
        n6 += w2 * w2 * w2
    e4 = 3.0 * n2 * n2 + kappa * n4
    e6 = 15.0 * n2 * n2 * n2 + 15.0 * kappa * n2 * n4 + k6 * n6
    m00, m01, m02 = 30.0 * e4 - 9.0 * n2 * n2, 57.0 * kappa * n2, 6.0 * k6
    m11, m12, m22 = 19.0 * kappa * kappa, 0.0, 0.0
    rng.normals_at(key0, key1, t, m, rng.BATCH_NOISE, 0, y, block)  # xi, replaced by the gradient below
    scale = 4.0 / (abs(kappa) * math.sqrt(m))
    tol = PIVOT_TOLERANCE * e6
    d1, d2 = 15.0 * kappa * e4, 15.0 * k6 * n2  # D_j = e6 + w_j^2 (d1 + w_j^2 (d2 + w_j^2 k8))
    h0 = h1 = h2 = 0.0  # sum_{i<j} g_i xi_i
    for j in range(d):
        v0 = w[j]
        sq = v0 * v0
        v1 = sq * v0
        v2 = v1 * sq
        q0 = m00 * v0 + m01 * v1 + m02 * v2
        q1 = m01 * v0 + m11 * v1 + m12 * v2
        q2 = m02 * v0 + m12 * v1 + m22 * v2
        pivot = e6 + sq * (d1 + sq * (d2 + sq * k8)) + (v0 * q0 + v1 * q1 + v2 * q2)
        xi = y[j]
        noise = v0 * h0 + v1 * h1 + v2 * h2
        if pivot > tol:
            inv = 1.0 / math.sqrt(pivot)
            noise += pivot * inv * xi
            g0, g1, g2 = q0 * inv, q1 * inv, q2 * inv
            h0 += g0 * xi
            h1 += g1 * xi
            h2 += g2 * xi
            m00 -= g0 * g0
            m01 -= g0 * g1
            m02 -= g0 * g2
            m11 -= g1 * g1
            m12 -= g1 * g2
            m22 -= g2 * g2
        y[j] = -4.0 * v1 + scale * noise
    frame_matvec(A, rotated, False, y, g)


@inline_njit
def lane_frame_matvec(A: np.ndarray, rotated: bool, transpose: bool, V: np.ndarray, out: np.ndarray) -> None:
    """frame_matvec for every lane r: out[:, r] = A^T V[:, r] (transpose) or A V[:, r], each sum from 0 in
    the order of frame_matvec; V itself in the identity frame."""
    d = V.shape[0]
    L = rng.TRIAL_LANES
    for i in range(d):
        for r in range(L):
            out[i, r] = 0.0 if rotated else V[i, r]
        if rotated:
            for k in range(d):
                for r in range(L):
                    out[i, r] += (A[k, i] if transpose else A[i, k]) * V[k, r]


@inline_njit
def lane_tile_samples(d: int) -> int:
    """Samples per tile of the lanes' draws: TILE_WORDS words for all lanes together, a multiple of 4."""
    return max(4, TILE_WORDS // rng.TRIAL_LANES // d // 4 * 4)


@inline_njit
def lane_scratch_rows(objective: int, n: int, pi: np.ndarray) -> int:
    """The rows of the lanes' scratch (``words``, uint64 (rows, TRIAL_LANES)) that lane_gradient needs: a
    tile's words (T d, T = lane_tile_samples(d)) and c**3 of its samples (T)."""
    tile = lane_tile_samples(n)
    return tile * n + tile


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
    (``rng.lane_word_doubles``; its sample s, coordinate k at row s d + k) and become variates row by
    row; in a rotated frame each sample is turned (x = A z) in place.  The sums run in whole rows
    (saddle.objectives.lane_rows): c = u.x for the tile's samples (several at once, each over its
    coordinates in order), their c**3, then g += c**3 x over the tile's samples in order."""
    d = U.shape[0]
    A = pa
    rotated = pi[_ROTATED] != 0
    dist = pi[_DIST]
    kappa = pf[_KAPPA]
    L = rng.TRIAL_LANES
    rows = words.view(np.float64)
    flat = words.reshape(words.size).view(np.float64)
    tile = lane_tile_samples(d)
    cr = tile * d  # c**3 of the tile's sample s at row cr + s
    lane_dots(V, 0, U, 0, 0, U, 0, 0, 1, d)  # ||u||^2
    lane_dots(G, 0, G, 0, 0, G, 0, 0, d, 0)  # g = 0 (empty sums)
    for i0 in range(0, m, tile):
        ns = min(tile, m - i0)
        nw = ns * d
        rng.lane_word_doubles(key0, keys, ts, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, words, 0)
        rng.data_variates_in_place(flat[: nw * L], nw * L, dist)
        if rotated:  # x = A z
            for s in range(ns):
                lane_frame_matvec(A, rotated, False, rows[s * d : (s + 1) * d], X)
                for k in range(d):
                    for r in range(L):
                        rows[s * d + k, r] = X[k, r]
        lane_dots(rows, cr, U, 0, 0, rows, 0, d, ns, d)  # c = u.x, sample by sample
        lane_cube(rows, cr, ns)
        lane_outer(G, 0, rows, cr, 1, rows, 0, d, d, ns)  # g += c**3 x, sample by sample
    scale = -4.0 / (m * kappa)
    for k in range(d):
        for r in range(L):
            G[k, r] = scale * G[k, r] + (12.0 / kappa) * V[0, r] * U[k, r]


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
    """objective_value for every lane r of U: F[r] = -sum_l (a_l.u)^4, as objective_value computes it."""
    d = U.shape[0]
    L = rng.TRIAL_LANES
    lane_frame_matvec(pa, pi[_ROTATED] != 0, True, U, X)  # the coordinates a_l.u
    for r in range(L):
        F[r] = 0.0
    for i in range(d):
        for r in range(L):
            c2 = X[i, r] * X[i, r]
            F[r] -= c2 * c2


SpikeTensor.kernel = KernelHooks(
    kernel_value,
    kernel_gradient,
    name="spike",
    scratch_words=scratch_words,
    lane_gradient=lane_gradient,
    lane_value=lane_value,
    lanes_below_m=rng.MAX_M + 1,  # faster at every m measured: 0.46x to 0.85x one trial at a time, d = 10 and 100
    lane_scratch_rows=lane_scratch_rows,
)
SpikeTensor.gaussian_kernel = KernelHooks(kernel_value, gaussian_gradient, name="spike_gaussian")
SpikeTensor.gaussian_trusted_m = 32  # 8000 trials a mode: a step off at m = 16, KS p >= 0.46 from m = 32 on


# ------------------------------------------------------------------- the saddle's exact quantities


def spike_sampler(objective: SpikeTensor) -> Callable[[np.random.Generator, int], np.ndarray]:
    """sampler(rng, n) -> n x d data x = A z of a SpikeTensor, for :func:`monte_carlo_noise`."""
    return lambda rng, n: objective.samples(latent_sample(rng, n, objective.d, objective.dist))


def spike_saddle(
    d: int = 10, s: int = 2, dist: str = "uniform", A: npt.ArrayLike | None = None, warn: bool = True
) -> SaddleQuantities:
    """SaddleQuantities of the spike's order-s saddle u_0 = (a_1 + ... + a_s) / sqrt(s), exactly.

    The saddle of docs/objectives.md (spike): gamma = 8 / s with s - 1 escape directions, stable eigenvalues 4 / s.
    The noise moments are exact Fractions (:func:`spike_noise_moments`) turned into
    floats at the end, so a zero (rademacher at s = 2) is exactly 0.0:

        sigma_v^2 = (16 / kappa^2)(D - O),   tr(Sigma_stable) = (d - s)(16 / kappa^2) E6.

    For the default (d = 10, s = 2, uniform): sigma_v^2 = 80/7, tr = 4800/7, and
    H(m) = 0.01 * 4800 / 7 / (4 m) = (12/7) / m = 1.714 / m at eta = 0.01.
    """
    obj = SpikeTensor(d, dist, A)
    u0 = obj.saddle(s)
    mom = spike_noise_moments(s, dist)
    scale = 16 / mom["kappa"] ** 2
    sv = scale * (mom["D"] - mom["O"])
    tr = (d - s) * scale * mom["E6"]
    from saddle.theory.quantities import saddle_quantities

    q = saddle_quantities(obj, u0, warn=False)
    q = dataclasses.replace(
        q,
        gamma=8.0 / s,
        sigma_v2=float(sv),
        cnc=float(sv),
        trace_stable=float(tr),
        stable_noise=np.full(d - s, float(scale * mom["E6"])),
        method="exact spike moments (Fractions)",
    )
    if warn and q.cnc == 0.0:
        warnings.warn(
            f"the CNC condition fails at the spike's s = {s} saddle with {dist} data: the per-sample gradient has "
            "exactly zero variance along the escape directions (docs/objectives.md, spike), so the linear theory "
            "predicts no escape; SGD leaves only through nonlinear terms",
            UserWarning,
            stacklevel=2,
        )
    return q
