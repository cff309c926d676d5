"""Slow, obviously correct NumPy versions of what the teacher-student kernels compute.

The random numbers come from saddle.rng's public ``fill_normals_at`` with the layout documented in
saddle/objectives/teacher_student/kernels.py; everything else is NumPy, following SPEC 2.6 line by line.
"""

import math

import numpy as np
from numba import njit

from saddle import rng
from saddle.objectives.teacher_student import kernels as tsk
from saddle.objectives.teacher_student.model import TeacherStudent


def normals(seed, trial, t, m, purpose, start, n):
    """Normals start .. start + n - 1 of the stream (t, m, purpose) of key (seed, trial)."""
    out = np.empty(n)
    rng.fill_normals_at(np.uint64(seed), np.uint64(trial), t, m, purpose, start, out, np.empty(4, np.uint64))
    return out


def full_step_inputs(N, seed, trial, t, m):
    """(x, xi): the m x N inputs and m output noises of step t in the full mode's layout."""
    b = rng.NORMALS_PER_BLOCK
    stride = (N + 1 + b - 1) // b * b
    rec = np.stack([normals(seed, trial, t, m, rng.DATA, s * stride, N + 1) for s in range(m)])
    return rec[:, :N], rec[:, N]


def full_sgd_gradient(model: TeacherStudent, W, seed, trial, t, m):
    """The mean per-sample gradient of step t (K x N), drawn as the full-mode kernel draws it."""
    x, xi = full_step_inputs(model.N, seed, trial, t, m)
    return model.minibatch_gradient(W, x, xi)


def full_random_start(model: TeacherStudent, seed, trial, m, sigma0_sq=0.1):
    """W = sigma0 * START normals 0 .. K N - 1 of step 0 (row-major)."""
    return math.sqrt(sigma0_sq) * normals(seed, trial, 0, m, rng.START, 0, model.K * model.N).reshape(model.K, model.N)


def full_escape_steps(model: TeacherStudent, W0, seed, trials, m, eta, target, max_steps):
    """Escape steps (-1: not escaped) of the full simulation, step by step in NumPy."""
    out = []
    for r in range(trials):
        W = np.array(W0, dtype=float)
        s = -1
        for t in range(1, max_steps + 1):
            W = W - eta * full_sgd_gradient(model, W, seed, r, t, m)
            if model.eps_g(W) <= target:
                s = t
                break
        out.append(s)
    return np.array(out)


@njit
def escape_steps(
    mode: int,
    seed: int,
    trials: int,
    u0: np.ndarray,
    random_start: bool,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    optimizer: int,
    m: int,
    eta: float,
    target: float,
    max_steps: int,
    steps: np.ndarray,
    final_f: np.ndarray,
) -> None:
    """Run trials 0..len(steps)-1 from u0 (or each trial's random start): u <- u - eta g until
    eps_g <= target; steps[r] = the first such step, or -1 if not reached by max_steps (final_f: last f).

    Keys (seed, trial); ``mode`` FULL or REDUCED picks the hooks.  The package's kernel runs exactly this
    loop (Euclidean manifold, no projection, sgd or gd): the tests hold it against this direct loop.
    """
    d = u0.shape[0]
    u = np.empty(d)
    g = np.empty(d)
    z = np.empty(d)
    x = np.empty(d)
    noise = np.empty(d)
    block = np.empty(4, dtype=np.uint64)
    for r in range(trials):
        key0 = np.uint64(seed)
        key1 = np.uint64(r)
        if random_start:
            if mode == tsk.FULL:
                tsk.full_random_start(0, False, 1, pf, pa, pi, key0, key1, m, u, noise, block)
            else:
                tsk.reduced_random_start(0, False, 1, pf, pa, pi, key0, key1, m, u, noise, block)
        else:
            for k in range(d):
                u[k] = u0[k]
        steps[r] = -1
        f = 0.0
        for t in range(1, max_steps + 1):
            if mode == tsk.FULL:
                tsk.full_gradient(0, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)
            else:
                tsk.reduced_gradient(0, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)
            for k in range(d):
                u[k] = u[k] - eta * g[k]
            if mode == tsk.FULL:
                f = tsk.full_value(0, u, pf, pa, pi, z)
            else:
                f = tsk.reduced_value(0, u, pf, pa, pi, z)
            if not math.isfinite(f) or f <= target:
                steps[r] = t if math.isfinite(f) else -2
                break
        final_f[r] = f
