"""The gradient noise scale along the noiseless path (McCandlish, Kaplan, Amodei et al., "An empirical model
of large-batch training", 2018, section 2; docs/frontier.md).

McCandlish et al. predict the critical batch size B_crit of the frontier S = S_min (1 + B_crit / m) from
two noise scales at a point u:

    B_simple = tr(Sigma) / |G|^2,        B_noise = tr(H Sigma) / (G^T H G),

G the exact gradient, H the Hessian and Sigma the per-sample gradient covariance.  On a manifold G and H
are the Riemannian gradient and Hessian and Sigma is restricted to the tangent space (P Sigma P with
P = I - u u^T on a sphere, block by block on a product of spheres): only the tangent part of a gradient
moves the iterate.  B_noise is the batch size at which the optimal step's expected improvement is half
its noiseless value; B_simple is B_noise when H is a multiple of the identity.

At a saddle G = 0 and both are infinite: the escape is outside the model.  :func:`noise_scale_path`
therefore evaluates them along the noiseless path (gradient descent with the exact gradient and a small
step, a close approximation of gradient flow) from just past the saddle, where f has dropped by delta
(the f-drop escape criterion), to the target.  :func:`noise_scale_at` gives them at one point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.optimize

from saddle.config import EscapeConfig
from saddle.objectives.spike_moments import latent_sample
from saddle.theory.quantities import _resolve_covariance, _spectrum, _tangent_basis, monte_carlo_noise

__all__ = ["FLOW_STEP", "MAX_FLOW_STEPS", "noise_scale_at", "noise_scale_path"]

FLOW_STEP = 1e-3
"""Step of the noiseless path in units of 1/c, c the largest |Hessian eigenvalue| (re-measured every
RESCALE_EVERY steps): h = FLOW_STEP / c.  Gradient descent then follows gradient flow to a relative
O(h c) = 0.1% in time."""

RESCALE_EVERY = 256
"""Steps between two measurements of the largest |Hessian eigenvalue| that sets the path's step."""

MAX_FLOW_STEPS = 1_000_000
"""The most steps the noiseless path may take before :func:`noise_scale_path` gives up (ValueError)."""

STALL_TOLERANCE = 1e-12
"""The path has stopped at a critical point when |G| <= STALL_TOLERANCE max(1, |f|)."""


