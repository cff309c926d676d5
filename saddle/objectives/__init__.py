"""Objectives: one module per objective, the maths in NumPy plus what kernels call."""

from saddle.objectives.ge2015 import GeTensorDecomposition
from saddle.objectives.octopus import Octopus
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.spike import DISTRIBUTIONS, SpikeTensor, data_distribution

__all__ = ["DISTRIBUTIONS", "GeTensorDecomposition", "Octopus", "QuadraticSaddle", "SpikeTensor", "data_distribution"]
