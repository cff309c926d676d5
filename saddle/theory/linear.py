"""The linear escape-time law of docs/theory.md, sections 1-2 (layer 1 of :mod:`saddle.theory`).

Along an escape direction v with Hessian eigenvalue -gamma, the coordinate z_t = v.(u_t - u_0)
follows z_{t+1} = rho z_t + eta xi_t / sqrt(m), rho = 1 + eta gamma, xi ~ (0, sigma_v^2), z_0 = 0,
so z_t ~ rho^t Z with Z ~ N(0, s_Z^2), s_Z^2 = eta^2 sigma_v^2 / (m (rho^2 - 1)).  The escape step is
the first integer t >= 1 with |z_t| >= R (R = z* = sqrt(2 delta / gamma) for the f-drop criterion),
i.e. tau = max(1, ceil(ln(R / |Z|) / ln rho)).  :func:`linear_prediction` returns its median, mean,
SD, slope in log2 m, CDF and quantiles (:class:`LinearPrediction`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.special
import scipy.stats

NORMAL_MEDIAN_ABS = float(scipy.stats.norm.ppf(0.75))
"""Median of |N(0, 1)|: Phi^{-1}(3/4) = 0.6744897501960817 (0.6745 to four places)."""

EULER_GAMMA = float(np.euler_gamma)
"""Euler's constant 0.5772156649..., from E[ln |N(0,1)|] = -(EULER_GAMMA + ln 2) / 2."""

LINEAR_HEAT_FRACTION = 0.25
"""The linear regime: H(m) < LINEAR_HEAT_FRACTION * delta.

Replacing delta by delta + H shifts the linear median by ln(1 + H/delta) / (2 ln rho)
steps, i.e. by ln(1 + H/delta) * sqrt(8) / (2 pi) = 0.45 ln(1 + H/delta) standard
deviations of tau, whatever eta, gamma and m: H = delta/4 is a shift of 0.10 SD.
"""


MAX_ETA_GAMMA = 0.5
"""Beyond eta gamma = 0.5 one step changes the escape coordinate by more than half of itself: the continuous
picture behind the theory (a Gaussian Z built from ~1/(2 eta gamma) noises, a smooth escape path) no longer
holds for SGD on an objective, and :func:`saddle.theory.prediction_table` gives no prediction.  The law of
the linear recursion itself (:func:`linear_prediction`) is defined for every eta gamma > 0."""

FIRST_STEP_TOLERANCE = 1e-9
"""Where P(tau = 1) exceeds this, the mean and SD are summed from the law (tau >= 1) instead of taken from the
closed forms, which describe ceil(T) and go below 1 when the escape radius is within the first step's reach."""

FloatOrArray = float | np.ndarray
"""A number, or an array of them broadcast over the batch sizes (and step sizes)."""

_ZERO_TOL = 1e-12  # relative: a noise variance below this times the largest one is exactly zero


# ----------------------------------------------------------------------------------------------
# 1. The linear escape-time law
# ----------------------------------------------------------------------------------------------


def growth_factor(eta: npt.ArrayLike, gamma: npt.ArrayLike) -> np.ndarray:
    """Per-step growth of the escape coordinate: rho = 1 + eta gamma (docs/theory.md section 1).

    Parameters
    ----------
    eta : float or array_like
        Step size (> 0).
    gamma : float or array_like
        Minus the Hessian eigenvalue along the escape direction (> 0).
    """
    return 1.0 + np.asarray(eta, dtype=float) * np.asarray(gamma, dtype=float)


def z_scale(eta: npt.ArrayLike, gamma: npt.ArrayLike, sigma_v2: npt.ArrayLike, m: npt.ArrayLike) -> np.ndarray:
    """Scale s_Z of the limit Z = lim rho^{-t} z_t of the linear recursion (docs/theory.md section 1).

    z_t = sum_{k<t} rho^{t-1-k} eta xi_k / sqrt(m), so rho^{-t} z_t converges to
    Z = sum_{k>=0} rho^{-(k+1)} eta xi_k / sqrt(m), a Gaussian (exactly for Gaussian
    xi; by the Lindeberg CLT otherwise, as it sums about 1/(2 eta gamma) terms of
    similar size) of variance

        s_Z^2 = eta^2 sigma_v^2 / (m (rho^2 - 1)),   rho = 1 + eta gamma.

    Returns s_Z (broadcast over the arguments).
    """
    rho = growth_factor(eta, gamma)
    return np.sqrt(
        np.asarray(eta, dtype=float) ** 2
        * np.asarray(sigma_v2, dtype=float)
        / (np.asarray(m, dtype=float) * (rho**2 - 1.0))
    )


