"""The theory frontier: the steps to a target S(m, eta) and the tuned step size eta*(m), predicted.

Two objectives have a theory of the whole run, from the saddle to a target past it, and so a predicted
batch-size frontier (McCandlish et al. 2018, "An empirical model of large-batch training"; Shallue et al.,
JMLR 2019) to draw beside the measured one (docs/frontier.md):

- **quadratic** (f = x'Hx/2 + beta |x|^4 / 4, H = diag(-gamma, lambda_2..), additive noise N(0, Sigma)):
  the quartic couples the coordinates only through |x|^2, so the model reduces exactly to a Markov chain
  of the escape coordinate and one squared radius per group of like stable coordinates (two scalars in
  the default); a few thousand such chains, started from the linear escape law (docs/theory.md, sections
  1-2), give the first step with f <= target, which near the minimum is a first passage by fluctuation
  where the noise is large (:class:`QuadraticTheory`: in effect a reduced Monte Carlo, exact in law).
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
MAX_ETA_OVER_N = 0.25
"""The teacher-student theory's validity bound: cells with eta / N above it fail (the ODE is the N -> infinity
limit at fixed eta; its corrections grow with eta / N).  Measured against the reduced simulation at N = 50,
K = M = 2 (200 trials a cell): the plateau start's S within 1-6% up to eta / N = 1.1; the random start's,
a few steps long at large m, within 3% up to eta / N = 0.16, 20% low at 0.27, a factor 2-3 low at 0.45-1.1."""

_COARSE = 2  # the coarse search step in grid points (a factor 2^(1/2)), refined to single grid points at the end
# the quadratic's reduced chains (QuadraticTheory)
_N_CHAINS = 4000  # chains a cell (seeded)
_N_CHAINS_LONG = 1000  # the fewest, where the flow bound puts the median past _LONG_RUN: _N_CHAINS _LONG_RUN / bound
_BLOCK = 16  # steps between compactions (the chains at the target dropped)
_LINEAR_START = 1e-3  # the chains start from the linear law while beta (4 sd z)^2 < this fraction of gamma
_SLOW_ESCAPE = 0.01  # they settle at the minimum after the linear escape of this quantile of |Z| to z* / 2 ...
_SETTLE_RELAXATIONS = 5.0  # ... and this many relaxation times 1 / (eta min h*); then the passage rate is counted
_RATE_SURVIVING = 0.05  # the rate is reported where at least this fraction of the chains is left at settling
_LONG_RUN = 1000  # past this step, with _TAIL_HITS passages counted, the chains stop: the rest is the geometric tail
_TAIL_HITS = 400
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
        Why the cell fails ('' when it succeeds): unstable step size, divergence, max_steps, ...
    floor_probability : float
        Quadratic: P(f <= target) at stationarity around the minimum (NaN elsewhere).  A diagnostic:
        trials also reach the target by fluctuations where it is small (:class:`QuadraticTheory`).
    passage_rate : float
        Quadratic: the quasi-stationary rate per step of the first passage to the target once the trials
        hover at the minimum (NaN where it is not measured: elsewhere, or where nearly every trial reaches
        the target on its way in).
    """

    m: int
    eta: float
    steps: float
    slow_steps: float
    success: bool
    reason: str = ""
    floor_probability: float = math.nan
    passage_rate: float = math.nan


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
    the integrand oscillates at frequency x / 2; where Chernoff's bound puts P(Q > x) below 1e-12 the
    answer is 1.  Accurate to about 1e-9 (checked against chi^2 laws).
    """
    w = np.asarray(weights, dtype=float).ravel()
    w = w[w > 0.0]
    if w.size == 0:
        return 1.0 if x >= 0.0 else 0.0
    if x <= 0.0:
        return 0.0
    if np.all(w == w[0]):
        return float(scipy.stats.chi2(w.size).cdf(x / w[0]))
    # far in the upper tail (x many times the largest weight) the integrand oscillates too fast for the
    # quadrature; there Chernoff's bound at s = 1 / (4 max w), P(Q > x) <= exp(-s x) prod (1 - 2 s w)^(-1/2),
    # is below 1e-12 and P(Q <= x) is 1 to that accuracy
    s = 0.25 / float(np.max(w))
    if -s * x - 0.5 * float(np.sum(np.log1p(-2.0 * s * w))) < math.log(1e-12):
        return 1.0

    def a(u: float) -> float:
        return 0.5 * float(np.sum(np.arctan(w * u)))

    def rho(u: float) -> float:
        return float(np.prod((1.0 + (w * u) ** 2) ** 0.25))

    def full(u: float) -> float:
        if u == 0.0:
            return 0.5 * float(np.sum(w)) - 0.5 * x
        return math.sin(a(u) - 0.5 * x * u) / (u * rho(u))

    U = 10.0 / float(np.max(w))
    head = integrate.quad(full, 0.0, U, limit=1000)[0]
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
    m: int,
    eta: float,
    steps: float,
    slow: float,
    max_steps: int,
    reason: str,
    floor: float = math.nan,
    rate: float = math.nan,
) -> CellPrediction:
    steps = _steps_or_inf(steps, max_steps) if not reason else math.inf
    slow = slow if not reason else math.inf
    if not reason and not math.isfinite(steps):
        reason = f"the median trial does not reach the target by max_steps = {max_steps}"
    elif not reason and not slow <= max_steps:
        reason = (
            f"the slowest {100 * (1 - SUCCESS_FRACTION):g}% of trials reach the target after max_steps = {max_steps}"
        )
    return CellPrediction(int(m), float(eta), float(steps), float(slow), not reason, reason, floor, rate)


def _check_cell(m: int, eta: float) -> None:
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")


# ------------------------------------------------------------------------------------------- quadratic


@dataclass(frozen=True)
class _Passage:
    """The reduced chains' first passages at one cell (quadratic)."""

    times: np.ndarray  # first step with f <= target per chain, inf where none by the end
    diverged: int  # chains whose iterate became non-finite before reaching the target
    tail_rate: float  # passages a chain-step since the chains settled at the minimum (NaN: none counted)
    rate: float  # tail_rate where it is the quasi-stationary passage rate (enough chains left), else NaN
    end: int  # the step at which the chains stopped
    surviving: float  # the fraction of chains still above the target then

    def quantile(self, p: float) -> float:
        """The p-quantile of the first passage; beyond the chains' end, the geometric tail at ``tail_rate``."""
        order = np.sort(self.times)
        found = float(order[max(math.ceil(p * order.size - 1e-9), 1) - 1])
        if math.isfinite(found) or not self.tail_rate > 0.0:
            return found
        return self.end + math.log(self.surviving / (1.0 - p)) / self.tail_rate


