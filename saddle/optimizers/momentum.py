"""momentum: heavy-ball SGD on the manifold (Polyak 1964).

Per step t: p = the Riemannian part of the mean of m per-sample gradients; v <- beta v + p;
u <- R_u(-eta v); then v is projected onto the tangent space at the new u (its transport).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian
from saddle.options import Option

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template

MOMENTUM = Option("momentum", "heavy-ball coefficient beta", "fraction", default=0.9)
"""The momentum coefficient beta in [0, 1) (shared with nesterov)."""


def momentum_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """v <- beta v + p, u <- R_u(-eta v), v projected onto the new tangent space (``state`` holds v)."""
    gradient(tr, MINIBATCH_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    beta = run.momentum
    d = u.shape[0]
    for k in range(d):
        state[k] = beta * state[k] + tr.p[k]
    retract(tr.sphere, tr.bs, u, state, -eta)
    riemannian(tr.sphere, tr.bs, u, state, state)  # transport: project onto the new tangent space, in place
    return False


@register
class Momentum(Optimizer):
    """Heavy-ball SGD."""

    name = "momentum"
    summary = "heavy-ball sgd"
    rank = 3
    options = (MOMENTUM,)
    state_vectors = 1
    gpu_code = 3
    step = staticmethod(momentum_step)
