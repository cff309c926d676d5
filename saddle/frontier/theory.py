"""The theory frontier: the steps to a target S(m, eta) and the tuned step size eta*(m), predicted.

Two objectives have a theory of the whole run, from the saddle to a target past it, and so a predicted
batch-size frontier (McCandlish et al. 2018, "An empirical model of large-batch training"; Shallue et al.,
JMLR 2019) to draw beside the measured one (docs/frontier.md):

- **quadratic** (f = x'Hx/2 + beta |x|^4 / 4, H = diag(-gamma, lambda_2..), additive noise N(0, Sigma)):
  the linear escape law (docs/theory.md, sections 1-2) gives the amplitude
  Z = lim rho^-t z_t of the escape coordinate; from it the noiseless map z <- z + eta (gamma z - beta z^3)
  is iterated exactly, step by step, to the target; the noise floor at the minimum comes from the
  discrete-time Lyapunov equation of the linearised dynamics (:class:`QuadraticTheory`).
- **teacher-student** (Saad & Solla 1995; Goldt et al. 2019): the N -> infinity ODE of the order
  parameters, in which the batch size enters only through eta^2 / m; where the ODE stays on the
  symmetric plateau, the exit from it is driven by the finite-N symmetry breaking (SGD noise, and the
  random start's own asymmetry) and the ODE carries the state from there to the target
  (:class:`TeacherStudentTheory`; docs/theory.md, "Teacher-student: the ODE, the plateau and its exit").

:func:`predicted_steps` gives S(m, eta) for one cell, :func:`predict_cell` the same with the success rule
and the reason when it fails, :func:`theory_frontier` tunes eta on the theory over the frontier's grid
eta_k = eta_ref 2^(k/4) for every m.  Objectives without such a theory (spike, ge2015, octopus, a user's)
get None from :func:`theory_frontier` and a ValueError from :func:`predicted_steps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.stats
from scipy import integrate

from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.teacher_student import ode
from saddle.objectives.teacher_student.model import g, g_prime, generalisation_error
from saddle.objectives.teacher_student.objective import MAX_THEORY_K, TeacherStudentObjective
from saddle.theory.linear import NORMAL_MEDIAN_ABS, z_scale

__all__ = [
    "DEFAULT_GRID",
    "FLOOR_PROBABILITY",
    "MAX_ETA_OVER_N",
    "STEPS_PER_OCTAVE",
    "SUCCESS_FRACTION",
    "CellPrediction",
    "QuadraticTheory",
    "TeacherStudentTheory",
    "default_eta_grid",
    "generalized_chi2_cdf",
    "predict_cell",
    "predicted_steps",
    "theory_for",
    "theory_frontier",
    "theory_reason",
]

STEPS_PER_OCTAVE = 4
"""Grid points per factor 2 in eta: the frontier's grid eta_k = eta_ref 2^(k / 4)."""
DEFAULT_GRID = (-39, 39)
"""The grid points k tried by default, both included: eta_ref / 870 to 870 eta_ref (eta_ref = config.eta), within
the measured frontier's default search bounds eta / 1000 to 1000 eta."""
SUCCESS_FRACTION = 0.95
"""The success rule's fraction: a step size succeeds when this fraction of trials reaches the target by
max_steps (and none diverges); the theory checks it on its predicted 95% quantile of the steps."""
FLOOR_PROBABILITY = 0.5
"""The quadratic's floor rule: a step size reaches the target in this theory only where, at stationarity
around the minimum, f <= target with at least this probability, i.e. where the median of the stationary
excess f - f_min lies below the gap target - f_min.  Then a trial that arrives near the minimum is below
the target at least half of the time, and its first passage follows the noiseless arrival within about one
relaxation time 1 / (2 eta gamma); below it the first passage waits for a fluctuation (a rare-event,
noise-dominated regime that this theory does not describe).  The rule is conservative: measured on the
quadratic (d = 10, unit noise, target 90% of the way to f_min, 400 trials a cell, step sizes up to 0.9), the
simulated frontier's eta* at m = 1, 4, 16 is 2.8, 2.0 and 1.7 times the predicted one and its S 0.47, 0.56 and
0.74 times the predicted S (its trials reach the target by fluctuations while P(f <= target) at stationarity
is only 0.03-0.14); from m = 64 on (probability near 1 at the tuned eta) both agree to the grid step."""

MAX_ETA_OVER_N = 0.25
"""The teacher-student theory's validity bound: cells with eta / N above it fail (the ODE is the N -> infinity
limit at fixed eta; its corrections grow with eta / N).  Measured against the reduced simulation at N = 50,
K = M = 2 (200 trials a cell): the plateau start's S within 1-6% up to eta / N = 1.1; the random start's,
a few steps long at large m, within 3% up to eta / N = 0.16, 20% low at 0.27, a factor 2-3 low at 0.45-1.1."""

_COARSE = 2  # the coarse search step in grid points (a factor 2^(1/2)), refined to single grid points at the end
_LINEAR_CUBIC_FRACTION = 1e-4  # the quadratic's map is linear while beta z^2 < this fraction of gamma
_DELTA = 1e-6  # the teacher-student's escape radius is calibrated from this amplitude along the unstable direction
_N_NOISE = 2**15  # Gaussian-field samples for the teacher-student's noise moments at the plateau
_N_MC = 20001  # draws of the escape amplitude (teacher-student)
_N_INIT = 8  # exact random starts (teacher-student, random start with a target below the plateau)
_N_DIRS = 4  # directions of a degenerate unstable subspace (K > 2) for the escape radius


# ----------------------------------------------------------------------------------------------- shared


