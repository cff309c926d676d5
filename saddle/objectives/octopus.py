"""octopus: Du, Jin, Lee, Jordan, Poczos and Singh's chained saddles (NeurIPS 2017).

"Gradient descent can take exponential time to escape saddle points" builds a
function on R^d with d strict saddles in a row, on which gradient descent from
a uniform start in [-1, 1]^d needs time exponential in d while perturbed
gradient descent needs time polynomial in d.  With constants L (the positive
curvature), gamma (the negative curvature) and tau (the length scale), and
y = |x| taken coordinate-wise (the paper's mirroring of the "tube" into the
"octopus": f is even in every coordinate):

- saddle i (i = 1 .. d) sits at (4 tau, ..., 4 tau, 0, ..., 0) with i - 1
  entries 4 tau, where f = -(i - 1) nu;
- near it (region D_i: 2 tau <= y_j <= 6 tau for j < i, y_i <= tau,
  y_k <= tau for k > i)

      f = sum_{j<i} L (y_j - 4 tau)^2 - gamma y_i^2 + sum_{k>i} L y_k^2 - (i - 1) nu,

  so its Hessian is -2 gamma along e_i and +2 L along every other axis;
- between saddle i and saddle i + 1 (tau <= y_i <= 2 tau, y_k <= tau for k > i)

      f = sum_{j<i} L (y_j - 4 tau)^2 + g1(y_i) + g2(y_i) y_{i+1}^2 + sum_{k>i+1} L y_k^2 - (i - 1) nu,

  with the two polynomial splines of the paper, on [tau, 2 tau],

      g1(y) = -gamma y^2 + (-14 L + 10 gamma) (y - tau)^3 / (3 tau) + (5 L - 3 gamma) (y - tau)^4 / (2 tau^2),
      g2(y) = -gamma - (L + gamma) [10 s^3 + 15 s^4 + 6 s^5],   s = (y - 2 tau) / tau,

  g1 joining -gamma y^2 at tau to L (y - 4 tau)^2 - nu at 2 tau and g2 joining
  L to -gamma, both with matching first and second derivatives (so f is C^2);
  nu = 4 L tau^2 - g1(2 tau) = 4 L tau^2 + 13 (L + gamma) tau^2 / 6;
- past the last saddle (every 2 tau <= y_j <= 6 tau) f = sum_j L (y_j - 4 tau)^2 - d nu,
  whose minimum f_min = -d nu is at (4 tau, ..., 4 tau) and its mirror images.

f is defined here on that domain D (the union of the regions; the paper
extends it to R^d by Whitney's extension theorem, which has no closed form).
Outside D ``f`` is NaN: a trajectory that leaves D is counted as diverged by
the kernels, never as escaped.  Trajectories of gd, pgd and sgd with the
paper's constants stay deep inside D.

Gradient descent from [-1, 1]^d with eta = 1 / (4 L) escapes saddle i along
x_i by the factor 1 + 2 eta gamma per step while every later coordinate is
halved (1 - 2 eta L = 1/2): the next saddle's escape coordinate arrives
smaller by 2^(steps so far), so the time per saddle grows by the factor
1 + ln 2 / ln(1 + 2 eta gamma) (5.11 with L = e, gamma = 1).  In float64 the
waiting coordinates underflow to subnormals or zero after about 1074 halvings
and gradient descent becomes an exact fixed point; the kernels report such a
trial as ``frozen`` (docs/objectives.md), never as an escape time.

For stochastic methods the per-sample gradient is grad f(x) + zeta with
zeta ~ N(0, diag(noise_var)) (as for the quadratic testbed), so a batch of m
has gradient noise N(0, diag(noise_var) / m).
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

E = math.e


def spline_nu(L: float, gamma: float, tau: float) -> float:
    """nu = 4 L tau^2 - g1(2 tau): the drop of f from one saddle to the next."""
    return 4.0 * L * tau * tau + 13.0 * (L + gamma) * tau * tau / 6.0


@register
@dataclass(frozen=True, init=False)
class Octopus(AdditiveNoiseOnRd):
    """Du et al. (2017)'s octopus on R^d with curvatures (L, -gamma), scale tau and noise N(0, noise_var).

    Parameters
    ----------
    d : int
        Dimension and number of saddles (d >= 1).
    L, gamma, tau : float
        Positive curvature (the Hessian's +2 L), negative curvature (-2 gamma) and
        length scale; all > 0.  The paper's experiment: L = e, gamma = 1, tau = e.
    noise_var : float or sequence of d floats
        Per-sample gradient-noise variances (diagonal covariance), for the stochastic optimisers.
    """

    d: int
    L: float
    gamma: float
    tau: float
    noise_var: np.ndarray = field(compare=False)

    name = "octopus"
    rank = 3
    title = "octopus objective (Du et al. 2017): d saddles in a row, from saddle 1"
    options = (
        Option("L", "positive curvature", "real", default=E),
        Option("tau", "length scale", "real", default=E),
        GAMMA,
        NOISE_VAR,
    )
    random_start = "uniform in [-1, 1]^d"
    gpu_refusal = "escape.cu has no octopus section yet"
    diverged_note = "the iterate left the domain on which f is defined (docs/objectives.md)"

    @classmethod
    def from_config(cls, config: Settings) -> Octopus:
        return cls(config.d, config.L, config.gamma, config.tau, config.noise_var)

    def start_point(self, config: Settings) -> np.ndarray:
        return self.start()

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """-d nu, at (4 tau, ..., 4 tau) and its mirror images."""
        return -config.d * spline_nu(config.L, config.gamma, config.tau)

    @classmethod
    def max_drop(cls, config: Settings) -> float:
        """f = 0 at saddle 1."""
        return -cls.min_value(config)

    @classmethod
    def describe(cls, config: Settings) -> str:
        start = "uniform [-1,1]^d starts" if config.random_start else "saddle 1 start"
        return (
            f"octopus d={config.d}, L={config.L:.4g}, gamma={config.gamma:g}, tau={config.tau:.4g}, "
            f"noise var={fmt_values(config.noise_var)}, {start}"
        )

    def saddle_theory(self, config: Settings) -> SaddleQuantities:
        """At saddle 1 f is exactly quadratic while |x_1| <= tau: the quadratic's closed forms."""
        from saddle import theory

        return theory.quadratic_saddle(self.hessian_at_saddle(1), self.gradient_noise_covariance(), warn=False)

    def __init__(
        self, d: int, L: float = E, gamma: float = 1.0, tau: float = E, noise_var: npt.ArrayLike = 1.0
    ) -> None:
        # not the dataclass's __init__: noise_var is stored as the array of d variances it stands for
        object.__setattr__(self, "d", d)
        if int(self.d) != self.d or self.d < 1:
            raise ValueError(f"d must be an integer >= 1, got {self.d!r}")
        for name, given in (("L", L), ("gamma", gamma), ("tau", tau)):
            value = float(given)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
            object.__setattr__(self, name, value)
        var = np.asarray(noise_var, dtype=float)
        var = np.full(self.d, float(var)) if var.ndim == 0 else var
        if var.shape != (self.d,) or not np.all(np.isfinite(var)) or np.any(var < 0):
            raise ValueError(f"noise_var must be one number or d = {self.d} numbers, finite and >= 0")
        object.__setattr__(self, "noise_var", var)

    @property
    def manifold(self) -> Euclidean:
        return Euclidean(self.d)

    @property
    def nu(self) -> float:
        return spline_nu(self.L, self.gamma, self.tau)

    @property
    def f_min(self) -> float:
        """The global minimum -d nu, at (4 tau, ..., 4 tau) and its mirror images."""
        return -self.d * self.nu

    def saddle(self, i: int) -> np.ndarray:
        """Saddle i (1 <= i <= d): 4 tau in the first i - 1 coordinates, 0 elsewhere."""
        if not 1 <= i <= self.d:
            raise ValueError(f"the octopus has saddles 1 .. {self.d}, got {i}")
        x = np.zeros(self.d)
        x[: i - 1] = 4.0 * self.tau
        return x

    def minimum(self) -> np.ndarray:
        return np.full(self.d, 4.0 * self.tau)

    def start(self) -> np.ndarray:
        """Saddle 1, the origin."""
        return self.saddle(1)

    # -- the splines ----------------------------------------------------------------------------
    def g1(self, y: float, n: int = 0) -> float:
        """g1(y) on [tau, 2 tau] (n = 0), or its n-th derivative (n = 1, 2)."""
        L, gam, tau = self.L, self.gamma, self.tau
        a, b, w = (-14.0 * L + 10.0 * gam) / (3.0 * tau), (5.0 * L - 3.0 * gam) / (2.0 * tau * tau), y - tau
        if n == 0:
            return -gam * y * y + a * w * w * w + b * w * w * w * w
        if n == 1:
            return -2.0 * gam * y + 3.0 * a * w * w + 4.0 * b * w * w * w
        return -2.0 * gam + 6.0 * a * w + 12.0 * b * w * w

    def g2(self, y: float, n: int = 0) -> float:
        """g2(y) on [tau, 2 tau] (n = 0), or its n-th derivative (n = 1, 2)."""
        c, tau = self.L + self.gamma, self.tau
        s = (y - 2.0 * tau) / tau
        if n == 0:  # -gamma - c (10 s^3 + 15 s^4 + 6 s^5)
            return -self.gamma - c * s * s * s * (10.0 + s * (15.0 + 6.0 * s))
        if n == 1:  # -c (30 s^2 + 60 s^3 + 30 s^4) / tau
            return -c * 30.0 * s * s * (1.0 + s) * (1.0 + s) / tau
        return -c * (60.0 * s + 180.0 * s**2 + 120.0 * s**3) / tau**2

    # -- where x is -------------------------------------------------------------------------------
    def region(self, x: npt.ArrayLike) -> tuple[int, str] | None:
        """(i, part): i the 0-based index of the active coordinate (d when every saddle is passed) and
        part 'saddle' (y_i <= tau), 'spline' (tau < y_i < 2 tau) or 'minimum'; None outside D."""
        y = np.abs(np.asarray(x, dtype=float))
        i = 0
        while i < self.d and y[i] >= 2.0 * self.tau:
            i += 1
        if np.any(y[:i] > 6.0 * self.tau):
            return None
        if i == self.d:
            return i, "minimum"
        if np.any(y[i + 1 :] > self.tau):
            return None
        return i, "saddle" if y[i] <= self.tau else "spline"

    def in_domain(self, x: npt.ArrayLike) -> bool:
        return self.region(x) is not None

    # -- the maths in NumPy ---------------------------------------------------------------------
    def f(self, x: npt.ArrayLike) -> float:
        """f(x), NaN outside the domain D."""
        x = np.asarray(x, dtype=float)
        where = self.region(x)
        if where is None:
            return math.nan
        i, part = where
        y, L, tau = np.abs(x), self.L, self.tau
        value = L * np.sum((y[:i] - 4.0 * tau) ** 2) - i * self.nu
        if part == "minimum":
            return float(value)
        if part == "saddle":
            return float(value - self.gamma * y[i] ** 2 + L * np.sum(y[i + 1 :] ** 2))
        value += self.g1(y[i]) + L * np.sum(y[i + 2 :] ** 2)
        if i + 1 < self.d:
            value += self.g2(y[i]) * y[i + 1] ** 2
        return float(value)

    def egrad(self, x: npt.ArrayLike) -> np.ndarray:
        """grad f(x) (NaN outside D)."""
        x = np.asarray(x, dtype=float)
        where = self.region(x)
        if where is None:
            return np.full(self.d, math.nan)
        i, part = where
        y, sgn, L, tau = np.abs(x), np.sign(x), self.L, self.tau
        g = 2.0 * L * x  # the waiting coordinates (k > i), corrected below
        g[:i] = 2.0 * L * sgn[:i] * (y[:i] - 4.0 * tau)
        if part == "saddle":
            g[i] = -2.0 * self.gamma * x[i]
        elif part == "spline":
            g[i] = sgn[i] * self.g1(y[i], 1)
            if i + 1 < self.d:
                g[i] += sgn[i] * self.g2(y[i], 1) * (y[i + 1] * y[i + 1])
                g[i + 1] = 2.0 * self.g2(y[i]) * x[i + 1]
        return g

    def ehess(self, x: npt.ArrayLike) -> np.ndarray:
        """The Hessian of f at x (NaN outside D); the Riemannian one, since the manifold is R^d."""
        x = np.asarray(x, dtype=float)
        where = self.region(x)
        if where is None:
            return np.full((self.d, self.d), math.nan)
        i, part = where
        y, sgn = np.abs(x), np.sign(x)
        h = np.full(self.d, 2.0 * self.L)
        H = np.zeros((self.d, self.d))
        if part == "saddle":
            h[i] = -2.0 * self.gamma
        elif part == "spline":
            h[i] = self.g1(y[i], 2)
            if i + 1 < self.d:
                h[i] += self.g2(y[i], 2) * y[i + 1] ** 2
                h[i + 1] = 2.0 * self.g2(y[i])
                H[i, i + 1] = H[i + 1, i] = 2.0 * sgn[i] * self.g2(y[i], 1) * x[i + 1]
        return H + np.diag(h)

    def samples(self, xi: npt.ArrayLike) -> np.ndarray:
        """Noise samples zeta = sqrt(noise_var) * xi (rows) from standard normal rows xi."""
        return np.asarray(xi) * np.sqrt(self.noise_var)

    def gradient_noise_covariance(self, x: np.ndarray | None = None) -> np.ndarray:
        """The per-sample gradient-noise covariance diag(noise_var) (the same at every x)."""
        return np.diag(self.noise_var)

    def hessian_at_saddle(self, i: int) -> np.ndarray:
        """The diagonal of the Hessian at saddle i: -2 gamma at position i, +2 L elsewhere."""
        h = np.full(self.d, 2.0 * self.L)
        h[i - 1] = -2.0 * self.gamma
        return h

    # -- packing for the kernels ----------------------------------------------------------------
    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) for the kernel hooks: L, gamma, tau, nu; the row of noise standard deviations."""
        return LAYOUT.pack(np.sqrt(self.noise_var)[None, :], L=self.L, gamma=self.gamma, tau=self.tau, nu=self.nu)


# -- what the kernel calls: the same maths on plain arrays (pf: LAYOUT's floats; pa[_SD]: noise sd) --

LAYOUT = ParamLayout(floats=("L", "gamma", "tau", "nu"))
_L, _GAMMA, _TAU, _NU = (LAYOUT.float_index(name) for name in LAYOUT.floats)
_SD = 0  # the row of pa holding the noise standard deviations sqrt(noise_var)


# The splines are written with the same operations, in the same order, as Octopus.g1 / g2, so the kernel's
# gradient equals the NumPy class's bit for bit (tests/test_octopus.py runs gd trials against it).
@inline_njit
def _g1(y, L, gam, tau):
    a, b, w = (-14.0 * L + 10.0 * gam) / (3.0 * tau), (5.0 * L - 3.0 * gam) / (2.0 * tau * tau), y - tau
    return -gam * y * y + a * w * w * w + b * w * w * w * w


@inline_njit
def _g1_prime(y, L, gam, tau):
    a, b, w = (-14.0 * L + 10.0 * gam) / (3.0 * tau), (5.0 * L - 3.0 * gam) / (2.0 * tau * tau), y - tau
    return -2.0 * gam * y + 3.0 * a * w * w + 4.0 * b * w * w * w


@inline_njit
def _g2(y, L, gam, tau):
    s = (y - 2.0 * tau) / tau
    return -gam - (L + gam) * s * s * s * (10.0 + s * (15.0 + 6.0 * s))


@inline_njit
def _g2_prime(y, L, gam, tau):
    s = (y - 2.0 * tau) / tau
    return -(L + gam) * 30.0 * s * s * (1.0 + s) * (1.0 + s) / tau


@inline_njit
def active_coordinate(x: np.ndarray, tau: float) -> tuple[int, bool]:
    """(i, ok): i the first coordinate with |x_i| < 2 tau (d if none); ok whether x lies in the domain D."""
    d = x.shape[0]
    i = 0
    while i < d and abs(x[i]) >= 2.0 * tau:
        if abs(x[i]) > 6.0 * tau:
            return i, False
        i += 1
    for k in range(i + 1, d):
        if abs(x[k]) > tau:
            return i, False
    return i, True


@inline_njit
def objective_value(x: np.ndarray, pf: np.ndarray, pa: np.ndarray) -> float:
    """f(x), NaN outside D (the region formulas of the module docstring)."""
    L, gam, tau, nu = pf[_L], pf[_GAMMA], pf[_TAU], pf[_NU]
    d = x.shape[0]
    i, ok = active_coordinate(x, tau)
    if not ok:
        return math.nan
    value = 0.0
    for j in range(i):
        value += L * (abs(x[j]) - 4.0 * tau) ** 2
    if i < d:
        y = abs(x[i])
        later = i + 1
        if y <= tau:
            value -= gam * y * y
        else:
            value += _g1(y, L, gam, tau)
            if i + 1 < d:
                value += _g2(y, L, gam, tau) * x[i + 1] * x[i + 1]
                later = i + 2
        for k in range(later, d):
            value += L * x[k] * x[k]
    return value - i * nu


@inline_njit
def exact_gradient(x: np.ndarray, pf: np.ndarray, pa: np.ndarray, g: np.ndarray) -> None:
    """g = grad f(x) (NaN outside D)."""
    L, gam, tau = pf[_L], pf[_GAMMA], pf[_TAU]
    d = x.shape[0]
    i, ok = active_coordinate(x, tau)
    for k in range(d):
        g[k] = 2.0 * L * x[k] if ok else math.nan
    if not ok:
        return
    for j in range(i):
        g[j] = 2.0 * L * (x[j] - math.copysign(4.0 * tau, x[j]))
    if i < d:
        y = abs(x[i])
        if y <= tau:
            g[i] = -2.0 * gam * x[i]
        else:
            sign = 1.0 if x[i] > 0.0 else -1.0
            g[i] = sign * _g1_prime(y, L, gam, tau)
            if i + 1 < d:
                g[i] += sign * _g2_prime(y, L, gam, tau) * (x[i + 1] * x[i + 1])
                g[i + 1] = 2.0 * _g2(y, L, gam, tau) * x[i + 1]


@njit
def minibatch_gradient(
    x: np.ndarray,
    pf: np.ndarray,
    pa: np.ndarray,
    key0: int,
    key1: int,
    t: int,
    m: int,
    xi: np.ndarray,
    block: np.ndarray,
    g: np.ndarray,
) -> None:
    """grad f(x) + sqrt(noise_var / m) xi, xi standard normal from the DATA stream of step t.

    xi_k is normal k of the stream (saddle.rng.fill_normals): in law the mean of m per-sample noises.
    """
    rng.normals_at(key0, key1, t, m, rng.DATA, 0, xi, block)  # inlined: the per-step draw
    exact_gradient(x, pf, pa, g)
    scale = 1.0 / math.sqrt(m)
    for k in range(x.shape[0]):
        g[k] += scale * pa[_SD, k] * xi[k]


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
        minibatch_gradient(u, pf, pa, key0, key1, t, m, z, block, g)


Octopus.kernel = KernelHooks(kernel_value, kernel_gradient, name="octopus")
