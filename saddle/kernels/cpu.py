"""The fused Numba escape kernel for the CPU backend.

``escape_trials`` runs a block of trials in parallel (``prange``), each trial
drawing from its own counter-based stream and writing only its own row of the
outputs, so results do not depend on the thread count or on how trials are
split into blocks.  Inputs are validated by :func:`saddle.kernels.run_trials`;
nothing here checks arguments.

``run_trial`` and ``escape_trials`` are one template for every objective:
``specialise`` binds the template's objective hooks (``objective_value``,
``gradient``, ``block_size``, ``random_start_hook``) to one objective's
:class:`~saddle.objectives.base.KernelHooks` and compiles
``escape_trials_<name>``; ``kernel_for`` memoises the compiled kernels.  An
objective's parameters enter as three plain arrays (floats ``pf``, a matrix
``pa``, ints ``pi``) that it packs for itself (``kernel_params``); the
optimiser, the criterion and the start are codes and floats.  So each
objective has exactly one compiled specialisation (two with the sgd-only one),
cached on disk, and a run compiles only the objective it uses.  Nothing here
names an objective.
"""

import math
import types

import numba
import numpy as np
from numba import prange

from saddle import rng
from saddle._numba import JIT_OPTIONS, cache_enabled, inline_njit, njit
from saddle.manifolds import SPHERE
from saddle.optimizers import CNC_PGD, GD, MOMENTUM, NOISY_SGD, PGD, PO, SGD

ESCAPED, CENSORED, DIVERGED, FROZEN = 0, 1, 2, 3
"""Per-trial status codes.  FROZEN: gd (constant step) reached an exact fixed point of its float64
iteration, u_t == u_{t-1} bit for bit, before escaping; every later step would repeat it, so the trial
can never escape (e.g. the octopus once its waiting coordinates underflow, SPEC 2.4)."""


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


@inline_njit
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


@inline_njit
def _riemannian(sphere, bs, u, g, out):
    """out = g - (u_b . g_b) u_b on each sphere block b (out = g on R^d); returns ||out||."""
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
def _retract(sphere, bs, u, v, scale):
    """u <- R_u(scale v): u + scale v, then each sphere block normalised (nothing on R^d)."""
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


# The template's objective hooks, bound for each objective by ``specialise``, and the optimiser
# code it may fix at compile time (-1: the ``optimizer`` argument decides).
objective_value = gradient = block_size = random_start_hook = None
lane_value = lane_gradient = None
FIXED_OPTIMIZER = -1
LANES_BELOW_M = 0
"""sgd runs with m below this run in lockstep (``run_lanes``); bound by ``specialise`` from the hooks,
0 in a kernel compiled without lanes."""
LANE_GROUP = 64
"""Trials per lockstep group: one ``prange`` iteration runs them TRIAL_LANES at a time, a lane that
finishes taking the group's next trial."""


def start_point(objective, sphere, bs, pf, pa, pi, key0, key1, m, random_start, start, noise, x, block):
    """The trial's start, into ``start`` (which holds u0): unchanged for random_start = 0, the
    objective's own random start for inf, u0 moved by random_start along a uniform tangent direction
    otherwise; both from the START stream of the trial (key (key0, key1))."""
    d = start.shape[0]
    if math.isinf(random_start):  # the objective's own random start
        random_start_hook(objective, sphere, bs, pf, pa, pi, key0, key1, m, start, noise, block)
    elif random_start > 0.0:  # u0 moved by random_start along a uniform tangent direction (START stream)
        rng.fill_normals(key0, key1, 0, m, rng.START, noise, block)  # the d normals of step 0
        _riemannian(sphere, bs, start, noise, x)
        norm = 0.0
        for k in range(d):
            norm += x[k] * x[k]
        _retract(sphere, bs, start, x, random_start / math.sqrt(norm))