@dataclass(frozen=True)
class CellPrediction:
    """The theory's prediction for one cell (a batch size m and a step size eta).

    Attributes
    ----------
    m, eta : int, float
        Batch size and step size (the step size at this m: no lr scaling is applied).
    steps : float
        The predicted S(m, eta), the median over trials of the first step with f <= target; inf where the
        theory says the median trial does not reach the target by max_steps (or does not reach it at all).
    slow_steps : float
        The predicted quantile SUCCESS_FRACTION of the steps (the slow trials); inf as ``steps``.
    success : bool
        The success rule in the theory: ``slow_steps <= max_steps`` and no reason against it.
    reason : str
        Why the cell fails ('' when it succeeds): unstable step size, the noise floor, max_steps, ...
    floor_probability : float
        Quadratic: P(f <= target) at stationarity around the minimum (NaN elsewhere).
    """

    m: int
    eta: float
    steps: float
    slow_steps: float
    success: bool
    reason: str = ""
    floor_probability: float = math.nan


def _eta_grid(config: Any, eta_grid: Sequence[float] | np.ndarray | None) -> np.ndarray:
    if eta_grid is None:
        return default_eta_grid(float(config.eta))
    grid = np.sort(np.asarray(eta_grid, dtype=float).ravel())
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError("eta_grid must hold finite step sizes > 0")
    return grid


def default_eta_grid(eta_ref: float, k_range: tuple[int, int] = DEFAULT_GRID) -> np.ndarray:
    """The frontier's grid eta_k = eta_ref 2^(k / STEPS_PER_OCTAVE) for k in ``k_range`` (both ends included)."""
    k = np.arange(k_range[0], k_range[1] + 1)
    return float(eta_ref) * 2.0 ** (k / STEPS_PER_OCTAVE)


def generalized_chi2_cdf(x: float, weights: Sequence[float] | np.ndarray) -> float:
    """P(sum_k w_k chi^2_1 <= x) for weights w_k >= 0, by Imhof's (1961) inversion of the characteristic function.

    P(Q <= x) = 1/2 - (1/pi) int_0^inf sin(theta(u)) / (u rho(u)) du with theta(u) = (1/2) sum_k atan(w_k u)
    - x u / 2 and rho(u) = prod_k (1 + w_k^2 u^2)^(1/4) (Imhof, Biometrika 48, 419).  The integral is taken
    with adaptive quadrature up to 10 / max w and as two Fourier integrals beyond (QUADPACK's QAWF), where
    the integrand oscillates at frequency x / 2.  Accurate to about 1e-9 (checked against chi^2 laws).
    """
    w = np.asarray(weights, dtype=float).ravel()
    w = w[w > 0.0]
    if w.size == 0:
        return 1.0 if x >= 0.0 else 0.0
    if x <= 0.0:
        return 0.0
    if np.all(w == w[0]):
        return float(scipy.stats.chi2(w.size).cdf(x / w[0]))

    def a(u: float) -> float:
        return 0.5 * float(np.sum(np.arctan(w * u)))

    def rho(u: float) -> float:
        return float(np.prod((1.0 + (w * u) ** 2) ** 0.25))

    def full(u: float) -> float:
        if u == 0.0:
            return 0.5 * float(np.sum(w)) - 0.5 * x
        return math.sin(a(u) - 0.5 * x * u) / (u * rho(u))

    U = 10.0 / float(np.max(w))
    head = integrate.quad(full, 0.0, U, limit=200)[0]
    c, s = math.cos(0.5 * x * U), math.sin(0.5 * x * U)
    # sin(a(U + v) - x (U + v) / 2) = [sin a c - cos a s] cos(x v / 2) - [cos a c + sin a s] sin(x v / 2)
    even = integrate.quad(
        lambda v: (math.sin(a(U + v)) * c - math.cos(a(U + v)) * s) / ((U + v) * rho(U + v)),
        0.0,
        np.inf,
        weight="cos",
        wvar=0.5 * x,
    )[0]
    odd = integrate.quad(
        lambda v: -(math.cos(a(U + v)) * c + math.sin(a(U + v)) * s) / ((U + v) * rho(U + v)),
        0.0,
        np.inf,
        weight="sin",
        wvar=0.5 * x,
    )[0]
    return float(min(1.0, max(0.0, 0.5 - (head + even + odd) / math.pi)))


def _steps_or_inf(steps: float, max_steps: int) -> float:
    return steps if math.isfinite(steps) and steps <= max_steps else math.inf


def _cell(
    m: int, eta: float, steps: float, slow: float, max_steps: int, reason: str, floor: float = math.nan
) -> CellPrediction:
    steps = _steps_or_inf(steps, max_steps) if not reason else math.inf
    slow = slow if not reason else math.inf
    if not reason and not math.isfinite(steps):
        reason = f"the median trial does not reach the target by max_steps = {max_steps}"
    elif not reason and not slow <= max_steps:
        reason = (
            f"the slowest {100 * (1 - SUCCESS_FRACTION):g}% of trials reach the target after max_steps = {max_steps}"
        )
    return CellPrediction(int(m), float(eta), float(steps), float(slow), not reason, reason, floor)


def _check_cell(m: int, eta: float) -> None:
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")


# ------------------------------------------------------------------------------------------- quadratic


