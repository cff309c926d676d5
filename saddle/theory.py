"""What the linear theory predicts for the escape from a strict saddle (SPEC section 5).

Four layers, each usable on its own (the derivations are in docs/theory.md):

1. **The linear escape-time law.**  Along an escape direction v with Hessian
   eigenvalue -gamma, the coordinate z_t = v.(u_t - u_0) follows
   z_{t+1} = rho z_t + eta xi_t / sqrt(m), rho = 1 + eta gamma,
   xi ~ (0, sigma_v^2), z_0 = 0, so z_t ~ rho^t Z with Z ~ N(0, s_Z^2),
   s_Z^2 = eta^2 sigma_v^2 / (m (rho^2 - 1)).  The escape step is the first
   integer t >= 1 with |z_t| >= R (R = z* = sqrt(2 delta / gamma) for the f-drop
   criterion), i.e. tau = max(1, ceil(ln(R / |Z|) / ln rho)).
   :func:`linear_prediction` returns its median, mean, SD, slope in log2 m,
   CDF and quantiles (:class:`LinearPrediction`).
2. **Saddle quantities.**  gamma, the escape directions, the stable spectrum,
   sigma_v^2 = Var(v . g(u_0; x)), tr(Sigma_stable) and the CNC constant of
   Daneshmand et al. (2018), exactly for the spike (SPEC 2.1) and the quadratic
   testbed (SPEC 2.3), by Monte Carlo with a standard error otherwise
   (:func:`saddle_quantities`, :func:`spike_saddle`, :func:`quadratic_saddle`).
3. **Where the linear theory holds.**  The stable-direction heat
   H(m) = eta tr(Sigma_stable) / (4 m) (:func:`stable_heat`) against delta, the
   heat at the end of the escape path against the margin f(u_0) - delta - f_end,
   and the softening of the stable curvature by the stable spread
   (:func:`regime`).
4. **The heat-path model and the best batch size.**  The median trajectory
   followed along the escape path with the stable directions' heat built up
   step by step (:func:`heat_path_escape`), and its argmin over a grid of batch
   sizes in steps and in samples (:func:`optimal_batch_size`).

Everything is plain NumPy/SciPy; nothing here runs a kernel.
"""

import math
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.special
import scipy.stats

from saddle.manifolds import Euclidean
from saddle.objectives.spike import SpikeTensor, data_distribution

NORMAL_MEDIAN_ABS = float(scipy.stats.norm.ppf(0.75))
"""Median of |N(0, 1)|: Phi^{-1}(3/4) = 0.6744897501960817 (SPEC's 0.6745)."""

EULER_GAMMA = float(np.euler_gamma)
"""Euler's constant 0.5772156649..., from E[ln |N(0,1)|] = -(EULER_GAMMA + ln 2) / 2."""

LINEAR_HEAT_FRACTION = 0.25
"""The linear regime: H(m) < LINEAR_HEAT_FRACTION * delta.

Replacing delta by delta + H shifts the linear median by ln(1 + H/delta) / (2 ln rho)
steps, i.e. by ln(1 + H/delta) * sqrt(8) / (2 pi) = 0.45 ln(1 + H/delta) standard
deviations of tau, whatever eta, gamma and m: H = delta/4 is a shift of 0.10 SD.
"""

CRITERIA = ("f-drop", "distance")
DEFAULT_M_GRID = tuple(2**k for k in range(11))

_ZERO_TOL = 1e-12  # relative: a noise variance below this times the largest one is exactly zero


# ----------------------------------------------------------------------------------------------
# 1. The linear escape-time law
# ----------------------------------------------------------------------------------------------


def growth_factor(eta, gamma):
    """Per-step growth of the escape coordinate: rho = 1 + eta gamma (SPEC 5).

    Parameters
    ----------
    eta : float or array_like
        Step size (> 0).
    gamma : float or array_like
        Minus the Hessian eigenvalue along the escape direction (> 0).
    """
    return 1.0 + np.asarray(eta, dtype=float) * np.asarray(gamma, dtype=float)


def z_scale(eta, gamma, sigma_v2, m):
    """Scale s_Z of the limit Z = lim rho^{-t} z_t of the linear recursion (SPEC 5).

    z_t = sum_{k<t} rho^{t-1-k} eta xi_k / sqrt(m), so rho^{-t} z_t converges to
    Z = sum_{k>=0} rho^{-(k+1)} eta xi_k / sqrt(m), a Gaussian (exactly for Gaussian
    xi; by the Lindeberg CLT otherwise, as it sums about 1/(2 eta gamma) terms of
    similar size) of variance

        s_Z^2 = eta^2 sigma_v^2 / (m (rho^2 - 1)),   rho = 1 + eta gamma.

    Returns s_Z (broadcast over the arguments).
    """
    rho = growth_factor(eta, gamma)
    return np.sqrt(np.asarray(eta, dtype=float) ** 2 * np.asarray(sigma_v2, dtype=float)
                   / (np.asarray(m, dtype=float) * (rho**2 - 1.0)))