def run_lanes(
    row0,
    row1,
    trial0,
    seed,
    u0,
    objective,
    manifold,
    pf,
    pa,
    pi,
    m,
    eta,
    po,
    delta,
    radius,
    target,
    random_start,
    max_steps,
    steps,
    status,
    final_f,
    drop_steps,
    final_u,
):
    """sgd for the trials of rows row0 .. row1 - 1 (trial trial0 + row), TRIAL_LANES at a time in
    lockstep: lane r of (d, TRIAL_LANES) arrays holds one trial at its own step, and a lane whose trial
    ends takes the next one.  The objective's lane hooks compute every lane's gradient and f in loops
    over lanes that vectorise; each lane's arithmetic, random numbers and stopping rule are those of
    ``run_trial`` for its trial (sgd, no recording, no batch size after the drop), so the outputs are
    the same bit for bit (tests/test_lanes.py).  Lanes left without a trial at the end keep stepping
    on their last state until the others finish; nothing of theirs is written.
    """
    d = u0.shape[0]
    L = rng.TRIAL_LANES
    U = np.empty((d, L))
    S = np.empty((d, L))  # each lane's start
    G = np.empty((d, L))
    P = np.empty((d, L))
    Z = np.empty((d, L))
    X = np.empty((d, L))
    V = np.empty((4, L))
    F = np.empty(L)
    F0 = np.empty(L)
    ug = np.empty(L)
    norm2 = np.empty(L)
    scale = np.empty(L)
    words = np.empty((4, L), dtype=np.uint64)
    keys = np.zeros(L, dtype=np.uint64)
    ts = np.zeros(L, dtype=np.uint64)
    T = np.zeros(L, dtype=np.int64)
    row = np.full(L, -1, dtype=np.int64)
    dropped = np.zeros(L, dtype=np.int64)
    start = np.empty(d)
    noise = np.empty(d)
    x = np.empty(d)
    block = np.empty(4, dtype=np.uint64)
    key0 = np.uint64(seed)
    sphere = manifold == SPHERE
    bs = block_size(objective, d, pi)
    lr_decay = po[PO.LR_DECAY]
    keep_u = final_u.shape[0] > 0
    for r in range(L):
        row[r] = -2  # -2: takes the group's next trial at the top of the next step; -1: idle
    nxt = row0
    live = 0
    while True:
        for r in range(L):  # lanes whose trial ended take the group's next one (one place: compiled once)
            if row[r] != -2:
                continue
            trial = trial0 + row0  # (an idle lane steps from the group's first start; nothing is written)
            row[r] = -1
            if nxt < row1:
                trial = trial0 + nxt
                row[r] = nxt
                nxt += 1
                live += 1
            for k in range(d):
                start[k] = u0[k]
            start_point(
                objective, sphere, bs, pf, pa, pi, key0, np.uint64(trial), m, random_start, start, noise, x, block
            )
            for k in range(d):
                U[k, r] = start[k]
                S[k, r] = start[k]
            F0[r] = objective_value(objective, start, pf, pa, pi, x)
            keys[r] = np.uint64(trial)
            T[r] = 0
            dropped[r] = 0
        if live == 0:
            break
        for r in range(L):
            T[r] += 1
            ts[r] = np.uint64(T[r])
            step = eta / (1.0 + T[r] / lr_decay) if lr_decay > 0.0 else eta
            scale[r] = -step
        lane_gradient(objective, U, pf, pa, pi, key0, keys, ts, m, Z, X, V, words, G)
        for lo in range(0, d, bs):  # p = g - (u.g) u on each sphere block (p = g on R^d), as _riemannian
            for r in range(L):
                ug[r] = 0.0
            if sphere:
                for k in range(lo, lo + bs):
                    for r in range(L):
                        ug[r] += U[k, r] * G[k, r]
            for k in range(lo, lo + bs):
                for r in range(L):
                    P[k, r] = G[k, r] - ug[r] * U[k, r]
        for lo in range(0, d, bs):  # u <- R_u(-step p), as _retract
            for r in range(L):
                norm2[r] = 0.0
            for k in range(lo, lo + bs):
                for r in range(L):
                    U[k, r] = U[k, r] + scale[r] * P[k, r]
                    norm2[r] += U[k, r] * U[k, r]
            if sphere:
                for r in range(L):
                    norm2[r] = 1.0 / math.sqrt(norm2[r])
                for k in range(lo, lo + bs):
                    for r in range(L):
                        U[k, r] *= norm2[r]
        lane_value(objective, U, pf, pa, pi, X, V, F)
        for r in range(L):  # each lane's stopping rule, as run_trial's
            if row[r] < 0:
                continue
            t = T[r]
            f = F[r]
            code = -1
            if not math.isfinite(f):
                code = DIVERGED
            else:
                if dropped[r] == 0 and f <= F0[r] - delta:
                    dropped[r] = t
                if math.isfinite(target):
                    if f <= target:
                        code = ESCAPED
                elif radius > 0.0:
                    dist2 = 0.0
                    for k in range(d):
                        dist2 += (U[k, r] - S[k, r]) ** 2
                    if dist2 >= radius * radius:
                        code = ESCAPED
                elif dropped[r] == t:
                    code = ESCAPED
                if code < 0 and t == max_steps:
                    code = CENSORED
            if code < 0:
                continue
            out = row[r]
            steps[out] = t
            status[out] = code
            final_f[out] = f
            drop_steps[out] = dropped[r]
            if keep_u:
                for k in range(d):
                    final_u[out, k] = U[k, r]
            live -= 1
            row[r] = -2 if nxt < row1 else -1  # the group's next trial, at the top of the next step