class QuadraticTheory:
    """S(m, eta) on the quadratic testbed from its saddle x = 0 to a target f_min < target < 0.

    f(x) = x'Hx/2 + beta |x|^4 / 4, H = diag(-gamma, lambda_2, ..., lambda_d), per-sample gradient
    grad f + zeta, zeta ~ N(0, Sigma).  Three parts:

    1. **Escape** (the linear law, docs/theory.md sections 1-2): the escape
       coordinate z = x_1 follows z_{t+1} = rho z_t + eta xi_t / sqrt(m), rho = 1 + eta gamma_eff, so
       rho^-t z_t -> Z ~ N(0, s_Z^2), s_Z^2 = eta^2 Sigma_11 / (m (rho^2 - 1))
       (:func:`saddle.theory.linear.z_scale`).  gamma_eff = gamma - beta sum_k v_k is the curvature
       softened by the stationary spread v_k = eta Sigma_kk / (m lambda_k (2 - eta lambda_k)) of the
       stable coordinates (the quartic couples them to z).
    2. **Noiseless path to the target**: a trial of amplitude |Z| then follows z_t = Phi(rho^t |Z|), Phi
       the map's linearising (Poincare) function, which equals phi^t(|Z|) for the map
       phi(z) = z + eta (gamma z - beta z^3 - beta z sum_k v_k(z)) up to O(|Z|^2); it is iterated exactly,
       step by step (the linear stretch in closed form while beta z^2 < 1e-4 gamma), until
       f(z) + heat(z) <= target, heat(z) = sum_k eta Sigma_kk / (2 m (2 - eta lambda_k(z))) the mean
       excess of the stable coordinates, lambda_k(z) = lambda_k + beta z^2.  The step is monotone in |Z|,
       so the median step is that of |Z| = 0.6745 s_Z, and the SUCCESS_FRACTION quantile that of the
       (1 - SUCCESS_FRACTION) quantile of |Z|.
    3. **Noise floor**: at the minimum x* = sqrt(gamma / beta) e_1 (Hessian H* = diag(2 gamma,
       lambda_k + gamma)) the linearised dynamics e_{t+1} = A e_t + eta zeta / sqrt(m), A = I - eta H*, have
       the stationary covariance P solving the discrete Lyapunov equation P = A P A' + eta^2 Sigma / m
       (here P_ij = eta^2 Sigma_ij / (m (1 - a_i a_j)), A being diagonal), and the excess
       f - f_min ~ e'H*e / 2 = sum_k w_k chi^2_1 with w_k the eigenvalues of H*^(1/2) P H*^(1/2) / 2.  The
       step size fails the floor rule where P(excess <= target - f_min) < FLOOR_PROBABILITY
       (:func:`generalized_chi2_cdf`).

    A step size also fails where the minimum is linearly unstable (eta max(2 gamma, lambda_k + gamma) >= 2)
    or where the stable spread cancels gamma (gamma_eff <= 0).

    Where it holds: the noise small against the target gap (floor probability near 1) and s_Z well below
    the target's z.  Not described: divergence by large noise kicks (the quartic's map diverges beyond
    |z| ~ sqrt((2 / eta + gamma) / beta)), the z-noise after the escape, the full law of the stable excess
    (its mean is used).
    """

    def __init__(self, config: Any, target: float) -> None:
        obj = config.build_objective()
        if not isinstance(obj, QuadraticSaddle):
            raise ValueError(f"QuadraticTheory needs the quadratic objective, got {config.objective!r}")
        self.gamma = float(obj.gamma)
        self.beta = float(obj.beta)
        self.lam = np.asarray(obj.lambdas, dtype=float)
        self.Sigma = np.asarray(obj.Sigma, dtype=float)
        self.f_min = -(self.gamma**2) / (4.0 * self.beta)
        self.target = float(target)
        if not (self.f_min < self.target < 0.0):
            raise ValueError(
                f"the target must lie between f_min = {self.f_min:.6g} and f(0) = 0 (past the saddle), got {target!r}"
            )
        self.gap = self.target - self.f_min
        self.max_steps = int(config.max_steps)
        self.h_star = np.concatenate([[2.0 * self.gamma], self.lam + self.gamma])
        self.sigma_v2 = float(self.Sigma[0, 0])
        self.stable_noise = np.diag(self.Sigma)[1:].copy()
        self._stable_pairs = [(float(a), float(b)) for a, b in zip(self.lam, self.stable_noise, strict=True)]

    def floor_probability(self, m: int, eta: float) -> float:
        """P(f - f_min <= target - f_min) at stationarity around the minimum (the linearised dynamics)."""
        a = 1.0 - eta * self.h_star
        P = (eta * eta / m) * self.Sigma / (1.0 - a[:, None] * a[None, :])
        s = np.sqrt(self.h_star)
        weights = 0.5 * np.linalg.eigvalsh(s[:, None] * P * s[None, :])
        return generalized_chi2_cdf(self.gap, np.clip(weights, 0.0, None))

    def _stable_var(self, eta: float, m: int, z2: float) -> tuple[float, float]:
        """(sum_k v_k, heat) at z^2: the stable coordinates' stationary spread and their mean excess of f."""
        if self.lam.size == 0:
            return 0.0, 0.0
        if self.lam.size <= 32:  # plain floats: this runs once a step of the map
            spread = heat = 0.0
            for lam_k, noise_k in self._stable_pairs:
                lp_k = lam_k + self.beta * z2
                var_k = eta * noise_k / (m * lp_k * (2.0 - eta * lp_k))
                spread += var_k
                heat += 0.5 * lp_k * var_k
            return spread, heat
        lp = self.lam + self.beta * z2
        var = eta * self.stable_noise / (m * lp * (2.0 - eta * lp))
        return float(np.sum(var)), float(np.sum(0.5 * lp * var))

    def _first_step(self, eta: float, m: int, z0: float, gamma_eff: float) -> float:
        """First t >= 1 at which the noiseless map from z_0 = z0 has f + heat <= target (inf: none by max_steps)."""
        gamma, beta, target, max_steps = self.gamma, self.beta, self.target, self.max_steps
        rho = 1.0 + eta * gamma_eff
        # the map grows z by at most rho a step, and f + heat <= target needs z >= z_reach (f alone <= target)
        z_reach = math.sqrt(gamma / beta * (1.0 - math.sqrt(1.0 - target / self.f_min)))
        if z0 <= 0.0 or math.log(z_reach / z0) / math.log(rho) > max_steps:
            return math.inf
        z, t = float(z0), 0
        w = math.sqrt(_LINEAR_CUBIC_FRACTION * gamma_eff / beta)
        if z < w:  # the linear stretch in closed form: f stays ~ -gamma z^2 / 2 > target there
            n = int(math.floor(math.log(w / z) / math.log(rho)))
            z, t = z * rho**n, n
        spread, _ = self._stable_var(eta, m, z * z)
        while t < max_steps:
            z = z + eta * (gamma * z - beta * z**3 - beta * spread * z)
            t += 1
            if not math.isfinite(z) or abs(z) > 1e150:
                return math.inf
            z2 = z * z
            spread, heat = self._stable_var(eta, m, z2)
            if -0.5 * gamma * z2 + 0.25 * beta * z2 * z2 + heat <= target:
                return float(t)
        return math.inf

    def cell(self, m: int, eta: float) -> CellPrediction:
        """The prediction at batch size m and step size eta."""
        _check_cell(m, eta)
        top = float(np.max(self.h_star))
        if eta * top >= 2.0:
            return _cell(
                m,
                eta,
                math.inf,
                math.inf,
                self.max_steps,
                f"unstable at the minimum: eta times its largest curvature is {eta * top:.3g} >= 2",
            )
        floor = self.floor_probability(m, eta)
        spread0, _ = self._stable_var(eta, m, 0.0)
        gamma_eff = self.gamma - self.beta * spread0
        if floor < FLOOR_PROBABILITY:
            reason = (
                f"noise floor: at stationarity f <= target with probability {floor:.3g} < {FLOOR_PROBABILITY:g} "
                "(the median excess over f_min is above the gap)"
            )
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason, floor)
        if gamma_eff <= 0.0:
            reason = "the stable coordinates' spread cancels the negative curvature (gamma_eff <= 0)"
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason, floor)
        s_Z = float(z_scale(eta, gamma_eff, self.sigma_v2, m))
        slow_amplitude = float(scipy.stats.chi(1).ppf(1.0 - SUCCESS_FRACTION))
        steps = self._first_step(eta, m, NORMAL_MEDIAN_ABS * s_Z, gamma_eff)
        slow = self._first_step(eta, m, slow_amplitude * s_Z, gamma_eff)
        return _cell(m, eta, steps, slow, self.max_steps, "", floor)