def fdrop_radius(delta, gamma):
    """Escape radius of the f-drop criterion: z* = sqrt(2 delta / gamma) (SPEC 5).

    Along v, f(u_0 + z v) = f(u_0) - (gamma / 2) z^2 + O(z^3), so f drops by delta
    when |z| reaches z*.
    """
    return np.sqrt(2.0 * np.asarray(delta, dtype=float) / np.asarray(gamma, dtype=float))


def log_chi_moments(k=1):
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
    """The linear-theory escape-time law at one or several batch sizes (SPEC 5).

    tau = max(1, ceil(T)) with T = ln(R / |Z|) / ln rho, |Z| / s_Z ~ chi_k
    (k = n_escape escape directions with the same gamma and isotropic noise;
    k = 1 is SPEC's |N(0, 1)|).  Array fields broadcast over m (and eta).

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
        The median of T before rounding up (SPEC's "median tau").
    mean : float or ndarray
        [ln(R^2 / s_Z^2) - 2 E ln chi_k] / (2 ln rho) + 1/2; for k = 1 this is SPEC's
        [ln(R^2 m gamma (2 + eta gamma) / (eta sigma_v^2)) + 0.5772 + ln 2] / (2 ln rho) + 1/2.
        The +1/2 is E[ceil(T)] - E[T] (the fractional part of T is uniform because
        T spreads over many steps).
    sd : float or ndarray
        sqrt(Var ln chi_k / ln^2 rho + 1/12): (pi / sqrt 8) / ln rho for k = 1, plus
        Sheppard's 1/12 for the rounding up; independent of m.
    slope_per_log2_m : float or ndarray
        d(median) / d(log2 m) = ln 2 / (2 ln rho), independent of the noise.

    Notes
    -----
    Valid when R >> s_Z sqrt(2 / (eta gamma)), so that after |z| first reaches R
    the drift eta gamma R beats the per-step noise eta sigma_v / sqrt(m) (no
    re-crossings) and rho^{-2 tau} << 1 (z_t = rho^t Z to good accuracy).
    """

    criterion: str
    m: object
    eta: object
    gamma: object
    sigma_v2: object
    n_escape: int
    rho: object
    s_Z: object
    radius: object
    median: object
    median_continuous: object
    mean: object
    sd: object
    slope_per_log2_m: object

    @property
    def _log_rho(self):
        return np.log1p(np.asarray(self.eta) * self.gamma)

    def _continuous_quantile(self, p):
        c = scipy.stats.chi(self.n_escape).isf(np.asarray(p, dtype=float))
        return np.log(self.radius / (c * self.s_Z)) / self._log_rho

    def quantile(self, p):
        """Smallest integer t >= 1 with P(tau <= t) >= p (p in (0, 1))."""
        return np.maximum(1.0, np.ceil(self._continuous_quantile(p)))

    def cdf(self, t):
        """P(tau <= t) = P(|Z| >= R rho^{-floor(t)}) = 2 Phi(-R rho^{-floor t} / s_Z) for k = 1; 0 for t < 1."""
        t = np.floor(np.asarray(t, dtype=float))
        x = self.radius * np.exp(-t * self._log_rho) / self.s_Z
        return np.where(t >= 1, scipy.stats.chi(self.n_escape).sf(x), 0.0)

    def sf(self, t):
        """Survival P(tau > t) = 1 - cdf(t)."""
        return 1.0 - self.cdf(t)

    def pmf(self, t):
        """P(tau = t) for integer t."""
        t = np.asarray(t, dtype=float)
        return self.cdf(t) - self.cdf(t - 1)


