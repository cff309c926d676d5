"""What the objectives on R^d with additive gradient noise share (quadratic, octopus).

Per-sample gradient grad f(x) + zeta, zeta ~ N(0, Sigma) independent of x; on R^d the Riemannian
gradient and Hessian are the Euclidean ones.
"""

import numpy as np


class AdditiveNoiseOnRd:
    """Mixin: rgrad, rhess and per_sample_grad from the class's egrad and ehess."""

    def rgrad(self, x):
        return self.egrad(x)

    def rhess(self, x):
        return self.ehess(x)

    def per_sample_grad(self, x, zeta):
        """grad f(x) + zeta for each row zeta of an n x d array of noise samples."""
        return self.egrad(x)[None, :] + np.asarray(zeta)