# ------------------------------------------------------------------------------------- teacher-student


@dataclass(frozen=True)
class _OdeTimes:
    """What the teacher-student theory gives at one eta/m: times in tau = eta alpha (alpha = steps / N)."""

    tau: float  # median
    tau_slow: float  # quantile SUCCESS_FRACTION
    h_max: float  # the largest eta / N at which the mean step X <- X + (eta / N) F(X) is stable along the path
    reason: str = ""


def _stability_bound(J: np.ndarray) -> float:
    """The largest h with |1 + h mu| <= 1 for every eigenvalue mu of J with negative real part (inf if none)."""
    mu = np.linalg.eigvals(J)
    mu = mu[mu.real < 0.0]
    if mu.size == 0:
        return math.inf
    return float(np.min(-2.0 * mu.real / np.abs(mu) ** 2))


class TeacherStudentTheory:
    """S(m, eta) on the teacher-student network from its ODE (Saad & Solla 1995; Goldt et al. 2019).

    The order parameters X = (Q, R) follow, as N -> infinity with alpha = steps / N,

        dX/dalpha = eta F(X) + (eta^2 / m) G(X)  (:func:`saddle.objectives.teacher_student.ode.rhs`),

    so in tau = eta alpha the path depends on r = eta / m alone: dX/dtau = F(X) + r G(X).  The predicted
    steps are S = N tau(r) / eta, and exactly (whatever the theory's parts below) eta S, and the samples
    m S = N tau(r) / r, depend on (eta, m) only through eta / m: S(c m, c eta) = S(m, eta) / c.  At fixed m
    the best eta minimises tau(r) / r, whose minimiser r* does not depend on m: in this limit eta* = r* m and
    S ~ 1 / m (linear scaling is exact in this limit), until the step size meets the validity bound
    MAX_ETA_OVER_N or the stability bound below.

    - **ODE from the start**: the random start's mean (Q = sigma0^2 I, R = 0) or the plateau fixed point of
      this eta / m; the time to eps_g <= target by LSODA with an event.
    - **Plateau exit** (K = M >= 2): both starts are symmetric, and the symmetric subspace is invariant, so
      the ODE alone never leaves the plateau.  At finite N the exit is SGD-noise and initial-asymmetry
      driven: along the plateau's unstable direction (the Jacobian's top eigenvalue lambda per unit tau)
      the amplitude z obeys dz = lambda z dtau + noise of diffusion (r / N) l' Cov(u) l per unit tau, u the
      per-sample increment of X (c_i lambda_k + c_k lambda_i + r c_i c_k for Q_ik, c_i rho_n for R_in,
      c_i = Delta g'(lambda_i); its covariance by seeded Gaussian-field Monte Carlo), so
      Z ~ N(0, (r / N) l' Cov(u) l / (2 lambda)); the random start adds its own O(1 / sqrt N) asymmetry
      (the ODE from ``_N_INIT`` exact random starts, as
      :func:`saddle.objectives.teacher_student.ode.predict_exit` does).  The escape radius z* comes from the
      ODE started at amplitude 1e-6 along the unstable direction, so tau = log(z* / |Z|) / lambda includes
      the ODE's path from the plateau to the target.
    - **Stability**: the mean SGD step is the Euler step X <- X + (eta / N)(F + r G) of the ODE; it is stable
      where |1 + (eta / N) mu| < 1 for the Jacobian's decaying eigenvalues mu, checked at the start, at the
      plateau and at the target.  Beyond, the cell fails.

    Where it holds: eta / N small (the ODE's corrections are O(eta / N) in the drift and O(r eta / N) in the
    noise, from the pairs of distinct samples of a batch; cells beyond MAX_ETA_OVER_N fail), many steps
    (S >> 1), and for the plateau exit the linear escape (z* well above s_Z).  Output noise makes a floor:
    eps_g then stays above a level of order r sigma^2 and a lower target is never reached (the cell fails).
    Measured against the reduced simulation (N = 50, K = M = 2, 200 trials a cell): plateau start, target
    eps*/10, S within 0.5-6% from eta / N = 0.02 to 1.1 (m = 1 to 256); random start, target 90% of the way
    from f(u_0), within 1-5% where S is tens of steps or more, 2-3 steps low where it is about ten.
    """

    def __init__(self, config: Any, target: float) -> None:
        obj = config.build_objective()
        if not isinstance(obj, TeacherStudentObjective):
            raise ValueError(f"TeacherStudentTheory needs the teacher-student objective, got {config.objective!r}")
        model = obj.model
        self.K, self.M, self.N = int(model.K), int(model.M), int(model.N)
        self.sigma = float(model.sigma)
        self.T = np.asarray(model.T, dtype=float)
        self.start = str(obj.start)
        self.sigma0_sq = float(obj.sigma0) ** 2
        self.target = float(target)
        if not self.target > 0.0:
            raise ValueError(f"the target eps_g must be > 0 (eps_g >= 0), got {target!r}")
        self.max_steps = int(config.max_steps)
        self.seed = int(config.seed)
        self._cache: dict[float, tuple[float, _OdeTimes]] = {}
        K, n = self.K, self.K + self.M
        self._iu = np.triu_indices(K)
        self._C = np.zeros((n, n))
        self._C[K:, K:] = self.T
        self._signs = np.concatenate([-np.ones(K), np.ones(self.M)])  # Delta = sum_a s_a g(f_a)
        self._i3_index = (np.arange(K)[:, None, None], np.arange(n)[None, :, None], np.arange(n)[None, None, :])
        self._i4_index = (
            np.arange(K)[:, None, None, None],
            np.arange(K)[None, :, None, None],
            np.arange(n)[None, None, :, None],
            np.arange(n)[None, None, None, :],
        )

    # -- the ODE in tau ------------------------------------------------------------------------------
    def _eps(self, y: np.ndarray) -> float:
        Q, R = ode.from_coordinates(y, self.K, self.M)
        return generalisation_error(Q, R, self.T)

    def _jacobian(self, y: np.ndarray, r: float) -> np.ndarray:
        Q, R = ode.from_coordinates(y, self.K, self.M)
        return ode.jacobian(Q, R, self.T, 1.0, 1.0 / r, self.sigma)

    def velocity(self, y: np.ndarray, r: float) -> np.ndarray:
        """dX/dtau = F(X) + r G(X) in the coordinates of :func:`~saddle.objectives.teacher_student.ode.coordinates`.

        The same sums as :func:`saddle.objectives.teacher_student.ode.rhs` at eta = 1, m = 1 / r (its closed
        forms I3, I4 and J2, batched), with the index arrays built once: about half its cost a call.
        """
        K, nq = self.K, self._iu[0].size
        C = self._C
        C[self._iu] = y[:nq]
        C[self._iu[1], self._iu[0]] = y[:nq]
        Rm = y[nq:].reshape(K, self.M)
        C[:K, K:] = Rm
        C[K:, :K] = Rm.T
        d = np.diagonal(C)
        i, b, a = self._i3_index
        E3 = ode._i3(d[i], C[i, b], C[i, a], C[b, a], d[a]) @ self._signs  # E[Delta g'(lambda_i) f_b]
        ii, kk, aa, bb = self._i4_index
        i4 = ode._i4(d[ii], d[kk], d[aa], d[bb], C[ii, kk], C[ii, aa], C[ii, bb], C[kk, aa], C[kk, bb], C[aa, bb])
        N_Q = i4 @ self._signs @ self._signs
        if self.sigma:
            N_Q = N_Q + self.sigma**2 * ode._j2(d[:K, None], C[:K, :K], d[None, :K])
        D_Q = E3[:, :K]
        dQ = D_Q + D_Q.T + r * N_Q
        return np.concatenate([dQ[self._iu], E3[:, K:].ravel()])

    def _solve(
        self, y0: np.ndarray, r: float, tau_max: float, arrive: float | None = None
    ) -> tuple[float, np.ndarray, float]:
        """Integrate dX/dtau = F + r G from y0 until eps_g <= target or tau_max.

        With ``arrive``, it stops instead where eps_g first falls to that level.  Returns (tau at the target
        or NaN, the last state, tau at the ``arrive`` level or NaN).
        """

        def f(_: float, y: np.ndarray) -> np.ndarray:
            return self.velocity(y, r)

        def hit(_: float, y: np.ndarray) -> float:
            return self._eps(y) - self.target

        hit.terminal = True  # type: ignore[attr-defined]  # solve_ivp reads an event's options from its attributes
        hit.direction = -1  # type: ignore[attr-defined]
        events: list[Any] = [hit]
        if arrive is not None:
            level = float(arrive)

            def near(_: float, y: np.ndarray) -> float:
                return self._eps(y) - level

            near.terminal = True  # type: ignore[attr-defined]
            near.direction = -1  # type: ignore[attr-defined]
            events.append(near)
        from scipy.integrate import solve_ivp

        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            res = solve_ivp(f, (0.0, tau_max), y0, method="LSODA", events=events, rtol=1e-8, atol=1e-11)
        tau_hit = float(res.t_events[0][0]) if len(res.t_events[0]) else math.nan
        tau_near = math.nan
        if arrive is not None and len(res.t_events[1]):
            tau_near = float(res.t_events[1][0])
        return tau_hit, res.y[:, -1], tau_near

    # -- the increments' noise at a state ---------------------------------------------------------------
    def _noise_projection(self, y: np.ndarray, r: float, L: np.ndarray) -> np.ndarray:
        """Cov(L u) for the per-sample increment u of the coordinates at the state y (seeded Monte Carlo)."""
        K, M = self.K, self.M
        Q, R = ode.from_coordinates(y, K, M)
        C = ode.full_covariance(Q, R, self.T)
        gen = np.random.default_rng([self.seed, 0x7E0, 1])
        fields = gen.standard_normal((_N_NOISE, K + M)) @ np.linalg.cholesky(C).T
        lam, rho = fields[:, :K], fields[:, K:]
        delta = np.sum(g(rho), axis=1) - np.sum(g(lam), axis=1)
        if self.sigma:
            delta = delta + self.sigma * gen.standard_normal(_N_NOISE)
        c = delta[:, None] * g_prime(lam)
        iu = np.triu_indices(K)
        uQ = c[:, iu[0]] * lam[:, iu[1]] + c[:, iu[1]] * lam[:, iu[0]] + r * c[:, iu[0]] * c[:, iu[1]]
        uR = (c[:, :, None] * rho[:, None, :]).reshape(_N_NOISE, K * M)
        proj = np.hstack([uQ, uR]) @ L.T
        return np.atleast_2d(np.cov(proj, rowvar=False))

    # -- the plateau exit --------------------------------------------------------------------------------
    def _plateau_exit(self, r: float, pl: ode.Plateau, tau_arrival: float, h_max: float) -> _OdeTimes:
        Qs, Rs = pl.order_parameters()
        ys = ode.coordinates(Qs, Rs)
        J = self._jacobian(ys, r)
        h_max = min(h_max, _stability_bound(J))
        evals = np.linalg.eigvals(J)
        top = float(np.max(evals.real))
        if not top > 0.0:
            return _OdeTimes(math.inf, math.inf, h_max, "the plateau has no unstable direction")
        cut = top * (1.0 - 1e-4)
        _, Zr, d_u = scipy.linalg.schur(J, output="real", sort=lambda re, im: re >= cut)
        _, Zl, d_l = scipy.linalg.schur(J.T, output="real", sort=lambda re, im: re >= cut)
        if d_u != d_l or d_u == 0:
            return _OdeTimes(math.inf, math.inf, h_max, "could not isolate the plateau's unstable subspace")
        Vr = Zr[:, :d_u]
        Lz = np.linalg.solve(Zl[:, :d_u].T @ Vr, Zl[:, :d_u].T)  # z = Lz (X - X*)
        gen = np.random.default_rng([self.seed, 0x7E0, 2])
        if d_u == 1:  # +v and -v are mirror images (the students swapped): the same times
            dirs = np.array([[1.0]])
        else:
            dirs = gen.standard_normal((_N_DIRS, d_u))
            dirs /= np.linalg.norm(dirs, axis=1)[:, None]
        tau_max = 50.0 * math.log(1.0 / _DELTA) / top
        logs = []
        for u in dirs:
            tau_d, y_end, _ = self._solve(ys + _DELTA * Vr @ u, r, tau_max)
            if not math.isfinite(tau_d):
                return _OdeTimes(
                    math.inf,
                    math.inf,
                    h_max,
                    "the ODE does not reach the target from the plateau (a noise floor above it, or divergence)",
                )
            h_max = min(h_max, _stability_bound(self._jacobian(y_end, r)))
            logs.append(math.log(_DELTA) + top * tau_d)
        log_z_star = float(np.mean(logs))
        cov_Z = (r / self.N) * self._noise_projection(ys, r, Lz) / (2.0 * top)
        chol = np.linalg.cholesky(cov_Z + 1e-300 * np.eye(d_u))
        Z = gen.standard_normal((_N_MC, d_u)) @ chol.T
        if self.start == "plateau":
            amplitude = np.linalg.norm(Z, axis=1)
        else:  # the random start's own asymmetry, from exact random starts, plus the noise from the arrival on
            amps = []
            for j in range(_N_INIT):
                y0 = self._random_start(j)
                tau_j, _, _ = self._solve(y0, r, tau_max + (tau_arrival if math.isfinite(tau_arrival) else 0.0))
                amps.append(math.exp(log_z_star - top * tau_j) if math.isfinite(tau_j) else 0.0)
            pick = gen.integers(0, _N_INIT, _N_MC)
            u = gen.standard_normal((_N_MC, d_u))
            u /= np.linalg.norm(u, axis=1)[:, None]
            arrival = tau_arrival if math.isfinite(tau_arrival) else 0.0
            amplitude = np.linalg.norm(np.asarray(amps)[pick][:, None] * u + Z * math.exp(-top * arrival), axis=1)
        with np.errstate(divide="ignore"):
            log_ratio = log_z_star - np.log(amplitude)
        median = float(np.median(log_ratio))
        if not median > 0.0:
            return _OdeTimes(
                math.inf,
                math.inf,
                h_max,
                "the SGD noise alone reaches the plateau's escape radius: outside the linear escape",
            )
        slow = float(np.quantile(log_ratio, SUCCESS_FRACTION))
        return _OdeTimes(median / top, slow / top, h_max)

    def _random_start(self, j: int) -> np.ndarray:
        """Exact (Q, R) of a random start w_k ~ N(0, sigma0^2 I_N) with the canonical teacher (seeded)."""
        gen = np.random.default_rng([self.seed, 0x7E0, 3, j])
        W = math.sqrt(self.sigma0_sq) * gen.standard_normal((self.K, self.N))
        Q = W @ W.T / self.N
        R = W[:, : self.M] / math.sqrt(self.N)
        return ode.coordinates(Q, R)

    # -- one value of eta / m ------------------------------------------------------------------------------
    def times(self, r: float, tau_max: float) -> _OdeTimes:
        """The median and slow times in tau = eta alpha at r = eta / m, looked for up to tau_max (cached)."""
        cached = self._cache.get(r)
        if cached is not None and (cached[0] >= tau_max or math.isfinite(cached[1].tau)):
            return cached[1]
        out = self._times(r, tau_max)
        self._cache[r] = (tau_max, out)
        return out

    def _plateau(self, r: float) -> ode.Plateau | str:
        try:
            return ode.plateau(self.K, r, self.sigma)
        except (ValueError, RuntimeError) as err:
            return f"no plateau at eta/m = {r:g}: {err}"

    def _times(self, r: float, tau_max: float) -> _OdeTimes:
        K, M = self.K, self.M
        pl: ode.Plateau | str | None = None
        if self.start == "plateau":
            pl = self._plateau(r)
            if isinstance(pl, str):
                return _OdeTimes(math.inf, math.inf, math.inf, pl)
            if self.target >= pl.eps:
                return _OdeTimes(
                    0.0, 0.0, math.inf, f"the plateau start (eps_g = {pl.eps:.6g}) already meets the target"
                )
            return self._plateau_exit(r, pl, 0.0, math.inf)
        y0 = ode.coordinates(self.sigma0_sq * np.eye(K), np.zeros((K, M)))
        h_max = _stability_bound(self._jacobian(y0, r))
        if K == M and K >= 2 and np.allclose(self.T, np.eye(M)):
            pl = self._plateau(r)
        if isinstance(pl, ode.Plateau) and self.target < pl.eps:
            # The start is symmetric and so is the ODE: it cannot get below the plateau (only rounding errors,
            # grown at the plateau's escape rate, would take it out).  Follow it to the plateau, then the exit.
            _, y_end, tau_arrival = self._solve(y0, r, tau_max, arrive=1.05 * pl.eps)
            if not math.isfinite(tau_arrival):
                return _OdeTimes(
                    math.inf,
                    math.inf,
                    h_max,
                    f"the ODE from the mean random start does not reach the plateau by tau = {tau_max:.3g}",
                )
            return self._plateau_exit(r, pl, tau_arrival, h_max)
        tau, y_end, _ = self._solve(y0, r, tau_max)
        if math.isfinite(tau):
            h_max = min(h_max, _stability_bound(self._jacobian(y_end, r)))
            return _OdeTimes(tau, tau, h_max)
        return _OdeTimes(
            math.inf,
            math.inf,
            h_max,
            f"the ODE does not reach eps_g = {self.target:g} by tau = {tau_max:.3g} (it ends at "
            f"eps_g = {self._eps(y_end):.3g}: a noise floor, a plateau, or divergence)",
        )

    def cell(self, m: int, eta: float) -> CellPrediction:
        """The prediction at batch size m and step size eta."""
        _check_cell(m, eta)
        if eta / self.N > MAX_ETA_OVER_N:
            reason = f"outside the ODE limit: eta/N = {eta / self.N:.3g} > {MAX_ETA_OVER_N:g} (MAX_ETA_OVER_N)"
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason)
        out = self.times(eta / m, eta * self.max_steps / self.N)
        if out.reason:
            return _cell(m, eta, math.inf, math.inf, self.max_steps, out.reason)
        if eta / self.N >= out.h_max:
            reason = (
                f"unstable: the mean step X <- X + (eta/N) dX/dtau diverges at eta/N = {eta / self.N:.3g} "
                f">= {out.h_max:.3g} (a Jacobian eigenvalue along the path)"
            )
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason)
        return _cell(m, eta, self.N * out.tau / eta, self.N * out.tau_slow / eta, self.max_steps, "")


