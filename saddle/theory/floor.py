"""The noise floor at a minimum: how far above f_min SGD's iterate stays at a fixed eta and m.

docs/theory.md section 8 derives it and compares it with simulation.

Near a strict minimum u* (Riemannian Hessian H*, per-sample gradient covariance Sigma*, both on the
tangent space at u*) the tangent coordinate y of SGD with step eta and batch m follows, to first order,

    y_{t+1} = A y_t + (eta / sqrt(m)) xi_t,   A = I - eta H*,   Cov xi = Sigma*,

whose stationary covariance P solves the discrete Lyapunov equation P = A P A^T + (eta^2 / m) Sigma*
(Mandt, Hoffman & Blei 2017, "Stochastic gradient descent as approximate Bayesian inference", JMLR 18, solve
its continuous-time form, H* P + P H* = (eta / m) Sigma*, for constant SGD's Ornstein-Uhlenbeck limit; here the
discrete-time equation is solved exactly, which keeps the eta-correction).  The excess f - f_min = y^T H* y / 2
(to second order) is then a generalised chi-square: sum_k w_k chi^2_1, the w_k the eigenvalues of
P^{1/2} H* P^{1/2} / 2, with mean

    E[f - f_min] = tr(H* P) / 2 = sum_k eta s_k / (2 m (2 - eta h_k))
                 = eta tr(Sigma*) / (4 m) + eta^2 sum_k h_k s_k / (8 m) + O(eta^3),

h_k the eigenvalues of H* and s_k = v_k^T Sigma* v_k the noise along their eigenvectors: the curvature
cancels for small eta (:func:`saddle.theory.stable_heat`), the noise enters only through the ratio eta / m
(the noise scale of Smith, Kindermans, Ying & Le 2018, "Don't decay the learning rate, increase the batch
size", ICLR), and the eta-correction 2 / (2 - eta h_k) grows without bound as eta h_k -> 2, beyond which
the minimum is linearly unstable and there is no floor.

:func:`noise_floor` returns all of it (:class:`FloorPrediction`); :class:`WeightedChi2` is the law of the
excess (CDF by Ruben's exact series, or by Imhof's inversion where the weights are too spread for it);
:func:`local_minimum` finds the minimum an objective's escape leads to.  Neglected: the terms of order
(eta / m) relative to the floor from the objective's third and fourth derivatives, from the change of
Sigma with u and (on a sphere) from the normal part of the noise.  Against simulation (the mean of f - f_min
over independent trials at stationarity): on the quadratic testbed (gamma = lambda = beta = 1, eta = 0.6,
H* = diag(2 gamma, lambda_k + gamma)) +1.5% at an excess of 0.03 |f_min|, +3.9% at 0.12 |f_min|, +10% at
0.3 |f_min|; on the spike (d = 10, uniform data) the error grows like eta / m, about +200 eta / m at
eta <= 0.1 (+1% at m = 1024, +9% at m = 256 and 1.7 times at m = 64 for eta = 0.1) and -2% at eta = 0.3,
m = 2048; at eta = 0.01, m = 1 (predicted 0.98, the iterate roams beyond the minimum's basin) it says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.special
import scipy.stats
from scipy import integrate

from saddle.manifolds import ProductSpheres
from saddle.theory.quantities import _resolve_covariance, _tangent_basis, monte_carlo_noise, stable_heat

__all__ = [
    "QUANTILE_LEVELS",
    "RUBEN_MAX_TERMS",
    "FloorPrediction",
    "WeightedChi2",
    "local_minimum",
    "noise_floor",
]

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
"""The levels of :attr:`FloorPrediction.quantiles`."""

RUBEN_MAX_TERMS = 4000
"""Ruben's series needs about 28 w_max / w_min terms for 1e-12; beyond this many, Imhof's inversion is used."""

_SERIES_TOL = 1e-13  # Ruben: stop when the coefficients left out sum to less than this (a bound on the error)
_CRITICAL_TOL = 1e-8  # relative gradient norm below which a point is a critical point
_DROP_WEIGHT = 1e-14  # weights below this times the largest are zero (they move the excess by less)


# ----------------------------------------------------------------------------------------------
# The law of the excess: a generalised chi-square
# ----------------------------------------------------------------------------------------------


class WeightedChi2:
    """The law of Q = sum_k w_k chi^2_1 (independent chi-squares, weights w_k >= 0): the generalised chi-square.

    The CDF is Ruben's (1962) exact series for positive weights,

        P(Q <= x) = sum_{j >= 0} c_j P(chi^2_{n + 2j} <= x / b),   b = min_k w_k,
        c_0 = prod_k (b / w_k)^{1/2},   c_j = (1 / (2 j)) sum_{r < j} G_{j - r} c_r,   G_j = sum_k (1 - b / w_k)^j,

    (Ruben, "Probability content of regions under spherical normal distributions IV", Ann. Math. Stat. 33,
    1962): the c_j are >= 0 and sum to 1, so stopping when the ones left out sum to below 1e-13 bounds the
    error by that.  It needs about 28 w_max / w_min terms; beyond :data:`RUBEN_MAX_TERMS` the CDF is Imhof's
    (1961, Biometrika 48, 419) inversion of the characteristic function, by adaptive quadrature
    (accurate to about 1e-9).  Weights below 1e-14 times the largest are dropped.

    Parameters
    ----------
    weights : array_like
        The w_k (>= 0).  All zero: Q = 0.
    """

    def __init__(self, weights: npt.ArrayLike) -> None:
        w = np.asarray(weights, dtype=float).ravel()
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("the weights must be finite and >= 0")
        self.weights = np.sort(w[w > _DROP_WEIGHT * float(np.max(w))])
        self.n = int(self.weights.size)
        if self.n == 0:  # Q = 0
            self.scale = 0.0
            self.coefficients: np.ndarray | None = np.ones(1)
            self.method = "zero"
            return
        self.scale = float(self.weights[0])
        self.coefficients = self._ruben_coefficients()
        self.method = "Ruben's series" if self.coefficients is not None else "Imhof's inversion"

    @property
    def mean(self) -> float:
        """E Q = sum_k w_k."""
        return float(np.sum(self.weights))

    @property
    def variance(self) -> float:
        """Var Q = 2 sum_k w_k^2."""
        return float(2.0 * np.sum(self.weights**2))

    def _ruben_coefficients(self) -> np.ndarray | None:
        ratio = 1.0 - self.scale / self.weights
        log_c0 = 0.5 * float(np.sum(np.log(self.scale / self.weights)))
        if log_c0 < -700.0:  # c_0 underflows
            return None
        c = np.zeros(RUBEN_MAX_TERMS + 1)
        c[0] = math.exp(log_c0)
        if np.all(ratio == 0.0):
            return c[:1]
        G = np.zeros(RUBEN_MAX_TERMS + 1)
        power = np.ones_like(ratio)
        for j in range(1, RUBEN_MAX_TERMS + 1):
            power = power * ratio
            G[j] = float(np.sum(power))
        total = c[0]
        for j in range(1, RUBEN_MAX_TERMS + 1):
            c[j] = float(np.dot(G[j:0:-1], c[:j])) / (2.0 * j)
            total += c[j]
            if 1.0 - total < _SERIES_TOL:
                return c[: j + 1]
        return None

    def cdf(self, x: npt.ArrayLike) -> np.ndarray:
        """P(Q <= x), elementwise."""
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        out = np.zeros(flat.shape)
        pos = flat > 0.0
        if self.n == 0:
            out[flat >= 0.0] = 1.0
        elif self.coefficients is not None:
            c = self.coefficients
            half_dof = 0.5 * self.n + np.arange(c.size)
            for i in np.flatnonzero(pos):
                out[i] = float(np.dot(c, scipy.special.gammainc(half_dof, 0.5 * flat[i] / self.scale)))
        else:
            for i in np.flatnonzero(pos):
                out[i] = _imhof_cdf(float(flat[i]), self.weights)
        return np.clip(out, 0.0, 1.0).reshape(x.shape)

    def sf(self, x: npt.ArrayLike) -> np.ndarray:
        """P(Q > x), elementwise."""
        return 1.0 - self.cdf(x)

    def quantile(self, q: npt.ArrayLike) -> np.ndarray:
        """The q-quantile of Q (0 < q < 1), elementwise, by Brent's method between the quantiles of
        w_min chi^2_n and w_max chi^2_n (Q lies between the two in law), to a relative 1e-12."""
        q = np.asarray(q, dtype=float)
        flat = q.ravel()
        if np.any(~((flat > 0.0) & (flat < 1.0))):
            raise ValueError("quantile levels must lie strictly between 0 and 1")
        out = np.zeros(flat.shape)
        for i, level in enumerate(flat if self.n else ()):
            chi = float(scipy.stats.chi2(self.n).ppf(level))
            lo, hi = self.scale * chi, float(self.weights[-1]) * chi
            if hi <= lo * (1.0 + 1e-12):
                out[i] = lo
                continue
            out[i] = scipy.optimize.brentq(
                lambda v, level=level: float(self.cdf(v)) - level, lo, hi, xtol=1e-300, rtol=1e-12
            )
        return out.reshape(q.shape)

    def __repr__(self) -> str:
        return f"WeightedChi2(n={self.n}, mean={self.mean:.6g}, method={self.method!r})"


def _imhof_cdf(x: float, w: np.ndarray) -> float:
    """P(sum_k w_k chi^2_1 <= x) = 1/2 - (1/pi) int_0^inf sin(theta(u)) / (u rho(u)) du (Imhof 1961), with
    theta(u) = sum_k atan(w_k u) / 2 - x u / 2 and rho(u) = prod_k (1 + w_k^2 u^2)^{1/4}: adaptive quadrature
    up to U = 10 / max w, and beyond it the oscillating tail as two Fourier integrals (QUADPACK's QAWF)."""

    def theta0(u: float) -> float:
        return 0.5 * float(np.sum(np.arctan(w * u)))

    def rho(u: float) -> float:
        return float(np.exp(0.25 * np.sum(np.log1p((w * u) ** 2))))

    def head(u: float) -> float:
        if u == 0.0:
            return 0.5 * (float(np.sum(w)) - x)
        return math.sin(theta0(u) - 0.5 * x * u) / (u * rho(u))

    U = 10.0 / float(np.max(w))
    total = integrate.quad(head, 0.0, U, limit=400)[0]
    cU, sU = math.cos(0.5 * x * U), math.sin(0.5 * x * U)
    # sin(theta0(U + v) - x (U + v) / 2) = [sin t cU - cos t sU] cos(x v / 2) - [cos t cU + sin t sU] sin(x v / 2)
    total += integrate.quad(
        lambda v: (math.sin(theta0(U + v)) * cU - math.cos(theta0(U + v)) * sU) / ((U + v) * rho(U + v)),
        0.0,
        np.inf,
        weight="cos",
        wvar=0.5 * x,
    )[0]
    total -= integrate.quad(
        lambda v: (math.cos(theta0(U + v)) * cU + math.sin(theta0(U + v)) * sU) / ((U + v) * rho(U + v)),
        0.0,
        np.inf,
        weight="sin",
        wvar=0.5 * x,
    )[0]
    return float(min(1.0, max(0.0, 0.5 - total / math.pi)))


# ----------------------------------------------------------------------------------------------
# The minimum
# ----------------------------------------------------------------------------------------------


def _flat_state(u: npt.ArrayLike) -> np.ndarray:
    u = np.asarray(u, dtype=float)
    if u.ndim != 1:
        raise ValueError(f"the noise floor needs an objective whose point is a flat vector, got shape {u.shape}")
    return u


def _tangent_hessian(objective: Any, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, B^T Hess f(u) B): an orthonormal tangent basis at u and the Riemannian Hessian in it."""
    if not callable(getattr(objective, "rhess", None)):
        raise ValueError(
            f"the noise floor needs the objective's Hessian (rhess), which {type(objective).__name__} does not have"
        )
    B = _tangent_basis(getattr(objective, "manifold", None), u)
    H = B.T @ np.asarray(objective.rhess(u), dtype=float) @ B
    return B, 0.5 * (H + H.T)


def _retract(objective: Any, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    manifold = getattr(objective, "manifold", None)
    return np.asarray(manifold.retract(u, v), dtype=float) if manifold is not None else u + v


def _newton_polish(objective: Any, u: np.ndarray, steps: int = 8) -> np.ndarray:
    """Riemannian Newton steps u <- R_u(-Hess^{-1} grad) while they lower the gradient norm."""
    for _ in range(steps):
        B, H = _tangent_hessian(objective, u)
        grad = np.asarray(objective.rgrad(u), dtype=float)
        if not np.any(grad):
            break
        try:
            step = np.linalg.solve(H, -(B.T @ grad))
        except np.linalg.LinAlgError:
            break
        new = _retract(objective, u, B @ step)
        if not np.linalg.norm(np.asarray(objective.rgrad(new), dtype=float)) < np.linalg.norm(grad):
            break
        u = new
    return u


def _descend(objective: Any, u: np.ndarray, h: float, max_steps: int, tol: float) -> np.ndarray:
    """Riemannian gradient descent with Armijo backtracking from u, initial step h, until |grad f| <= tol (1 + |f|)
    or no step lowers f in floating point (then Newton steps take over)."""
    h0, f = h, float(objective.f(u))
    for _ in range(max_steps):
        g = np.asarray(objective.rgrad(u), dtype=float)
        g2 = float(np.dot(g, g))
        if math.sqrt(g2) <= tol * (1.0 + abs(f)) or f - 0.5 * h * g2 == f:  # (the decrease asked is below rounding)
            return u
        while True:
            new = _retract(objective, u, -h * g)
            f_new = float(objective.f(new))
            if f_new <= f - 0.5 * h * g2 and f_new < f:
                break
            h *= 0.5
            if h < h0 * 2.0**-40:  # f is flat to rounding here
                return u
        u, f, h = new, f_new, min(2.0 * h, 64.0 * h0)
    raise ValueError(f"the gradient flow from the start did not reach a minimum in {max_steps} steps")


def local_minimum(
    objective: Any, start: npt.ArrayLike, *, kick: float = 1e-3, max_steps: int = 200_000, tol: float = 1e-10
) -> np.ndarray:
    """The minimum that the noiseless gradient flow reaches from a start point, leaving a saddle downhill.

    From ``start`` (a saddle: pushed a distance ``kick`` along the eigenvector of its most negative Riemannian
    Hessian eigenvalue, the escape direction), Riemannian gradient descent with Armijo backtracking
    (u <- R_u(-h grad f(u)), h halved until f falls by h |grad f|^2 / 2, doubled after each accepted step)
    runs until |grad f| <= tol (1 + |f|) or f stops falling in floating point, and Riemannian Newton steps
    polish the point.  Where that ends at another saddle (the flow can follow an invariant set, e.g. the
    spike's from the s = 3 saddle along (a_1 + a_2 - 2 a_3) / sqrt 6 to the s = 2 saddle on a_1, a_2), it is
    pushed off that one in the same way, at most d times.

    Parameters
    ----------
    objective : object
        With ``f``, ``rgrad``, ``rhess`` and ``manifold`` (``retract``, ``tangent_basis``; R^d without one).
    start : array_like
        The start point (flat).
    kick, max_steps, tol : float, int, float
        The push off a saddle, the most descent steps (each time), the gradient tolerance.

    Returns
    -------
    ndarray
        The minimum.

    Raises
    ------
    ValueError
        If the descent does not converge in ``max_steps`` or ends anywhere but at a strict minimum.
    """
    u = _flat_state(start).copy()
    for _ in range(u.size + 1):
        B, H = _tangent_hessian(objective, u)
        lam, vec = np.linalg.eigh(H)
        scale = max(1.0, float(np.max(np.abs(lam))))
        if lam[0] < -_CRITICAL_TOL * scale:
            u = _retract(objective, u, kick * (B @ vec[:, 0]))
        u = _newton_polish(objective, _descend(objective, u, 1.0 / scale, max_steps, tol))
        if np.linalg.eigvalsh(_tangent_hessian(objective, u)[1])[0] > _CRITICAL_TOL * scale:
            break
    _check_minimum(objective, u)
    return u


def _check_minimum(objective: Any, u: np.ndarray) -> np.ndarray:
    """The tangent Hessian's eigenvalues at u, after checking that u is a strict minimum."""
    _, H = _tangent_hessian(objective, u)
    lam = np.linalg.eigvalsh(H)
    scale = max(1.0, float(np.max(np.abs(lam))))
    grad = float(np.linalg.norm(np.asarray(objective.rgrad(u), dtype=float)))
    if grad > _CRITICAL_TOL * scale * max(1.0, float(np.linalg.norm(u))):
        raise ValueError(f"the point is not a critical point: |grad f| = {grad:.3g}")
    if lam[0] <= _CRITICAL_TOL * scale:
        raise ValueError(f"the point is not a strict minimum: the smallest Hessian eigenvalue is {lam[0]:.3g}")
    return lam


def _objective_and_start(source: Any) -> tuple[Any, Any, np.ndarray | None]:
    """(objective, configuration or None, start point or None) from an EscapeConfig or an objective."""
    objective = source.build_objective() if hasattr(source, "build_objective") else source
    if isinstance(getattr(objective, "manifold", None), ProductSpheres):
        raise ValueError("the noise floor is not implemented on a product of spheres (its points are d x k arrays)")
    if objective is not source:
        return objective, source, _flat_state(source.start_point(objective))
    start = source.start() if callable(getattr(source, "start", None)) else None
    return source, None, None if start is None else _flat_state(start)


# ----------------------------------------------------------------------------------------------
# The floor
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FloorPrediction:
    """The stationary excess f - f_min of SGD at a minimum, for the linearised dynamics (:func:`noise_floor`).

    The law of the excess is :attr:`law` (a :class:`WeightedChi2`); :meth:`cdf`, :meth:`quantile` and
    :attr:`quantiles` use it.

    Attributes
    ----------
    eta, m : float
        Step size and batch size.
    minimum : ndarray
        The minimum u*; ``f_min`` = f(u*).
    mean_excess : float
        E[f - f_min] = tr(H* P) / 2 = sum_k eta s_k / (2 m (2 - eta h_k)) (module docstring).
    small_eta_excess : float
        Its small-eta limit eta tr(Sigma*) / (4 m) (:func:`saddle.theory.stable_heat`).
    hessian_eigenvalues : ndarray
        The spectrum h_k of H* (ascending) used.
    weights : ndarray
        The generalised chi-square weights: eigenvalues of P^{1/2} H* P^{1/2} / 2 (ascending).
    hessian, noise_covariance, covariance : ndarray
        H*, Sigma* and the stationary P in the tangent basis ``tangent_basis`` (columns; d x (d - 1) on a
        sphere, the identity on R^d).
    method : str
        'exact' (Sigma* from the objective's ``gradient_noise_covariance``) or 'monte carlo'.
    source : str
        Where Sigma* came from, in words.
    mean_excess_se, small_eta_excess_se : float
        Monte Carlo standard errors (0 when exact).
    note : str
        Where the minimum is not the objective's global minimum, a line saying so.
    """

    eta: float
    m: float
    minimum: np.ndarray
    f_min: float
    mean_excess: float
    small_eta_excess: float
    hessian_eigenvalues: np.ndarray
    weights: np.ndarray
    hessian: np.ndarray = field(repr=False)
    noise_covariance: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    tangent_basis: np.ndarray = field(repr=False)
    method: str = "exact"
    source: str = ""
    mean_excess_se: float = 0.0
    small_eta_excess_se: float = 0.0
    note: str = ""

    @cached_property
    def law(self) -> WeightedChi2:
        """The law of f - f_min at stationarity: sum_k w_k chi^2_1 with the ``weights``."""
        return WeightedChi2(self.weights)

    @property
    def eta_correction(self) -> float:
        """mean_excess / small_eta_excess: 1 + eta sum_k h_k s_k / (2 sum_k s_k) + O(eta^2), -> 1 as eta -> 0."""
        return self.mean_excess / self.small_eta_excess if self.small_eta_excess > 0 else math.nan

    @property
    def mean_f(self) -> float:
        """E f at stationarity: f_min + mean_excess."""
        return self.f_min + self.mean_excess

    def cdf(self, excess: npt.ArrayLike) -> np.ndarray:
        """P(f - f_min <= excess) at stationarity."""
        return self.law.cdf(excess)

    def quantile(self, q: npt.ArrayLike) -> np.ndarray:
        """The q-quantile of f - f_min at stationarity."""
        return self.law.quantile(q)

    @cached_property
    def quantiles(self) -> dict[float, float]:
        """The excess's quantiles at :data:`QUANTILE_LEVELS` (5%, 25%, 50%, 75%, 95%)."""
        values = self.law.quantile(np.array(QUANTILE_LEVELS))
        return {level: float(v) for level, v in zip(QUANTILE_LEVELS, values)}


def _sampler(objective: Any, d: int) -> Callable[[np.random.Generator, int], Any]:
    if hasattr(objective, "noise_sampler"):
        return objective.noise_sampler()
    if hasattr(objective, "samples"):
        return lambda rng, n: objective.samples(rng.standard_normal((n, d)))
    raise ValueError("no exact covariance for this objective and no sampler for Monte Carlo: give sampler=")


def noise_floor(
    config_or_objective: Any,
    eta: float,
    m: float,
    *,
    minimum: npt.ArrayLike | None = None,
    method: str = "auto",
    sampler: Callable[[np.random.Generator, int], Any] | None = None,
    n_samples: int = 200_000,
    seed: int = 0,
) -> FloorPrediction:
    """The noise floor: the stationary law of f - f_min of SGD with step eta and batch m at a minimum.

    Linearised at the minimum u* (tangent coordinates y, Riemannian Hessian H*, per-sample gradient
    covariance Sigma* projected on the tangent space), SGD is y_{t+1} = (I - eta H*) y_t + (eta / sqrt(m)) xi_t,
    Cov xi = Sigma*: its stationary covariance P solves P = A P A^T + (eta^2 / m) Sigma*, A = I - eta H*
    (solved in the eigenbasis of H*, P_ij = eta s_ij / (m (h_i + h_j - eta h_i h_j))), and the excess
    y^T H* y / 2 is a generalised chi-square with mean tr(H* P) / 2 (module docstring).  The continuous-time
    version of P is that of Mandt, Hoffman & Blei (2017), "Stochastic gradient descent as approximate Bayesian
    inference", JMLR 18; the eta / m noise scale is that of Smith, Kindermans, Ying & Le (2018),
    "Don't decay the learning rate, increase the batch size", ICLR.

    Parameters
    ----------
    config_or_objective : EscapeConfig or object
        A configuration (its ``build_objective()`` and ``start_point``) or an objective (``f``, ``rgrad``,
        ``rhess``, ``manifold``; ``start()`` to find the minimum from; a flat point).
    eta : float
        Step size (> 0, below 2 / lambda_max(H*)).
    m : float
        Batch size (>= 1).
    minimum : array_like, optional
        The minimum u*.  Default: ``objective.minimum()`` where it has one, else the end of the noiseless
        gradient flow from the start, pushed off the saddle along its escape direction
        (:func:`local_minimum`): for the spike a component a_l (f_min = -1), for the quadratic
        +-sqrt(gamma / beta) e_1 (f_min = -gamma^2 / (4 beta)).
    method : str
        'auto' (exact where the objective has ``gradient_noise_covariance``, else Monte Carlo), 'exact' or
        'monte-carlo'.
    sampler, n_samples, seed
        Monte Carlo: ``sampler(rng, n)`` -> n samples for ``per_sample_grad`` (default: the objective's
        ``noise_sampler()``, or its ``samples`` of standard normals), how many, and the seed.

    Returns
    -------
    FloorPrediction

    Raises
    ------
    ValueError
        eta or m out of range; the point given is not a strict minimum; eta lambda_max(H*) >= 2, where the
        linearised iterates diverge and there is no stationary floor.
    """
    if not (isinstance(eta, (int, float, np.floating, np.integer)) and math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
    if not (isinstance(m, (int, float, np.floating, np.integer)) and math.isfinite(m) and m >= 1):
        raise ValueError(f"m must be a batch size >= 1, got {m!r}")
    if method not in ("auto", "exact", "monte-carlo"):
        raise ValueError(f"method must be 'auto', 'exact' or 'monte-carlo', got {method!r}")
    eta, m = float(eta), float(m)
    objective, config, start = _objective_and_start(config_or_objective)
    if minimum is not None:
        u = _newton_polish(objective, _flat_state(minimum).copy())
    elif callable(getattr(objective, "minimum", None)):
        u = _flat_state(objective.minimum())
    elif start is not None:
        u = local_minimum(objective, start)
    else:
        raise ValueError("give minimum=: the objective has neither a minimum() nor a start() to find one from")
    h_sorted = _check_minimum(objective, u)
    if eta * h_sorted[-1] >= 2.0:
        raise ValueError(
            f"no noise floor at eta = {eta:g}: eta lambda_max = {eta * h_sorted[-1]:.4g} >= 2 "
            f"(lambda_max = {h_sorted[-1]:.4g}), the minimum is linearly unstable and SGD's iterates diverge from it"
        )
    f_min = float(objective.f(u))
    note = ""
    if config is not None and hasattr(config, "objective_class"):
        global_min = config.objective_class.min_value(config)
        if global_min is not None and f_min > global_min + 1e-9 * max(1.0, abs(global_min)):
            note = f"a local minimum: f = {f_min:.6g} > the objective's minimum {global_min:.6g}"

    B, H = _tangent_hessian(objective, u)
    h, V = np.linalg.eigh(H)
    # K = sum_t A^t H* A^t solves K = A K A + H*; in H*'s eigenbasis K = diag(1 / (eta (2 - eta h))), and
    # E excess = (eta^2 / (2 m)) tr(K Sigma*): the direction W = B V K^{1/2} carries the Monte Carlo error.
    k_diag = 1.0 / (eta * (2.0 - eta * h))
    cov_at, source = _resolve_covariance(objective, None) if method != "monte-carlo" else (None, "")
    if method == "exact" and cov_at is None:
        raise ValueError("no exact covariance is known for this objective: use method='monte-carlo'")
    mean_se = small_se = 0.0
    if cov_at is not None:
        S = B.T @ np.asarray(cov_at(u), dtype=float) @ B
        kind = "exact"
    else:
        draw = sampler if sampler is not None else _sampler(objective, u.size)
        groups = [B, (B @ V) * np.sqrt(k_diag)]
        [(trace, trace_se), (_, k_se)], cov = monte_carlo_noise(objective, u, groups, draw, n_samples, seed)
        S = cov[: B.shape[1], : B.shape[1]]
        small_se = float(stable_heat(trace_se, eta, m))
        mean_se = eta * eta * k_se / (2.0 * m)
        kind, source = "monte carlo", f"Monte Carlo, {n_samples} samples, seed {seed}"
    S = 0.5 * (S + S.T)
    St = V.T @ S @ V
    Pt = eta * St / (m * (h[:, None] + h[None, :] - eta * h[:, None] * h[None, :]))
    root = np.sqrt(h)
    M = 0.5 * root[:, None] * Pt * root[None, :]
    weights = np.clip(np.linalg.eigvalsh(0.5 * (M + M.T)), 0.0, None)
    mean_excess = float(np.sum(eta * np.diag(St) / (2.0 * m * (2.0 - eta * h))))
    return FloorPrediction(
        eta=eta,
        m=m,
        minimum=u,
        f_min=f_min,
        mean_excess=mean_excess,
        small_eta_excess=float(stable_heat(float(np.trace(S)), eta, m)),
        hessian_eigenvalues=h,
        weights=weights,
        hessian=H,
        noise_covariance=S,
        covariance=V @ Pt @ V.T,
        tangent_basis=B,
        method=kind,
        source=source,
        mean_excess_se=float(mean_se),
        small_eta_excess_se=small_se,
        note=note,
    )