def fdrop_radius(delta: npt.ArrayLike, gamma: npt.ArrayLike) -> np.ndarray:
    """Escape radius of the f-drop criterion: z* = sqrt(2 delta / gamma) (docs/theory.md section 2).

    Along v, f(u_0 + z v) = f(u_0) - (gamma / 2) z^2 + O(z^3), so f drops by delta
    when |z| reaches z*.
    """
    return np.sqrt(2.0 * np.asarray(delta, dtype=float) / np.asarray(gamma, dtype=float))


def log_chi_moments(k: int = 1) -> tuple[float, float]:
    """Mean and variance of ln|Z|/s_Z when |Z|/s_Z is chi-distributed with k degrees of freedom.

    E[ln chi_k] = (psi(k/2) + ln 2) / 2 and Var[ln chi_k] = psi'(k/2) / 4 (psi the
    digamma function).  For k = 1, |N(0,1)|: -(EULER_GAMMA + ln 2) / 2 = -0.6352
    and pi^2 / 8; for k = 2, ln chi_2^2 - ln 2 is minus a Gumbel variable.
    """
    mean = 0.5 * (float(scipy.special.digamma(k / 2.0)) + math.log(2.0))
    var = 0.25 * float(scipy.special.polygamma(1, k / 2.0))
    return mean, var