# ------------------------------------------------------------------------------------------ public API


def theory_reason(config: Any) -> str:
    """'' where the configuration's objective and optimiser have a theory frontier; otherwise why not."""
    obj = config.objective_class
    if obj is not QuadraticSaddle and obj is not TeacherStudentObjective:
        return f"the {config.objective} objective has no theory of the steps to a target (quadratic, teacher-student)"
    if config.optimizer != "sgd":
        return f"the theory describes plain mini-batch sgd, not {config.optimizer}"
    if config.lr_decay is not None or config.batch_after_drop is not None:
        return "the theory has no schedules of eta or m"
    if config.radius is not None:
        return "the theory predicts the steps to an f target, not to a distance"
    if obj is QuadraticSaddle and (config.random_start or config.start_perturbation is not None):
        return "the quadratic's theory starts at the saddle x = 0"
    if obj is TeacherStudentObjective:
        if config.start_perturbation is not None:
            return "the teacher-student theory has no perturbed start"
        if config.K == config.M and config.K > MAX_THEORY_K:
            return f"the teacher-student theory is computed for K = M <= {MAX_THEORY_K} (its cost grows as K^6)"
    return ""


def theory_for(config: Any, target: float) -> QuadraticTheory | TeacherStudentTheory | None:
    """The theory object of a configuration (None where it has none: :func:`theory_reason`)."""
    if theory_reason(config):
        return None
    if config.objective_class is QuadraticSaddle:
        return QuadraticTheory(config, target)
    return TeacherStudentTheory(config, target)


