"""cnc-pgd (Daneshmand, Kohler, Lucchi, Hofmann, ICML 2018): pgd whose perturbation is a stochastic step.

Per step t: p = the Riemannian part of the exact gradient.  When ||p|| <= g_thres and more than t_thres
steps passed since the last such step, p is replaced by the Riemannian part of the mean of m per-sample
gradients and the step size by the larger ``cnc_eta`` (the correlated negative curvature of the
stochastic gradient does the escaping).  Then u <- R_u(-step p).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import EXACT_GRADIENT, MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian
from saddle.optimizers.pgd import GRAD_THRESHOLD, T_THRESHOLD
from saddle.options import Option

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template


def cnc_pgd_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """One mini-batch step of step size cnc_eta when the gradient is small, else a gd step.  ``state[0]``
    holds the step of the last stochastic step (0: none yet)."""
    gradient(tr, EXACT_GRADIENT, u, t, m, eta)
    grad_norm = riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    step = eta
    if grad_norm <= run.grad_threshold and (state[0] == 0.0 or t - state[0] > run.t_threshold):
        state[0] = t
        step = run.cnc_eta
        gradient(tr, MINIBATCH_GRADIENT, u, t, m, step)
        riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    retract(tr.sphere, tr.bs, u, tr.p, -step)
    return False


@register
class CNCPGD(Optimizer):
    """PGD with a stochastic-gradient perturbation (Daneshmand et al. 2018)."""

    name = "cnc-pgd"
    summary = "gd + a larger mini-batch step when the gradient is small (Daneshmand et al. 2018)"
    rank = 5
    minibatch = False
    options = (
        GRAD_THRESHOLD,
        T_THRESHOLD,
        Option(
            "cnc_eta",
            "step size of the stochastic step",
            "real",
            default=lambda config: 10 * config.eta,
            default_text="10 eta",
        ),
    )
    state_scalars = 1
    gpu_code = 5
    step = staticmethod(cnc_pgd_step)
