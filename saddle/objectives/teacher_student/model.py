"""teacher-student: the symmetric plateau of a two-layer network, in plain NumPy (docs/objectives.md, teacher-student).

Saad and Solla, "On-line learning in soft committee machines", Phys. Rev. E 52, 4225 (1995);
Goldt, Advani, Saxe, Krzakala and Zdeborova, "Dynamics of stochastic gradient descent for two-layer
neural networks in the teacher-student setup", NeurIPS 2019.

Inputs x ~ N(0, I_N), fresh for every sample.  A fixed teacher with M hidden units (rows v_n of V,
M x N) labels them, a student with K hidden units (rows w_k of W, K x N) learns:

    rho_n = v_n.x / sqrt(N),   y   = sum_n g(rho_n) + sigma xi,      xi ~ N(0, 1),
    lambda_k = w_k.x / sqrt(N), phi = sum_k g(lambda_k),              g(z) = erf(z / sqrt 2),

second layer fixed to 1, no biases.  Per-sample loss l = 1/2 (phi - y)^2, Delta = y - phi, and the
per-sample gradient is grad_{w_k} l = -Delta g'(lambda_k) x / sqrt(N), g'(z) = sqrt(2/pi) exp(-z^2/2).
One SGD step on a mini-batch of m fresh samples (the MEAN loss) is therefore

    w_k <- w_k + (eta / (m sqrt N)) sum_s Delta_s g'(lambda_{k,s}) x_s = w_k - eta * mean_s grad_{w_k} l_s.

Order parameters Q = W W^T / N, R = W V^T / N, T = V V^T / N; the fields (lambda, rho) of a fresh input
are exactly N(0, C), C = [[Q, R], [R^T, T]], so the generalisation error (the objective f) is exact:

    eps_g = (1/pi) [ sum_ik asin(Q_ik / sqrt((1+Q_ii)(1+Q_kk))) + sum_nm asin(T_nm / sqrt((1+T_nn)(1+T_mm)))
                     - 2 sum_in asin(R_in / sqrt((1+Q_ii)(1+T_nn))) ],

the population mean of l less the output-noise part sigma^2 / 2 (which has no gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
from scipy.special import erf

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def g(z: npt.ArrayLike) -> np.ndarray:
    """The activation g(z) = erf(z / sqrt 2) (vectorised)."""
    return erf(np.asarray(z) / math.sqrt(2.0))


def g_prime(z: npt.ArrayLike) -> np.ndarray:
    """g'(z) = sqrt(2/pi) exp(-z^2 / 2)."""
    z = np.asarray(z)
    return SQRT_2_OVER_PI * np.exp(-0.5 * z * z)


