"""The Numba geometry every optimiser steps with: tangent projection, retraction, tangent noise.

The state is flat: one sphere, k sphere blocks of length ``bs`` (a product of spheres), or R^n
(``sphere`` False).  These are the kernels' versions of :mod:`saddle.manifolds`' projection and
retraction (the same formulas, in place, on plain arrays), shared by the optimisers' step hooks
and the kernel template's start.
"""

from __future__ import annotations

import math

import numpy as np

from saddle import rng
from saddle._numba import inline_njit, njit


@inline_njit
def riemannian(sphere: bool, bs: int, u: np.ndarray, g: np.ndarray, out: np.ndarray) -> float:
    """out = g - (u_b . g_b) u_b on each sphere block b (out = g on R^n); returns ||out||.  ``out`` may be
    ``g`` itself (projection in place): each block's u_b . g_b is summed before any of its entries is written."""
    d = u.shape[0]
    norm2 = 0.0
    for lo in range(0, d, bs):
        ug = 0.0
        if sphere:
            for k in range(lo, lo + bs):
                ug += u[k] * g[k]
        for k in range(lo, lo + bs):
            out[k] = g[k] - ug * u[k]
            norm2 += out[k] * out[k]
    return math.sqrt(norm2)


@inline_njit
def retract(sphere: bool, bs: int, u: np.ndarray, v: np.ndarray, scale: float) -> None:
    """u <- R_u(scale v): u + scale v, then each sphere block normalised (nothing more on R^n)."""
    d = u.shape[0]
    for lo in range(0, d, bs):
        norm2 = 0.0
        for k in range(lo, lo + bs):
            u[k] = u[k] + scale * v[k]
            norm2 += u[k] * u[k]
        if sphere:
            inv = 1.0 / math.sqrt(norm2)
            for k in range(lo, lo + bs):
                u[k] *= inv


@njit
def tangent_noise(
    sphere: bool, bs: int, u: np.ndarray, key0: int, key1: int, t: int, m: int, noise: np.ndarray, block: np.ndarray
) -> None:
    """Into ``noise``: xi uniform on the unit sphere of the tangent space at u, from the NOISE stream of
    step t of the trial's key (key0, key1) (saddle.rng).

    On a product of spheres the tangent space is the product of the blocks' tangent spaces, and xi is
    uniform on its unit sphere: normalised standard normals, projected block by block.
    """
    d = u.shape[0]
    rng.fill_normals(key0, key1, t, m, rng.NOISE, noise, block)
    if sphere:
        for lo in range(0, d, bs):
            dot = 0.0
            for k in range(lo, lo + bs):
                dot += u[k] * noise[k]
            for k in range(lo, lo + bs):
                noise[k] -= dot * u[k]
    norm2 = 0.0
    for k in range(d):
        norm2 += noise[k] * noise[k]
    inv = 1.0 / math.sqrt(norm2)
    for k in range(d):
        noise[k] *= inv
