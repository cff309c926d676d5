"""Manifolds as small objects: projection, retraction, Riemannian Hessian.

The unit sphere (the spike objective), the product of k spheres (ge2015) and
R^d (the quadratic testbed), with one interface.  Inside the kernels a
manifold is an integer code (``SPHERE`` or ``EUCLIDEAN``).  ``check_gradient`` and
``check_hessian`` are the Taylor-slope tests of pymanopt / Boumal's "An introduction to
optimization on smooth manifolds" (2023, section 4.8): along a retraction curve the remainder of
the first- (second-) order model must shrink like h^2 (h^3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SPHERE, EUCLIDEAN = 0, 1
"""Manifold codes inside the kernels."""


@dataclass(frozen=True)
class Sphere:
    """The unit sphere S^{d-1} in R^d with the metric inherited from R^d."""

    d: int

    @property
    def dim(self) -> int:
        return self.d - 1

    def project(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Orthogonal projection of v onto the tangent space at u: v - (u.v) u."""
        return v - np.dot(u, v) * u

    def retract(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Metric-projection retraction: (u + v) / ||u + v||."""
        w = u + v
        return w / np.linalg.norm(w)

    def riemannian_gradient(self, u: np.ndarray, egrad: np.ndarray) -> np.ndarray:
        return self.project(u, egrad)

    def riemannian_hessian(self, u: np.ndarray, egrad: np.ndarray, ehess: np.ndarray) -> np.ndarray:
        """Riemannian Hessian matrix (on R^d, acting on the tangent space at u).

        Hess f(u)[v] = P_u (nabla^2 f(u) v) - (u . nabla f(u)) v  for tangent v;
        the second term is the Weingarten (curvature) correction of the sphere.
        Returned as the symmetric matrix P (H - (u.g) I) P, whose restriction
        to the tangent space is the Riemannian Hessian and which maps u to 0.
        """
        P = np.eye(self.d) - np.outer(u, u)
        return P @ (ehess - np.dot(u, egrad) * np.eye(self.d)) @ P

    def tangent_basis(self, u: np.ndarray) -> np.ndarray:
        """Orthonormal basis of the tangent space at u, as the columns of a d x (d-1) array."""
        q, _ = np.linalg.qr(np.column_stack([u, np.eye(self.d)]))
        return q[:, 1 : self.d]

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        x = rng.standard_normal(self.d)
        return x / np.linalg.norm(x)

    def random_tangent(self, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        v = self.project(u, rng.standard_normal(self.d))
        return v / np.linalg.norm(v)


class _Retraction(Protocol):
    """What the slope tests need of a manifold: its retraction R_u(v)."""

    def retract(self, u: np.ndarray, v: np.ndarray, /) -> np.ndarray: ...


def _taylor_remainders(
    manifold: _Retraction,
    f: Callable[[np.ndarray], float],
    u: np.ndarray,
    v: np.ndarray,
    order_terms: Callable[[float], float],
    hs: np.ndarray,
) -> np.ndarray:
    return np.array([abs(f(manifold.retract(u, h * v)) - order_terms(h)) for h in hs])


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    """<a, b> for vectors or d x k arrays alike (the Frobenius product)."""
    return float(np.sum(np.asarray(a) * np.asarray(b)))


def _slope(hs: np.ndarray, rem: np.ndarray) -> float:
    """Least-squares slope of log(remainder) against log(h), over the points above round-off."""
    keep = rem > 1e-13
    return np.polyfit(np.log(hs[keep]), np.log(rem[keep]), 1)[0]


def check_gradient(
    manifold: _Retraction,
    f: Callable[[np.ndarray], float],
    rgrad: Callable[[np.ndarray], np.ndarray],
    u: np.ndarray,
    v: np.ndarray,
    hs: np.ndarray | None = None,
) -> float:
    """Slope of |f(R_u(h v)) - f(u) - h <grad f(u), v>| against h; 2 for a correct gradient."""
    hs = np.logspace(-6, -2, 9) if hs is None else hs
    f0, g = f(u), rgrad(u)
    rem = _taylor_remainders(manifold, f, u, v, lambda h: f0 + h * _inner(g, v), hs)
    return _slope(hs, rem)


def check_hessian(
    manifold: _Retraction,
    f: Callable[[np.ndarray], float],
    rgrad: Callable[[np.ndarray], np.ndarray],
    rhess: Callable[[np.ndarray], np.ndarray],
    u: np.ndarray,
    v: np.ndarray,
    hs: np.ndarray | None = None,
) -> float:
    """Slope of the second-order Taylor remainder against h; 3 for a correct Hessian.

    The metric-projection retraction of the sphere is second order, so the
    Riemannian Hessian (not only the Euclidean one) is what the slope tests.
    """
    hs = np.logspace(-4, -2, 9) if hs is None else hs
    f0, g, H = f(u), rgrad(u), rhess(u)
    vf = np.asarray(v).ravel(order="F")
    quad = float(vf @ H @ vf)
    rem = _taylor_remainders(manifold, f, u, v, lambda h: f0 + h * _inner(g, v) + 0.5 * h * h * quad, hs)
    return _slope(hs, rem)


@dataclass(frozen=True)
class Euclidean:
    """R^d: the tangent space is R^d itself and the retraction is u + v."""

    d: int

    @property
    def dim(self) -> int:
        return self.d

    def project(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=float).copy()

    def retract(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u + v

    def riemannian_gradient(self, u: np.ndarray, egrad: np.ndarray) -> np.ndarray:
        return egrad

    def riemannian_hessian(self, u: np.ndarray, egrad: np.ndarray, ehess: np.ndarray) -> np.ndarray:
        return ehess

    def tangent_basis(self, u: np.ndarray) -> np.ndarray:
        return np.eye(self.d)

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(self.d)

    def random_tangent(self, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        v = rng.standard_normal(self.d)
        return v / np.linalg.norm(v)


@dataclass(frozen=True)
class ProductSpheres:
    """The product of k unit spheres S^{d-1}: points are d x k arrays U whose columns are unit vectors.

    Projection, retraction and the Weingarten term act column by column; the
    Riemannian Hessian is returned as a (d k) x (d k) matrix acting on U
    flattened column by column (``U.ravel(order="F")``).
    """

    d: int
    k: int

    @property
    def dim(self) -> int:
        return self.k * (self.d - 1)

    def project(self, U: np.ndarray, V: np.ndarray) -> np.ndarray:
        return V - U * np.sum(U * V, axis=0, keepdims=True)

    def retract(self, U: np.ndarray, V: np.ndarray) -> np.ndarray:
        W = U + V
        return W / np.linalg.norm(W, axis=0, keepdims=True)

    def riemannian_gradient(self, U: np.ndarray, egrad: np.ndarray) -> np.ndarray:
        return self.project(U, egrad)

    def riemannian_hessian(self, U: np.ndarray, egrad: np.ndarray, ehess: np.ndarray) -> np.ndarray:
        """P (H - blockdiag((u_i . g_i) I)) P on the column-by-column flattening."""
        d, k = self.d, self.k
        P = np.zeros((d * k, d * k))
        W = np.zeros((d * k, d * k))
        for i in range(k):
            sl = slice(i * d, (i + 1) * d)
            P[sl, sl] = np.eye(d) - np.outer(U[:, i], U[:, i])
            W[sl, sl] = np.dot(U[:, i], egrad[:, i]) * np.eye(d)
        return P @ (ehess - W) @ P

    def tangent_basis(self, U: np.ndarray) -> np.ndarray:
        """Orthonormal basis of the tangent space, columns in the flattened coordinates."""
        d, k = self.d, self.k
        B = np.zeros((d * k, k * (d - 1)))
        for i in range(k):
            B[i * d : (i + 1) * d, i * (d - 1) : (i + 1) * (d - 1)] = Sphere(d).tangent_basis(U[:, i])
        return B

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        X = rng.standard_normal((self.d, self.k))
        return X / np.linalg.norm(X, axis=0, keepdims=True)

    def random_tangent(self, U: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        V = self.project(U, rng.standard_normal((self.d, self.k)))
        return V / np.linalg.norm(V)
