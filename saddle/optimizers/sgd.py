"""sgd: mini-batch SGD with a Riemannian step and retraction.

Per step t: g = the mean of m per-sample gradients of the step's fresh samples; p = g - (u.g) u on
each sphere block (the Riemannian gradient; p = g on R^d); u <- R_u(-eta p), R normalising each sphere
block (the retraction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template


def sgd_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """u <- R_u(-eta p), p the Riemannian part of the mean of m per-sample gradients."""
    gradient(tr, MINIBATCH_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    retract(tr.sphere, tr.bs, u, tr.p, -eta)
    return False


@register
class SGD(Optimizer):
    """Mini-batch SGD (the default)."""

    name = "sgd"
    summary = "mini-batch SGD"
    rank = 0
    gpu_code = 0
    plain_step = True
    lanes = True
    step = staticmethod(sgd_step)
