"""Optimisers: one module per optimiser, each declaring itself once (:mod:`saddle.optimizers.base`).

- ``sgd`` (:mod:`~saddle.optimizers.sgd`): mini-batch SGD with a Riemannian step and retraction.
- ``gd`` (:mod:`~saddle.optimizers.gd`): the exact gradient (m = infinity): the control.
- ``noisy-sgd`` (:mod:`~saddle.optimizers.noisy_sgd`; Ge, Huang, Jin, Yuan, COLT 2015): sgd plus
  isotropic tangent noise.
- ``momentum`` (:mod:`~saddle.optimizers.momentum`): heavy-ball SGD.
- ``pgd`` (:mod:`~saddle.optimizers.pgd`; Jin, Ge, Netrapalli, Kakade, Jordan, ICML 2017): gd plus a
  ball perturbation when the gradient is small.
- ``cnc-pgd`` (:mod:`~saddle.optimizers.cnc_pgd`; Daneshmand, Kohler, Lucchi, Hofmann, ICML 2018):
  gd plus a larger mini-batch step when the gradient is small.
- ``nesterov`` (:mod:`~saddle.optimizers.nesterov`; Sutskever et al. 2013): SGD with Nesterov momentum.

Adding one is one module (docs/objectives.md, "Adding an optimiser"): a class with its options and
its Numba step hook, decorated with ``@register``, imported here (or by the user's own code).
"""

from saddle.optimizers.base import (
    Optimizer,
    OptimizerParams,
    Trial,
    all_options,
    get,
    register,
    registered,
    unregister,
    users,
)
from saddle.optimizers.cnc_pgd import CNCPGD
from saddle.optimizers.gd import GD
from saddle.optimizers.momentum import Momentum
from saddle.optimizers.nesterov import Nesterov
from saddle.optimizers.noisy_sgd import NoisySGD
from saddle.optimizers.pgd import PGD, PGDParameters, pgd_parameters
from saddle.optimizers.sgd import SGD

__all__ = [
    "CNCPGD",
    "GD",
    "Momentum",
    "Nesterov",
    "NoisySGD",
    "Optimizer",
    "OptimizerParams",
    "PGD",
    "PGDParameters",
    "SGD",
    "Trial",
    "all_options",
    "get",
    "pgd_parameters",
    "register",
    "registered",
    "unregister",
    "users",
]
