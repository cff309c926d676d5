"""The fused Numba escape kernel for the CPU backend.

``escape_trials`` runs a block of trials in parallel (``prange``), each trial
drawing from its own counter-based stream and writing only its own row of the
outputs, so results do not depend on the thread count or on how trials are
split into blocks.  Inputs are validated by :func:`saddle.kernels.run_trials`;
nothing here checks arguments.
"""

import math

import numpy as np
from numba import prange

from saddle import rng
from saddle._numba import njit, parallel_njit
from saddle.objectives import spike

ESCAPED, CENSORED, DIVERGED = 0, 1, 2
"""Per-trial status codes."""

SGD, GD, NOISY_SGD = 0, 1, 2
"""Optimiser codes (SPEC section 3)."""


@njit
def _tangent_noise(u, key0, key1, t, m, noise, block):
    """xi uniform on the unit sphere of the tangent space at u, from the NOISE stream."""
    d = u.shape[0]
    j = np.uint64(0)
    for k in range(0, d, 4):
        j += np.uint64(1)
        rng.philox4x64(j, np.uint64(t), np.uint64(m), np.uint64(rng.NOISE), key0, key1, block)
        a, b = rng.normal_pair(block[0], block[1])
        c, e = rng.normal_pair(block[2], block[3])
        noise[k] = a
        if k + 1 < d:
            noise[k + 1] = b
        if k + 2 < d:
            noise[k + 2] = c
        if k + 3 < d:
            noise[k + 3] = e
    dot = 0.0
    for k in range(d):
        dot += u[k] * noise[k]
    norm2 = 0.0
    for k in range(d):
        noise[k] -= dot * u[k]
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
def run_trial(trial, seed, u0, A, rotated, kappa, dist, optimizer, m, eta, sigma_iso,
              delta, radius, max_steps, rec_row, record):
    """One trajectory from u0; returns (steps, status, final_f, rec_count, rec_stride).

    Escape is the first t >= 1 with f(u_t) <= f(u_0) - delta, or, when
    radius > 0, with ||u_t - u_0|| >= radius (SPEC section 4).
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
    f0 = spike.objective_value(u, A, rotated, z)
    count, stride = 0, 1
    if record:
        count, stride = _record(rec_row, count, stride, 0, f0)
    f = f0
    for t in range(1, max_steps + 1):
        if optimizer == GD:
            spike.exact_gradient(u, A, rotated, z, g)
        else:
            spike.minibatch_gradient(u, A, rotated, kappa, dist, key0, key1, t, m, z, x, block, g)
        # Riemannian gradient p = g - (u.g) u, step and retraction w / ||w||.
        ug = 0.0
        for k in range(d):
            ug += u[k] * g[k]
        if optimizer == NOISY_SGD:
            _tangent_noise(u, key0, key1, t, m, noise, block)
        norm2 = 0.0
        for k in range(d):
            p = g[k] - ug * u[k]
            if optimizer == NOISY_SGD:
                p += sigma_iso * noise[k]
            x[k] = u[k] - eta * p
            norm2 += x[k] * x[k]
        inv = 1.0 / math.sqrt(norm2)
        for k in range(d):
            u[k] = x[k] * inv
        f = spike.objective_value(u, A, rotated, z)
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
def escape_trials(trial0, seed, u0, A, rotated, kappa, dist, optimizer, m, eta, sigma_iso,
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
        s, st, ff, c, stride = run_trial(trial, seed, u0, A, rotated, kappa, dist, optimizer, m, eta,
                                         sigma_iso, delta, radius, max_steps, row, record)
        steps[r] = s
        status[r] = st
        final_f[r] = ff
        if record:
            rec_count[trial] = c
            rec_stride[trial] = stride
