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

import math
from dataclasses import dataclass

import numpy as np

NAMES = ("sgd", "gd", "noisy-sgd", "momentum", "pgd", "cnc-pgd")


@dataclass(frozen=True)
class OptimizerParams:
    """Parameters beyond eta and m (unused ones stay 0).

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

    def as_array(self):
        """The kernel's ``po`` array."""
        return np.array([self.sigma_iso, self.momentum, self.perturbation_radius, self.grad_threshold,
                         float(self.t_threshold), self.cnc_eta, self.lr_decay, float(self.batch_after_drop)])


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
