"""noisy-sgd (Ge, Huang, Jin, Yuan, COLT 2015): sgd plus isotropic noise.

Per step t: p = the Riemannian part of the mean of m per-sample gradients, plus sigma_iso xi with xi
uniform on the unit sphere of the tangent space (the NOISE stream of step t); u <- R_u(-eta p).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook
from saddle.optimizers.geometry import retract, riemannian, tangent_noise
from saddle.options import Option

gradient = unbound_hook  # the objective's gradient hook, bound by the kernel template


def noisy_sgd_step(run: Any, tr: Any, t: int, m: int, eta: float, u: np.ndarray, state: np.ndarray) -> bool:
    """u <- R_u(-eta (p + sigma_iso xi)), xi uniform on the tangent unit sphere."""
    gradient(tr, MINIBATCH_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    tangent_noise(tr.sphere, tr.bs, u, tr.key0, tr.key1, t, m, tr.noise, tr.block)
    sigma_iso = run.sigma_iso
    for k in range(u.shape[0]):
        tr.p[k] += sigma_iso * tr.noise[k]
    retract(tr.sphere, tr.bs, u, tr.p, -eta)
    return False


@register
class NoisySGD(Optimizer):
    """SGD with isotropic tangent noise (Ge et al. 2015)."""

    name = "noisy-sgd"
    summary = "sgd + sigma_iso x uniform tangent direction (Ge et al. 2015)"
    rank = 2
    own_noise = True
    options = (Option("sigma_iso", "isotropic noise level of noisy-sgd (required there)", "real", unset=0.0),)
    gpu_code = 2
    step = staticmethod(noisy_sgd_step)
