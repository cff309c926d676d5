"""Objectives: one module per objective, each declaring itself once (saddle.objectives.base).

Every module of this package is imported with the package (:func:`discover`), so a new built-in
objective is one new module here (or a subpackage): nothing else lists it.  The
built-in ones are spike, ge2015, quadratic, octopus, teacher-student and the ``user`` adapter (each
described in docs/objectives.md); a user's objective registers itself when its own file is imported
(docs/objectives.md, "Adding your own objective").
"""

import importlib
import pkgutil

from saddle.objectives.base import KernelHooks, Objective, ParamLayout, get, register, registered
from saddle.objectives.ge2015 import GeTensorDecomposition
from saddle.objectives.octopus import Octopus
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.spike import DISTRIBUTIONS, SpikeTensor, data_distribution
from saddle.objectives.user import UserObjective

_DISCOVERED = False


def discover() -> None:
    """Import every module and subpackage of saddle.objectives (each registers its objectives)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


__all__ = [
    "DISTRIBUTIONS",
    "GeTensorDecomposition",
    "KernelHooks",
    "Objective",
    "Octopus",
    "ParamLayout",
    "QuadraticSaddle",
    "SpikeTensor",
    "UserObjective",
    "data_distribution",
    "discover",
    "get",
    "register",
    "registered",
]

discover()  # every module registers its objectives: the registry is complete once the package is imported
