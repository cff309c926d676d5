"""nesterov: SGD with Nesterov's momentum (Nesterov 1983; Sutskever, Martens, Dahl, Hinton, ICML 2013).

In the form that evaluates the gradient at the current point only (Sutskever et al.'s rewriting, as
PyTorch's ``nesterov=True``): per step t, p = the Riemannian part of the mean of m per-sample
gradients; v <- beta v + p; u <- R_u(-eta (p + beta v)); then v is projected onto the tangent space
at the new u (its transport).  With beta = 0 it is sgd; against heavy ball (``momentum``) it looks one
step ahead along v, which damps the oscillation across a stable direction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian
from saddle.optimizers.momentum import MOMENTUM

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template


def nesterov_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """v <- beta v + p, u <- R_u(-eta (p + beta v)), v projected onto the new tangent space (``state``
    holds v)."""
    gradient(tr, MINIBATCH_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    beta = run.momentum
    d = u.shape[0]
    for k in range(d):
        state[k] = beta * state[k] + tr.p[k]
        tr.p[k] = tr.p[k] + beta * state[k]
    retract(tr.sphere, tr.bs, u, tr.p, -eta)
    riemannian(tr.sphere, tr.bs, u, state, state)  # transport: project onto the new tangent space, in place
    return False


@register
class Nesterov(Optimizer):
    """SGD with Nesterov momentum."""

    name = "nesterov"
    summary = "sgd with Nesterov momentum (Sutskever et al. 2013)"
    rank = 6
    options = (MOMENTUM,)
    state_vectors = 1
    gpu_refusal = "escape.cu has no nesterov section yet; use backend='cpu'"
    step = staticmethod(nesterov_step)