def run_trial(
    trial,
    seed,
    u0,
    objective,
    manifold,
    pf,
    pa,
    pi,
    optimizer,
    m,
    eta,
    po,
    delta,
    radius,
    target,
    random_start,
    max_steps,
    rec_row,
    record,
    u,
):
    """One trajectory from u0; returns (steps, status, final_f, rec_count, rec_stride, drop_step).

    ``po`` holds the optimiser's parameters: [sigma_iso, momentum, perturbation
    radius r, gradient threshold g_thres, t_thres, cnc step size, lr decay
    t0, batch size after the drop].  With t0 > 0 the step size is
    eta / (1 + t / t0) at step t; with a batch size after the drop, every step
    after the first f(u_t) <= f(u_0) - delta draws that many samples (drop_step
    is that first step, 0 if it never came).  Per step t
    (SPEC section 3), with p the Riemannian gradient (g - (u.g) u on each
    sphere block, g on R^d) of the mini-batch gradient (sgd, noisy-sgd,
    momentum) or of the exact one (gd, pgd, cnc-pgd):

    - sgd, gd: u <- R_u(-eta p), R the retraction (normalise each sphere block);
    - noisy-sgd: p <- p + sigma_iso xi, xi uniform on the tangent unit sphere;
    - momentum (heavy ball): v <- beta v + p, u <- R_u(-eta v), then v is
      projected onto the new tangent space;
    - pgd (Jin et al. 2017): when ||p|| <= g_thres and more than t_thres steps
      passed since the last perturbation, u <- R_u(xi), xi uniform in the
      tangent ball of radius r, before the gradient step;
    - cnc-pgd (Daneshmand et al. 2018): under the same condition, one
      mini-batch step of step size ``cnc step`` replaces the gradient step.

    Escape is the first t >= 1 with f(u_t) <= f(u_0) - delta, or, when
    radius > 0, with ||u_t - u_0|| >= radius, or, when target is finite, with
    f(u_t) <= target (SPEC section 4); a non-finite f is a divergence.
    ``random_start`` = inf starts the trial at the objective's own random
    point (its ``random_start`` hook: uniform on each sphere block, or in the
    box [-1, 1]^d on R^d, for most) instead of u0; 0 < random_start < inf
    starts it at R_{u0}(r xi), r = random_start, xi uniform on the tangent unit
    sphere; both drawn from the START stream.
    gd with a constant step size whose step leaves u unchanged bit for bit is
    at an exact fixed point: the trial ends FROZEN at that step.  ``u`` (length
    d) receives the final point.  Gradient functions receive GD when the exact
    gradient is wanted and SGD for a mini-batch.
    """
    if FIXED_OPTIMIZER >= 0:  # a compile-time constant (see ``specialise``)
        optimizer = FIXED_OPTIMIZER
    d = u0.shape[0]
    start = u0.copy()  # (objective_value, gradient, block_size and random_start_hook are bound by ``specialise``)
    g = np.empty(d)
    p = np.empty(d)
    z = np.empty(d)
    x = np.empty(d)
    noise = np.empty(d)
    velocity = np.zeros(d)
    block = np.empty(4, dtype=np.uint64)
    key0 = np.uint64(seed)
    key1 = np.uint64(trial)
    sphere = manifold == SPHERE
    bs = block_size(objective, d, pi)
    start_point(objective, sphere, bs, pf, pa, pi, key0, key1, m, random_start, start, noise, x, block)
    for k in range(d):
        u[k] = start[k]
    tangent_dim = d - d // bs if sphere else d
    sigma_iso, beta, r_ball = po[PO.SIGMA_ISO], po[PO.MOMENTUM], po[PO.PERTURBATION_RADIUS]
    g_thres, t_thres, eta_cnc = po[PO.GRAD_THRESHOLD], po[PO.T_THRESHOLD], po[PO.CNC_ETA]
    lr_decay, m_after = po[PO.LR_DECAY], np.int64(po[PO.BATCH_AFTER_DROP])
    dropped = 0
    exact = optimizer == GD or optimizer == PGD or optimizer == CNC_PGD
    can_freeze = optimizer == GD and lr_decay <= 0.0  # deterministic with a constant step: a fixed point is final
    previous = np.empty(d if can_freeze else 0)
    t_noise = -(1 << 62)
    f0 = objective_value(objective, u, pf, pa, pi, z)
    count, stride = 0, 1
    if record:
        count, stride = _record(rec_row, count, stride, 0, f0)
    f = f0
    for t in range(1, max_steps + 1):
        if dropped > 0 and m_after > 0:
            m = m_after
        step = eta / (1.0 + t / lr_decay) if lr_decay > 0.0 else eta
        gradient(objective, GD if exact else SGD, u, pf, pa, pi, key0, key1, t, m, step, z, x, block, g)
        grad_norm = _riemannian(sphere, bs, u, g, p)
        if (optimizer == PGD or optimizer == CNC_PGD) and grad_norm <= g_thres and t - t_noise > t_thres:
            t_noise = t
            if optimizer == PGD:  # u <- R_u(xi), xi uniform in the tangent ball of radius r
                _tangent_noise(manifold, bs, u, key0, key1, t, m, noise, block)
                rng.stream_block(key0, key1, t, m, rng.PERTURB, 0, block)
                r_drawn = r_ball * rng.open_uniform(rng.double_word(block, 0)) ** (1.0 / tangent_dim)
                _retract(sphere, bs, u, noise, r_drawn)
                gradient(objective, GD, u, pf, pa, pi, key0, key1, t, m, step, z, x, block, g)
            else:  # one mini-batch step of the larger step size
                step = eta_cnc
                gradient(objective, SGD, u, pf, pa, pi, key0, key1, t, m, step, z, x, block, g)
            _riemannian(sphere, bs, u, g, p)
        if optimizer == NOISY_SGD:
            _tangent_noise(manifold, bs, u, key0, key1, t, m, noise, block)
            for k in range(d):
                p[k] += sigma_iso * noise[k]
        if optimizer == MOMENTUM:
            for k in range(d):
                velocity[k] = beta * velocity[k] + p[k]
            _retract(sphere, bs, u, velocity, -step)
            _riemannian(sphere, bs, u, velocity, x)  # transport: project onto the new tangent space
            for k in range(d):
                velocity[k] = x[k]
        else:
            if can_freeze:
                for k in range(d):
                    previous[k] = u[k]
            _retract(sphere, bs, u, p, -step)
        f = objective_value(objective, u, pf, pa, pi, z)
        if not math.isfinite(f):
            return t, DIVERGED, f, count, stride, dropped
        if record:
            count, stride = _record(rec_row, count, stride, t, f)
        if dropped == 0 and f <= f0 - delta:
            dropped = t
        if math.isfinite(target):
            if f <= target:
                return t, ESCAPED, f, count, stride, dropped
        elif radius > 0.0:
            dist2 = 0.0
            for k in range(d):
                dist2 += (u[k] - start[k]) ** 2
            if dist2 >= radius * radius:
                return t, ESCAPED, f, count, stride, dropped
        elif dropped == t:
            return t, ESCAPED, f, count, stride, dropped
        if can_freeze:
            moved = False
            for k in range(d):
                if u[k] != previous[k]:
                    moved = True
                    break
            if not moved:
                return t, FROZEN, f, count, stride, dropped
    return max_steps, CENSORED, f, count, stride, dropped


