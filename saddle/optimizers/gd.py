"""gd: the exact gradient (m = infinity): at an exact saddle it never moves, the control.

Per step t: p = the Riemannian part of the exact gradient; u <- R_u(-eta p).  With a constant step
size gd is deterministic, so a step that leaves u unchanged bit for bit is an exact fixed point of its
float64 iteration: every later step would repeat it, and the trial ends FROZEN (e.g. the octopus once
its waiting coordinates underflow; Du et al. 2017).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import EXACT_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template


def gd_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """u <- R_u(-eta p), p the Riemannian part of the exact gradient; True at an exact fixed point
    (constant step size only: a decaying one moves again).  ``state`` keeps u_{t-1}."""
    gradient(tr, EXACT_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    d = u.shape[0]
    can_freeze = run.decay == 0  # (no step-size rule: saddle.schedules)
    if can_freeze:
        for k in range(d):
            state[k] = u[k]
    retract(tr.sphere, tr.bs, u, tr.p, -eta)
    if not can_freeze:
        return False
    for k in range(d):
        if u[k] != state[k]:
            return False
    return True


@register
class GD(Optimizer):
    """Gradient descent on the exact gradient: the control."""

    name = "gd"
    summary = "the exact gradient (m = infinity): the control"
    rank = 1
    minibatch = False
    plain_step = True
    state_vectors = 1
    gpu_code = 1
    step = staticmethod(gd_step)
