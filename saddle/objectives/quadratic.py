"""quadratic: the exactly solvable testbed (docs/objectives.md, quadratic).

On R^d,

    f(x) = 1/2 x^T H x + (beta / 4) ||x||^4,   H = diag(-gamma, lambda_2, ..., lambda_d),

with gamma > 0, beta > 0, started at the saddle x = 0 (f = 0).  The per-sample
gradient is grad f(x) + zeta with zeta ~ N(0, Sigma), so the mean of a batch
of m is grad f(x) + N(0, Sigma / m) in law; the kernel draws that mean directly
(d normals per step, whatever m), which is the same distribution as averaging
m per-sample noises.  Near 0 the coordinate along e_1 follows

    z_{t+1} = (1 + eta gamma) z_t + eta xi_t / sqrt(m),  xi ~ N(0, Sigma_11),

so the linear theory (docs/theory.md) is exact up to the quartic term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from saddle import rng
from saddle._numba import inline_njit, njit
from saddle.manifolds import Euclidean
from saddle.objectives.additive import GAMMA, NOISE_VAR, AdditiveNoiseOnRd, fmt_values
from saddle.objectives.base import EXACT_GRADIENT, KernelHooks, ParamLayout, register
from saddle.options import Option

if TYPE_CHECKING:
    from saddle.options import Settings
    from saddle.theory import SaddleQuantities


@register
@dataclass(frozen=True, init=False)
class QuadraticSaddle(AdditiveNoiseOnRd):
    """f(x) = 1/2 x^T H x + beta/4 ||x||^4 with H = diag(-gamma, lambdas) and noise N(0, Sigma).

    Parameters
    ----------
    d : int
        Dimension (d >= 1).
    gamma : float
        Negative curvature along e_1 (> 0).
    lambdas : float or sequence of d - 1 floats
        Curvatures of the stable directions e_2 .. e_d (> 0).
    beta : float
        Quartic coefficient (> 0); it makes the escape bounded: the minima are at
        x = +-sqrt(gamma / beta) e_1 with f = -gamma^2 / (4 beta).
    Sigma : float or (d,) or (d, d) array
        Per-sample gradient-noise covariance: a variance for every coordinate,
        a diagonal, or a full symmetric positive-definite matrix.
    """

    d: int
    gamma: float
    lambdas: np.ndarray
    beta: float
    Sigma: np.ndarray = field(repr=False, compare=False)
    _chol: np.ndarray = field(init=False, repr=False, compare=False)  # L with Sigma = L L^T

    def __init__(
        self,
        d: int,
        gamma: float = 1.0,
        lambdas: npt.ArrayLike = 1.0,
        beta: float = 1.0,
        Sigma: npt.ArrayLike = 1.0,
    ) -> None:
        # not the dataclass's __init__: lambdas and Sigma are stored as the arrays they stand for
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "beta", beta)
        if int(self.d) != self.d or self.d < 1:
            raise ValueError(f"d must be an integer >= 1, got {self.d!r}")
        for name in ("gamma", "beta"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        lam = np.broadcast_to(np.asarray(lambdas, dtype=float), (self.d - 1,)).copy()
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValueError("every stable curvature lambda must be finite and > 0")
        object.__setattr__(self, "lambdas", lam)
        S = np.asarray(Sigma, dtype=float)
        if S.ndim == 0:
            S = np.full(self.d, float(S))
        if S.ndim == 1:
            if S.shape != (self.d,):
                raise ValueError(f"the noise variances must be one number or d = {self.d} numbers")
            S = np.diag(S)
        if S.shape != (self.d, self.d) or not np.all(np.isfinite(S)) or not np.allclose(S, S.T):
            raise ValueError("Sigma must be a finite symmetric d x d matrix")
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            raise ValueError("Sigma must be positive definite") from None
        object.__setattr__(self, "Sigma", S)
        object.__setattr__(self, "_chol", L)

    name = "quadratic"
    rank = 2
    title = "quadratic objective: f = x'Hx/2 + beta|x|^4/4, H = diag(-gamma, lam), from x = 0"
    options = (
        GAMMA,
        Option(
            "lam", "stable curvatures: one value or d-1 values", "reals", default=1.0, count=lambda config: config.d - 1
        ),
        Option("beta", "quartic coefficient", "real", default=1.0),
        NOISE_VAR,
    )
    gpu_code = 1

    @classmethod
    def from_config(cls, config: Settings) -> QuadraticSaddle:
        return cls(config.d, config.gamma, config.lam, config.beta, config.noise_var)

    def start_point(self, config: Settings) -> np.ndarray:
        return self.start()

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """-gamma^2 / (4 beta), at x = +-sqrt(gamma / beta) e_1."""
        return -config.gamma * config.gamma / (4.0 * config.beta)

    @classmethod
    def max_drop(cls, config: Settings) -> float:
        """f(0) = 0."""
        return -cls.min_value(config)

    @classmethod
    def describe(cls, config: Settings) -> str:
        return (
            f"quadratic d={config.d}, gamma={config.gamma:g}, lambda={fmt_values(config.lam)}, "
            f"beta={config.beta:g}, noise var={fmt_values(config.noise_var)}"
        )

    def saddle_theory(self, config: Settings) -> SaddleQuantities:
        """gamma, v = e_1 and the noise moments exactly, from this objective's own Hessian and its constant
        noise covariance Sigma (saddle.theory.saddle_quantities)."""
        from saddle.theory import saddle_quantities

        return saddle_quantities(self, self.start(), warn=False)

    @property
    def manifold(self) -> Euclidean:
        return Euclidean(self.d)

    @property
    def h(self) -> np.ndarray:
        """The diagonal of H: (-gamma, lambda_2, ..., lambda_d)."""
        return np.concatenate([[-self.gamma], self.lambdas])

    def start(self) -> np.ndarray:
        """The saddle x = 0."""
        return np.zeros(self.d)

    def f(self, x: np.ndarray) -> float:
        return 0.5 * np.dot(self.h * x, x) + 0.25 * self.beta * np.dot(x, x) ** 2

    def egrad(self, x: np.ndarray) -> np.ndarray:
        return self.h * x + self.beta * np.dot(x, x) * x

    def ehess(self, x: np.ndarray) -> np.ndarray:
        return np.diag(self.h) + self.beta * (np.dot(x, x) * np.eye(self.d) + 2.0 * np.outer(x, x))

    def samples(self, xi: npt.ArrayLike) -> np.ndarray:
        """Noise samples zeta = L xi (rows) from i.i.d. standard normal rows xi, Sigma = L L^T."""
        return np.asarray(xi) @ self._chol.T

    def gradient_noise_covariance(self, x: np.ndarray | None = None) -> np.ndarray:
        """The per-sample gradient-noise covariance Sigma (the same at every x)."""
        return self.Sigma.copy()

    # -- packing for the kernels ------------------------------------------------------
    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) for the kernel hooks: beta; the rows [h; L] (Sigma = L L^T); whether L is diagonal."""
        diagonal = not np.any(np.tril(self._chol, -1))
        return LAYOUT.pack(np.vstack([self.h[None, :], self._chol]), beta=self.beta, diagonal=int(diagonal))