def escape_trials(
    trial0,
    seed,
    u0,
    objective,
    manifold,
    pf,
    pa,
    pi,
    optimizer,
    m,
    eta,
    po,
    delta,
    radius,
    target,
    random_start,
    max_steps,
    steps,
    status,
    final_f,
    drop_steps,
    final_u,
    rec_f,
    rec_count,
    rec_stride,
):
    """Run trials trial0 .. trial0 + len(steps) - 1, writing row r of each output.

    Trials whose global index is below rec_f.shape[0] also record f(u_t);
    drop_steps receives each trial's first step with f <= f(u_0) - delta (0: none);
    final_u (n x d, or 0 x d when not wanted) receives the final points.  Each trial runs alone
    (``run_trial``), except in a kernel compiled with lanes (LANES_BELOW_M > 0, sgd): with m below it,
    no batch size after the drop and max_steps >= 1, the trials that are not recorded run in groups of
    LANE_GROUP, TRIAL_LANES at a time in lockstep (``run_lanes``).  One ``prange`` over both kinds of
    work.
    """
    n = steps.shape[0]
    first, groups = n, 0
    if m < LANES_BELOW_M and po[PO.BATCH_AFTER_DROP] <= 0.0 and max_steps >= 1:
        first = min(n, max(0, rec_f.shape[0] - trial0))  # recorded trials run alone (run_trial records)
        groups = (n - first + LANE_GROUP - 1) // LANE_GROUP
    for i in prange(first + groups):
        if i < first:
            _one_trial(
                i,
                trial0,
                seed,
                u0,
                objective,
                manifold,
                pf,
                pa,
                pi,
                optimizer,
                m,
                eta,
                po,
                delta,
                radius,
                target,
                random_start,
                max_steps,
                steps,
                status,
                final_f,
                drop_steps,
                final_u,
                rec_f,
                rec_count,
                rec_stride,
            )
        else:
            lo = first + (i - first) * LANE_GROUP
            run_lanes(
                lo,
                min(n, lo + LANE_GROUP),
                trial0,
                seed,
                u0,
                objective,
                manifold,
                pf,
                pa,
                pi,
                m,
                eta,
                po,
                delta,
                radius,
                target,
                random_start,
                max_steps,
                steps,
                status,
                final_f,
                drop_steps,
                final_u,
            )