@dataclass(frozen=True, eq=False)
class LinearPrediction:
    """The linear-theory escape-time law at one or several batch sizes (docs/theory.md section 2).

    tau = max(1, ceil(T)) with T = ln(R / |Z|) / ln rho, |Z| / s_Z ~ chi_k
    (k = n_escape escape directions with the same gamma and isotropic noise;
    k = 1 is |N(0, 1)|).  Array fields broadcast over m (and eta).

    Attributes
    ----------
    criterion : str
        'f-drop' (R = z* = sqrt(2 delta / gamma)) or 'distance' (R given).
    m, eta, gamma, sigma_v2 : float or ndarray
        Batch size, step size, negative curvature, noise variance along v.
    n_escape : int
        Number k of escape directions.
    rho, s_Z, radius : float or ndarray
        1 + eta gamma, the scale of Z, and R.
    median : float or ndarray
        Median of the integer law, ceil(ln(R / (c_k s_Z)) / ln rho) (at least 1),
        c_1 = NORMAL_MEDIAN_ABS = 0.67449; this is the smallest integer t with
        P(tau <= t) >= 1/2, the same definition as :func:`saddle.stats.lower_median`.
    median_continuous : float or ndarray
        The median of T before rounding up, ln(R / (c_k s_Z)) / ln rho.
    mean : float or ndarray
        [ln(R^2 / s_Z^2) - 2 E ln chi_k] / (2 ln rho) + 1/2; for k = 1 this is
        [ln(R^2 m gamma (2 + eta gamma) / (eta sigma_v^2)) + 0.5772 + ln 2] / (2 ln rho) + 1/2.
        The +1/2 is E[ceil(T)] - E[T] (the fractional part of T is uniform because
        T spreads over many steps).  Where the first step may already reach R
        (P(tau = 1) > FIRST_STEP_TOLERANCE) the mean and SD are instead those of the
        law tau = max(1, ceil(T)) summed exactly, so that the mean is never below 1.
    sd : float or ndarray
        sqrt(Var ln chi_k / ln^2 rho + 1/12): (pi / sqrt 8) / ln rho for k = 1, plus
        Sheppard's 1/12 for the rounding up; independent of m (where P(tau = 1) is negligible).
    slope_per_log2_m : float or ndarray
        d(median) / d(log2 m) = ln 2 / (2 ln rho), independent of the noise.
    reason : str
        Why some value is NaN ('' when none is): a time beyond floating point (eta gamma so small
        that ln rho underflows).

    Notes
    -----
    Valid when R >> s_Z sqrt(2 / (eta gamma)), so that after |z| first reaches R
    the drift eta gamma R beats the per-step noise eta sigma_v / sqrt(m) (no
    re-crossings) and rho^{-2 tau} << 1 (z_t = rho^t Z to good accuracy).
    """

    criterion: str
    m: FloatOrArray
    eta: FloatOrArray
    gamma: float
    sigma_v2: float
    n_escape: int
    rho: FloatOrArray
    s_Z: FloatOrArray
    radius: FloatOrArray
    median: FloatOrArray
    median_continuous: FloatOrArray
    mean: FloatOrArray
    sd: FloatOrArray
    slope_per_log2_m: FloatOrArray
    reason: str = ""

    @property
    def _log_rho(self) -> np.ndarray:
        return np.log1p(np.asarray(self.eta) * self.gamma)

    def _continuous_quantile(self, p: npt.ArrayLike) -> np.ndarray:
        c = scipy.stats.chi(self.n_escape).isf(np.asarray(p, dtype=float))
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            q = np.log(self.radius / (c * self.s_Z)) / self._log_rho
            logs = (np.log(self.radius) - np.log(c) - np.log(self.s_Z)) / self._log_rho  # where R / s_Z overflows
            return np.where(np.isfinite(q), q, logs)

    def quantile(self, p: npt.ArrayLike) -> np.ndarray:
        """Smallest integer t >= 1 with P(tau <= t) >= p (p in (0, 1))."""
        return np.maximum(1.0, np.ceil(self._continuous_quantile(p)))

    def cdf(self, t: npt.ArrayLike) -> np.ndarray:
        """P(tau <= t) = P(|Z| >= R rho^{-floor(t)}) = 2 Phi(-R rho^{-floor t} / s_Z) for k = 1; 0 for t < 1."""
        steps = np.floor(np.asarray(t, dtype=float))
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            log_x = np.log(self.radius) - steps * self._log_rho - np.log(self.s_Z)  # in logs: R / s_Z may overflow
            x = np.exp(np.minimum(np.nan_to_num(log_x, nan=-np.inf), 300.0))  # sf is 0 long before e^300
            return np.where(steps >= 1, scipy.stats.chi(self.n_escape).sf(x), 0.0)

    def sf(self, t: npt.ArrayLike) -> np.ndarray:
        """Survival P(tau > t) = 1 - cdf(t)."""
        return 1.0 - self.cdf(t)

    def pmf(self, t: npt.ArrayLike) -> np.ndarray:
        """P(tau = t) for integer t."""
        t = np.asarray(t, dtype=float)
        return self.cdf(t) - self.cdf(t - 1)