def linear_prediction(eta, gamma, sigma_v2, m, *, delta=None, radius=None, n_escape=1):
    """Linear-theory escape-time law from a strict saddle (SPEC section 5).

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

    Source: SPEC section 5; the moments of ln|Z| are those of the log-chi
    distribution (:func:`log_chi_moments`).  Derivation in docs/theory.md.

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
    if delta is not None:
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be finite and > 0, got {delta}")
        criterion, R = "f-drop", fdrop_radius(delta, gamma)
    else:
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be finite and > 0, got {radius}")
        criterion, R = "distance", float(radius)
    rho = growth_factor(eta_a, gamma)
    log_rho = np.log1p(eta_a * gamma)
    s_Z = z_scale(eta_a, gamma, sigma_v2, m_a)
    e_log, v_log = log_chi_moments(int(n_escape))
    c_med = NORMAL_MEDIAN_ABS if n_escape == 1 else float(scipy.stats.chi(int(n_escape)).median())
    median_c = np.log(R / (c_med * s_Z)) / log_rho
    mean = (2.0 * np.log(R / s_Z) - 2.0 * e_log) / (2.0 * log_rho) + 0.5
    sd = np.sqrt(v_log / log_rho**2 + 1.0 / 12.0)
    slope = math.log(2.0) / (2.0 * log_rho)
    scalar = lambda x: float(x) if np.ndim(x) == 0 else x
    return LinearPrediction(
        criterion=criterion, m=scalar(m_a), eta=scalar(eta_a), gamma=float(gamma), sigma_v2=float(sigma_v2),
        n_escape=int(n_escape), rho=scalar(rho), s_Z=scalar(s_Z), radius=scalar(np.asarray(R, dtype=float)),
        median=scalar(np.maximum(1.0, np.ceil(median_c))), median_continuous=scalar(median_c),
        mean=scalar(mean), sd=scalar(np.broadcast_to(sd, np.shape(mean)).copy() if np.ndim(mean) else sd),
        slope_per_log2_m=scalar(slope),
    )


# ----------------------------------------------------------------------------------------------
# 2. Saddle quantities: exact noise moments for the spike
# ----------------------------------------------------------------------------------------------


def latent_moment(dist, n):
    """E[z^n] of one latent coordinate of the ICA model (SPEC 2.1), as an exact Fraction.

    Odd moments vanish; E[z^{2k}] = 3^k / (2k + 1) (uniform on [-sqrt3, sqrt3]),
    1 (rademacher), (2k)! / 2^k (laplace with scale 1/sqrt2).
    """
    data_distribution(dist)
    if n % 2:
        return Fraction(0)
    k = n // 2
    key = str(dist).lower()
    if key == "uniform":
        return Fraction(3**k, 2 * k + 1)
    if key == "rademacher":
        return Fraction(1)
    return Fraction(math.factorial(2 * k), 2**k)  # laplace


def _series_pow_product(factors, degree):
    """Product of truncated power series (lists of coefficients), exact for Fractions or floats."""
    out = [Fraction(1)] + [Fraction(0)] * degree
    for fac in factors:
        new = [0] * (degree + 1)
        for i, a in enumerate(out):
            if a:
                for j in range(degree + 1 - i):
                    new[i + j] += a * fac[j]
        out = new
    return out


def spike_noise_moments(s, dist):
    """Exact moments of the spike's per-sample gradient at the order-s saddle, frame A = I.

    With c = u_0 . z = (z_1 + ... + z_s) / sqrt(s) and independent coordinates,

        D = E[c^6 z_1^2],  O = E[c^6 z_1 z_2],  E3 = E[c^3 z_1],  E6 = E[c^6],

    computed as n! [t^n] of products of the series E[z^a e^{t z}] = sum_n mu_{n+a} t^n / n!
    (the exact moments mu of :func:`latent_moment`), then divided by s^3
    (c^6 and (c^3)^2 are homogeneous of degree 6 in 1/sqrt(s)).

    Returns
    -------
    dict of Fraction
        'D', 'O' (0 when s = 1), 'E3sq' (E3^2), 'E6', and 'kappa'.
    """
    if int(s) != s or s < 1:
        raise ValueError(f"s must be an integer >= 1, got {s!r}")
    s = int(s)
    mu = [latent_moment(dist, n) for n in range(9)]
    fact = [math.factorial(n) for n in range(9)]
    m0 = [mu[n] / fact[n] for n in range(7)]
    m1 = [mu[n + 1] / fact[n] for n in range(7)]
    m2 = [mu[n + 2] / fact[n] for n in range(7)]
    D = fact[6] * _series_pow_product([m0] * (s - 1) + [m2], 6)[6]
    O = fact[6] * _series_pow_product([m0] * (s - 2) + [m1, m1], 6)[6] if s >= 2 else Fraction(0)
    E3 = fact[3] * _series_pow_product([m0] * (s - 1) + [m1], 6)[3]
    E6 = fact[6] * _series_pow_product([m0] * s, 6)[6]
    kappa = Fraction(data_distribution(dist)[1]).limit_denominator(1000)
    norm = Fraction(s) ** 3
    return {"D": D / norm, "O": O / norm, "E3sq": E3 * E3 / norm, "E6": E6 / norm, "kappa": kappa}


def spike_gradient_covariance(d, s, dist="uniform", exact=False):
    """Exact per-sample gradient covariance of the spike at its order-s saddle, frame A = I.

    u_0 = (e_1 + ... + e_s) / sqrt(s) and g(u_0; z) = (12 u_0 - 4 c^3 z) / kappa,
    c = u_0 . z, so Cov g = (16 / kappa^2) (E[c^6 z z^T] - E[c^3 z] E[c^3 z]^T):

        Sigma_jj = (16/kappa^2)(D - E3^2),  Sigma_jk = (16/kappa^2)(O - E3^2)  for j != k in S,
        Sigma_kk = (16/kappa^2) E6  for k not in S,  all other entries 0

    (:func:`spike_noise_moments`).  In another frame A the covariance is
    A Sigma A^T (the dynamics are rotation-equivariant, SPEC 2.1).

    Parameters
    ----------
    d, s : int
        Dimension and saddle order, 1 <= s <= d.
    dist : str
        'uniform', 'rademacher' or 'laplace'.
    exact : bool
        Return a d x d object array of Fractions instead of floats.
    """
    if int(d) != d or d < 1 or int(s) != s or not 1 <= s <= d:
        raise ValueError(f"need integers 1 <= s <= d, got d = {d!r}, s = {s!r}")
    mom = spike_noise_moments(s, dist)
    scale = 16 / mom["kappa"] ** 2
    C = np.full((d, d), Fraction(0), dtype=object)
    for j in range(s):
        for k in range(s):
            C[j, k] = scale * ((mom["D"] if j == k else mom["O"]) - mom["E3sq"])
    for k in range(s, d):
        C[k, k] = scale * mom["E6"]
    return C if exact else C.astype(float)


def _series_mul(a, b):
    """Truncated product of power series stored along the last axis (broadcasting)."""
    n = a.shape[-1]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for i in range(n):
        out[..., i:] += a[..., i : i + 1] * b[..., : n - i]
    return out


def _series_div(a, b):
    """Truncated quotient a / b of power series (b[..., 0] != 0), along the last axis."""
    n = a.shape[-1]
    a, b = np.broadcast_arrays(a, b)
    q = np.zeros(a.shape)
    for i in range(n):
        q[..., i] = (a[..., i] - np.sum(q[..., :i] * b[..., i:0:-1], axis=-1)) / b[..., 0]
    return q


def spike_gradient_covariance_at(u, dist="uniform", A=None):
    """Exact per-sample gradient covariance of the spike at any point u (floats).

    Cov g(u; x) = (16 / kappa^2) A (E[c^6 z z^T] - E[c^3 z] E[c^3 z]^T) A^T with
    c = w . z, w = A^T u (the deterministic 12 ||u||^2 u / kappa does not vary).
    With independent coordinates, E[c^n prod_l z_l^{a_l}] = n! [t^n] prod_l
    E[z^{a_l} e^{t w_l z}]; the leave-one-out and leave-two-out products come from
    dividing the full product by single factors (each has constant term 1).
    Cost O(d^2) series operations of length 7.
    """
    u = np.asarray(u, dtype=float)
    w = u if A is None else np.asarray(A, dtype=float).T @ u
    kappa = data_distribution(dist)[1]
    mu = np.array([float(latent_moment(dist, n)) for n in range(9)])
    fact = np.array([math.factorial(n) for n in range(7)], dtype=float)
    powers = w[:, None] ** np.arange(7)
    M0 = powers * mu[0:7] / fact
    M1 = powers * mu[1:8] / fact
    M2 = powers * mu[2:9] / fact
    P = np.zeros(7)
    P[0] = 1.0
    for row in M0:
        P = _series_mul(P, row)
    Q = _series_div(P[None, :], M0)  # leave coordinate j out
    E3 = 6.0 * _series_mul(Q, M1)[:, 3]
    R = _series_div(Q[:, None, :], M0[None, :, :])  # leave j and k out (valid for j != k)
    E6 = 720.0 * _series_mul(_series_mul(R, M1[:, None, :]), M1[None, :, :])[..., 6]
    np.fill_diagonal(E6, 720.0 * _series_mul(Q, M2)[:, 6])
    C = 16.0 / kappa**2 * (E6 - np.outer(E3, E3))
    C = 0.5 * (C + C.T)
    if A is not None:
        A = np.asarray(A, dtype=float)
        C = A @ C @ A.T
    return C


def latent_sample(rng, n, d, dist):
    """n x d i.i.d. latent coordinates of the ICA model, drawn with a numpy Generator."""
    key = str(dist).lower()
    data_distribution(key)
    if key == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size=(n, d))
    if key == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(n, d))
    return rng.laplace(0.0, 1.0 / math.sqrt(2.0), size=(n, d))


def spike_sampler(objective):
    """sampler(rng, n) -> n x d data x = A z of a SpikeTensor, for :func:`monte_carlo_noise`."""
    return lambda rng, n: objective.samples(latent_sample(rng, n, objective.d, objective.dist))


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
    objective: object = field(default=None, repr=False, compare=False)
    covariance_at: object = field(default=None, repr=False, compare=False)

    @property
    def n_escape(self):
        return int(self.escape_directions.shape[1])

    def stable_heat(self, eta, m):
        """H(m) = eta tr(Sigma_stable) / (4 m); see :func:`stable_heat`."""
        return stable_heat(self.trace_stable, eta, m)

    def linear(self, eta, m, *, delta=None, radius=None):
        """:func:`linear_prediction` with this saddle's gamma, sigma_v^2 and number of escape directions."""
        return linear_prediction(eta, self.gamma, self.sigma_v2, m, delta=delta, radius=radius,
                                 n_escape=self.n_escape)