def predict_cell(config: Any, m: int, eta: float, target: float) -> CellPrediction:
    """The theory's prediction at one cell (batch size m, step size eta; no lr scaling applied).

    Raises
    ------
    ValueError
        Where the configuration has no theory (:func:`theory_reason` says why) or the target is not past
        the saddle.
    """
    theory = theory_for(config, target)
    if theory is None:
        raise ValueError(theory_reason(config))
    return theory.cell(m, eta)


def predicted_steps(config: Any, m: int, eta: float, target: float) -> float:
    """S(m, eta) predicted: the median over trials of the first step with f <= target.

    Parameters
    ----------
    config : saddle.config.EscapeConfig
        The objective and its options (quadratic or teacher-student), max_steps and seed.
    m : int
        Batch size.
    eta : float
        Step size at this m (``config.eta`` and its lr scaling are not used).
    target : float
        f_target, past the saddle.

    Returns
    -------
    float
        The predicted median steps (teacher-student: N alpha, not rounded); inf where the theory says the
        median trial does not reach the target by ``config.max_steps`` (an unstable step size, the noise
        floor, a plateau never left) or where the cell lies outside the theory's validity (teacher-student:
        eta / N > MAX_ETA_OVER_N).  :func:`predict_cell` gives the reason.

    Raises
    ------
    ValueError
        Where there is no theory (the spike, ge2015, octopus, a user's objective; another optimiser).

    Notes
    -----
    Quadratic: :class:`QuadraticTheory` (the linear escape law of McCandlish et al.'s noise picture and
    docs/theory.md, the noiseless map, the Lyapunov floor).  Teacher-student: :class:`TeacherStudentTheory`
    (the ODE of Saad & Solla 1995 and Goldt et al. 2019, with the plateau exit).
    """
    return predict_cell(config, m, eta, target).steps