def linear_prediction(
    eta: npt.ArrayLike,
    gamma: float,
    sigma_v2: float,
    m: npt.ArrayLike,
    *,
    delta: float | None = None,
    radius: float | None = None,
    n_escape: int = 1,
) -> LinearPrediction:
    """Linear-theory escape-time law from a strict saddle (docs/theory.md, sections 1-2).

    Parameters
    ----------
    eta : float or array_like
        Step size.
    gamma : float
        Minus the (most negative) Riemannian Hessian eigenvalue at the saddle.
    sigma_v2 : float
        Per-sample gradient noise variance along the escape direction,
        Var(v . g(u_0; x)) (> 0; with 0 the linear theory predicts no escape).
    m : int or array_like
        Batch size(s); the prediction is vectorised over m.
    delta : float, optional
        f-drop threshold: escape when f(u_t) <= f(u_0) - delta, i.e. (to second
        order) |z_t| >= z* = sqrt(2 delta / gamma).
    radius : float, optional
        Distance criterion instead: escape when |z_t| >= radius.
    n_escape : int
        Number of escape directions sharing gamma with isotropic noise
        (s - 1 at the spike's order-s saddle); |Z|^2 / s_Z^2 is then chi^2 with
        n_escape degrees of freedom.

    Returns
    -------
    LinearPrediction

    Notes
    -----
    With T = ln(R / |Z|) / ln rho, the escape step is tau = max(1, ceil(T)):

        median tau = ceil(ln(z* / (0.67449 s_Z)) / ln rho),
        E tau      = [ln(R^2 m gamma (2 + eta gamma) / (eta sigma_v^2)) + EULER_GAMMA + ln 2] / (2 ln rho) + 1/2,
        SD tau     = sqrt((pi / sqrt 8)^2 / ln^2 rho + 1/12),
        d median / d log2 m = ln 2 / (2 ln rho).

    The moments of ln|Z| are those of the log-chi distribution (:func:`log_chi_moments`).
    Derivation in docs/theory.md, sections 1-2.

    Examples
    --------
    >>> p = linear_prediction(0.01, 4.0, 80 / 7, [64, 1024], delta=0.1)
    >>> p.median.tolist(), round(float(p.slope_per_log2_m), 3)
    ([80.0, 115.0], 8.836)
    """
    if (delta is None) == (radius is None):
        raise ValueError("give exactly one of delta (f-drop criterion) and radius (distance criterion)")
    eta_a = np.asarray(eta, dtype=float)
    m_a = np.asarray(m, dtype=float)
    for name, value in (("eta", eta_a), ("gamma", gamma), ("sigma_v2", sigma_v2), ("m", m_a)):
        value = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(value)) or np.any(value <= 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    if int(n_escape) != n_escape or n_escape < 1:
        raise ValueError(f"n_escape must be an integer >= 1, got {n_escape!r}")
    gamma, sigma_v2, k = float(gamma), float(sigma_v2), int(n_escape)
    if delta is not None:
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be finite and > 0, got {delta}")
        criterion = "f-drop"
        log_R = 0.5 * (math.log(2.0) + math.log(delta) - math.log(gamma))
    else:
        assert radius is not None  # exactly one of delta and radius (checked above)
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be finite and > 0, got {radius}")
        criterion = "distance"
        log_R = math.log(radius)
    e_log, v_log = log_chi_moments(k)
    c_med = NORMAL_MEDIAN_ABS if k == 1 else float(scipy.stats.chi(k).median())
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        R = fdrop_radius(delta, gamma) if delta is not None else np.asarray(float(cast(float, radius)))
        rho = growth_factor(eta_a, gamma)
        log_rho = np.log1p(eta_a * gamma)
        s_Z = z_scale(eta_a, gamma, sigma_v2, m_a)
        # The plain formulas where they are finite; the same in logarithms where a product over- or underflows.
        log_sZ_logs = 0.5 * (
            np.log(eta_a) + math.log(sigma_v2) - np.log(m_a) - math.log(gamma) - np.log(2.0 + eta_a * gamma)
        )
        ratio = R / (c_med * s_Z)
        plain = np.isfinite(ratio) & (ratio > 0) & np.isfinite(R / s_Z) & (R / s_Z > 0)
        log_b = np.where(plain, np.log(R / s_Z), log_R - log_sZ_logs)  # ln(R / s_Z)
        median_c = np.where(plain, np.log(R / (c_med * s_Z)) / log_rho, (log_b - math.log(c_med)) / log_rho)
        mean = np.where(
            plain, (2.0 * np.log(R / s_Z) - 2.0 * e_log) / (2.0 * log_rho) + 0.5, (log_b - e_log) / log_rho + 0.5
        )
        sd = np.hypot(math.sqrt(v_log) / log_rho, math.sqrt(1.0 / 12.0))  # sqrt(Var ln chi / ln^2 rho + 1/12)
        slope = math.log(2.0) / (2.0 * log_rho)
        s_Z = np.where(plain, s_Z, np.exp(log_sZ_logs))
        mean, sd = np.broadcast_arrays(mean, sd)
        mean, sd = mean.astype(float), sd.astype(float)
        # tau >= 1: where the first step may already reach R, the closed forms (the moments of ceil(T)) are
        # replaced by the law's own moments (see _clipped_moments).
        p_first = scipy.stats.chi(k).sf(np.exp(np.minimum(log_b - log_rho, 700.0)))
        clipped = np.broadcast_to(p_first > FIRST_STEP_TOLERANCE, mean.shape)
        for i in np.ndindex(mean.shape):
            if clipped[i]:
                mean[i], sd[i] = _clipped_moments(
                    float(np.broadcast_to(log_b, mean.shape)[i]), float(np.broadcast_to(log_rho, mean.shape)[i]), k
                )
    median = np.maximum(1.0, np.ceil(median_c))
    reasons = []
    if not all(np.all(np.isfinite(x)) for x in (median, mean, sd)):
        reasons.append(f"the escape time is beyond floating point (eta gamma = {float(np.min(eta_a)) * gamma:.3g})")
    if reasons:
        median, mean, sd = (np.where(np.isfinite(x), x, np.nan) for x in (median, mean, sd))
        median_c = np.where(np.isfinite(median), median_c, np.nan)
    scalar = lambda x: float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)  # noqa: E731
    return LinearPrediction(
        criterion=criterion,
        m=scalar(m_a),
        eta=scalar(eta_a),
        gamma=gamma,
        sigma_v2=sigma_v2,
        n_escape=k,
        rho=scalar(rho),
        s_Z=scalar(s_Z),
        radius=scalar(np.asarray(R, dtype=float)),
        median=scalar(median),
        median_continuous=scalar(median_c),
        mean=scalar(mean),
        sd=scalar(sd),
        slope_per_log2_m=scalar(slope),
        reason="; ".join(reasons),
    )