class QuadraticTheory:
    """S(m, eta) on the quadratic testbed from its saddle x = 0 to a target f_min < target < 0.

    f(x) = x'Hx/2 + beta |x|^4 / 4, H = diag(-gamma, lambda_2, ..., lambda_d), per-sample gradient
    grad f + zeta, zeta ~ N(0, Sigma) with Sigma diagonal (the batch mean's noise is N(0, Sigma / m)).

    **What it is: a reduced Monte Carlo of the dynamics, exact in law.**  No closed form: the model is
    reduced exactly to a Markov chain of a few scalars, and ``_N_CHAINS`` such chains are run.  The
    reduction: the quartic couples the coordinates only through r^2 = |x|^2, so a group of k stable
    coordinates with the same curvature lambda and noise variance s^2 (all nine in the default d = 10)
    enters only through its squared radius R = sum y_j^2, which by the rotational invariance of the noise
    follows, in law,

        R_{t+1} = (c_t sqrt(R_t) + eta s eps_t / sqrt(m))^2 + (eta^2 s^2 / m) chi^2_{k-1},
        c_t = 1 - eta (lambda + beta r_t^2),

    beside the escape coordinate's noisy map

        z_{t+1} = z_t + eta (gamma - beta r_t^2) z_t + eta xi_t / sqrt(m),  xi ~ N(0, Sigma_11),

    with f = -gamma z^2 / 2 + sum_groups lambda R / 2 + beta r^4 / 4 and r^2 = z^2 + sum R.  The
    d-dimensional model is thus a chain of 1 + (number of groups) scalars, two in the default (the 1-D
    nonlinear map along e_1 and one radial chain for the stable spread, whatever d), three random draws a
    chain-step in place of d.  The chains (seeded by ``config.seed``: the same numbers at every cell, so
    that S(m, eta) is smooth in eta) give each its first step with f <= target; S(m, eta) is their lower
    median (as :func:`saddle.stats.lower_median`) and ``slow_steps`` their SUCCESS_FRACTION quantile.

    **The start** (the linear law of docs/theory.md, sections 1-2): while the spread of z is tiny
    (beta (4 sd z)^2 < ``_LINEAR_START`` gamma) the map is linear, and z_t and the stable coordinates are
    Gaussian with the variances of Var z_{t+1} = (1 + eta (gamma - beta E r^2))^2 Var z_t + eta^2 Sigma_11 / m
    and Var y_{t+1} = (1 - eta (lambda + beta E r^2))^2 Var y_t + eta^2 s^2 / m.  The chains start from
    these laws at the last such step: step 0 where the noise is large (small m), later at large m and small
    eta.  This mean-field start (E r^2 in place of r^2, where beta r^2 is below about 1e-3 gamma) is the
    only approximation.

    **Why the frontier bends at small m: first passage, not the stationary floor.**  Near the minimum
    x* = sqrt(gamma / beta) e_1 (Hessian H* = diag(2 gamma, lambda_k + gamma)) the excess
    f - f_min = beta (r^2 - gamma / beta)^2 / 4 + sum_k (lambda_k + gamma) y_k^2 / 2 (exactly) fluctuates;
    at stationarity it is about sum_k w_k chi^2_1, the law of the linearised dynamics, and
    :meth:`floor_probability` gives P(f <= target) from it (Imhof).  A trial reaches the target either on
    its way in (large m: that probability is near 1 and S is the escape plus the flow to the target) or,
    where it is small (small m and large eta), by a downward fluctuation while f hovers above the target:
    the survival then decays geometrically at the quasi-stationary passage rate (``passage_rate`` of the
    cell, measured on the chains), so S ~ arrival + ln 2 / rate and the 95% quantile follows the median by
    about ln 10 / rate.  The step size that minimises S balances a faster escape against a slower passage;
    on the default testbed the simulated eta* lies where the stationary probability is only 0.03 to 0.35
    (m = 1 to 64), so a rule that asked for P(f <= target) >= 1/2 would cut eta* by a factor 2.8 and double
    S at m = 1.  A cell whose survival,
    once the chains settle at the minimum (the linear escape of the ``_SLOW_ESCAPE`` amplitude quantile plus
    ``_SETTLE_RELAXATIONS`` relaxation times 1 / (eta min h*)), decays too slowly to reach SUCCESS_FRACTION by
    max_steps even at the rate's upper bound is stopped there and fails (its quantiles beyond the chains'
    end are the geometric tail's).

    A step size also fails where the minimum is linearly unstable (eta max(2 gamma, lambda_k + gamma)
    >= 2), where the stable spread cancels gamma (gamma_eff = gamma - beta sum_k v_k <= 0,
    v_k = eta Sigma_kk / (m lambda_k (2 - eta lambda_k))), or where any chain diverges (the success rule
    allows no divergence).  Where the noiseless flow from the median escape amplitude (:meth:`flow_bound`,
    a lower bound in closed form) takes more than max_steps no chain is run; where the flow from the slow
    amplitude does, the chains stop at the median.

    Cost: ``_N_CHAINS`` chains times the steps to the target (the chains that reached it are dropped every
    ``_BLOCK`` steps): about 0.1 s a cell at m = 1 on the default testbed (a few hundred steps), less at
    larger m, and the default frontier (m = 1 to 4096) in about 3 s.  Long cells cost more: where the
    flow bound puts the median past ``_LONG_RUN`` steps fewer chains run (down to ``_N_CHAINS_LONG``), and
    past ``_LONG_RUN`` steps, once ``_TAIL_HITS`` chains have passed since settling, the rest of the law is
    the geometric tail; a cell thousands of steps long still takes seconds.

    Accuracy, measured against the simulation (d = 10, unit noise, target 90% of the way to f_min, 1000
    trials a cell, seeds 0 and 1; m = 1, 4, 16, 64, 256 at seven step sizes each, from the simulated
    eta* / 2^(3/4) to eta* 2^(3/4)): every predicted median inside the simulated one's 95% interval; the
    95% quantile within 2% (median over the cells) and 12% (worst: a long geometric tail); the whole law of
    the steps as close as sampling allows (two-sample KS distances 0.025 in the median cell, at most 0.05;
    one cell in 68 below p = 0.05).  The predicted frontier's eta* equals the simulated one at m = 1 and
    16 and lies one grid step (2^(1/4)) away at m = 4, 64 and 256, where the tuning curve is flat to a step
    and the integer median sits on a knife edge (at m = 256, eta = 0.76: P(steps <= 8) = 0.494
    predicted, 0.500 and 0.507 simulated); S agrees within one step.  The chains' own sampling error is
    about half the simulation's at 1000 trials.
    """

    def __init__(self, config: Any, target: float) -> None:
        obj = config.build_objective()
        if not isinstance(obj, QuadraticSaddle):
            raise ValueError(f"QuadraticTheory needs the quadratic objective, got {config.objective!r}")
        self.gamma = float(obj.gamma)
        self.beta = float(obj.beta)
        self.lam = np.asarray(obj.lambdas, dtype=float)
        self.Sigma = np.asarray(obj.Sigma, dtype=float)
        noise = np.diag(self.Sigma).copy()
        if np.any(self.Sigma != np.diag(noise)):
            raise ValueError("the quadratic's theory needs a diagonal noise covariance Sigma")
        self.f_min = -(self.gamma**2) / (4.0 * self.beta)
        self.target = float(target)
        if not (self.f_min < self.target < 0.0):
            raise ValueError(
                f"the target must lie between f_min = {self.f_min:.6g} and f(0) = 0 (past the saddle), got {target!r}"
            )
        self.gap = self.target - self.f_min
        self.max_steps = int(config.max_steps)
        self.seed = int(config.seed)
        self.h_star = np.concatenate([[2.0 * self.gamma], self.lam + self.gamma])
        self.sigma_v2 = float(noise[0])
        self.stable_noise = noise[1:]
        # the stable coordinates in groups of equal (curvature, noise variance): one radial chain each
        groups: dict[tuple[float, float], int] = {}
        for pair in zip(self.lam.tolist(), self.stable_noise.tolist(), strict=True):
            groups[pair] = groups.get(pair, 0) + 1
        self.group_lam = np.array([p[0] for p in groups], dtype=float)
        self.group_noise = np.array([p[1] for p in groups], dtype=float)
        self.group_size = np.array(list(groups.values()), dtype=int)

    def floor_probability(self, m: int, eta: float) -> float:
        """P(f - f_min <= target - f_min) at stationarity around the minimum (the linearised dynamics)."""
        a = 1.0 - eta * self.h_star
        P = (eta * eta / m) * self.Sigma / (1.0 - a[:, None] * a[None, :])
        s = np.sqrt(self.h_star)
        weights = 0.5 * np.linalg.eigvalsh(s[:, None] * P * s[None, :])
        return generalized_chi2_cdf(self.gap, np.clip(weights, 0.0, None))

    def stable_spread(self, m: int, eta: float) -> float:
        """sum_k v_k: the stable coordinates' stationary spread at the saddle (the linear dynamics)."""
        return float(np.sum(eta * self.stable_noise / (m * self.lam * (2.0 - eta * self.lam))))

    def flow_bound(self, eta: float, amplitude: float) -> float:
        """A lower bound on the steps from the escape amplitude |Z| to the target: the flow
        dz/dt = eta (gamma z - beta z^3) from z = |Z| at t = 0 to z_reach (where f(z e_1) = target), in closed
        form [ln(z_reach / |Z|) - ln(1 - beta z_reach^2 / gamma) / 2] / (eta gamma).  It grows faster than the
        map (e^(eta gamma) > 1 + eta gamma a step) and than the softened curvature, and the stable heat only
        delays the target."""
        z2 = self.gamma / self.beta * (1.0 - math.sqrt(1.0 - self.target / self.f_min))  # z_reach^2
        if not amplitude > 0.0:
            return math.inf
        log_ratio = 0.5 * math.log(z2) - math.log(amplitude) - 0.5 * math.log1p(-self.beta * z2 / self.gamma)
        return max(log_ratio, 0.0) / (eta * self.gamma)

    def _linear_start(self, m: int, eta: float) -> tuple[int, float, np.ndarray]:
        """(t0, Var z_t0, Var y_t0 of each group): the last step of the linear law (module docstring)."""
        qz = eta * eta * self.sigma_v2 / m
        qg = eta * eta * self.group_noise / m
        limit = _LINEAR_START * self.gamma / (16.0 * self.beta)
        vz, vg = 0.0, np.zeros_like(qg)
        for t in range(self.max_steps):
            r2 = vz + float(np.dot(self.group_size, vg))
            vz_next = (1.0 + eta * (self.gamma - self.beta * r2)) ** 2 * vz + qz
            if vz_next > limit:
                return t, vz, vg
            vg = (1.0 - eta * (self.group_lam + self.beta * r2)) ** 2 * vg + qg
            vz = vz_next
        return self.max_steps, vz, vg

    def _settle_step(self, m: int, eta: float) -> float:
        """The step from which the chains hover at the minimum: the linear law's escape of the amplitude
        quantile _SLOW_ESCAPE to z* / 2, plus _SETTLE_RELAXATIONS relaxation times 1 / (eta min h*)."""
        gamma_eff = self.gamma - self.beta * self.stable_spread(m, eta)
        amplitude = float(scipy.stats.chi(1).ppf(_SLOW_ESCAPE)) * float(z_scale(eta, gamma_eff, self.sigma_v2, m))
        if not 0.0 < amplitude < math.inf:
            return 0.0
        escape = max(math.log(0.5 * math.sqrt(self.gamma / self.beta) / amplitude), 0.0) / math.log1p(eta * gamma_eff)
        return escape + _SETTLE_RELAXATIONS / (eta * float(np.min(self.h_star)))

    def passage(self, m: int, eta: float, need: float = SUCCESS_FRACTION, n: int = _N_CHAINS) -> _Passage:
        """Run n reduced chains of this cell until the fraction ``need`` of them reached the target (see the
        class docstring for the other stops)."""
        G = self.group_lam.size
        gamma, beta, target, max_steps = self.gamma, self.beta, self.target, self.max_steps
        t, vz, vg = self._linear_start(m, eta)
        gen = np.random.default_rng([self.seed, 0x51DE])  # the same numbers at every cell
        z = math.sqrt(vz) * gen.standard_normal(n)
        R = vg[:, None] * np.array([gen.chisquare(k, n) for k in self.group_size]).reshape(G, n)
        s_g = (eta * np.sqrt(self.group_noise / m))[:, None]
        noise_scale = np.concatenate([[[eta * math.sqrt(self.sigma_v2 / m)]], s_g])
        grow, eta_beta = 1.0 + eta * gamma, eta * beta
        shrink = 1.0 - eta * self.group_lam[:, None]
        half_lam, half_gamma, quarter_beta = 0.5 * self.group_lam, 0.5 * gamma, 0.25 * beta
        shape = 0.5 * (self.group_size - 1).astype(float)[:, None]  # chi^2_{k-1} = 2 Gamma((k - 1) / 2)
        chi_scale = 2.0 * s_g**2
        chi = bool(np.any(shape > 0.0))
        times = np.full(n, np.inf)
        index = np.arange(n)
        diverged = 0
        settle = self._settle_step(m, eta)
        hits, at_risk, surviving_at_settle = 0, 0, 0.0
        fail_fraction = 1.0 - SUCCESS_FRACTION
        with np.errstate(over="ignore", invalid="ignore"):
            while t < max_steps:
                block = min(_BLOCK, max_steps - t)
                first = np.full(index.size, np.inf)
                z2, r_sum = z * z, R.sum(axis=0)
                for _ in range(block):
                    pull = eta_beta * (z2 + r_sum)  # eta beta r^2
                    kick = noise_scale * gen.standard_normal((1 + G, index.size))
                    z = (grow - pull) * z + kick[0]
                    a = (shrink - pull) * np.sqrt(R) + kick[1:]
                    R = a * a
                    if chi:
                        R += chi_scale * gen.standard_gamma(shape, (G, index.size))
                    t += 1
                    z2, r_sum = z * z, R.sum(axis=0)
                    f = half_lam @ R - half_gamma * z2 + quarter_beta * (z2 + r_sum) ** 2
                    first[(f <= target) & (first > t)] = t
                done = first <= t
                bad = ~done & ~np.isfinite(z)
                times[index[done]] = first[done]
                diverged += int(np.count_nonzero(bad))
                if t - block >= settle:  # a block wholly past the settling step
                    if not at_risk:
                        surviving_at_settle = index.size / n
                    hits += int(np.count_nonzero(done))
                    at_risk += block * index.size
                keep = ~done & ~bad
                z, R, index = z[keep], R[:, keep], index[keep]
                surviving = index.size / n
                if surviving <= 1.0 - need:
                    break
                if at_risk > 0 and surviving > fail_fraction:
                    upper = (hits + 2.0 * math.sqrt(hits) + 3.0) / at_risk
                    if t + math.log(surviving / fail_fraction) / upper > max_steps:
                        break  # the geometric tail, even at the rate's upper bound, passes max_steps
                    if t >= _LONG_RUN and hits >= _TAIL_HITS:
                        break  # a long run: the rest is the geometric tail
        tail_rate = hits / at_risk if hits else math.nan
        rate = tail_rate if surviving_at_settle >= _RATE_SURVIVING else math.nan
        return _Passage(times, diverged, tail_rate, rate, t, index.size / n)

    def cell(self, m: int, eta: float) -> CellPrediction:
        """The prediction at batch size m and step size eta."""
        _check_cell(m, eta)
        top = float(np.max(self.h_star))
        if eta * top >= 2.0:
            reason = f"unstable at the minimum: eta times its largest curvature is {eta * top:.3g} >= 2"
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason)
        floor = self.floor_probability(m, eta)
        gamma_eff = self.gamma - self.beta * self.stable_spread(m, eta)
        if gamma_eff <= 1e-9 * self.gamma:
            reason = "the stable coordinates' spread cancels the negative curvature (gamma_eff <= 0)"
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason, floor)
        # the noiseless flow's bound: the median trial, or the slow ones, cannot reach the target by max_steps
        s_Z = float(z_scale(eta, gamma_eff, self.sigma_v2, m))
        median_bound = self.flow_bound(eta, NORMAL_MEDIAN_ABS * s_Z)
        if median_bound > self.max_steps:
            return _cell(m, eta, math.inf, math.inf, self.max_steps, "", floor)
        slow_amplitude = float(scipy.stats.chi(1).ppf(1.0 - SUCCESS_FRACTION)) * s_Z
        need = 0.5 if self.flow_bound(eta, slow_amplitude) > self.max_steps else SUCCESS_FRACTION
        n = max(_N_CHAINS_LONG, int(_N_CHAINS * min(1.0, _LONG_RUN / max(median_bound, 1.0))))
        run = self.passage(m, eta, need, n)
        if run.diverged:
            reason = f"{run.diverged} of {n} chains diverge (the success rule allows none)"
            return _cell(m, eta, math.inf, math.inf, self.max_steps, reason, floor)
        steps, slow = run.quantile(0.5), run.quantile(SUCCESS_FRACTION)
        if need < SUCCESS_FRACTION:
            slow = max(slow, self.flow_bound(eta, slow_amplitude))
        return _cell(m, eta, steps, slow, self.max_steps, "", floor, run.rate)


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
    if not config.schedule_plan.constant:
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
        median trial does not reach the target by ``config.max_steps`` (an unstable step size, noise at
        which only rare fluctuations reach the target, a plateau never left) or where the cell lies outside
        the theory's validity (teacher-student: eta / N > MAX_ETA_OVER_N).  :func:`predict_cell` gives the reason.

    Raises
    ------
    ValueError
        Where there is no theory (the spike, ge2015, octopus, a user's objective; another optimiser).

    Notes
    -----
    Quadratic: :class:`QuadraticTheory` (the linear escape law of docs/theory.md for the start, then the
    exact reduction of the model to a Markov chain of two scalars, run as seeded chains to their first
    passage below the target; the stationary floor probability as a diagnostic).  Teacher-student:
    :class:`TeacherStudentTheory` (the ODE of Saad & Solla 1995 and Goldt et al. 2019, with the plateau
    exit).
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
