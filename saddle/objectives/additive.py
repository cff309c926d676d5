"""What the objectives on R^d with additive gradient noise share (quadratic, octopus).

Per-sample gradient grad f(x) + zeta, zeta ~ N(0, Sigma) independent of x; on R^d the Riemannian
gradient and Hessian are the Euclidean ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from saddle.objectives.base import Objective
from saddle.options import Option

GAMMA = Option("gamma", "negative curvature", "real", default=1.0)
NOISE_VAR = Option(
    "noise_var",
    "per-sample gradient-noise variances: one value or d values",
    "reals",
    default=1.0,
    count=lambda config: config.d,
)


def fmt_values(value: Any) -> str:
    """One number, or a comma-separated list (for descriptions)."""
    return ",".join(f"{x:g}" for x in value) if isinstance(value, tuple) else f"{value:g}"


class AdditiveNoiseOnRd(Objective):
    """Mixin: rgrad, rhess and per_sample_grad from the class's egrad and ehess."""

    def egrad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x); each subclass gives its own."""
        raise NotImplementedError

    def ehess(self, x: np.ndarray) -> np.ndarray:
        """The Hessian of f at x; each subclass gives its own."""
        raise NotImplementedError

    def rgrad(self, x: np.ndarray) -> np.ndarray:
        return self.egrad(x)

    def rhess(self, x: np.ndarray) -> np.ndarray:
        return self.ehess(x)

    def per_sample_grad(self, x: np.ndarray, zeta: npt.ArrayLike) -> np.ndarray:
        """grad f(x) + zeta for each row zeta of an n x d array of noise samples."""
        return self.egrad(x)[None, :] + np.asarray(zeta)