def stable_heat(trace_stable, eta, m):
    """Stable-direction heat H(m) = eta tr(Sigma_stable) / (4 m) (SPEC 5).

    A stable coordinate y with curvature lambda and noise variance Sigma_kk follows
    y_{t+1} = (1 - eta lambda) y_t + eta xi_t / sqrt(m); its stationary variance is
    eta Sigma_kk / (m lambda (2 - eta lambda)), so it raises f on average by
    (lambda / 2) Var y = eta Sigma_kk / (2 m (2 - eta lambda)) = eta Sigma_kk / (4 m)
    (1 + O(eta lambda)): the curvature cancels.  Summed over the stable directions.
    """
    return np.asarray(eta, dtype=float) * trace_stable / (4.0 * np.asarray(m, dtype=float))


def _tangent_basis(manifold, u):
    if manifold is not None and hasattr(manifold, "tangent_basis"):
        return np.asarray(manifold.tangent_basis(u), dtype=float)
    return np.eye(np.asarray(u).size)


def _spectrum(objective, u0, rel_tol=1e-8):
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


def _resolve_covariance(objective, covariance):
    """A callable u -> exact d x d per-sample covariance, and its name; None when unavailable."""
    if covariance is not None:
        if callable(covariance):
            return covariance, "given covariance function"
        C = np.asarray(covariance, dtype=float)
        return (lambda u: C), "given covariance matrix (the same at every point)"
    if hasattr(objective, "gradient_noise_covariance"):
        return objective.gradient_noise_covariance, "objective.gradient_noise_covariance"
    if isinstance(objective, SpikeTensor):
        return (lambda u: spike_gradient_covariance_at(u, objective.dist, objective.A)), "exact spike moments"
    return None, None


