"""Where the linear theory holds, the heat-path model and the best batch size (layers 3 and 4 of
:mod:`saddle.theory`).

The stable-direction heat H(m) = eta tr(Sigma_stable) / (4 m) (:func:`stable_heat`) against delta,
the heat at the end of the escape path against the margin f(u_0) - delta - f_end, and the softening
of the stable curvature by the stable spread (:func:`regime`); the median trajectory followed along
the escape path with the stable directions' heat built up step by step (:func:`heat_path_escape`),
and its argmin over a grid of batch sizes in steps and in samples (:func:`optimal_batch_size`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np
import numpy.typing as npt
import scipy.special
import scipy.stats

from saddle.theory.linear import LINEAR_HEAT_FRACTION, MAX_ETA_GAMMA, FloatOrArray, z_scale
from saddle.theory.quantities import SaddleQuantities, _tangent_basis

DEFAULT_M_GRID = tuple(2**k for k in range(11))

PATH_STEP = 0.01
"""The escape path is followed with step size max(eta, PATH_STEP / c), c the largest curvature at the saddle
(|eigenvalue|): its end, a fixed point of the noise-free map, does not depend on the step size, and a tiny
eta would otherwise take ~1/eta steps (eta = 1e-6: 10^6 steps)."""

PATH_MAX_STEPS = 20_000
"""Steps of the noise-free map after which :func:`escape_path_end` gives up ("cannot predict"): about 0.3 s."""

MODEL_MAX_STEPS = 2_000
"""Steps after which :func:`heat_path_escape` gives up (NaN, "cannot predict"): a step costs ~0.7 ms on the
spike (its exact noise covariance at each point), so about 1.4 s per batch size at most; the model is not
started where the linear theory's quantile alone is beyond this (eta = 0.01: ~100 steps)."""


def applicability(quantities: SaddleQuantities, eta: float) -> str:
    """Why the theory gives no prediction for SGD with step size eta at this saddle ('' when it does).

    eta gamma > MAX_ETA_GAMMA: one step changes the escape coordinate by more than half of itself (the
    linear theory's continuous picture fails); eta lambda_k >= 2 for a stable eigenvalue: the stable
    directions are not stable under SGD (their stationary spread does not exist).
    """
    eg = float(eta) * float(quantities.gamma)
    if not eg <= MAX_ETA_GAMMA:
        return (
            f"eta gamma = {eg:.3g} > {MAX_ETA_GAMMA}: one step changes the escape coordinate by more than "
            "half of itself, outside the linear theory"
        )
    lam = np.asarray(quantities.stable_eigenvalues, dtype=float)
    if lam.size and not float(eta) * float(np.max(lam)) < 2.0:
        return (
            f"eta lambda_max = {float(eta) * float(np.max(lam)):.3g} >= 2: the stable directions diverge "
            "under this step size"
        )
    return ""


# ----------------------------------------------------------------------------------------------
# 3. The escape path, its end, and where the linear theory holds
# ----------------------------------------------------------------------------------------------