class _FlatProblem:
    """An objective on a product of spheres seen through its flat state (columns stacked one after the
    other, as the kernels hold it): f, gradient, Hessian, per-sample gradients and the manifold's
    projection, retraction and tangent basis all on flat vectors."""

    def __init__(self, objective: Any) -> None:
        self.objective = objective
        self._unflatten: Callable[[np.ndarray], np.ndarray] = objective.unflatten
        self._flatten: Callable[[np.ndarray], np.ndarray] = objective.flatten
        self._manifold = objective.manifold
        self.manifold = self

    # the manifold, on flat vectors
    def project(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._flatten(self._manifold.project(self._unflatten(u), self._unflatten(v)))

    def retract(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._flatten(self._manifold.retract(self._unflatten(u), self._unflatten(v)))

    def tangent_basis(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(self._manifold.tangent_basis(self._unflatten(u)), dtype=float)

    # the objective, on flat vectors
    def f(self, u: np.ndarray) -> float:
        return float(self.objective.f(self._unflatten(u)))

    def rgrad(self, u: np.ndarray) -> np.ndarray:
        return self._flatten(self.objective.rgrad(self._unflatten(u)))

    def rhess(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(self.objective.rhess(self._unflatten(u)), dtype=float)

    def per_sample_grad(self, u: np.ndarray, x: Any) -> np.ndarray:
        g = np.asarray(self.objective.per_sample_grad(self._unflatten(u), x), dtype=float)  # n x d x k
        return g.transpose(0, 2, 1).reshape(g.shape[0], -1)


def _problem(objective: Any) -> Any:
    """The objective itself, or its flat view when its state is a matrix (``unflatten``/``flatten``)."""
    return _FlatProblem(objective) if hasattr(objective, "unflatten") and hasattr(objective, "flatten") else objective


def _sampler(objective: Any, n_ambient: int) -> Callable[[np.random.Generator, int], Any] | None:
    """sampler(rng, n) -> n samples for ``per_sample_grad``, as :func:`saddle.theory.saddle_quantities`
    finds one: the objective's ``noise_sampler()``; ICA data x = A z with z drawn from the objective's
    ``dist``; ``samples`` applied to standard normals (additive noise); None when there is none."""
    if hasattr(objective, "noise_sampler"):
        return objective.noise_sampler()
    if not hasattr(objective, "samples"):
        return None
    if isinstance(getattr(objective, "dist", None), str):
        return lambda rng, n: objective.samples(latent_sample(rng, n, objective.d, objective.dist))
    return lambda rng, n: objective.samples(rng.standard_normal((n, n_ambient)))


def _scales(G: np.ndarray, H: np.ndarray, S: np.ndarray) -> tuple[float, float, float]:
    """(B_simple, B_noise, G^T H G / |G|^2) from tangent-coordinate G, H and Sigma; B_noise is NaN where
    G^T H G <= 0 (no optimal step: see :func:`noise_scale_at`)."""
    g2 = float(G @ G)
    gHg = float(G @ H @ G)
    tr = float(np.trace(S))
    trHS = float(np.sum(H * S))  # tr(H S), both symmetric
    b_simple = tr / g2 if g2 > 0 else math.inf
    b_noise = trHS / gHg if gHg > 0 else math.nan
    curvature = gHg / g2 if g2 > 0 else math.nan
    return b_simple, b_noise, curvature


def _tangent(problem: Any, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(basis B, B^T G, B^T H B) at u."""
    B = _tangent_basis(getattr(problem, "manifold", None), u)
    G = B.T @ np.asarray(problem.rgrad(u), dtype=float).ravel()
    H = B.T @ np.asarray(problem.rhess(u), dtype=float) @ B
    return B, G, 0.5 * (H + H.T)


def noise_scale_at(objective: Any, u: npt.ArrayLike, sigma: npt.ArrayLike | None = None) -> tuple[float, float]:
    """McCandlish et al.'s noise scales (B_simple, B_noise) at one point u.

        B_simple = tr(P Sigma P) / |G|^2,    B_noise = tr(H P Sigma P) / (G^T H G),

    G and H the Riemannian gradient and Hessian at u, Sigma the per-sample gradient covariance and P the
    projection onto the tangent space at u (the identity on R^d).

    Parameters
    ----------
    objective : object
        Provides ``rgrad(u)``, ``rhess(u)`` and ``manifold`` (with ``tangent_basis``), as the registered
        objectives do; a product-of-spheres objective (``unflatten``) takes its flat state.
    u : array_like
        The point (flat).
    sigma : array_like, optional
        The per-sample gradient covariance at u in ambient coordinates (n x n, n = len(u)); by default
        the objective's exact ``gradient_noise_covariance(u)``.

    Returns
    -------
    (float, float)
        B_simple (inf where G = 0) and B_noise (NaN where G^T H G <= 0: with no positive curvature along
        the gradient the quadratic model has no optimal step and B_noise is not defined).

    Raises
    ------
    ValueError
        When no sigma is given and the objective has no exact covariance.
    """
    problem = _problem(objective)
    u = np.asarray(u, dtype=float).ravel()
    if sigma is None:
        cov_at, _ = _resolve_covariance(objective, None)
        if cov_at is None:
            raise ValueError("this objective has no exact per-sample covariance: give sigma=")
        sigma = cov_at(u)
    C = np.asarray(sigma, dtype=float)
    if C.shape != (u.size, u.size):
        raise ValueError(f"sigma must be a {u.size} x {u.size} covariance, got shape {C.shape}")
    B, G, H = _tangent(problem, u)
    b_simple, b_noise, _ = _scales(G, H, B.T @ C @ B)
    return b_simple, b_noise


def _fdrop_point(problem: Any, u0: np.ndarray, v: np.ndarray, gamma: float, level: float) -> np.ndarray:
    """The first point R_{u0}(s v), s > 0, where f = level (a 1-D root find along the retraction)."""
    M = problem.manifold

    def excess(s: float) -> float:
        return float(problem.f(M.retract(u0, s * v))) - level

    lo = math.sqrt(2.0 * (float(problem.f(u0)) - level) / gamma) / 16.0  # a sixteenth of the quadratic radius
    hi = lo
    for _ in range(200):  # s up to lo * 1.25^200 ~ 1e19 lo
        if excess(hi) <= 0.0:
            break
        lo, hi = hi, 1.25 * hi
    else:
        raise ValueError(f"f never drops to {level:.6g} along the escape direction from the saddle")
    if hi == lo:
        return np.asarray(M.retract(u0, hi * v), dtype=float)
    s = scipy.optimize.brentq(excess, lo, hi, xtol=1e-15 * hi, rtol=4.0 * np.finfo(float).eps, maxiter=200)
    return np.asarray(M.retract(u0, s * v), dtype=float)


def _largest_curvature(problem: Any, u: np.ndarray) -> float:
    _, _, H = _tangent(problem, u)
    return float(np.max(np.abs(np.linalg.eigvalsh(H)))) if H.size else 0.0


def _follow(
    problem: Any, start: np.ndarray, target: float, flow_step: float, max_steps: int, keep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradient descent u <- R_u(-h G(u)) from ``start`` to the first step with f <= target.

    Returns (step index, time, f, u) at the start, at about every (total / keep)-th step and at the end:
    a buffer thinned by half whenever it holds more than 2 keep states, so that memory stays bounded.
    """
    M = problem.manifold
    u = np.asarray(start, dtype=float)
    fu = float(problem.f(u))
    t, h, stride = 0.0, 0.0, 1
    steps, times, fs, us = [0], [0.0], [fu], [u]
    for n in range(1, max_steps + 1):
        if (n - 1) % RESCALE_EVERY == 0:
            c = _largest_curvature(problem, u)
            h = flow_step / c if c > 0 else flow_step
        g = np.asarray(problem.rgrad(u), dtype=float).ravel()
        gn = float(np.linalg.norm(g))
        if not math.isfinite(gn):
            raise ValueError(f"the noiseless path diverged after {n - 1} steps (f = {fu:.6g})")
        if gn <= STALL_TOLERANCE * max(1.0, abs(fu)):
            raise ValueError(
                f"the noiseless path stops at a critical point with f = {fu:.6g}, above the target {target:.6g}"
            )
        u = np.asarray(M.retract(u, -h * g), dtype=float)
        fu = float(problem.f(u))
        t += h
        done = fu <= target
        if done or n % stride == 0:
            steps.append(n)
            times.append(t)
            fs.append(fu)
            us.append(u)
            if len(steps) > 2 * keep and not done:  # thin: keep the start and every other state
                steps, times, fs, us = steps[::2], times[::2], fs[::2], us[::2]
                stride *= 2
        if done:
            return np.array(steps), np.array(times), np.array(fs), np.array(us)
    raise ValueError(f"the noiseless path did not reach the target {target:.6g} in {max_steps} steps (f = {fu:.6g})")


def _decimate(times: np.ndarray, fs: np.ndarray, points: int) -> np.ndarray:
    """Indices of about ``points`` states: half evenly spaced in time, half in f, the first and the last."""
    half = max(points // 2, 2)
    by_time = np.searchsorted(times, np.linspace(times[0], times[-1], half))
    order = np.argsort(-fs, kind="stable")  # f falls along the path; sorted in case of round-off
    by_f = order[np.searchsorted(-fs[order], -np.linspace(fs[0], fs[-1], half))]
    idx = np.unique(np.concatenate([[0, times.size - 1], by_time, by_f]))
    return idx[(idx >= 0) & (idx < times.size)]


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def noise_scale_path(
    config: EscapeConfig,
    target: float,
    *,
    points: int = 200,
    mc_samples: int = 20_000,
    seed: int = 0,
    method: str = "auto",
    flow_step: float = FLOW_STEP,
    max_steps: int = MAX_FLOW_STEPS,
    objective: Any = None,
) -> dict[str, Any] | None:
    """B_simple and B_noise along the noiseless path from just past the saddle to the target.

    The path is gradient descent with the exact Riemannian gradient, u <- R_u(-h G(u)), with
    h = flow_step / c (c the largest |Hessian eigenvalue|, re-measured every 256 steps), i.e. gradient
    flow to a relative O(flow_step) in time.  It starts at the first point R_{u0}(s v), s > 0, with
    f = f(u0) - delta (v the most negative Hessian eigenvector at the saddle u0 = the configuration's
    start, delta = ``config.delta``: the f-drop escape criterion; found by a 1-D root find), and stops at
    the first step with f <= target.  At about ``points`` states along it (half evenly spaced in time,
    half in f) it evaluates McCandlish et al.'s noise scales (:func:`noise_scale_at`).

    Parameters
    ----------
    config : EscapeConfig
        The experiment: its objective, d, delta and start (the saddle u0; ``start_perturbation`` and
        ``random_start`` are not used: the path starts from the saddle itself).
    target : float
        The f to reach: below f(u0) - delta and above the objective's minimum.
    points : int
        About how many states along the path get their noise scales.
    mc_samples, seed : int
        Monte Carlo size and seed (numpy.random.default_rng) where the covariance is not known exactly;
        every state uses the same seed (common random numbers, so that the curve is smooth).
    method : str
        'auto' (exact where the objective has ``gradient_noise_covariance``: the spike, the quadratic,
        ge2015, the octopus; else Monte Carlo), 'exact' or 'monte-carlo'.
    flow_step : float
        The path's step in units of 1/c.
    max_steps : int
        The most steps the path may take.
    objective : object, optional
        The objective, when already built (else ``config.build_objective()``).

    Returns
    -------
    dict or None
        'f', 'steps' (gradient-descent step index), 'time' (gradient-flow time, the sum of the steps h),
        'B_simple', 'B_noise', 'curvature' (G^T H G / |G|^2, the curvature along the gradient), 'u'
        (the states, rows): arrays over the evaluated states, the first at f(u0) - delta and the last the
        first state with f <= target;

        'B_simple_mean': the average of B_simple over the path's time, weighted by the time gradient flow
        spends there, (1/T) int B_simple dt (trapezoids over the evaluated states);

        'B_noise_mean': McCandlish et al.'s B_crit of the path, the average of B_noise weighted by the steps
        that optimally tuned noiseless descent spends there, dS_min ~ (G^T H G / |G|^2) dt, i.e.
        int tr(H Sigma)/|G|^2 dt / int (G^T H G / |G|^2) dt, over the part of the path where
        G^T H G > 0 (NaN if none).  It equals the time average when H is a multiple of the identity.  A
        plain time average of B_noise is not defined where the path starts in negative curvature along
        the gradient (the spike's and the quadratic's escapes do): B_noise has a pole where G^T H G
        crosses zero, and its time average diverges logarithmically there;

        'convex_fraction': the fraction of the path's time with G^T H G > 0;
        'method' ('exact' or 'monte carlo'), 'start_f' (f(u0) - delta), 'saddle_f' (f(u0)), 'target',
        'total_steps', 'total_time'.

        None where the noise scales cannot be computed: an objective without a Riemannian gradient and
        Hessian (``rgrad``, ``rhess``: the teacher-student network, whose state is its order parameters
        or weights, and ``objective='user'``, which is built from Python objects, not from a
        configuration), or with neither an exact covariance nor per-sample gradients and a sampler.

    Raises
    ------
    ValueError
        When the target is not below f(u0) - delta or not above the minimum, when u0 is not a strict
        saddle, or when the path stops, diverges or has not reached the target within ``max_steps``.

    Notes
    -----
    On a product of spheres with independent samples per column (``sampling='per-column'``) the columns'
    gradients are uncorrelated, so Sigma keeps only its diagonal blocks.  The noise scales use Sigma per
    sample of one column, so that a batch of m samples per column has mean-gradient covariance Sigma / m.
    """
    if method not in ("auto", "exact", "monte-carlo"):
        raise ValueError(f"method must be 'auto', 'exact' or 'monte-carlo', got {method!r}")
    if points < 2 or mc_samples < 2 or not flow_step > 0 or max_steps < 1:
        raise ValueError("points and mc_samples must be >= 2, flow_step > 0 and max_steps >= 1")
    if objective is None:
        if not config.objective_class.runs_from_config:
            return None
        objective = config.build_objective()
    if not (hasattr(objective, "rgrad") and hasattr(objective, "rhess")):
        return None
    problem = _problem(objective)
    u0 = np.asarray(config.start_point(objective), dtype=float).ravel()
    cov_at, _ = _resolve_covariance(objective, None) if method != "monte-carlo" else (None, "")
    sampler = None
    if cov_at is None:
        if method == "exact":
            raise ValueError("no exact covariance is known for this objective: use method='monte-carlo'")
        sampler = _sampler(objective, u0.size)
        if sampler is None or not hasattr(objective, "per_sample_grad"):
            return None

    f0 = float(problem.f(u0))
    level = f0 - float(config.delta)
    target = float(target)
    if not target < level:
        raise ValueError(f"target {target:.6g} must be below f(u0) - delta = {level:.6g}")
    f_min = config.objective_class.min_value(config)
    if f_min is not None and not target > f_min:
        raise ValueError(f"target {target:.6g} must be above the minimum of f, {f_min:.6g}")

    _, V, _, _, gamma = _spectrum(problem, u0)
    v = V[:, 0]
    v = v * (1.0 if v[np.argmax(np.abs(v))] > 0 else -1.0)  # a fixed sign, whatever the eigensolver's
    start = _fdrop_point(problem, u0, v, gamma, level)
    steps, times, fs, us = _follow(problem, start, target, flow_step, max_steps, keep=4 * points)
    idx = _decimate(times, fs, points)

    if sampler is not None:  # every state uses the same samples (common random numbers): draw them once
        drawn = sampler(np.random.default_rng(seed), mc_samples)
        sampler = lambda rng, n: drawn  # noqa: E731
    per_column = getattr(objective, "sampling", None) == "per-column"
    k = int(getattr(getattr(objective, "manifold", None), "k", 1))
    rows = []
    for i in idx:
        u = us[i]
        B, G, H = _tangent(problem, u)
        if cov_at is not None:
            S = B.T @ np.asarray(cov_at(u), dtype=float) @ B
        else:
            assert sampler is not None
            _, S = monte_carlo_noise(problem, u, [B], sampler, mc_samples, seed, chunk=mc_samples)
        if per_column and k > 1:
            block = S.shape[0] // k
            mask = np.kron(np.eye(k), np.ones((block, block)))
            S = S * mask
        g2 = float(G @ G)
        rows.append((*_scales(G, H, S), float(np.sum(H * S)) / g2 if g2 > 0 else math.nan))
    b_simple, b_noise, curvature, trHS_g2 = (np.array(col) for col in zip(*rows, strict=True))

    t = times[idx]
    total = float(t[-1] - t[0])
    b_simple_mean = _trapezoid(b_simple, t) / total if total > 0 else float(b_simple[0])
    convex = curvature > 0
    weight = np.where(convex, curvature, 0.0)
    num = _trapezoid(np.where(convex, trHS_g2, 0.0), t)
    den = _trapezoid(weight, t)
    b_noise_mean = num / den if den > 0 else math.nan
    return {
        "f": fs[idx],
        "steps": steps[idx],
        "time": t - t[0],
        "B_simple": b_simple,
        "B_noise": b_noise,
        "curvature": curvature,
        "u": us[idx],
        "B_simple_mean": float(b_simple_mean),
        "B_noise_mean": float(b_noise_mean),
        "convex_fraction": _trapezoid(convex.astype(float), t) / total if total > 0 else float(convex[0]),
        "method": "exact" if cov_at is not None else "monte carlo",
        "start_f": float(fs[0]),
        "saddle_f": f0,
        "target": target,
        "total_steps": int(steps[-1]),
        "total_time": total,
    }