def monte_carlo_noise(objective, u, directions_list, sampler, n_samples=200_000, seed=0, chunk=50_000):
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


def saddle_quantities(objective, u0=None, *, covariance=None, sampler=None, n_samples=200_000, seed=0,
                      method="auto", warn=True):
    """gamma, escape and stable directions, sigma_v^2, tr(Sigma_stable) and the CNC constant at a saddle.

    Parameters
    ----------
    objective : object
        Provides ``rhess(u)`` (Riemannian Hessian as a d x d matrix acting on the
        tangent space), ``manifold`` with ``tangent_basis(u)`` (an identity basis is
        used without one, as on R^d), and ``per_sample_grad(u, x)`` for the Monte
        Carlo path.  The exact covariance comes from, in order: ``covariance``,
        ``objective.gradient_noise_covariance(u)``, the exact spike moments
        (:func:`spike_gradient_covariance_at`) for a :class:`SpikeTensor`; else
        Monte Carlo with ``sampler``.
    u0 : ndarray, optional
        The saddle; ``objective.saddle(2)`` or ``objective.start()`` when omitted.
    covariance : ndarray or callable, optional
        The per-sample gradient covariance (d x d), or a function u -> covariance.
    sampler : callable, optional
        ``sampler(rng, n)`` -> n samples accepted by ``per_sample_grad``, for Monte
        Carlo (:func:`spike_sampler` for a SpikeTensor; ``objective.samples`` applied
        to standard normals otherwise, if it exists).
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
    cov_at, source = _resolve_covariance(objective, covariance) if method != "monte-carlo" else (None, None)
    if method == "exact" and cov_at is None:
        raise ValueError("no exact covariance is known for this objective: give covariance= or use Monte Carlo")
    if cov_at is not None:
        C = np.asarray(cov_at(u0), dtype=float)
        scale = max(float(np.max(np.abs(np.diag(C)))), 1e-300)
        VCV = V.T @ C @ V
        ev = np.linalg.eigvalsh(0.5 * (VCV + VCV.T))
        stable_noise = np.einsum("ik,ij,jk->k", W, C, W)
        clean = lambda x: 0.0 if abs(x) <= _ZERO_TOL * scale else float(x)
        q = SaddleQuantities(
            u0=u0, gamma=gamma, escape_directions=V, hessian_eigenvalues=lam, stable_eigenvalues=lam_stable,
            stable_directions=W, sigma_v2=clean(np.trace(VCV) / V.shape[1]), cnc=clean(ev[0]),
            trace_stable=clean(np.sum(stable_noise)), stable_noise=stable_noise, exact=True, method=source,
            objective=objective, covariance_at=cov_at,
        )
    else:
        if sampler is None:
            if isinstance(objective, SpikeTensor):
                sampler = spike_sampler(objective)
            elif hasattr(objective, "samples"):
                d = u0.size
                sampler = lambda rng, n: objective.samples(rng.standard_normal((n, d)))
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
            u0=u0, gamma=gamma, escape_directions=V, hessian_eigenvalues=lam, stable_eigenvalues=lam_stable,
            stable_directions=W, sigma_v2=float(sv.mean()), cnc=float(cnc_est), trace_stable=res[k][0],
            stable_noise=np.array([r[0] for r in res[k + 1 :]]), sigma_v2_se=sv_se, cnc_se=cnc_se,
            trace_stable_se=res[k][1], exact=False, method=f"Monte Carlo, {n_samples} samples, seed {seed}",
            objective=objective,
            covariance_at=None,
        )
    if warn and not q.exact and q.cnc <= 3.0 * q.cnc_se:
        warnings.warn(
            f"the CNC condition may fail at this saddle: the Monte Carlo noise variance along an escape direction, "
            f"{q.cnc:.3g} +- {q.cnc_se:.2g}, is within 3 standard errors of zero",
            UserWarning, stacklevel=2,
        )
    if warn and q.exact and q.cnc == 0.0:
        warnings.warn(
            "the CNC condition fails at this saddle: the per-sample gradient noise has zero variance along an "
            "escape direction (min_v v^T Sigma v = 0 over the negative-curvature eigenspace), so the linear "
            "theory predicts no escape along it; SGD can only leave through nonlinear terms or other directions",
            UserWarning, stacklevel=2,
        )
    return q


def spike_saddle(d=10, s=2, dist="uniform", A=None, warn=True):
    """SaddleQuantities of the spike's order-s saddle u_0 = (a_1 + ... + a_s) / sqrt(s), exactly.

    SPEC 2.1: gamma = 8 / s with s - 1 escape directions, stable eigenvalues 4 / s.
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
    q = saddle_quantities(obj, u0, warn=False)
    q = _replace(q, gamma=8.0 / s, sigma_v2=float(sv), cnc=float(sv), trace_stable=float(tr),
                 stable_noise=np.full(d - s, float(scale * mom["E6"])), method="exact spike moments (Fractions)")
    if warn and q.cnc == 0.0:
        warnings.warn(
            f"the CNC condition fails at the spike's s = {s} saddle with {dist} data: the per-sample gradient has "
            "exactly zero variance along the escape directions (SPEC 2.1 note), so the linear theory predicts no "
            "escape; SGD leaves only through nonlinear terms",
            UserWarning, stacklevel=2,
        )
    return q


