"""The optimisers of SPEC section 3 and the saddle-escape literature: names, parameters, formulas.

The update rules themselves live in the kernel (:func:`saddle.kernels.cpu.run_trial`);
this module names them, holds their parameters, and computes the parameters
that papers prescribe.

- ``sgd``: mini-batch SGD with a Riemannian step and retraction.
- ``gd``: the exact gradient (m = infinity); at an exact saddle it never moves: the control.
- ``noisy-sgd`` (Ge, Huang, Jin, Yuan, COLT 2015): sgd plus ``sigma_iso`` times a
  direction uniform on the tangent unit sphere.
- ``momentum``: heavy-ball SGD, v <- beta v + p, u <- R_u(-eta v), v projected
  onto the new tangent space.
- ``pgd`` (Jin, Ge, Netrapalli, Kakade, Jordan, ICML 2017): gd plus a
  perturbation uniform in the tangent ball of radius r whenever the gradient
  norm is at most g_thres and no perturbation happened in the last t_thres steps.
- ``cnc-pgd`` (Daneshmand, Kohler, Lucchi, Hofmann, ICML 2018): as pgd, but the
  perturbation is one mini-batch SGD step of a larger step size.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields

import numpy as np

from saddle.options import Option

SGD, GD, NOISY_SGD, MOMENTUM, PGD, CNC_PGD = 0, 1, 2, 3, 4, 5
"""Optimiser codes, as the kernels (and escape.cu's #defines) know them."""


@dataclass(frozen=True)
class Optimizer:
    """One optimiser: its name, kernel code, whether it draws mini-batches, and its parameters."""

    name: str
    code: int
    minibatch: bool
    parameters: tuple[str, ...]
    summary: str


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", SGD, True, (), "mini-batch SGD"),
        Optimizer("gd", GD, False, (), "the exact gradient (m = infinity): the control"),
        Optimizer(
            "noisy-sgd", NOISY_SGD, True, ("sigma_iso",), "sgd + sigma_iso x uniform tangent direction (Ge et al. 2015)"
        ),
        Optimizer("momentum", MOMENTUM, True, ("momentum",), "heavy-ball sgd"),
        Optimizer(
            "pgd",
            PGD,
            False,
            ("perturbation_radius", "grad_threshold", "t_threshold"),
            "gd + a ball perturbation when the gradient is small (Jin et al. 2017)",
        ),
        Optimizer(
            "cnc-pgd",
            CNC_PGD,
            False,
            ("grad_threshold", "t_threshold", "cnc_eta"),
            "gd + a larger mini-batch step when the gradient is small (Daneshmand et al. 2018)",
        ),
    )
}
"""The optimisers, by name: the one table the configuration, the command line and the kernels read."""


@dataclass(frozen=True)
class OptimizerParams:
    """Parameters beyond eta and m (unused ones stay 0): the kernel's ``po`` array, field by field.

    The order of the fields is the order of ``po``; :class:`PO` names the positions for the kernels
    (and escape.cu reads the same positions).

    Attributes
    ----------
    sigma_iso : float
        noisy-sgd's isotropic noise level.
    momentum : float
        Heavy-ball coefficient beta, 0 <= beta < 1.
    perturbation_radius : float
        pgd's ball radius r.
    grad_threshold : float
        pgd / cnc-pgd: perturb only when ||grad f|| <= g_thres.
    t_threshold : int
        pgd / cnc-pgd: at least this many steps between perturbations.
    cnc_eta : float
        cnc-pgd's step size for its stochastic step.
    lr_decay : float
        Schedule of the step size: eta / (1 + t / lr_decay) at step t (0: constant).
    batch_after_drop : int
        Schedule of the batch size: after the first f(u_t) <= f(u_0) - delta every
        step draws this many samples (0: m throughout) - "small batches to
        escape, large batches to converge".
    """

    sigma_iso: float = 0.0
    momentum: float = 0.0
    perturbation_radius: float = 0.0
    grad_threshold: float = 0.0
    t_threshold: int = 0
    cnc_eta: float = 0.0
    lr_decay: float = 0.0
    batch_after_drop: int = 0

    def as_array(self) -> np.ndarray:
        """The kernel's ``po`` array (float64, in field order)."""
        return np.array([float(getattr(self, f.name)) for f in fields(self)])


class PO(enum.IntEnum):
    """Positions in the kernel's ``po`` array (the fields of :class:`OptimizerParams`, in order)."""

    SIGMA_ISO = 0
    MOMENTUM = 1
    PERTURBATION_RADIUS = 2
    GRAD_THRESHOLD = 3
    T_THRESHOLD = 4
    CNC_ETA = 5
    LR_DECAY = 6
    BATCH_AFTER_DROP = 7


assert [p.name.lower() for p in PO] == [f.name for f in fields(OptimizerParams)], "PO must follow OptimizerParams"

OPTIONS: tuple[Option, ...] = (
    Option("sigma_iso", "isotropic noise level of noisy-sgd (required there)", "real"),
    Option("momentum", "heavy-ball coefficient beta", "fraction", default=0.9),
    Option("perturbation_radius", "radius r of the perturbation ball", "real", default=0.01),
    Option("grad_threshold", "perturb when ||grad f|| <= this", "real", default=1e-3),
    Option("t_threshold", "at least this many steps between perturbations", "int", default=20),
    Option(
        "cnc_eta",
        "step size of the stochastic step",
        "real",
        default=lambda config: 10 * config.eta,
        default_text="10 eta",
    ),
)
"""The optimisers' own options (each used by the optimisers whose ``parameters`` name it)."""


def users(option: str) -> tuple[str, ...]:
    """The optimisers that take an option."""
    return tuple(o.name for o in OPTIMIZERS.values() if option in o.parameters)


@dataclass(frozen=True)
class PGDParameters:
    """The parameters of Jin et al. (2017), Algorithm 2, PGD(x_0, ell, rho, epsilon, c, delta, Delta_f)."""

    chi: float
    eta: float
    r: float
    g_thres: float
    f_thres: float
    t_thres: int


def pgd_parameters(*, d, ell, rho, epsilon, c=1.0, delta=0.1, delta_f=1.0):
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