LAYOUT = ParamLayout(floats=("beta",), ints=("diagonal",))
_BETA = LAYOUT.float_index("beta")
_DIAGONAL = LAYOUT.int_index("diagonal")
_H = 0  # row of pa holding the diagonal h of H; rows 1 .. d hold L


@inline_njit
def objective_value(x: np.ndarray, pf: np.ndarray, pa: np.ndarray) -> float:
    """f(x) = 1/2 sum_i h_i x_i^2 + beta/4 ||x||^4."""
    quad = 0.0
    norm2 = 0.0
    for i in range(x.shape[0]):
        quad += pa[_H, i] * x[i] * x[i]
        norm2 += x[i] * x[i]
    return 0.5 * quad + 0.25 * pf[_BETA] * norm2 * norm2


@inline_njit
def exact_gradient(x: np.ndarray, pf: np.ndarray, pa: np.ndarray, g: np.ndarray) -> None:
    """g = H x + beta ||x||^2 x."""
    norm2 = 0.0
    for i in range(x.shape[0]):
        norm2 += x[i] * x[i]
    for i in range(x.shape[0]):
        g[i] = pa[_H, i] * x[i] + pf[_BETA] * norm2 * x[i]


@njit
def minibatch_gradient(
    x: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    t: int,
    m: int,
    xi: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
    purpose: int,
) -> None:
    """grad f(x) + L xi / sqrt(m), xi standard normal from the stream of ``purpose`` (DATA; BATCH_NOISE in
    the Gaussian batch-noise mode) of step t.

    xi_k is normal k of the stream (saddle.rng.fill_normals); this is the mean of m per-sample noises
    N(0, Sigma) in law.  A diagonal L (a diagonal Sigma, the default) skips the zeros of the triangular
    product: the sum 0 + 0 xi_0 + ... + L_ii xi_i it would form is L_ii xi_i exactly, so the bits are
    the same.
    """
    d = x.shape[0]
    rng.normals_at(key0, key1, t, m, purpose, 0, xi, block)  # inlined: the per-step draw
    exact_gradient(x, pf, pa, g)
    scale = 1.0 / math.sqrt(m)
    if pi[_DIAGONAL] != 0:
        for i in range(d):
            g[i] += scale * (pa[_H + 1 + i, i] * xi[i])
        return
    for i in range(d):
        acc = 0.0
        for k in range(i + 1):  # L is lower triangular: pa[_H + 1 + i, k] = L[i, k]
            acc += pa[_H + 1 + i, k] * xi[k]
        g[i] += scale * acc