def _replace(q, **changes):
    import dataclasses

    return dataclasses.replace(q, **changes)


@dataclass(frozen=True)
class _Quadratic:
    """f(x) = 1/2 sum_i h_i x_i^2 + beta/4 ||x||^4 on R^d with constant noise covariance (SPEC 2.3)."""

    h: np.ndarray
    Sigma: np.ndarray
    beta: float = 0.0

    @property
    def manifold(self):
        return Euclidean(self.h.size)

    def f(self, x):
        return 0.5 * np.dot(self.h * x, x) + 0.25 * self.beta * np.dot(x, x) ** 2

    def rgrad(self, x):
        return self.h * x + self.beta * np.dot(x, x) * x

    def rhess(self, x):
        return np.diag(self.h) + self.beta * (np.dot(x, x) * np.eye(self.h.size) + 2.0 * np.outer(x, x))

    def per_sample_grad(self, x, zeta):
        return self.rgrad(x)[None, :] + np.asarray(zeta)

    def gradient_noise_covariance(self, x=None):
        return self.Sigma


def quadratic_saddle(H_diag, Sigma, beta=0.0, warn=True):
    """SaddleQuantities of the quadratic testbed at x = 0 (SPEC 2.3), from plain arrays.

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


# ----------------------------------------------------------------------------------------------
# 3. The escape path, its end, and where the linear theory holds
# ----------------------------------------------------------------------------------------------


def _retract(manifold, u, v):
    return manifold.retract(u, v) if manifold is not None and hasattr(manifold, "retract") else u + v


def _tangent_frame(manifold, u, W):
    """Project the columns of W onto the tangent space at u and re-orthonormalise them."""
    if W.shape[1] == 0 or manifold is None or not hasattr(manifold, "project"):
        return W
    P = np.column_stack([manifold.project(u, W[:, k]) for k in range(W.shape[1])])
    q, r = np.linalg.qr(P)
    return q * np.sign(np.diag(r))


def _diag_quadratic_forms(W, M):
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
        Steps of the noise-free map (step size eta) it took.
    """

    u: object
    f: float
    trace_stable: float
    steps: int