def _search(cell: Any, grid: np.ndarray, seed: int) -> tuple[int | None, dict[int, CellPrediction]]:
    """The best successful grid index and every cell tried, by a local search from the grid index ``seed``.

    As the measured frontier's search: the seed and its coarse neighbours (_COARSE grid points away), then
    outwards by coarse steps, towards success while nothing succeeds (both sides while nothing reaches the
    target), and from the best until both its coarse neighbours are tried (or the grid ends); finally the
    best's fine neighbours.  S(m, eta) of both theories falls with eta until a rule fails, so the search
    stops at the first coarse rise or failure beyond the best.
    """
    tried: dict[int, CellPrediction] = {}
    last = grid.size - 1

    def run(i: int) -> bool:
        if 0 <= i <= last and i not in tried:
            tried[i] = cell(float(grid[i]))
            return True
        return False

    def best() -> int | None:
        ok = [i for i, c in tried.items() if c.success]
        return min(ok, key=lambda i: (tried[i].steps, i)) if ok else None

    seed = min(max(seed, 0), last)
    for i in (seed, seed - _COARSE, seed + _COARSE):
        run(i)
    while True:
        b = best()
        if b is None:
            lo, hi = min(tried), max(tried)
            finite = [i for i, c in tried.items() if math.isfinite(c.steps)]
            if not finite:  # nothing reaches the target: both sides
                grew = run(lo - _COARSE) | run(hi + _COARSE)
            elif max(finite) == hi:  # towards the side where trials reach the target
                grew = run(hi + _COARSE) or run(lo - _COARSE)
            else:
                grew = run(lo - _COARSE) or run(hi + _COARSE)
            if not grew:
                break
            continue
        if not (run(b - _COARSE) | run(b + _COARSE)):
            break
    b = best()
    if b is not None:
        run(b - 1)
        run(b + 1)
        b = best()
    return b, tried


