"""The fused Numba escape kernel for the CPU backend.

``escape_trials`` runs a block of trials in parallel (``prange``), each trial
drawing from its own counter-based stream and writing only its own row of the
outputs, so results do not depend on the thread count or on how trials are
split into blocks.  Inputs are validated by :func:`saddle.kernels.run_trials`;
nothing here checks arguments.

Objectives enter as an integer code and three plain arrays (floats ``pf``, a
matrix ``pa``, ints ``pi``) that each objective packs for itself
(``kernel_params``); ``objective_value`` and ``gradient`` dispatch on the code
once per step.  One compiled specialisation serves every objective and
optimiser, so the on-disk cache holds one kernel.
"""

import math

import numpy as np
from numba import prange

from saddle import rng
from saddle._numba import njit, parallel_njit
from saddle.manifolds import SPHERE
from saddle.objectives import ge2015, quadratic, spike

ESCAPED, CENSORED, DIVERGED = 0, 1, 2
"""Per-trial status codes."""

SGD, GD, NOISY_SGD = 0, 1, 2
"""Optimiser codes (SPEC section 3)."""

SPIKE, QUADRATIC, GE2015 = 0, 1, 2
"""Objective codes."""


@njit
def block_size(objective, n, pi):
    """Length of each sphere block of the state (n: the spike's one sphere; d: ge2015's k spheres)."""
    if objective == GE2015:
        return n // pi[2]
    return n


@njit
def objective_value(objective, u, pf, pa, pi, work):
    if objective == SPIKE:
        return spike.objective_value(u, pa, pi[1] != 0, work)
    if objective == GE2015:
        return ge2015.objective_value(u, pa, pi[1] != 0, pi[2])
    return quadratic.objective_value(u, pf, pa)


@njit
def gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g):
    """The exact gradient (gd) or the mean of m per-sample gradients of step t (into g)."""
    if objective == SPIKE:
        if optimizer == GD:
            spike.exact_gradient(u, pa, pi[1] != 0, z, g)
        else:
            spike.minibatch_gradient(u, pa, pi[1] != 0, pf[0], pi[0], key0, key1, t, m, z, x, block, g)
    elif objective == GE2015:
        if optimizer == GD:
            ge2015.exact_gradient(u, pa, pi[1] != 0, pi[2], z, g)
        else:
            ge2015.minibatch_gradient(u, pa, pi[1] != 0, pf[0], pi[0], pi[2], pi[3], key0, key1, t, m, z, x,
                                      block, g)
    else:
        if optimizer == GD:
            quadratic.exact_gradient(u, pf, pa, g)
        else:
            quadratic.minibatch_gradient(u, pf, pa, key0, key1, t, m, z, block, g)


@njit
def _tangent_noise(manifold, bs, u, key0, key1, t, m, noise, block):
    """xi uniform on the unit sphere of the tangent space at u, from the NOISE stream.

    On a product of spheres (blocks of length bs) the tangent space is the
    product of the blocks' tangent spaces, and xi is uniform on its unit sphere.
    """
    d = u.shape[0]
    rng.fill_normals(key0, key1, t, m, rng.NOISE, noise, block)
    if manifold == SPHERE:
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


@njit
def _record(rec_row, count, stride, t, value):
    """Store f(u_t) at t = 0, stride, 2 stride, ...; halve the resolution when full.

    Keeps the memory per recorded trial bounded by len(rec_row) whatever the
    number of steps: entry i always holds f at step i * stride.
    """
    if t % stride != 0:
        return count, stride
    if count == rec_row.shape[0]:
        half = count // 2
        for i in range(half):
            rec_row[i] = rec_row[2 * i]
        count = half
        stride *= 2
        if t % stride != 0:
            return count, stride
    rec_row[count] = value
    return count + 1, stride


@njit
def run_trial(trial, seed, u0, objective, manifold, pf, pa, pi, optimizer, m, eta, sigma_iso,
              delta, radius, max_steps, rec_row, record):
    """One trajectory from u0; returns (steps, status, final_f, rec_count, rec_stride).

    Per step: gradient g; Riemannian gradient p = g - (u.g) u on each sphere
    block (p = g on R^d); p += sigma_iso xi for noisy SGD; w = u - eta p; on
    each sphere block u = w / ||w||.  Escape is the first t >= 1 with
    f(u_t) <= f(u_0) - delta, or, when radius > 0, with ||u_t - u_0|| >= radius
    (SPEC section 4); a non-finite f is a divergence.
    """
    d = u0.shape[0]
    u = u0.copy()
    g = np.empty(d)
    z = np.empty(d)
    x = np.empty(d)
    noise = np.empty(d)
    block = np.empty(4, dtype=np.uint64)
    key0 = np.uint64(seed)
    key1 = np.uint64(trial)
    sphere = manifold == SPHERE
    bs = block_size(objective, d, pi)
    f0 = objective_value(objective, u, pf, pa, pi, z)
    count, stride = 0, 1
    if record:
        count, stride = _record(rec_row, count, stride, 0, f0)
    f = f0
    for t in range(1, max_steps + 1):
        gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g)
        if optimizer == NOISY_SGD:
            _tangent_noise(manifold, bs, u, key0, key1, t, m, noise, block)
        for lo in range(0, d, bs):  # block by block: one sphere each (R^d is one block)
            ug = 0.0
            if sphere:
                for k in range(lo, lo + bs):
                    ug += u[k] * g[k]
            norm2 = 0.0
            for k in range(lo, lo + bs):
                p = g[k] - ug * u[k]
                if optimizer == NOISY_SGD:
                    p += sigma_iso * noise[k]
                x[k] = u[k] - eta * p
                norm2 += x[k] * x[k]
            inv = 1.0 / math.sqrt(norm2) if sphere else 1.0
            for k in range(lo, lo + bs):
                u[k] = x[k] * inv
        f = objective_value(objective, u, pf, pa, pi, z)
        if not math.isfinite(f):
            return t, DIVERGED, f, count, stride
        if record:
            count, stride = _record(rec_row, count, stride, t, f)
        if radius > 0.0:
            dist2 = 0.0
            for k in range(d):
                dist2 += (u[k] - u0[k]) ** 2
            if dist2 >= radius * radius:
                return t, ESCAPED, f, count, stride
        elif f <= f0 - delta:
            return t, ESCAPED, f, count, stride
    return max_steps, CENSORED, f, count, stride


@parallel_njit
def escape_trials(trial0, seed, u0, objective, manifold, pf, pa, pi, optimizer, m, eta, sigma_iso,
                  delta, radius, max_steps, steps, status, final_f, rec_f, rec_count, rec_stride):
    """Run trials trial0 .. trial0 + len(steps) - 1, writing row r of each output.

    Trials whose global index is below rec_f.shape[0] also record f(u_t).
    """
    n = steps.shape[0]
    n_record = rec_f.shape[0]
    for r in prange(n):
        trial = trial0 + r
        record = trial < n_record
        row = rec_f[trial] if record else rec_f[0:0].reshape(0)
        s, st, ff, c, stride = run_trial(trial, seed, u0, objective, manifold, pf, pa, pi, optimizer, m, eta,
                                         sigma_iso, delta, radius, max_steps, row, record)
        steps[r] = s
        status[r] = st
        final_f[r] = ff
        if record:
            rec_count[trial] = c
            rec_stride[trial] = stride