def _one_trial(
    r,
    trial0,
    seed,
    u0,
    objective,
    manifold,
    pf,
    pa,
    pi,
    optimizer,
    m,
    eta,
    po,
    delta,
    radius,
    target,
    random_start,
    max_steps,
    steps,
    status,
    final_f,
    drop_steps,
    final_u,
    rec_f,
    rec_count,
    rec_stride,
):
    """Row r of escape_trials's outputs: trial trial0 + r by ``run_trial``, recording f if the trial
    is among the first rec_f.shape[0]."""
    trial = trial0 + r
    record = trial < rec_f.shape[0]
    row = rec_f[trial] if record else rec_f[0:0].reshape(0)
    u = final_u[r] if final_u.shape[0] > 0 else np.empty(u0.shape[0])
    s, st, ff, c, stride, dropped = run_trial(
        trial,
        seed,
        u0,
        objective,
        manifold,
        pf,
        pa,
        pi,
        optimizer,
        m,
        eta,
        po,
        delta,
        radius,
        target,
        random_start,
        max_steps,
        row,
        record,
        u,
    )
    drop_steps[r] = dropped
    steps[r] = s
    status[r] = st
    final_f[r] = ff
    if record:
        rec_count[trial] = c
        rec_stride[trial] = stride


def _no_lanes(*args):
    """Bound as ``run_lanes`` in a kernel compiled without lanes: never called."""


