"""ge2015: k-component orthogonal tensor decomposition (Ge, Huang, Jin, Yuan, COLT 2015; SPEC 2.2).

Variables U = [u_1 .. u_k] (k <= d), each column on the unit sphere, and

    f(U) = sum_{i != j} T(u_i, u_i, u_j, u_j) = sum_{i != j} sum_l (a_l.u_i)^2 (a_l.u_j)^2 >= 0.

For k = d the global minima (f = 0) are the signed permutations of A and
every local minimum is global.  From the ICA identity
E[(u.x)^2 (v.x)^2] = ||u||^2 ||v||^2 + 2 (u.v)^2 + kappa sum_l (a_l.u)^2 (a_l.v)^2,
with c = U^T x, n_i = ||u_i||^2, N = sum_i n_i and S = sum_i c_i^2, the
unbiased per-sample gradient is

    grad_{u_i} l(U; x) = (4/kappa) [c_i (S - c_i^2) x - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j].

The canonical "collision" saddle u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i
(i >= 3) has f = 1 and, for d = k = 5, a Riemannian Hessian with one
eigenvalue -4, six +2 and thirteen +4 (an index-1 strict saddle).  Shared
mini-batches never leave it: u_1 = u_2 is invariant (SPEC 2.2, the symmetry trap).
"""

import itertools
from dataclasses import dataclass, field

import numpy as np

from saddle.manifolds import ProductSpheres
from saddle.objectives.spike import data_distribution


@dataclass(frozen=True)
class GeTensorDecomposition:
    """f(U) = sum_{i != j} sum_l (a_l.u_i)^2 (a_l.u_j)^2 on the product of k spheres in R^d.

    Parameters
    ----------
    d, k : int
        Dimension and number of components (2 <= k <= d).
    dist : str
        Data distribution of the ICA model (uniform, rademacher or laplace).
    A : ndarray (d, d), optional
        Orthogonal components; the identity when omitted.
    """

    d: int
    k: int
    dist: str = "uniform"
    A: np.ndarray = field(default=None, repr=False, compare=False)

    name = "ge2015"

    def __post_init__(self):
        if int(self.d) != self.d or self.d < 2:
            raise ValueError(f"d must be an integer >= 2, got {self.d!r}")
        if int(self.k) != self.k or not 2 <= self.k <= self.d:
            raise ValueError(f"k must be an integer with 2 <= k <= d = {self.d}, got {self.k!r}")
        data_distribution(self.dist)
        A = np.eye(self.d) if self.A is None else np.asarray(self.A, dtype=float)
        if A.shape != (self.d, self.d) or not np.allclose(A.T @ A, np.eye(self.d), atol=1e-10):
            raise ValueError("A must be an orthogonal d x d matrix")
        object.__setattr__(self, "A", A)

    @property
    def manifold(self):
        return ProductSpheres(self.d, self.k)

    @property
    def kappa(self):
        return data_distribution(self.dist)[1]

    # -- the population objective (U is d x k) ----------------------------------------
    def f(self, U):
        C = self.A.T @ U  # C[l, i] = a_l . u_i
        C2 = C**2
        return float(np.sum(np.sum(C2, axis=1) ** 2 - np.sum(C2**2, axis=1)))

    def egrad(self, U):
        """d f / d u_i = 4 sum_l c_li (S_l - c_li^2) a_l, with S_l = sum_j c_lj^2."""
        C = self.A.T @ U
        S = np.sum(C**2, axis=1, keepdims=True)
        return 4.0 * self.A @ (C * (S - C**2))

    def ehess(self, U):
        """Euclidean Hessian on U flattened column by column ((d k) x (d k)).

        In the coordinates c_li: d^2 f / dc_li dc_lj = 4 S_l delta_ij + 8 c_li c_lj - 12 c_li^2 delta_ij,
        and zero between different l.
        """
        d, k = self.d, self.k
        C = self.A.T @ U
        S = np.sum(C**2, axis=1)
        H = np.zeros((k, d, k, d))
        for l in range(d):
            M = 4.0 * S[l] * np.eye(k) + 8.0 * np.outer(C[l], C[l]) - 12.0 * np.diag(C[l] ** 2)
            aa = np.outer(self.A[:, l], self.A[:, l])
            H += M[:, None, :, None] * aa[None, :, None, :]
        return H.reshape(k * d, k * d)

    def rgrad(self, U):
        return self.manifold.riemannian_gradient(U, self.egrad(U))

    def rhess(self, U):
        return self.manifold.riemannian_hessian(U, self.egrad(U), self.ehess(U))

    # -- data and per-sample quantities ------------------------------------------------
    def samples(self, z):
        return np.asarray(z) @ self.A.T

    def per_sample_grad(self, U, x):
        """The SPEC 2.2 per-sample gradient for each row of x: an n x d x k array."""
        x = np.atleast_2d(x)
        c = x @ U  # n x k
        S = np.sum(c**2, axis=1, keepdims=True)
        n = np.sum(U**2, axis=0)  # k
        G = U.T @ U  # Gram matrix
        cross = U @ (G - np.diag(np.diag(G)))  # column i: sum_{j != i} (u_i.u_j) u_j
        data = (c * (S - c**2))[:, None, :] * x[:, :, None]
        return (4.0 / self.kappa) * (data - ((n.sum() - n) * U)[None] - 2.0 * cross[None])

    # -- start points and success metrics ----------------------------------------------
    def collision_saddle(self):
        """u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i for i >= 3 (SPEC 2.2)."""
        U = self.A[:, : self.k].copy()
        U[:, 0] = U[:, 1] = (self.A[:, 0] + self.A[:, 1]) / np.sqrt(2.0)
        return U

    def recovery_error(self, U):
        """min over signed permutations pi of max_i ||u_i -+ a_pi(i)|| (k <= d; exhaustive for k <= 8)."""
        if self.k > 8:
            raise ValueError("recovery_error enumerates permutations; k <= 8")
        C = self.A.T @ U  # C[l, i] = a_l . u_i; ||u_i - s a_l||^2 = 2 - 2 s c_li for unit vectors
        dist = np.sqrt(np.maximum(2.0 - 2.0 * np.abs(C), 0.0))
        best = np.inf
        for perm in itertools.permutations(range(self.d), self.k):
            best = min(best, max(dist[perm[i], i] for i in range(self.k)))
        return float(best)