def _clipped_moments(log_b: float, log_rho: float, k: int) -> tuple[float, float]:
    """Mean and SD of tau = max(1, ceil(T)), T = ln(b / X) / ln rho, X ~ chi_k, b = R / s_Z, exactly.

    E tau = 1 + sum_{t>=1} P(tau > t) and E tau^2 = 1 + sum_{t>=1} (2t + 1) P(tau > t), with
    P(tau > t) = F(b rho^{-t}) (F the chi_k CDF).  The terms fall geometrically once b rho^{-t} < 1, so
    the sums are taken term by term when they have at most 10^5 terms, else by Euler-Maclaurin: the
    summand changes on the scale 1 / ln rho > 10^4 steps, and sum_{t>=1} g(t) = int_1^inf g + g(1)/2 -
    g'(1)/12 to within O(ln^3 rho).  Used where P(tau = 1) is not negligible; elsewhere the closed forms
    (E T + 1/2, sqrt(Var T + 1/12)) agree with these sums to many digits.
    """
    chi = scipy.stats.chi(k)
    tail = (log_b + 45.0 / k) / log_rho  # beyond this t, F(b rho^-t) < 1e-19
    if tail <= 100_000:
        t = np.arange(1.0, max(2.0, math.ceil(tail) + 2.0))
        g = chi.cdf(np.exp(log_b - t * log_rho))
        e1 = 1.0 + float(np.sum(g))
        e2 = 1.0 + float(np.sum((2.0 * t + 1.0) * g))
    else:
        from scipy import integrate

        log_y1 = log_b - log_rho  # y1 = b / rho
        G = lambda s: float(chi.cdf(math.exp(log_y1 - s)))  # noqa: E731 - g(1 + s / ln rho)
        s_max = max(log_y1, 0.0) + 45.0 / k
        opts = dict(limit=400, epsabs=0.0, epsrel=1e-11)
        I1 = integrate.quad(G, 0.0, s_max, **opts)[0]
        J1 = integrate.quad(lambda s: s * G(s), 0.0, s_max, **opts)[0]
        y1 = math.exp(log_y1)
        g1 = float(chi.cdf(y1))
        dg1 = -log_rho * y1 * float(chi.pdf(y1))  # g'(1)
        e1 = 1.0 + I1 / log_rho + g1 / 2.0 - dg1 / 12.0
        e2 = 1.0 + (3.0 * I1 + 2.0 * J1 / log_rho) / log_rho + 1.5 * g1 - (2.0 * g1 + 3.0 * dg1) / 12.0
    return e1, math.sqrt(max(e2 - e1 * e1, 0.0))