def escape_path_end(quantities, eta, *, start=1e-6, max_steps=1_000_000, tol=1e-10):
    """Follow the noise-free map u <- R(u, -eta grad f(u)) from R(u_0, start v) to where it stops.

    For the spike's s = 2 saddle the path is the great circle through a_1 and a_2
    and it ends at the minimum a_1 (f = -1); for the quadratic with beta > 0 at
    x = sqrt(gamma / beta) e_1 (f = -gamma^2 / (4 beta)).  The stationary heat at
    the end uses the exact covariance there when one is known, else the saddle's
    stable noise trace.
    """
    obj = quantities.objective
    if obj is None:
        raise ValueError("these SaddleQuantities carry no objective")
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
    B = _tangent_basis(M, u)
    H = B.T @ np.asarray(obj.rhess(u), dtype=float) @ B
    lam, vec = np.linalg.eigh(0.5 * (H + H.T))
    Wp = B @ vec[:, lam > 1e-8 * max(1.0, float(np.max(np.abs(lam))))]
    if quantities.covariance_at is not None:
        tr = float(np.sum(_diag_quadratic_forms(Wp, np.asarray(quantities.covariance_at(u), dtype=float))))
    else:
        tr = float(quantities.trace_stable)
    return PathEnd(u, float(obj.f(u)), tr, t)


def stable_curvature_softening(quantities, eta, m=1, h=1e-3):
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

    def curv(u):
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
        'linear' when heat < LINEAR_HEAT_FRACTION * threshold, else 'noise-dominated'.
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
        regime == 'linear' and neither rare_event nor delocalised.
    model_valid : bool
        Neither rare_event nor delocalised: the heat-path model applies.
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


def _per_m(eta, m):
    m_list = [float(x) for x in np.atleast_1d(np.asarray(m, dtype=float))]
    eta_a = np.asarray(eta, dtype=float)
    eta_list = [float(eta_a)] * len(m_list) if eta_a.ndim == 0 else [float(x) for x in eta_a]
    if len(eta_list) != len(m_list):
        raise ValueError("eta must be one number or one per batch size")
    return m_list, eta_list


def regime(quantities, eta, m, *, delta=None, radius=None, path_end=None):
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

    * **heat against delta** (SPEC 5).  The stable directions' stationary spread
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
        soft = float(stable_curvature_softening(quantities, eta_i, m_i)) if quantities.objective is not None else 0.0
        if delta is not None:
            heat = float(quantities.stable_heat(eta_i, m_i))
            threshold = float(delta)
            end = path_end if path_end is not None else escape_path_end(quantities, eta_i)
            heat_end = eta_i * end.trace_stable / (4.0 * m_i)
            f0 = float(quantities.objective.f(quantities.u0))
            margin = f0 - delta - end.f
            rare = heat_end >= margin
            criterion = "f-drop"
        else:
            heat = float(np.sum(eta_i * quantities.stable_noise / (m_i * lam * (2.0 - eta_i * lam))))
            threshold = float(radius) ** 2
            heat_end, margin, rare, criterion = 0.0, math.inf, False, "distance"
        reg = "linear" if heat < LINEAR_HEAT_FRACTION * threshold else "noise-dominated"
        deloc = soft >= 1.0
        notes = []
        if rare:
            notes.append(f"rare event: heat at the path end {heat_end:.3g} >= margin {margin:.3g}")
        if deloc:
            notes.append(f"delocalised: stable curvature softened by {soft:.2f} >= 1")
        if reg != "linear" and not notes:
            notes.append(f"noise-dominated: heat {heat:.3g} >= {LINEAR_HEAT_FRACTION} x {threshold:.3g}")
        rows.append(RegimeInfo(
            m=m_i, eta=eta_i, criterion=criterion, heat=heat, threshold=threshold, regime=reg, heat_end=heat_end,
            margin=margin, rare_event=bool(rare), softening=soft, delocalised=bool(deloc),
            linear_trusted=bool(reg == "linear" and not rare and not deloc), model_valid=bool(not rare and not deloc),
            note="; ".join(notes),
        ))
    return rows if np.ndim(m) else rows[0]


# ----------------------------------------------------------------------------------------------
# 4. The heat-path model and the best batch size
# ----------------------------------------------------------------------------------------------