def theory_frontier(
    config: Any, ms: Sequence[int], target: float, *, eta_grid: Sequence[float] | np.ndarray | None = None
) -> dict[str, np.ndarray] | None:
    """The predicted frontier: eta tuned on the theory for every batch size.

    For each m, eta*(m) minimises the predicted S(m, eta) among the grid's step sizes that meet the success
    rule in the theory (:func:`predict_cell`): a coarse pass over every fourth grid point (a factor 2),
    then every grid point within a factor 2 of the best (the grid's own resolution, 2^(1/4)).

    Parameters
    ----------
    config : saddle.config.EscapeConfig
        The objective and its options, max_steps and seed; ``config.eta`` is the grid's reference.
    ms : sequence of int
        Batch sizes.
    target : float
        f_target.
    eta_grid : array_like, optional
        The step sizes tried; default ``config.eta * 2 ** (k / 4)`` for k = -39 .. 39 (:data:`DEFAULT_GRID`).

    Returns
    -------
    dict or None
        None where the configuration has no theory (:func:`theory_reason`).  Otherwise column arrays:
        ``m``; ``eta_star`` (NaN where no step size succeeds); ``S`` (predicted steps at eta*, inf where none
        succeeds); ``E`` (= m S, samples); ``edge`` (1 where eta* is the grid's largest step size, -1 its
        smallest, 0 inside); ``eta`` (the grid, one row); ``steps`` (len(ms) x len(grid): the predicted S of
        every cell tried, inf where it fails the success rule, NaN where not tried).

    Notes
    -----
    On the teacher-student network every prediction depends on eta / m alone in units of eta alpha, so the
    work is shared between batch sizes whose grids share eta / m (powers of 2 on this grid).  McCandlish et
    al. (2018) read such a frontier as S = S_min (1 + B_crit / m).
    """
    theory = theory_for(config, target)
    if theory is None:
        return None
    grid = _eta_grid(config, eta_grid)
    ms_a = np.asarray([int(m) for m in ms], dtype=int)
    n = ms_a.size
    eta_star = np.full(n, np.nan)
    S = np.full(n, np.inf)
    edge = np.zeros(n, dtype=int)
    steps = np.full((n, grid.size), np.nan)
    position = np.arange(grid.size)
    previous: tuple[int, int] | None = None  # (m, grid index of its eta*)
    for j, m in enumerate(ms_a):
        # the seed: the step size of config.eta, or the last eta* scaled by m / m_prev (where the grid has it)
        seed = int(np.argmin(np.abs(np.log(grid / float(config.eta)))))
        if previous is not None:
            wanted = grid[previous[1]] * m / previous[0]
            seed = int(position[np.argmin(np.abs(np.log(grid / wanted)))])
        b, tried = _search(lambda eta, m=int(m): theory.cell(m, eta), grid, seed)
        if b is not None:
            previous = (int(m), b)
        for i, c in tried.items():
            steps[j, i] = c.steps if c.success else math.inf
        if b is not None:
            eta_star[j] = grid[b]
            S[j] = tried[b].steps
            edge[j] = 1 if b == grid.size - 1 else (-1 if b == 0 else 0)
    return {
        "m": ms_a,
        "eta_star": eta_star,
        "S": S,
        "E": ms_a * S,
        "edge": edge,
        "eta": grid,
        "steps": steps,
    }
