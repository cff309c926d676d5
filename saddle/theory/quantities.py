"""Saddle quantities of any objective (layer 2 of :mod:`saddle.theory`).

gamma, the escape directions, the stable spectrum, sigma_v^2 = Var(v . g(u_0; x)),
tr(Sigma_stable) and the CNC constant of Daneshmand et al. (2018) at a strict saddle: from an
objective's Riemannian Hessian and its per-sample gradient covariance, exactly where the covariance
is known (the quadratic testbed, docs/objectives.md) and by Monte Carlo with a standard error otherwise
(:func:`saddle_quantities`).  An objective's own exact quantities live beside it
(:mod:`saddle.objectives.spike_moments` for the spike).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from saddle.manifolds import Euclidean
from saddle.theory.linear import _ZERO_TOL, LinearPrediction, linear_prediction

# ----------------------------------------------------------------------------------------------
# 2b. Saddle quantities of any objective
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SaddleQuantities:
    """What the linear theory needs from a strict saddle u_0.

    Attributes
    ----------
    u0 : ndarray
        The saddle.
    gamma : float
        Minus the most negative Riemannian Hessian eigenvalue (on the tangent space).
    escape_directions : ndarray, d x k
        Orthonormal eigenvectors of that eigenvalue (the k = n_escape escape directions v_i).
    hessian_eigenvalues : ndarray
        The whole tangent spectrum, ascending.
    stable_eigenvalues : ndarray
        The positive eigenvalues lambda_k, and ``stable_directions`` (d x (#)) their eigenvectors.
    sigma_v2 : float
        Noise variance along the escape directions, tr(V^T Sigma V) / k (for k = 1,
        Var(v . g(u_0; x))).  For the spike V^T Sigma V is isotropic by symmetry.
    cnc : float
        The correlated-negative-curvature constant of Daneshmand et al. (2018),
        min over unit v in span(V) of v^T Sigma v = lambda_min(V^T Sigma V).
    trace_stable : float
        tr(Sigma_stable) = sum_k w_k^T Sigma w_k over the stable directions w_k.
    stable_noise : ndarray
        The terms w_k^T Sigma w_k.
    sigma_v2_se, cnc_se, trace_stable_se : float
        Monte Carlo standard errors (0 when exact).
    exact : bool
        Whether the noise moments are exact (else Monte Carlo).
    method : str
        Where the covariance came from.
    objective : object
        The objective the quantities were computed from (the heat-path model follows it).
    covariance_at : callable or None
        u -> exact per-sample covariance at u, when one is known (None for Monte Carlo).
    """

    u0: np.ndarray
    gamma: float
    escape_directions: np.ndarray
    hessian_eigenvalues: np.ndarray
    stable_eigenvalues: np.ndarray
    stable_directions: np.ndarray
    sigma_v2: float
    cnc: float
    trace_stable: float
    stable_noise: np.ndarray
    sigma_v2_se: float = 0.0
    cnc_se: float = 0.0
    trace_stable_se: float = 0.0
    exact: bool = True
    method: str = "exact"
    objective: Any = field(default=None, repr=False, compare=False)
    covariance_at: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def n_escape(self) -> int:
        return int(self.escape_directions.shape[1])

    def stable_heat(self, eta: npt.ArrayLike, m: npt.ArrayLike) -> np.ndarray:
        """H(m) = eta tr(Sigma_stable) / (4 m); see :func:`stable_heat`."""
        return stable_heat(self.trace_stable, eta, m)

    def linear(
        self, eta: npt.ArrayLike, m: npt.ArrayLike, *, delta: float | None = None, radius: float | None = None
    ) -> LinearPrediction:
        """:func:`linear_prediction` with this saddle's gamma, sigma_v^2 and number of escape directions."""
        return linear_prediction(eta, self.gamma, self.sigma_v2, m, delta=delta, radius=radius, n_escape=self.n_escape)


def stable_heat(trace_stable: float, eta: npt.ArrayLike, m: npt.ArrayLike) -> np.ndarray:
    """Stable-direction heat H(m) = eta tr(Sigma_stable) / (4 m) (docs/theory.md section 4(a)).

    A stable coordinate y with curvature lambda and noise variance Sigma_kk follows
    y_{t+1} = (1 - eta lambda) y_t + eta xi_t / sqrt(m); its stationary variance is
    eta Sigma_kk / (m lambda (2 - eta lambda)), so it raises f on average by
    (lambda / 2) Var y = eta Sigma_kk / (2 m (2 - eta lambda)) = eta Sigma_kk / (4 m)
    (1 + O(eta lambda)): the curvature cancels.  Summed over the stable directions.
    """
    return np.asarray(eta, dtype=float) * trace_stable / (4.0 * np.asarray(m, dtype=float))


def _tangent_basis(manifold: Any, u: np.ndarray) -> np.ndarray:
    if manifold is not None and hasattr(manifold, "tangent_basis"):
        return np.asarray(manifold.tangent_basis(u), dtype=float)
    return np.eye(np.asarray(u).size)


def _spectrum(
    objective: Any, u0: np.ndarray, rel_tol: float = 1e-8
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    B = _tangent_basis(getattr(objective, "manifold", None), u0)
    H = np.asarray(objective.rhess(u0), dtype=float)
    Ht = B.T @ H @ B
    lam, vec = np.linalg.eigh(0.5 * (Ht + Ht.T))
    scale = max(1.0, float(np.max(np.abs(lam))))
    if lam[0] >= -rel_tol * scale:
        raise ValueError(f"u0 is not a strict saddle: the smallest Hessian eigenvalue is {lam[0]:.3g} >= 0")
    esc = lam <= lam[0] + rel_tol * scale
    stable = lam > rel_tol * scale
    return lam, B @ vec[:, esc], B @ vec[:, stable], lam[stable], float(-lam[0])


def _resolve_covariance(objective: Any, covariance: Any) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    """A callable u -> exact d x d per-sample covariance, and its name; (None, '') when unavailable."""
    if covariance is not None:
        if callable(covariance):
            return covariance, "given covariance function"
        C = np.asarray(covariance, dtype=float)
        return (lambda u: C), "given covariance matrix (the same at every point)"
    if hasattr(objective, "gradient_noise_covariance"):
        return objective.gradient_noise_covariance, getattr(
            objective, "covariance_source", "objective.gradient_noise_covariance"
        )
    return None, ""


def monte_carlo_noise(
    objective: Any,
    u: np.ndarray,
    directions_list: Sequence[np.ndarray],
    sampler: Callable[[np.random.Generator, int], Any],
    n_samples: int = 200_000,
    seed: int = 0,
    chunk: int = 50_000,
) -> tuple[list[tuple[float, float]], np.ndarray]:
    """Monte Carlo variances of per-sample gradients along groups of directions, with standard errors.

    For each d x k array W of orthonormal directions, estimates
    tr(W^T Sigma W) = E ||W^T (g - E g)||^2 from n i.i.d. samples x (drawn by
    ``sampler(rng, n)``; g = objective.per_sample_grad(u, x)) as the mean of
    q_i = ||W^T (g_i - g_bar)||^2 n / (n - 1), with standard error std(q) / sqrt(n).

    Returns
    -------
    list of (estimate, standard error), and the sample covariance of the
    projections on the concatenated directions.
    """
    rng = np.random.default_rng(seed)
    W_all = np.column_stack(directions_list)
    proj = np.empty((n_samples, W_all.shape[1]))
    for lo in range(0, n_samples, chunk):
        n = min(chunk, n_samples - lo)
        g = np.asarray(objective.per_sample_grad(u, sampler(rng, n)), dtype=float)
        proj[lo : lo + n] = g @ W_all
    proj -= proj.mean(axis=0)
    corr = n_samples / (n_samples - 1.0)
    out, col = [], 0
    for W in directions_list:
        k = W.shape[1]
        q = np.sum(proj[:, col : col + k] ** 2, axis=1) * corr
        out.append((float(q.mean()), float(q.std(ddof=1) / math.sqrt(n_samples))))
        col += k
    return out, proj.T @ proj / (n_samples - 1.0)


def saddle_quantities(
    objective: Any,
    u0: npt.ArrayLike | None = None,
    *,
    covariance: npt.ArrayLike | Callable[[np.ndarray], np.ndarray] | None = None,
    sampler: Callable[[np.random.Generator, int], Any] | None = None,
    n_samples: int = 200_000,
    seed: int = 0,
    method: str = "auto",
    warn: bool = True,
) -> SaddleQuantities:
    """gamma, escape and stable directions, sigma_v^2, tr(Sigma_stable) and the CNC constant at a saddle.

    Parameters
    ----------
    objective : object
        Provides ``rhess(u)`` (Riemannian Hessian as a d x d matrix acting on the
        tangent space), ``manifold`` with ``tangent_basis(u)`` (an identity basis is
        used without one, as on R^d), and ``per_sample_grad(u, x)`` for the Monte
        Carlo path.  The exact covariance comes from, in order: ``covariance``,
        ``objective.gradient_noise_covariance(u)`` (exact spike moments for the
        spike, the constant Sigma of the quadratic); else Monte Carlo with ``sampler``.
    u0 : ndarray, optional
        The saddle; ``objective.saddle(2)`` or ``objective.start()`` when omitted.
    covariance : ndarray or callable, optional
        The per-sample gradient covariance (d x d), or a function u -> covariance.
    sampler : callable, optional
        ``sampler(rng, n)`` -> n samples accepted by ``per_sample_grad``, for Monte
        Carlo (``objective.noise_sampler()`` where it has one, e.g. the spike's data;
        ``objective.samples`` applied to standard normals otherwise, if it exists).
    n_samples, seed : int
        Monte Carlo size and seed (numpy.random.default_rng).
    method : str
        'auto' (exact when a covariance is known, else Monte Carlo), 'exact'
        (error when none is known) or 'monte-carlo' (even when one is known).
    warn : bool
        Warn (UserWarning) when the CNC constant is zero: the per-sample noise has
        no component along some escape direction.

    Returns
    -------
    SaddleQuantities

    Notes
    -----
    The escape directions are the eigenvectors of the most negative eigenvalue
    -gamma (within a relative 1e-8); the stable ones those of the positive
    eigenvalues.  sigma_v^2 = tr(V^T Sigma V) / k and CNC = lambda_min(V^T Sigma V)
    (Daneshmand, Kohler, Lucchi, Hofmann, "Escaping saddles with stochastic
    gradients", ICML 2018, Assumption 1).  Values below 1e-12 times the largest
    noise variance are set to exactly 0.
    """
    if u0 is None:
        u0 = objective.saddle(2) if hasattr(objective, "saddle") else objective.start()
    u0 = np.asarray(u0, dtype=float)
    if method not in ("auto", "exact", "monte-carlo"):
        raise ValueError(f"method must be 'auto', 'exact' or 'monte-carlo', got {method!r}")
    lam, V, W, lam_stable, gamma = _spectrum(objective, u0)
    cov_at, source = _resolve_covariance(objective, covariance) if method != "monte-carlo" else (None, "")
    if method == "exact" and cov_at is None:
        raise ValueError("no exact covariance is known for this objective: give covariance= or use Monte Carlo")
    if cov_at is not None:
        C = np.asarray(cov_at(u0), dtype=float)
        scale = max(float(np.max(np.abs(np.diag(C)))), 1e-300)
        VCV = V.T @ C @ V
        ev = np.linalg.eigvalsh(0.5 * (VCV + VCV.T))
        stable_noise = np.einsum("ik,ij,jk->k", W, C, W)

        def clean(x: float) -> float:
            return 0.0 if abs(x) <= _ZERO_TOL * scale else float(x)

        q = SaddleQuantities(
            u0=u0,
            gamma=gamma,
            escape_directions=V,
            hessian_eigenvalues=lam,
            stable_eigenvalues=lam_stable,
            stable_directions=W,
            sigma_v2=clean(np.trace(VCV) / V.shape[1]),
            cnc=clean(ev[0]),
            trace_stable=clean(np.sum(stable_noise)),
            stable_noise=stable_noise,
            exact=True,
            method=source,
            objective=objective,
            covariance_at=cov_at,
        )
    else:
        if sampler is None:
            if hasattr(objective, "noise_sampler"):
                sampler = objective.noise_sampler()
            elif hasattr(objective, "samples"):
                d = u0.size

                def sampler(rng: np.random.Generator, n: int) -> Any:
                    return objective.samples(rng.standard_normal((n, d)))

            else:
                raise ValueError("no exact covariance for this objective: give covariance= or sampler=")
        groups = [V[:, [i]] for i in range(V.shape[1])] + [W] + [W[:, [k]] for k in range(W.shape[1])]
        res, proj_cov = monte_carlo_noise(objective, u0, groups, sampler, n_samples, seed)
        k = V.shape[1]
        VCV = proj_cov[:k, :k]
        ev, evec = np.linalg.eigh(VCV)
        # the SE of the CNC: that of the variance along the minimising direction
        [(cnc_est, cnc_se)], _ = monte_carlo_noise(objective, u0, [V @ evec[:, [0]]], sampler, n_samples, seed)
        sv = np.array([r[0] for r in res[:k]])
        sv_se = math.sqrt(sum(r[1] ** 2 for r in res[:k])) / k
        q = SaddleQuantities(
            u0=u0,
            gamma=gamma,
            escape_directions=V,
            hessian_eigenvalues=lam,
            stable_eigenvalues=lam_stable,
            stable_directions=W,
            sigma_v2=float(sv.mean()),
            cnc=float(cnc_est),
            trace_stable=res[k][0],
            stable_noise=np.array([r[0] for r in res[k + 1 :]]),
            sigma_v2_se=sv_se,
            cnc_se=cnc_se,
            trace_stable_se=res[k][1],
            exact=False,
            method=f"Monte Carlo, {n_samples} samples, seed {seed}",
            objective=objective,
            covariance_at=None,
        )
    if warn and not q.exact and q.cnc <= 3.0 * q.cnc_se:
        warnings.warn(
            f"the CNC condition may fail at this saddle: the Monte Carlo noise variance along an escape direction, "
            f"{q.cnc:.3g} +- {q.cnc_se:.2g}, is within 3 standard errors of zero",
            UserWarning,
            stacklevel=2,
        )
    if warn and q.exact and q.cnc == 0.0:
        warnings.warn(
            "the CNC condition fails at this saddle: the per-sample gradient noise has zero variance along an "
            "escape direction (min_v v^T Sigma v = 0 over the negative-curvature eigenspace), so the linear "
            "theory predicts no escape along it; SGD can only leave through nonlinear terms or other directions",
            UserWarning,
            stacklevel=2,
        )
    return q


def _replace(q: SaddleQuantities, **changes: Any) -> SaddleQuantities:
    import dataclasses

    return dataclasses.replace(q, **changes)


@dataclass(frozen=True)
class _Quadratic:
    """f(x) = 1/2 sum_i h_i x_i^2 + beta/4 ||x||^4 on R^d with constant noise covariance
    (docs/objectives.md, quadratic), from plain arrays: any diagonal with a negative entry and beta >= 0
    (the quadratic objective itself needs H = diag(-gamma, lambda > 0) and beta > 0, and gives its
    quantities from its own methods; this serves :func:`quadratic_saddle`, e.g. the octopus's quadratic
    neighbourhood of saddle 1, where beta = 0)."""

    h: np.ndarray
    Sigma: np.ndarray
    beta: float = 0.0

    @property
    def manifold(self) -> Euclidean:
        return Euclidean(self.h.size)

    def f(self, x: np.ndarray) -> float:
        return 0.5 * np.dot(self.h * x, x) + 0.25 * self.beta * np.dot(x, x) ** 2

    def rgrad(self, x: np.ndarray) -> np.ndarray:
        return self.h * x + self.beta * np.dot(x, x) * x

    def rhess(self, x: np.ndarray) -> np.ndarray:
        return np.diag(self.h) + self.beta * (np.dot(x, x) * np.eye(self.h.size) + 2.0 * np.outer(x, x))

    def per_sample_grad(self, x: np.ndarray, zeta: npt.ArrayLike) -> np.ndarray:
        return self.rgrad(x)[None, :] + np.asarray(zeta)

    def gradient_noise_covariance(self, x: np.ndarray | None = None) -> np.ndarray:
        return self.Sigma


def quadratic_saddle(
    H_diag: npt.ArrayLike, Sigma: npt.ArrayLike, beta: float = 0.0, warn: bool = True
) -> SaddleQuantities:
    """SaddleQuantities of the quadratic testbed at x = 0 (docs/objectives.md, quadratic), from plain arrays.

    f(x) = 1/2 x^T diag(H_diag) x + beta/4 ||x||^4, per-sample noise N(0, Sigma):
    gamma = -min(H_diag), v = e_i (i = argmin), sigma_v^2 = Sigma_ii, stable
    directions the e_k with H_kk > 0, tr(Sigma_stable) = sum of their Sigma_kk.

    Parameters
    ----------
    H_diag : array_like, shape (d,)
        Hessian diagonal at the saddle; at least one entry < 0.
    Sigma : float, array_like (d,) or (d, d)
        Noise covariance: one variance, a diagonal, or a matrix.
    beta : float
        Quartic coefficient (>= 0); with beta > 0 the escape path ends at the
        minimum x = sqrt(gamma / beta) v, f = -gamma^2 / (4 beta), which
        :func:`heat_path_escape` and :func:`regime` use.
    """
    h = np.asarray(H_diag, dtype=float).ravel()
    d = h.size
    S = np.asarray(Sigma, dtype=float)
    if S.ndim == 0:
        S = np.full(d, float(S))
    if S.ndim == 1:
        S = np.diag(S)
    if S.shape != (d, d):
        raise ValueError(f"Sigma must be a number, d = {d} numbers or a d x d matrix")
    if beta < 0:
        raise ValueError("beta must be >= 0")
    model = _Quadratic(h, S, float(beta))
    return saddle_quantities(model, np.zeros(d), warn=warn)