# -- the kernel hooks (saddle.objectives.base.KernelHooks) ----------------------------------------------


@inline_njit
def kernel_value(
    objective: int, u: np.ndarray, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, work: np.ndarray
) -> float:
    return objective_value(u, pf, pa)


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
        exact_gradient(u, pf, pa, g)
    else:
        minibatch_gradient(u, pf, pa, pi, key0, key1, t, m, z, block, g, rng.DATA)


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
    """The gradient hook of the Gaussian batch-noise mode: ``kernel_gradient`` with its normals from the
    BATCH_NOISE stream.  Sigma is constant, so this is the law of ``kernel_gradient`` exactly (its draws
    independent of the DATA stream's)."""
    if optimizer == EXACT_GRADIENT:
        exact_gradient(u, pf, pa, g)
    else:
        minibatch_gradient(u, pf, pa, pi, key0, key1, t, m, z, block, g, rng.BATCH_NOISE)


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
    """minibatch_gradient for every lane r of U (saddle.kernels.cpu.run_lanes): each lane's d normals
    (saddle.rng.lane_normals: the numbers fill_normals gives it), then exact_gradient's and the noise's
    operations in the same order."""
    d = U.shape[0]
    L = rng.TRIAL_LANES
    rng.lane_normals(key0, keys, ts, m, rng.DATA, Z)
    beta = pf[_BETA]
    for r in range(L):
        V[0, r] = 0.0  # ||x||^2
    for i in range(d):
        for r in range(L):
            V[0, r] += U[i, r] * U[i, r]
    for i in range(d):
        for r in range(L):
            G[i, r] = pa[_H, i] * U[i, r] + beta * V[0, r] * U[i, r]
    scale = 1.0 / math.sqrt(m)
    if pi[_DIAGONAL] != 0:
        for i in range(d):
            for r in range(L):
                G[i, r] += scale * (pa[_H + 1 + i, i] * Z[i, r])
        return
    for i in range(d):
        for r in range(L):
            V[1, r] = 0.0
        for k in range(i + 1):
            for r in range(L):
                V[1, r] += pa[_H + 1 + i, k] * Z[k, r]
        for r in range(L):
            G[i, r] += scale * V[1, r]


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
    """objective_value for every lane r of U, its operations in the same order."""
    d = U.shape[0]
    L = rng.TRIAL_LANES
    for r in range(L):
        V[0, r] = 0.0  # sum_i h_i x_i^2
        V[1, r] = 0.0  # ||x||^2
    for i in range(d):
        for r in range(L):
            V[0, r] += pa[_H, i] * U[i, r] * U[i, r]
            V[1, r] += U[i, r] * U[i, r]
    for r in range(L):
        F[r] = 0.5 * V[0, r] + 0.25 * pf[_BETA] * V[1, r] * V[1, r]


QuadraticSaddle.kernel = KernelHooks(
    kernel_value,
    kernel_gradient,
    name="quadratic",
    lane_gradient=lane_gradient,
    lane_value=lane_value,
    lanes_below_m=rng.MAX_M + 1,  # its step costs the same at every m: lanes always
)
QuadraticSaddle.gaussian_kernel = KernelHooks(kernel_value, gaussian_gradient, name="quadratic_gaussian")
QuadraticSaddle.gaussian_exact = True  # its per-sample noise is Gaussian: the mode has the law of the sampled mean