def _asin_term(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """asin(c / sqrt((1 + a)(1 + b))) elementwise."""
    return np.arcsin(c / np.sqrt((1.0 + a) * (1.0 + b)))


def teacher_error(T: npt.ArrayLike) -> float:
    """The teacher-teacher part of eps_g: (1/pi) sum_nm asin(T_nm / sqrt((1+T_nn)(1+T_mm)))."""
    T = np.asarray(T, dtype=float)
    d = np.diag(T)
    return float(np.sum(_asin_term(d[:, None], d[None, :], T)) / math.pi)


def generalisation_error(Q: npt.ArrayLike, R: npt.ArrayLike, T: npt.ArrayLike) -> float:
    """Exact eps_g(Q, R, T) of Saad and Solla (1995): the formula of the module docstring.

    Parameters
    ----------
    Q : (K, K) array, R : (K, M) array, T : (M, M) array
        Order parameters; C = [[Q, R], [R^T, T]] must be a covariance matrix.
    """
    Q = np.asarray(Q, dtype=float)
    R = np.asarray(R, dtype=float)
    T = np.asarray(T, dtype=float)
    q = np.diag(Q)
    t = np.diag(T)
    student = np.sum(_asin_term(q[:, None], q[None, :], Q))
    cross = np.sum(_asin_term(q[:, None], t[None, :], R))
    return float((student - 2.0 * cross) / math.pi + teacher_error(T))


def generalisation_error_gradient(
    Q: npt.ArrayLike, R: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(A, H): dE = tr(A dQ) + sum_in H_in dR_in for symmetric perturbations dQ, A symmetric.

    Differentiating the eps_g formula: off the diagonal A_ik = 1/(pi sqrt((1+Q_ii)(1+Q_kk) - Q_ik^2));
    on it, the derivative of asin(Q_ii / (1+Q_ii)) = 1/((1+Q_ii) sqrt(1+2Q_ii)) plus the dependence of
    every other term on Q_ii through its normalisation; H_in = -2/(pi sqrt((1+Q_ii)(1+T_nn) - R_in^2)).
    The gradient of eps_g with respect to W is then (2/N) A W + (1/N) H V.
    """
    Q = np.asarray(Q, dtype=float)
    R = np.asarray(R, dtype=float)
    T = np.asarray(T, dtype=float)
    q = np.diag(Q)
    t = np.diag(T)
    dq = np.sqrt((1.0 + q[:, None]) * (1.0 + q[None, :]) - Q**2)  # K x K
    dr = np.sqrt((1.0 + q[:, None]) * (1.0 + t[None, :]) - R**2)  # K x M
    K = Q.shape[0]
    A = 1.0 / dq
    off = ~np.eye(K, dtype=bool)
    # d/dQ_ii of asin(Q_ik / sqrt((1+Q_ii)(1+Q_kk))), i != k (each such term appears twice: (i,k), (k,i))
    dqii = -0.5 * Q / ((1.0 + q[:, None]) * dq)
    diag = 1.0 / ((1.0 + q) * np.sqrt(1.0 + 2.0 * q))
    diag = diag + 2.0 * np.sum(np.where(off, dqii, 0.0), axis=1)
    diag = diag + np.sum(R / ((1.0 + q[:, None]) * dr), axis=1)  # -2 * (-1/2) R / ((1+Q_ii) dr)
    A = np.where(off, A, 0.0) + np.diag(diag)
    H = -2.0 / dr
    return A / math.pi, H / math.pi


def plateau_closed_form(K: int) -> tuple[float, float, float, float]:
    """The plateau of K = M, T = I as eta -> 0 (Saad and Solla 1995): (q, c, r, eps*).

    q = c = 1/(2K - 1), r = 1/sqrt(K(2K - 1)), eps* = (K/pi)(pi/6 - K asin(1/(2K)));
    eps* = 0.0116108 for K = 2 and 0.0202966 for K = 3.
    """
    q = 1.0 / (2 * K - 1)
    r = 1.0 / math.sqrt(K * (2 * K - 1))
    eps = (K / math.pi) * (math.pi / 6.0 - K * math.asin(1.0 / (2 * K)))
    return q, q, r, eps


def symmetric_order_parameters(K: int, M: int, q: float, c: float, r: float) -> tuple[np.ndarray, np.ndarray]:
    """(Q, R) of the symmetric ansatz: Q_ii = q, Q_ik = c (i != k), R_in = r."""
    Q = np.full((K, K), float(c))
    np.fill_diagonal(Q, float(q))
    return Q, np.full((K, M), float(r))


@dataclass(frozen=True)
class TeacherStudent:
    """The teacher-student problem (Saad & Solla 1995; soft committee machine, g = erf(z / sqrt 2)).

    Parameters
    ----------
    N : int
        Input dimension.
    K, M : int
        Hidden units of the student and of the teacher.
    sigma : float
        Standard deviation of the output noise (default 0).
    V : (M, N) array, optional
        Teacher weights; the default sqrt(N) times the first M standard basis vectors (T = I), the
        canonical frame in which the kernels skip the teacher's dot products.
    """

    N: int
    K: int
    M: int
    sigma: float = 0.0
    V: np.ndarray | None = field(default=None, repr=False, compare=False)

    name = "teacher-student"

    def __post_init__(self) -> None:
        for name in ("N", "K", "M"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.M > self.N:
            raise ValueError(f"the teacher needs M <= N, got M = {self.M}, N = {self.N}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0.0):
            raise ValueError(f"sigma must be finite and >= 0, got {self.sigma}")
        if self.V is None:
            V = np.zeros((self.M, self.N))
            V[np.arange(self.M), np.arange(self.M)] = math.sqrt(self.N)
        else:
            V = np.array(self.V, dtype=float)
            if V.shape != (self.M, self.N) or not np.all(np.isfinite(V)):
                raise ValueError(f"V must be a finite {self.M} x {self.N} array")
        object.__setattr__(self, "V", V)

    @property
    def is_canonical(self) -> bool:
        """True when V = sqrt(N) [e_1 .. e_M] (then rho_n = x_n and T = I)."""
        V = np.zeros((self.M, self.N))
        V[np.arange(self.M), np.arange(self.M)] = math.sqrt(self.N)
        return bool(np.array_equal(self._teacher, V))

    @property
    def _teacher(self) -> np.ndarray:
        """V, an array once __post_init__ has run (the field's None stands for the default teacher)."""
        return cast(np.ndarray, self.V)

    @property
    def T(self) -> np.ndarray:
        """Teacher-teacher overlaps T = V V^T / N."""
        return self._teacher @ self._teacher.T / self.N

    # -- order parameters and the objective -------------------------------------------------
    def order_parameters(self, W: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(Q, R) = (W W^T / N, W V^T / N) of a student W (K x N)."""
        W = np.asarray(W, dtype=float)
        return W @ W.T / self.N, W @ self._teacher.T / self.N

    def eps_g(self, W: npt.ArrayLike) -> float:
        """The exact generalisation error of the student W (the objective f)."""
        Q, R = self.order_parameters(W)
        return generalisation_error(Q, R, self.T)

    def population_gradient(self, W: np.ndarray) -> np.ndarray:
        """grad_W eps_g = E[mean per-sample gradient] = (2/N) A W + (1/N) H V (the gradient gd uses)."""
        Q, R = self.order_parameters(W)
        A, H = generalisation_error_gradient(Q, R, self.T)
        return (2.0 * A @ W + H @ self._teacher) / self.N

    # -- samples ----------------------------------------------------------------------------
    def fields(self, W: npt.ArrayLike, x: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(lambda, rho): the student (n x K) and teacher (n x M) fields of inputs x (n x N)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        s = math.sqrt(self.N)
        return x @ np.asarray(W, dtype=float).T / s, x @ self._teacher.T / s

    def labels(self, x: npt.ArrayLike, xi: npt.ArrayLike | None = None) -> np.ndarray:
        """y = sum_n g(rho_n) + sigma xi for inputs x (n x N) and output noises xi (n,)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.sum(g(x @ self._teacher.T / math.sqrt(self.N)), axis=1)
        if xi is not None:
            y = y + self.sigma * np.asarray(xi, dtype=float)
        return y

    def per_sample_loss(self, W: npt.ArrayLike, x: npt.ArrayLike, xi: npt.ArrayLike | None = None) -> np.ndarray:
        """l = 1/2 (phi - y)^2 for each row of x."""
        lam, _ = self.fields(W, x)
        return 0.5 * (np.sum(g(lam), axis=1) - self.labels(x, xi)) ** 2

    def per_sample_grad(self, W: npt.ArrayLike, x: npt.ArrayLike, xi: npt.ArrayLike | None = None) -> np.ndarray:
        """grad_W l for each row of x: -Delta g'(lambda_k) x / sqrt(N), an n x K x N array."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        lam, _ = self.fields(W, x)
        delta = self.labels(x, xi) - np.sum(g(lam), axis=1)
        c = delta[:, None] * g_prime(lam)  # n x K
        return -c[:, :, None] * x[:, None, :] / math.sqrt(self.N)

    def minibatch_gradient(self, W: npt.ArrayLike, x: npt.ArrayLike, xi: npt.ArrayLike | None = None) -> np.ndarray:
        """The mean of the per-sample gradients of the rows of x (K x N)."""
        return np.mean(self.per_sample_grad(W, x, xi), axis=0)

    def sgd_step(self, W: npt.ArrayLike, x: npt.ArrayLike, eta: float, xi: npt.ArrayLike | None = None) -> np.ndarray:
        """W + (eta / (m sqrt N)) sum_s Delta_s g'(lambda_s) x_s: one step on the m rows of x."""
        return np.asarray(W, dtype=float) - eta * self.minibatch_gradient(W, x, xi)

    # -- starts -----------------------------------------------------------------------------
    def random_student(
        self,
        generator: np.random.Generator | np.random.BitGenerator | np.random.SeedSequence | int | Sequence[int] | None,
        sigma0_sq: float = 0.1,
    ) -> np.ndarray:
        """W with i.i.d. N(0, sigma0^2) entries (the small random start, by default sigma0^2 = 0.1).

        ``generator`` is a numpy.random.Generator or anything numpy.random.default_rng accepts.
        """
        gen = np.random.default_rng(generator)
        return math.sqrt(sigma0_sq) * gen.standard_normal((self.K, self.N))

    def plateau_student(self, q: float, c: float, r: float) -> np.ndarray:
        """A student exactly on the symmetric point Q_ii = q, Q_ik = c, R_in = r (identical R rows).

        w_i = p + (orthogonal part): p = r 1^T T^{-1} V lies in the teacher's span and gives
        R_in = r for every i, n; the orthogonal parts b_i have Gram matrix
        (q - c) I + (c - p.p/N) 1 1^T (they realise q > c), built from directions orthogonal to V.
        Needs N >= M + K, q >= c and q - c + K (c - p.p/N) >= 0.
        """
        K, M, N = self.K, self.M, self.N
        T = self.T
        p = r * np.linalg.solve(T, np.ones(M)) @ self._teacher  # length N
        pp = p @ p / N
        G = (q - c) * np.eye(K) + (c - pp) * np.ones((K, K))
        evals, evecs = np.linalg.eigh(G)
        if evals.min() < -1e-12 * max(1.0, abs(q)):
            raise ValueError(
                f"no student with q = {q}, c = {c}, r = {r}: the Gram matrix of the parts "
                f"orthogonal to the teacher would have eigenvalue {evals.min():.3g} < 0"
            )
        B = evecs * np.sqrt(np.clip(evals, 0.0, None))  # G = B B^T
        if N < M + K:
            raise ValueError(f"a plateau student needs N >= M + K = {M + K}, got N = {N}")
        # orthonormal directions orthogonal to the rows of V
        if self.is_canonical:
            basis = np.eye(N)[M : M + K]
        else:
            basis = np.linalg.svd(self._teacher)[2][M : M + K]  # right singular vectors beyond the row space of V
        return p[None, :] + math.sqrt(N) * B @ basis