def _retract(manifold: Any, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return manifold.retract(u, v) if manifold is not None and hasattr(manifold, "retract") else u + v


def _tangent_frame(manifold: Any, u: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Project the columns of W onto the tangent space at u and re-orthonormalise them."""
    if W.shape[1] == 0 or manifold is None or not hasattr(manifold, "project"):
        return W
    P = np.column_stack([manifold.project(u, W[:, k]) for k in range(W.shape[1])])
    q, r = np.linalg.qr(P)
    return q * np.sign(np.diag(r))


def _diag_quadratic_forms(W: np.ndarray, M: np.ndarray) -> np.ndarray:
    return np.einsum("ik,ij,jk->k", W, M, W)


@dataclass(frozen=True, eq=False)
class PathEnd:
    """Where the noise-free flow from the saddle along v ends (the end of the escape path).

    Attributes
    ----------
    u : ndarray or None
        The end point (None when the flow runs off to infinity, e.g. the quadratic with beta = 0).
    f : float
        f there (-inf when there is no end).
    trace_stable : float
        Sum of w^T Sigma w over its positive-curvature tangent eigendirections: the
        stationary heat there is eta * trace_stable / (4 m).
    steps : int
        Steps of the noise-free map it took (step size max(eta, PATH_STEP / c): see PATH_STEP).
    reason : str
        Why the end is unknown ('' when it is known): the path did not settle within
        PATH_MAX_STEPS steps.  u is then None and f and trace_stable NaN.
    """

    u: np.ndarray | None
    f: float
    trace_stable: float
    steps: int
    reason: str = ""


_PATH_ENDS: weakref.WeakKeyDictionary[Any, dict[tuple, PathEnd]] = weakref.WeakKeyDictionary()
"""SaddleQuantities -> {(path step size, start, max_steps, tol): PathEnd}."""
_MODEL_STEPS: weakref.WeakKeyDictionary[Any, dict[tuple, float]] = weakref.WeakKeyDictionary()
"""SaddleQuantities -> {(eta, m, delta, radius, p, max_steps): heat-path escape step}."""


def escape_path_end(
    quantities: SaddleQuantities,
    eta: float,
    *,
    start: float = 1e-6,
    max_steps: int = PATH_MAX_STEPS,
    tol: float = 1e-10,
) -> PathEnd:
    """Follow the noise-free map u <- R(u, -h grad f(u)) from R(u_0, start v) to where it stops.

    For the spike's s = 2 saddle the path is the great circle through a_1 and a_2
    and it ends at the minimum a_1 (f = -1); for the quadratic with beta > 0 at
    x = sqrt(gamma / beta) e_1 (f = -gamma^2 / (4 beta)).  The stationary heat at
    the end uses the exact covariance there when one is known, else the saddle's
    stable noise trace.

    The end is a fixed point of the map whatever its step size, so the path is
    followed with h = max(eta, PATH_STEP / c), c the largest |eigenvalue| at the
    saddle (h = eta at the spike default), and remembered per saddle and h.  A path
    that has not settled after ``max_steps`` steps gives a PathEnd with a reason
    and NaN f (the rare-event check is then not made).
    """
    obj = quantities.objective
    if obj is None:
        raise ValueError("these SaddleQuantities carry no objective")
    curvature = float(np.max(np.abs(np.asarray(quantities.hessian_eigenvalues, dtype=float))))
    h = max(float(eta), PATH_STEP / curvature) if curvature > 0 else float(eta)
    memo = _PATH_ENDS.setdefault(quantities, {})
    key = (h, start, max_steps, tol)
    if key not in memo:
        memo[key] = _follow_path(quantities, h, start, max_steps, tol)
    return memo[key]


def _follow_path(quantities: SaddleQuantities, eta: float, start: float, max_steps: int, tol: float) -> PathEnd:
    obj = quantities.objective
    M = getattr(obj, "manifold", None)
    u0 = quantities.u0
    v = quantities.escape_directions[:, 0]
    u = _retract(M, u0, start * v)
    for t in range(1, max_steps + 1):
        g = np.asarray(obj.rgrad(u), dtype=float)
        gn = float(np.linalg.norm(g))
        if not np.all(np.isfinite(u)) or np.linalg.norm(u) > 1e8:
            return PathEnd(None, -math.inf, 0.0, t)
        if gn <= tol * max(1.0, abs(float(obj.f(u)))):
            break
        u = _retract(M, u, -eta * g)
    else:
        return PathEnd(
            None,
            math.nan,
            math.nan,
            max_steps,
            f"the escape path did not settle within {max_steps} steps: its end is unknown",
        )
    B = _tangent_basis(M, u)
    H = B.T @ np.asarray(obj.rhess(u), dtype=float) @ B
    lam, vec = np.linalg.eigh(0.5 * (H + H.T))
    Wp = B @ vec[:, lam > 1e-8 * max(1.0, float(np.max(np.abs(lam))))]
    if quantities.covariance_at is not None:
        tr = float(np.sum(_diag_quadratic_forms(Wp, np.asarray(quantities.covariance_at(u), dtype=float))))
    else:
        tr = float(quantities.trace_stable)
    return PathEnd(u, float(obj.f(u)), tr, t)


def stable_curvature_softening(
    quantities: SaddleQuantities, eta: float, m: npt.ArrayLike = 1, h: float = 1e-3
) -> np.ndarray:
    """Relative softening of the stable curvatures by the linear stable spread, to second order.

    With stable coordinates y_j ~ N(0, var_j), var_j = eta Sigma_jj / (m lambda_j (2 - eta lambda_j))
    (their stationary spread at the saddle), the curvature seen along w_k is on
    average lambda_k + (1/2) sum_j var_j D_jk, D_jk = d^2/dh^2 lambda_k(R(u_0, h w_j))
    (central differences; w_k projected onto the tangent space at the moved point).
    Returns max_k of -(1/2) sum_j var_j D_jk / lambda_k, proportional to 1/m.
    A value >= 1 means the spread the linear theory predicts would leave some stable
    direction with no restoring curvature: the premise of the linear theory fails
    and the iterate delocalises (see :func:`regime`).
    """
    obj = quantities.objective
    M = getattr(obj, "manifold", None)
    u0, W, lam = quantities.u0, quantities.stable_directions, quantities.stable_eigenvalues
    if W.shape[1] == 0:
        return np.zeros_like(np.asarray(m, dtype=float))
    var1 = eta * quantities.stable_noise / (lam * (2.0 - eta * lam))

    def curv(u: np.ndarray) -> np.ndarray:
        Wt = _tangent_frame(M, u, W)
        return _diag_quadratic_forms(Wt, np.asarray(obj.rhess(u), dtype=float))

    c0 = curv(u0)
    D = np.empty((W.shape[1], W.shape[1]))
    for j in range(W.shape[1]):
        D[j] = (curv(_retract(M, u0, h * W[:, j])) + curv(_retract(M, u0, -h * W[:, j])) - 2.0 * c0) / h**2
    s1 = float(np.max(-0.5 * (var1 @ D) / lam))
    return s1 / np.asarray(m, dtype=float)


@dataclass(frozen=True)
class RegimeInfo:
    """Which regime one configuration is in (see :func:`regime`).

    Attributes
    ----------
    m, eta : float
        Batch size and step size.
    criterion : str
        'f-drop' or 'distance'.
    heat : float
        f-drop: H(m) = eta tr(Sigma_stable) / (4 m); distance: the stable spread
        q(m) = sum_k var_k added to the squared distance.
    threshold : float
        delta (f-drop) or R^2 (distance).
    regime : str
        'linear' when heat < LINEAR_HEAT_FRACTION * threshold, else 'noise-dominated'; 'n/a'
        where the theory gives no prediction at this step size (:func:`applicability`; the
        numbers are then NaN and ``note`` says why).
    heat_end, margin : float
        f-drop: the stationary heat at the end of the escape path and
        f(u_0) - delta - f_end (inf when the path has no end; heat_end is 0 and
        margin inf for the distance criterion).
    rare_event : bool
        heat_end >= margin: even at the end of the path the typical f stays above
        f(u_0) - delta, and the f-drop is a rare fluctuation.
    softening : float
        :func:`stable_curvature_softening` at this m.
    delocalised : bool
        softening >= 1: the stable directions lose their curvature at the spread the
        linear theory predicts.
    linear_trusted : bool
        regime == 'linear' and neither rare_event nor delocalised (and the path end known).
    model_valid : bool
        Neither rare_event nor delocalised, and the escape path's end known: the heat-path model applies.
    note : str
        Why a prediction should not be trusted ('' when it can).
    """

    m: float
    eta: float
    criterion: str
    heat: float
    threshold: float
    regime: str
    heat_end: float
    margin: float
    rare_event: bool
    softening: float
    delocalised: bool
    linear_trusted: bool
    model_valid: bool
    note: str


def _threshold(delta: float | None, radius: float | None) -> float:
    """delta (f-drop criterion) or R^2 (distance criterion): what :class:`RegimeInfo` compares the heat with."""
    if delta is not None:
        return float(delta)
    assert radius is not None  # exactly one of delta and radius (the callers check)
    return float(radius) * float(radius)  # inf, not OverflowError, for a huge radius


def _per_m(eta: npt.ArrayLike, m: npt.ArrayLike) -> tuple[list[float], list[float]]:
    m_list = [float(x) for x in np.atleast_1d(np.asarray(m, dtype=float))]
    eta_a = np.asarray(eta, dtype=float)
    eta_list = [float(eta_a)] * len(m_list) if eta_a.ndim == 0 else [float(x) for x in eta_a]
    if len(eta_list) != len(m_list):
        raise ValueError("eta must be one number or one per batch size")
    return m_list, eta_list


@overload
def regime(
    quantities: SaddleQuantities,
    eta: npt.ArrayLike,
    m: float,
    *,
    delta: float | None = None,
    radius: float | None = None,
    path_end: PathEnd | None = None,
) -> RegimeInfo: ...


@overload
def regime(
    quantities: SaddleQuantities,
    eta: npt.ArrayLike,
    m: Sequence[float] | np.ndarray,
    *,
    delta: float | None = None,
    radius: float | None = None,
    path_end: PathEnd | None = None,
) -> list[RegimeInfo]: ...


def regime(
    quantities: SaddleQuantities,
    eta: npt.ArrayLike,
    m: npt.ArrayLike,
    *,
    delta: float | None = None,
    radius: float | None = None,
    path_end: PathEnd | None = None,
) -> RegimeInfo | list[RegimeInfo]:
    """Classify configurations: linear, noise-dominated, and when predictions cannot be trusted.

    Parameters
    ----------
    quantities : SaddleQuantities
    eta : float or sequence
        Step size (one per m for a learning-rate scaling).
    m : int or sequence of int
        Batch sizes.
    delta, radius : float
        The escape criterion (exactly one).
    path_end : PathEnd, optional
        Precomputed :func:`escape_path_end`.

    Returns
    -------
    RegimeInfo, or a list of them when m is a sequence.

    Notes
    -----
    Three checks, each derived in docs/theory.md:

    * **heat against delta** (section 4(a)).  The stable directions' stationary spread
      raises f by H(m) = eta tr(Sigma_stable) / (4 m), so reaching f(u_0) - delta
      needs (gamma / 2) z^2 >= delta + H: the median moves by
      ln(1 + H / delta) / (2 ln rho) steps, 0.45 ln(1 + H / delta) standard
      deviations of tau for any eta, gamma.  'linear' means H < delta / 4, a shift
      below 0.1 SD.
    * **heat at the end of the path against the margin**.  At the end of the
      escape path (a minimum) every tangent direction is stable and its heat is
      eta tr(Sigma_end) / (4 m); if that exceeds f(u_0) - delta - f_end, typical
      iterates never reach the f-drop: 'rare_event'.  Spike default: 0.964 / m
      against 0.4, so m <= 2.
    * **softening of the stable curvature** (:func:`stable_curvature_softening`)
      >= 1: the stable spread would remove the stable directions' curvature, and
      the iterate spreads over the sphere ('delocalised').  Spike default:
      5.4 / m, so m <= 4 (at m = 4 the measured stable mass sum_{k>2} u_k^2 rises to
      0.8, the uniform-sphere value (d - 2)/d).
    """
    if (delta is None) == (radius is None):
        raise ValueError("give exactly one of delta (f-drop criterion) and radius (distance criterion)")
    m_list, eta_list = _per_m(eta, m)
    lam = quantities.stable_eigenvalues
    rows = []
    for m_i, eta_i in zip(m_list, eta_list):
        refused = applicability(quantities, eta_i)
        if refused:
            rows.append(
                RegimeInfo(
                    m=m_i,
                    eta=eta_i,
                    criterion="f-drop" if delta is not None else "distance",
                    heat=math.nan,
                    threshold=_threshold(delta, radius),
                    regime="n/a",
                    heat_end=math.nan,
                    margin=math.nan,
                    rare_event=False,
                    softening=math.nan,
                    delocalised=False,
                    linear_trusted=False,
                    model_valid=False,
                    note=refused,
                )
            )
            continue
        soft = float(stable_curvature_softening(quantities, eta_i, m_i)) if quantities.objective is not None else 0.0
        unknown = ""
        if delta is not None:
            heat = float(quantities.stable_heat(eta_i, m_i))
            threshold = float(delta)
            end = path_end if path_end is not None else escape_path_end(quantities, eta_i)
            heat_end = eta_i * end.trace_stable / (4.0 * m_i)
            f0 = float(quantities.objective.f(quantities.u0))
            margin = f0 - delta - end.f
            rare = bool(heat_end >= margin)  # False where the end is unknown (NaN)
            unknown = end.reason
            criterion = "f-drop"
        else:
            heat = float(np.sum(eta_i * quantities.stable_noise / (m_i * lam * (2.0 - eta_i * lam))))
            threshold = _threshold(delta, radius)
            heat_end, margin, rare, criterion = 0.0, math.inf, False, "distance"
        reg = "linear" if heat < LINEAR_HEAT_FRACTION * threshold else "noise-dominated"
        deloc = soft >= 1.0
        notes = []
        if unknown:
            notes.append(f"no model: {unknown}")
        if rare:
            notes.append(f"rare event: heat at the path end {heat_end:.3g} >= margin {margin:.3g}")
        if deloc:
            notes.append(f"delocalised: stable curvature softened by {soft:.2f} >= 1")
        if reg != "linear" and not notes:
            notes.append(f"noise-dominated: heat {heat:.3g} >= {LINEAR_HEAT_FRACTION} x {threshold:.3g}")
        valid = not rare and not deloc and not unknown
        rows.append(
            RegimeInfo(
                m=m_i,
                eta=eta_i,
                criterion=criterion,
                heat=heat,
                threshold=threshold,
                regime=reg,
                heat_end=heat_end,
                margin=margin,
                rare_event=bool(rare),
                softening=soft,
                delocalised=bool(deloc),
                linear_trusted=bool(reg == "linear" and valid),
                model_valid=bool(valid),
                note="; ".join(notes),
            )
        )
    return rows if np.ndim(m) else rows[0]


# ----------------------------------------------------------------------------------------------
# 4. The heat-path model and the best batch size
# ----------------------------------------------------------------------------------------------


def heat_path_escape(
    quantities: SaddleQuantities,
    eta: float,
    m: float,
    *,
    delta: float | None = None,
    radius: float | None = None,
    p: float = 0.5,
    max_steps: int = MODEL_MAX_STEPS,
) -> float:
    """Escape step of the p-quantile trajectory in the heat-path model (median for p = 1/2).

    The model, derived in docs/theory.md:

    1. The escape coordinate starts at the p-quantile of the linear theory's |Z|,
       r_p = s_Z chi_k.isf(p) (0.67449 s_Z for the median): u = R(u_0, r_p v).
       In the linear regime z_t = rho^t Z, so this reproduces the linear law.
    2. It then follows the noise-free map u <- R(u, -eta grad f(u)) along the
       escape path (for the spike's s = 2 saddle the invariant great circle through
       a_1 and a_2), which adds the path's nonlinearity and curvature exactly.
    3. Each stable direction w_k (transported along the path) carries a variance
       var_{t+1} = (1 - eta lambda_k(u_t))^2 var_t + eta^2 Sigma_kk(u_t) / m, var_0 = 0,
       with the curvature and the exact noise at the current point; it adds
       heat_t = sum_k lambda_k(u_t) var_t / 2 to f (and sum_k var_t to the squared
       distance).
    4. The escape step is the first t >= 1 with f(u_t) + heat_t <= f(u_0) - delta
       (or ||u_t - u_0||^2 + sum_k var_t >= R^2).

    Because tau decreases with |Z|, the p-quantile trajectory gives the p-quantile
    of tau within the model.  Neglected (second-order in the spread): the softening
    of gamma and lambda_k and the growth of sigma_v^2 with the spread, and the
    fluctuations of the heat around its mean.

    Returns
    -------
    float
        The escape step, or inf if the model's trajectory never escapes (the
        heat keeps f above the threshold; it stops when the path and the heat
        have converged), or NaN where it cannot say within ``max_steps`` steps
        (it does not start where the linear theory's p-quantile alone is beyond
        ``max_steps``, or where :func:`applicability` refuses the step size).
    """
    if (delta is None) == (radius is None):
        raise ValueError("give exactly one of delta (f-drop criterion) and radius (distance criterion)")
    if quantities.objective is None:
        raise ValueError("these SaddleQuantities carry no objective to follow")
    memo = _MODEL_STEPS.setdefault(quantities, {})
    key = (float(eta), float(m), delta, radius, float(p), int(max_steps))
    if key not in memo:  # the table and the best-batch-size grid ask for the same batch sizes
        memo[key] = _heat_path_escape(quantities, float(eta), float(m), delta, radius, float(p), int(max_steps))
    return memo[key]


def _heat_path_escape(
    quantities: SaddleQuantities,
    eta: float,
    m: float,
    delta: float | None,
    radius: float | None,
    p: float,
    max_steps: int,
) -> float:
    obj = quantities.objective
    if quantities.sigma_v2 <= 0:
        return math.inf
    if applicability(quantities, eta):
        return math.nan
    if not quantities.linear(eta, m, delta=delta, radius=radius).quantile(p) <= max_steps:
        return math.nan  # the linear phase alone is longer than the model may follow
    M = getattr(obj, "manifold", None)
    u0 = quantities.u0
    v = quantities.escape_directions[:, 0]
    k = quantities.n_escape
    s_Z = float(z_scale(eta, quantities.gamma, quantities.sigma_v2, m))
    r = s_Z * float(scipy.stats.chi(k).isf(p))
    u = _retract(M, u0, r * v)
    W = quantities.stable_directions
    var = np.zeros(W.shape[1])
    f_target = float(obj.f(u0)) - (delta if delta is not None else 0.0)
    cov_at = quantities.covariance_at

    def local(u: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = _diag_quadratic_forms(W, np.asarray(obj.rhess(u), dtype=float))
        S = (
            _diag_quadratic_forms(W, np.asarray(cov_at(u), dtype=float))
            if cov_at is not None
            else quantities.stable_noise
        )
        return lam, S

    with np.errstate(over="ignore", invalid="ignore"):  # (a path that leaves the float range has no model)
        return _follow_heat_path(obj, M, u0, u, W, var, local, eta, m, delta, radius, f_target, max_steps)


def _follow_heat_path(
    obj: Any,
    M: Any,
    u0: np.ndarray,
    u: np.ndarray,
    W: np.ndarray,
    var: np.ndarray,
    local: Any,
    eta: float,
    m: float,
    delta: float | None,
    radius: float | None,
    f_target: float,
    max_steps: int,
) -> float:
    """The heat-path model's steps from u (``_heat_path_escape``): NaN where the path or its variance
    leaves the float range, or it has not escaped in max_steps; inf where it settles without escaping."""
    lam, S = local(u, W)
    for t in range(1, max_steps + 1):
        var_new = (1.0 - eta * lam) ** 2 * var + eta**2 * S / m
        if not np.all(np.isfinite(var_new)):
            return math.nan
        g = np.asarray(obj.rgrad(u), dtype=float)
        u_new = _retract(M, u, -eta * g)
        if not np.all(np.isfinite(u_new)):
            return math.nan
        W = _tangent_frame(M, u_new, W)
        lam, S = local(u_new, W)
        if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(S))):
            return math.nan
        if delta is not None:
            if float(obj.f(u_new)) + 0.5 * float(np.sum(lam * var_new)) <= f_target:
                return float(t)
        elif float(np.sum((u_new - u0) ** 2)) + float(np.sum(var_new)) >= cast(float, radius) ** 2:
            return float(t)
        converged = np.linalg.norm(u_new - u) <= 1e-13 * max(1.0, float(np.linalg.norm(u))) and np.all(
            np.abs(var_new - var) <= 1e-12 * np.maximum(var_new, 1e-300)
        )
        if converged:
            return math.inf
        u, var = u_new, var_new
    return math.nan


def prediction_table(
    quantities: SaddleQuantities,
    eta: npt.ArrayLike,
    m: npt.ArrayLike,
    *,
    delta: float | None = None,
    radius: float | None = None,
    path_end: PathEnd | None = None,
) -> list[dict[str, Any]]:
    """One dict per batch size: regime, linear law, heat-path median, and whether to trust each.

    Keys: m, eta, regime, heat, heat_end, margin, softening, rare_event, delocalised,
    linear_median, linear_mean, linear_sd, linear_trusted, model_median,
    model_valid, note.  ``model_median`` is NaN where the model is not valid or
    out of reach (MODEL_MAX_STEPS); every number is NaN (regime 'n/a') where
    :func:`applicability` refuses the step size, and ``note`` says why.
    ``path_end``: :func:`escape_path_end` at this (one) eta, if already known
    (it is remembered per saddle anyway).
    """
    m_list, eta_list = _per_m(eta, m)
    end = path_end
    rows = []
    for m_i, eta_i in zip(m_list, eta_list):
        info = regime(quantities, eta_i, m_i, delta=delta, radius=radius, path_end=end)
        notes = [info.note] if info.note else []
        if info.regime == "n/a":
            lin_vals: tuple[FloatOrArray, FloatOrArray, FloatOrArray] = (math.nan, math.nan, math.nan)
        elif quantities.sigma_v2 > 0:
            lin = quantities.linear(eta_i, m_i, delta=delta, radius=radius)
            lin_vals = (lin.median, lin.mean, lin.sd)
            if lin.reason:
                notes.append(lin.reason)
            p_first = float(lin.cdf(1))
            if p_first >= 0.5:
                notes.append(f"the escape radius is within the first step's reach (P(tau = 1) = {p_first:.3g})")
        else:
            lin_vals = (math.inf, math.inf, math.nan)
        model = heat_path_escape(quantities, eta_i, m_i, delta=delta, radius=radius) if info.model_valid else math.nan
        if info.model_valid and math.isnan(model):
            notes.append(f"no model: its escape lies beyond {MODEL_MAX_STEPS} steps or outside the float range")
        elif info.model_valid and math.isinf(model) and quantities.sigma_v2 > 0:
            notes.append("no model: its trajectory settles without escaping (the heat keeps it above the threshold)")
        rows.append(
            {
                "m": m_i,
                "eta": eta_i,
                "regime": info.regime,
                "heat": info.heat,
                "heat_end": info.heat_end,
                "margin": info.margin,
                "softening": info.softening,
                "rare_event": info.rare_event,
                "delocalised": info.delocalised,
                "linear_median": lin_vals[0],
                "linear_mean": lin_vals[1],
                "linear_sd": lin_vals[2],
                "linear_trusted": info.linear_trusted,
                "model_median": model,
                "model_valid": info.model_valid and math.isfinite(model),
                "note": "; ".join(notes),
            }
        )
    return rows


@dataclass(frozen=True)
class OptimalBatchSize:
    """The heat-path model's best batch sizes over a grid (see :func:`optimal_batch_size`).

    Attributes
    ----------
    m_steps, m_samples : int or None
        argmin over the valid grid points of the model's median escape steps, and of
        m x median steps (None when no grid point is valid).  Ties go to the smaller m.
    m_steps_at_edge, m_samples_at_edge : bool
        The argmin is the smallest valid grid point: the true optimum may lie
        below it, where the escape mechanism changes (rare event, delocalised)
        and the model says nothing.  In samples this is the usual case, because
        m x median grows almost linearly in m wherever the model is valid.
    linear_m_steps, linear_m_samples : int
        The same argmins for the plain linear theory, which always picks the
        smallest m (its median and m x median both increase with m).
    rows : tuple of dict
        :func:`prediction_table` over the grid.
    """

    m_steps: int | None
    m_samples: int | None
    m_steps_at_edge: bool
    m_samples_at_edge: bool
    linear_m_steps: int | None
    linear_m_samples: int | None
    rows: tuple


def optimal_batch_size(
    quantities: SaddleQuantities,
    eta: float,
    *,
    delta: float | None = None,
    radius: float | None = None,
    m_grid: Sequence[int] = DEFAULT_M_GRID,
) -> OptimalBatchSize:
    """Batch sizes minimising the predicted escape steps and escape samples (m x steps).

    The prediction is the heat-path model (:func:`heat_path_escape`), restricted to
    the grid points where it is valid (:func:`regime`: not a rare event, not
    delocalised).  Its minimum comes from two opposite effects: the linear median
    grows like ln(m) / (2 ln rho) (less noise, smaller Z), and the stable heat
    H(m) ~ 1/m pushes the escape point further along the path, where the flow
    slows down towards the minimum.  No constant is fitted to measurements.

    Examples
    --------
    >>> q = spike_saddle(10, 2, "uniform")
    >>> best = optimal_batch_size(q, 0.01, delta=0.1)       # doctest: +SKIP
    >>> best.m_steps, best.m_samples                         # doctest: +SKIP
    (16, 8)
    """
    rows = prediction_table(quantities, eta, list(m_grid), delta=delta, radius=radius)
    valid = [r for r in rows if r["model_valid"]]

    def argmin(key: Callable[[dict[str, Any]], float], rs: list[dict[str, Any]]) -> int | None:
        if not rs:
            return None
        best = min(key(r) for r in rs)
        return int(min(r["m"] for r in rs if key(r) == best))  # a batch size: an int, not 16.0

    finite = [r for r in rows if math.isfinite(r["linear_median"])]
    m_steps = argmin(lambda r: r["model_median"], valid)
    m_samples = argmin(lambda r: r["m"] * r["model_median"], valid)
    edge = min(r["m"] for r in valid) if valid else None
    return OptimalBatchSize(
        m_steps=m_steps,
        m_samples=m_samples,
        m_steps_at_edge=bool(valid) and m_steps == edge and edge > min(r["m"] for r in rows),
        m_samples_at_edge=bool(valid) and m_samples == edge and edge > min(r["m"] for r in rows),
        linear_m_steps=argmin(lambda r: r["linear_median"], finite),
        linear_m_samples=argmin(lambda r: r["m"] * r["linear_median"], finite),
        rows=tuple(rows),
    )


def adiabatic_optimal_batch_size(trace_stable: float, eta: float, delta: float, drop: float) -> float:
    """Closed-form best batch size in steps for a sin^2 escape profile with constant heat.

    Along the spike's s = 2 escape path f(theta) = f(u_0) - drop sin^2(2 theta)
    (drop = 1/2, gamma = 4) and the noise-free flow is theta' = eta sin(4 theta);
    matching it to the linear phase theta' = eta gamma theta gives the effective
    radius R_eff = tan(2 theta_e) / 2 for an escape at theta_e (docs/theory.md).  With the heat H = H_1 / m
    taken constant along the path, the escape point solves
    drop sin^2(2 theta_e) = delta + H, and the median is, up to an m-independent
    constant,

        tau(m) = [ln m + ln((delta + H) / (drop - delta - H))] / (2 ln rho).

    d tau / d ln m = 0 gives the optimal heat H* = sqrt(delta drop) - delta, so

        m* = eta tr(Sigma_stable) / (4 (sqrt(delta drop) - delta)).

    Spike default (tr = 4800/7, eta = 0.01, delta = 0.1, drop = 1/2): H* = 0.1236,
    m* = 13.9.  Returns inf when delta >= drop (the f-drop is never reached).
    """
    if not 0 < delta:
        raise ValueError("delta must be > 0")
    if delta >= drop:
        return math.inf
    h_star = math.sqrt(delta * drop) - delta
    return eta * trace_stable / (4.0 * h_star)