def specialise(hooks, cache=True, optimizer=-1, lanes=False):
    """The escape kernel for one objective: ``escape_trials`` and ``run_trial`` with their calls to
    ``objective_value``, ``gradient``, ``block_size`` and ``random_start_hook`` bound to the
    objective's :class:`~saddle.objectives.base.KernelHooks`.

    One source serves every objective; each objective compiles only its own code (the cold main job
    compiles the spike alone), and each kernel is cached on disk under its own name (``hooks.name``).
    With an ``optimizer`` code the kernel runs that optimiser only (its ``optimizer`` argument is
    ignored): the code is then a compile-time constant and the other optimisers' branches are compiled
    out, which takes a third off a step at m = 1 (docs/performance.md).  With ``lanes`` (sgd, and hooks
    with lane hooks) small-m trials run in lockstep (``run_lanes``).
    """
    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
    cache = cache and cache_enabled()  # no writable cache folder: compile without the disk cache
    name = hooks.name + ("_sgd" if optimizer == SGD else "")

    def rebind(func, qualname, **names):
        glb = dict(func.__globals__)
        glb.update(names)
        copy = types.FunctionType(func.__code__, glb, qualname, func.__defaults__, func.__closure__)
        copy.__qualname__ = qualname
        return copy

    jit = numba.njit(cache=cache, **options)
    inline = numba.njit(inline="always", **options)  # (inlined at Numba's IR level: no call, no compile of its own)
    start = inline(rebind(start_point, f"start_point_{hooks.name}", random_start_hook=hooks.random_start))
    run = jit(
        rebind(
            run_trial,
            f"run_trial_{name}",
            objective_value=hooks.value,
            gradient=hooks.gradient,
            block_size=hooks.block_size,
            start_point=start,
            FIXED_OPTIMIZER=optimizer,
        )
    )
    one = inline(rebind(_one_trial, f"one_trial_{name}", run_trial=run))
    lanes_below_m = hooks.lanes_below_m if lanes and optimizer == SGD and hooks.lane_gradient is not None else 0
    parallel = numba.njit(parallel=True, cache=cache, **options)
    if lanes_below_m == 0:  # (run_lanes is then never called: a stub keeps the kernel's compile small)
        stub = jit(rebind(_no_lanes, f"no_lanes_{hooks.name}"))
        return parallel(rebind(escape_trials, f"escape_trials_{name}", _one_trial=one, run_lanes=stub))
    lanes = jit(
        rebind(
            run_lanes,
            f"run_lanes_{hooks.name}",
            objective_value=hooks.value,
            lane_value=hooks.lane_value,
            lane_gradient=hooks.lane_gradient,
            block_size=hooks.block_size,
            start_point=start,
        )
    )
    return parallel(
        rebind(
            escape_trials,
            f"escape_trials_lanes_{name}",
            _one_trial=one,
            run_lanes=lanes,
            LANES_BELOW_M=lanes_below_m,
        )
    )


_KERNELS: dict = {}


def kernel_for(hooks, optimizer, cache=True, lanes=False):
    """The compiled kernel of an objective's hooks for an optimiser code (memoised per process; the
    sgd-specialised kernel for sgd, the generic one for every other optimiser; for sgd with ``lanes``,
    the one that runs small-m trials in lockstep)."""
    fixed = SGD if optimizer == SGD else -1
    lanes = bool(lanes) and fixed == SGD and hooks.lane_gradient is not None
    key = (hooks, fixed, cache, lanes)
    if key not in _KERNELS:
        _KERNELS[key] = specialise(hooks, cache=cache, optimizer=fixed, lanes=lanes)
    return _KERNELS[key]
