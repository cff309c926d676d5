"""pgd: perturbed gradient descent (Jin, Ge, Netrapalli, Kakade, Jordan, ICML 2017).

Per step t: p = the Riemannian part of the exact gradient.  When ||p|| <= g_thres and more than
t_thres steps passed since the last perturbation, u <- R_u(xi) first, xi uniform in the tangent ball
of radius r (its direction from the NOISE stream, its radius r U^(1/n) with U from the PERTURB stream
of step t, n the tangent space's dimension), and p is recomputed there.  Then u <- R_u(-eta p).
:func:`pgd_parameters` computes the paper's parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from saddle import rng
from saddle.objectives.base import EXACT_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian, tangent_noise
from saddle.options import Option

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template

GRAD_THRESHOLD = Option("grad_threshold", "perturb when ||grad f|| <= this", "real", default=1e-3)
T_THRESHOLD = Option("t_threshold", "at least this many steps between perturbations", "int", default=20)
"""The perturbation rule's options (shared with cnc-pgd)."""


def pgd_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """A ball perturbation when the gradient is small, then u <- R_u(-eta p).  ``state[0]`` holds the
    step of the last perturbation (0: none yet)."""
    gradient(tr, EXACT_GRADIENT, u, t, m, eta)
    grad_norm = riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    if grad_norm <= run.grad_threshold and (state[0] == 0.0 or t - state[0] > run.t_threshold):
        state[0] = t
        d = u.shape[0]
        tangent_dim = d - d // tr.bs if tr.sphere else d
        tangent_noise(tr.sphere, tr.bs, u, tr.key0, tr.key1, t, m, tr.noise, tr.block)
        rng.stream_block(tr.key0, tr.key1, t, m, rng.PERTURB, 0, tr.block)
        r_drawn = run.perturbation_radius * rng.open_uniform(rng.double_word(tr.block, 0)) ** (1.0 / tangent_dim)
        retract(tr.sphere, tr.bs, u, tr.noise, r_drawn)
        gradient(tr, EXACT_GRADIENT, u, t, m, eta)
        riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    retract(tr.sphere, tr.bs, u, tr.p, -eta)
    return False


@register
class PGD(Optimizer):
    """Perturbed gradient descent (Jin et al. 2017)."""

    name = "pgd"
    summary = "gd + a ball perturbation when the gradient is small (Jin et al. 2017)"
    rank = 4
    minibatch = False
    own_noise = True
    options = (
        Option("perturbation_radius", "radius r of the perturbation ball", "real", default=0.01),
        GRAD_THRESHOLD,
        T_THRESHOLD,
    )
    state_scalars = 1
    gpu_code = 4
    step = staticmethod(pgd_step)


@dataclass(frozen=True)
class PGDParameters:
    """The parameters of Jin et al. (2017), Algorithm 2, PGD(x_0, ell, rho, epsilon, c, delta, Delta_f)."""

    chi: float
    eta: float
    r: float
    g_thres: float
    f_thres: float
    t_thres: int


def pgd_parameters(
    *,
    d: int,
    ell: float,
    rho: float,
    epsilon: float,
    c: float = 1.0,
    delta: float = 0.1,
    delta_f: float = 1.0,
) -> PGDParameters:
    """Jin et al. (2017), Algorithm 2:

    chi = 3 max{ln(d ell Delta_f / (c epsilon^2 delta)), 4},  eta = c / ell,
    r = sqrt(c) / chi^2 * epsilon / ell,  g_thres = sqrt(c) / chi^2 * epsilon,
    f_thres = c / chi^3 * sqrt(epsilon^3 / rho),  t_thres = chi / c^2 * ell / sqrt(rho epsilon).

    Parameters
    ----------
    d : int
        Dimension.
    ell, rho : float
        Gradient and Hessian Lipschitz constants.
    epsilon : float
        Target accuracy of the second-order stationary point.
    c, delta, delta_f : float
        The constant c, the failure probability delta and the gap f(x_0) - f*.
    """
    for name, value in dict(ell=ell, rho=rho, epsilon=epsilon, c=c, delta=delta, delta_f=delta_f).items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    chi = 3.0 * max(math.log(d * ell * delta_f / (c * epsilon**2 * delta)), 4.0)
    return PGDParameters(
        chi=chi,
        eta=c / ell,
        r=math.sqrt(c) / chi**2 * epsilon / ell,
        g_thres=math.sqrt(c) / chi**2 * epsilon,
        f_thres=c / chi**3 * math.sqrt(epsilon**3 / rho),
        t_thres=int(math.ceil(chi / c**2 * ell / math.sqrt(rho * epsilon))),
    )