def heat_path_escape(quantities, eta, m, *, delta=None, radius=None, p=0.5, max_steps=100_000):
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
        have converged).
    """
    if (delta is None) == (radius is None):
        raise ValueError("give exactly one of delta (f-drop criterion) and radius (distance criterion)")
    obj = quantities.objective
    if obj is None:
        raise ValueError("these SaddleQuantities carry no objective to follow")
    if quantities.sigma_v2 <= 0:
        return math.inf
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

    def local(u, W):
        lam = _diag_quadratic_forms(W, np.asarray(obj.rhess(u), dtype=float))
        S = (_diag_quadratic_forms(W, np.asarray(cov_at(u), dtype=float)) if cov_at is not None
             else quantities.stable_noise)
        return lam, S

    lam, S = local(u, W)
    for t in range(1, max_steps + 1):
        var_new = (1.0 - eta * lam) ** 2 * var + eta**2 * S / m
        g = np.asarray(obj.rgrad(u), dtype=float)
        u_new = _retract(M, u, -eta * g)
        W = _tangent_frame(M, u_new, W)
        lam, S = local(u_new, W)
        if delta is not None:
            if float(obj.f(u_new)) + 0.5 * float(np.sum(lam * var_new)) <= f_target:
                return float(t)
        elif float(np.sum((u_new - u0) ** 2)) + float(np.sum(var_new)) >= radius**2:
            return float(t)
        converged = (np.linalg.norm(u_new - u) <= 1e-13 * max(1.0, np.linalg.norm(u))
                     and np.all(np.abs(var_new - var) <= 1e-12 * np.maximum(var_new, 1e-300)))
        if converged or not np.all(np.isfinite(u_new)):
            return math.inf
        u, var = u_new, var_new
    return math.inf


def prediction_table(quantities, eta, m, *, delta=None, radius=None, path_end=None):
    """One dict per batch size: regime, linear law, heat-path median, and whether to trust each.

    Keys: m, eta, regime, heat, heat_end, margin, softening, rare_event, delocalised,
    linear_median, linear_mean, linear_sd, linear_trusted, model_median,
    model_valid, note.  ``model_median`` is NaN where the model is not valid.
    ``path_end``: :func:`escape_path_end` at this (one) eta, if already known.
    """
    m_list, eta_list = _per_m(eta, m)
    end = path_end
    if end is None and delta is not None and len(set(eta_list)) == 1:
        end = escape_path_end(quantities, eta_list[0])
    rows = []
    for m_i, eta_i in zip(m_list, eta_list):
        info = regime(quantities, eta_i, m_i, delta=delta, radius=radius, path_end=end)
        if quantities.sigma_v2 > 0:
            lin = quantities.linear(eta_i, m_i, delta=delta, radius=radius)
            lin_vals = (lin.median, lin.mean, lin.sd)
        else:
            lin_vals = (math.inf, math.inf, math.nan)
        model = heat_path_escape(quantities, eta_i, m_i, delta=delta, radius=radius) if info.model_valid else math.nan
        rows.append({
            "m": m_i, "eta": eta_i, "regime": info.regime, "heat": info.heat, "heat_end": info.heat_end,
            "margin": info.margin, "softening": info.softening, "rare_event": info.rare_event,
            "delocalised": info.delocalised, "linear_median": lin_vals[0], "linear_mean": lin_vals[1],
            "linear_sd": lin_vals[2], "linear_trusted": info.linear_trusted, "model_median": model,
            "model_valid": info.model_valid and math.isfinite(model), "note": info.note,
        })
    return rows


@dataclass(frozen=True)
class OptimalBatchSize:
    """The heat-path model's best batch sizes over a grid (see :func:`optimal_batch_size`).

    Attributes
    ----------
    m_steps, m_samples : float or None
        argmin over the valid grid points of the model's median escape steps, and of
        m x median steps (None when no grid point is valid).  Ties go to the smaller m.
    m_steps_at_edge, m_samples_at_edge : bool
        The argmin is the smallest valid grid point: the true optimum may lie
        below it, where the escape mechanism changes (rare event, delocalised)
        and the model says nothing.  In samples this is the usual case, because
        m x median grows almost linearly in m wherever the model is valid.
    linear_m_steps, linear_m_samples : float
        The same argmins for the plain linear theory, which always picks the
        smallest m (its median and m x median both increase with m).
    rows : tuple of dict
        :func:`prediction_table` over the grid.
    """

    m_steps: object
    m_samples: object
    m_steps_at_edge: bool
    m_samples_at_edge: bool
    linear_m_steps: float
    linear_m_samples: float
    rows: tuple


def optimal_batch_size(quantities, eta, *, delta=None, radius=None, m_grid=DEFAULT_M_GRID):
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
    (16.0, 8.0)
    """
    rows = prediction_table(quantities, eta, list(m_grid), delta=delta, radius=radius)
    valid = [r for r in rows if r["model_valid"]]

    def argmin(key, rs):
        if not rs:
            return None
        best = min(key(r) for r in rs)
        return min(r["m"] for r in rs if key(r) == best)

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


def adiabatic_optimal_batch_size(trace_stable, eta, delta, drop):
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
