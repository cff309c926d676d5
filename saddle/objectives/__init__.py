"""Objectives: one module per objective, each declaring itself once (saddle.objectives.base).

Importing this package registers the built-in objectives, in this order: spike (SPEC 2.1), ge2015
(2.2), quadratic (2.3), octopus (2.4) and the ``user`` adapter (2.5).  A user's objective registers
itself when its own module is imported (docs/objectives.md).
"""

from saddle.objectives.base import KernelHooks, Objective, ParamLayout, get, register, registered
from saddle.objectives.spike import DISTRIBUTIONS, SpikeTensor, data_distribution  # noqa: I001 (registry order)
from saddle.objectives.ge2015 import GeTensorDecomposition
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.octopus import Octopus
from saddle.objectives.user import UserObjective

__all__ = ["DISTRIBUTIONS", "GeTensorDecomposition", "KernelHooks", "Objective", "Octopus", "ParamLayout",
           "QuadraticSaddle", "SpikeTensor", "UserObjective", "data_distribution", "get", "register", "registered"]
