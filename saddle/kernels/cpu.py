"""The fused Numba escape kernel for the CPU backend: one template for every objective and optimiser.

``escape_rows`` runs a range of trials, each drawing from its own counter-based stream and writing
only its own row of the outputs; :func:`run_parallel` splits the trials over threads (the compiled
kernels release the GIL), so results do not depend on the thread count or on how trials are split.
Inputs are validated by :func:`saddle.kernels.run_trials`; nothing here checks arguments.

``run_trial`` is the template of one trial: the start, then per step the schedules, the optimiser's
step, f, and the escape criterion (docs/escape.md).  ``specialise`` binds its hooks at compile
time: the objective's (:class:`~saddle.objectives.base.KernelHooks`: ``objective_value``,
``block_size``, ``random_start_hook``, and the ``gradient`` that the optimiser's step calls) and the
optimiser's (:class:`~saddle.optimizers.base.Optimizer`: ``optimizer_step`` and the size of its
state), and compiles ``escape_rows_<objective>_<optimizer>``; ``kernel_for`` memoises the compiled
kernels.  So the template carries no branch on the objective or the optimiser, each (objective,
optimiser) pair a run uses has exactly one compiled specialisation, cached on disk, and a run
compiles only the pair it uses.

The run's scalars (seed, batch size, step size, criterion, start, limits, schedules and the
optimiser's options) reach the kernel as one record with named fields (``run``,
:func:`saddle.kernels.record.run_record`); the objective's parameters as its three packed arrays
(``pf``, ``pa``, ``pi``); the outputs as one :class:`TrialOutputs` of arrays.
"""

import contextlib
import dataclasses
import math
import sys
import types
from collections import namedtuple
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numba
import numpy as np
from numba.core import cgutils
from numba.extending import intrinsic

from saddle import rng
from saddle._numba import JIT_OPTIONS, cache_enabled, inline_njit, njit
from saddle.manifolds import SPHERE
from saddle.optimizers.base import Optimizer, Trial, unbound_hook
from saddle.optimizers.geometry import retract, riemannian
from saddle.schedules.trigger import DROP, LEVEL, NEVER, START, STEP

ESCAPED, CENSORED, DIVERGED, FROZEN = 0, 1, 2, 3
"""Per-trial status codes.  FROZEN: the optimiser reached an exact fixed point of its float64
iteration (gd with a constant step: u_t == u_{t-1} bit for bit) before escaping; every later step would
repeat it, so the trial can never escape (e.g. the octopus once its waiting coordinates underflow,
Du et al. 2017)."""

TrialOutputs = namedtuple(
    "TrialOutputs", "steps status final_f drop_steps switch_steps final_u rec_f rec_count rec_stride stop"
)
"""The kernel's outputs, one entry (row) per trial of the block: ``steps`` (int64: the escape step,
max_steps if censored, the step of divergence or of freezing), ``status`` (int8), ``final_f``,
``drop_steps`` (int64: the first step with f <= f(u_0) - delta, 0 if none), ``switch_steps`` (int64:
the step after which the schedule switched the batch size, 0 if it did not), ``final_u`` (n x d, or
0 x d when not wanted), the recorder's ``rec_f`` (f(u_t) of the experiment's first rec_f.shape[0]
trials), ``rec_count`` and ``rec_stride`` (indexed by the global trial index), and ``stop`` (int64, one
entry): the kernel polls it every step and returns early once it is not 0 (:func:`run_parallel` sets
it on Ctrl-C); the rows of a stopped call are then not results."""


@inline_njit
def _record(rec_row: np.ndarray, count: int, stride: int, t: int, value: float) -> tuple[int, int]:
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
def fired_at(kind: int, value: float, t: int, f: float, dropped: int) -> int:
    """The step a schedule's trigger (saddle.schedules.trigger) fires at, seen at the end of step t
    with f = f(u_t) and the f-drop's step ``dropped`` (0: none yet), or -1 while it has not fired.
    Called only while a trigger waits (a function of its own, compiled once: not inlined)."""
    if kind == START:
        return t
    if kind == DROP and dropped > 0:
        return dropped
    if kind == STEP and t >= value:
        return t
    if kind == LEVEL and f <= value:
        return t
    return -1


@njit
def scheduled_eta(decay: int, a: float, b: float, eta: float, tau: int) -> float:
    """The step size tau >= 1 steps after the step-size rule's trigger fired (saddle.schedules; the run
    record's decay, decay_a, decay_b): eta / (1 + tau / t0) for inverse time (decay 1, a = t0), eta x
    gamma^floor(tau / every) for step decay (decay 2, a = every, b = gamma); eta when there is no rule.
    Called only while a rule acts (a function of its own, compiled once: not inlined into every kernel)."""
    if decay == 1:
        return eta / (1.0 + tau / a)
    if decay == 2:
        return eta * math.pow(b, float(tau // int(a)))
    return eta


# The template's hooks, bound for each (objective, optimiser) by ``specialise``.
objective_value: Callable[..., Any] = unbound_hook
block_size: Callable[..., Any] = unbound_hook
scratch_words: Callable[..., Any] = unbound_hook
random_start_hook: Callable[..., Any] = unbound_hook
lane_value: Callable[..., Any] = unbound_hook
lane_gradient: Callable[..., Any] = unbound_hook
lane_scratch_rows: Callable[..., Any] = unbound_hook
optimizer_step: Callable[..., Any] = unbound_hook
objective_gradient_hook: Callable[..., Any] = unbound_hook
STATE_VECTORS = STATE_SCALARS = 0
"""The optimiser's state: vectors of the state's length and numbers (bound by ``specialise``)."""
LANES_BELOW_M = 0
"""Runs with m below this run in lockstep (``run_lanes``); bound by ``specialise`` for an optimiser that
has lanes and hooks with lane hooks, 0 in a kernel compiled without lanes."""
LANE_GROUP = 64
"""The granularity of :func:`run_parallel`'s chunks of trials (a multiple of TRIAL_LANES)."""


def objective_gradient(tr: Any, kind: int, u: np.ndarray, t: int, m: int, eta: float) -> None:
    """Into tr.g: the objective's gradient at u (``kind``: EXACT_GRADIENT, or MINIBATCH_GRADIENT for the
    mean of the m per-sample gradients of step t) - the ``gradient`` an optimiser's step calls, bound
    to the objective's hook (``objective_gradient_hook``) by ``specialise``."""
    objective_gradient_hook(
        tr.objective, kind, u, tr.pf, tr.pa, tr.pi, tr.key0, tr.key1, t, m, eta, tr.z, tr.x, tr.block, tr.g
    )


def start_point(tr: Any, random_start: float, m: int, start: np.ndarray) -> None:
    """The trial's start, into ``start`` (which holds u0): unchanged for random_start = 0, the
    objective's own random start for inf, u0 moved by random_start along a uniform tangent direction
    otherwise; both from the START stream of the trial (key (tr.key0, tr.key1))."""
    d = start.shape[0]
    if math.isinf(random_start):  # the objective's own random start
        random_start_hook(
            tr.objective, tr.sphere, tr.bs, tr.pf, tr.pa, tr.pi, tr.key0, tr.key1, m, start, tr.noise, tr.block
        )
    elif random_start > 0.0:  # u0 moved by random_start along a uniform tangent direction (START stream)
        rng.fill_normals(tr.key0, tr.key1, 0, m, rng.START, tr.noise, tr.block)  # the d normals of step 0
        riemannian(tr.sphere, tr.bs, start, tr.noise, tr.x)
        norm = 0.0
        for k in range(d):
            norm += tr.x[k] * tr.x[k]
        retract(tr.sphere, tr.bs, start, tr.x, random_start / math.sqrt(norm))


@intrinsic
def _borrowed(typingctx: Any, ary: Any) -> Any:
    """A view of the array ``ary`` that holds no reference to its memory (no meminfo): Numba counts no
    references on it, so a loop that passes it to inlined functions does no atomic increments and
    decrements.  The caller must keep ``ary``'s owner alive while the view is used (:func:`keep_alive`)."""
    if not isinstance(ary, numba.types.Array):
        return None
    sig = ary(ary)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        view = cgutils.create_struct_proxy(signature.return_type)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return sig, codegen


@intrinsic
def _keep_alive(typingctx: Any, owners: Any) -> Any:
    """Nothing, but ``owners`` is used here: what it holds lives at least until this call."""
    sig = numba.types.none(owners)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return context.get_dummy_value()

    return sig, codegen


borrowed: Callable[[np.ndarray], np.ndarray] = _borrowed  # type: ignore[assignment]  # (typingctx is Numba's)
keep_alive: Callable[[Any], None] = _keep_alive  # type: ignore[assignment]


def run_trial(
    r: int, trial0: int, u0: np.ndarray, run: Any, pf: np.ndarray, pa: np.ndarray, pi: np.ndarray, out: Any
) -> None:
    """Trial trial0 + r, one trajectory from u0, into row r of the outputs ``out`` (a
    :class:`TrialOutputs`); f(u_t) is recorded when the trial is among the first out.rec_f.shape[0].

    ``run`` is the run's record (:mod:`saddle.kernels.record`: seed, objective, manifold, m, eta, delta,
    radius, target, random_start, max_steps, the schedule's fields and the optimiser's options).  Per
    step t (docs/escape.md): the batch size m_after once the schedule's batch trigger has fired (else
    m), the step size ``scheduled_eta`` tau = t - t_s steps after its step-size trigger fired at t_s
    (else eta); the optimiser's step (``optimizer_step``, bound by ``specialise``); f(u_t); then the
    triggers (``fired_at``).  A trigger fired at the end of step t_s acts from step t_s + 1.

    Escape is the first t >= 1 with f(u_t) <= f(u_0) - delta, or, when radius > 0, with
    ||u_t - u_0|| >= radius, or, when target is finite, with f(u_t) <= target (docs/escape.md); a
    non-finite f is a divergence; a step the optimiser reports as an exact fixed point ends the trial
    FROZEN.  With a budget (run.budget > 0 samples after the f-drop) the f-drop ends no trial: a trial
    ends at the target or radius, or CENSORED once the steps after its f-drop have drawn the budget
    (m x samples_per_m a step).  ``random_start`` = inf starts the trial at the objective's own random point (its
    ``random_start`` hook) instead of u0; 0 < random_start < inf starts it at R_{u0}(r xi),
    r = random_start, xi uniform on the tangent unit sphere; both drawn from the START stream.
    """
    trial = trial0 + r
    record = trial < out.rec_f.shape[0]
    rec_row = out.rec_f[trial] if record else out.rec_f[0:0].reshape(0)
    d = u0.shape[0]
    # The trial's arrays, each its own allocation (the compiler then knows they alias nothing), owned here
    # (``owned``: freed when the trial ends) and used through views that count no references
    # (``borrowed``), so that the hooks inlined into the step loop do no atomic reference counting.
    owned = (
        np.empty(d),
        np.empty(d),
        np.empty(d),
        np.empty(d),
        np.empty(d),
        np.empty(d),
        np.empty(d),
        np.zeros(STATE_VECTORS * d + STATE_SCALARS),
        np.empty(scratch_words(run.objective, d, pi), dtype=np.uint64),
    )
    u = borrowed(owned[0])  # (its own array, not a row of out.final_u: it aliases no scratch)
    start = borrowed(owned[1])
    for k in range(d):
        start[k] = u0[k]
    tr = Trial(
        run.objective,
        run.manifold == SPHERE,
        block_size(run.objective, d, pi),
        borrowed(pf),
        borrowed(pa),
        borrowed(pi),
        np.uint64(run.seed),
        np.uint64(trial),
        borrowed(owned[2]),
        borrowed(owned[3]),
        borrowed(owned[4]),
        borrowed(owned[5]),
        borrowed(owned[6]),
        borrowed(owned[8]),
    )
    pf, pa, pi = tr.pf, tr.pa, tr.pi
    m = run.m
    start_point(tr, run.random_start, m, start)
    for k in range(d):
        u[k] = start[k]
    state = borrowed(owned[7])  # the optimiser's state, zeros
    eta, budget, per_m = run.eta, run.budget, run.samples_per_m
    decay, decay_a, decay_b = run.decay, run.decay_a, run.decay_b
    delta, radius, target, max_steps = run.delta, run.radius, run.target, run.max_steps
    dropped, spent = 0, 0
    f0 = objective_value(run.objective, u, pf, pa, pi, tr.z)
    m_fired = fired_at(run.m_trigger, run.m_trigger_value, 0, f0, 0)
    eta_fired = fired_at(run.eta_trigger, run.eta_trigger_value, 0, f0, 0)
    count, stride = 0, 1
    if record:
        count, stride = _record(rec_row, count, stride, 0, f0)
    f = f0
    steps, status = max_steps, CENSORED
    for t in range(1, max_steps + 1):
        if out.stop[0] != 0:  # Ctrl-C: this call's rows are discarded
            break
        if m_fired >= 0 and run.m_after > 0:
            m = run.m_after
        step = eta if eta_fired < 0 or decay == 0 else scheduled_eta(decay, decay_a, decay_b, eta, t - eta_fired)
        if dropped > 0:
            spent += m * per_m
        frozen = optimizer_step(run, tr, t, m, step, u, state)
        f = objective_value(run.objective, u, pf, pa, pi, tr.z)
        if not math.isfinite(f):
            steps, status = t, DIVERGED
            break
        if record:
            count, stride = _record(rec_row, count, stride, t, f)
        if dropped == 0 and f <= f0 - delta:
            dropped = t
        if m_fired < 0 and run.m_trigger != NEVER:
            m_fired = fired_at(run.m_trigger, run.m_trigger_value, t, f, dropped)
        if eta_fired < 0 and run.eta_trigger != NEVER:
            eta_fired = fired_at(run.eta_trigger, run.eta_trigger_value, t, f, dropped)
        escaped = False
        if math.isfinite(target):
            escaped = f <= target
        elif radius > 0.0:
            dist2 = 0.0
            for k in range(d):
                dist2 += (u[k] - start[k]) ** 2
            escaped = dist2 >= radius * radius
        elif budget == 0:
            escaped = dropped == t
        if escaped:
            steps, status = t, ESCAPED
            break
        if budget > 0 and spent >= budget:
            steps, status = t, CENSORED
            break
        if frozen:
            steps, status = t, FROZEN
            break
    if out.final_u.shape[0] > 0:
        for k in range(d):
            out.final_u[r, k] = u[k]
    out.drop_steps[r] = dropped
    out.switch_steps[r] = max(m_fired, 0) if run.m_after > 0 else 0
    out.steps[r] = steps
    out.status[r] = status
    out.final_f[r] = f
    if record:
        out.rec_count[trial] = count
        out.rec_stride[trial] = stride
    keep_alive(owned)  # (the borrowed views above are used up to here)


@inline_njit
def lanes_schedule(run: Any) -> bool:
    """Whether the lanes run this schedule: no batch-size rule, no budget, and a step-size rule, if
    any, from the start (``run_lanes`` counts each lane's tau from step 0)."""
    return run.m_trigger == NEVER and run.budget == 0 and (run.eta_trigger == NEVER or run.eta_trigger == START)


def escape_rows(
    lo: int,
    hi: int,
    trial0: int,
    u0: np.ndarray,
    run: Any,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    out: Any,
) -> None:
    """Rows lo .. hi - 1 of the outputs ``out`` (a :class:`TrialOutputs`): trials trial0 + lo .. trial0 +
    hi - 1 (``run``: the run record).

    Each trial runs alone (``run_trial``), except in a kernel compiled with lanes (LANES_BELOW_M > 0):
    with m below it, a schedule the lanes run (``lanes_schedule``) and max_steps >= 1, the trials that are not recorded
    run TRIAL_LANES at a time in lockstep (``run_lanes``), a lane whose trial ends taking the next of the
    rows (one group for all the rows: lanes idle only at the end of the rows).  Every trial writes
    only its own row, and its numbers do not depend on which rows run together, so any split of the
    rows over threads (:func:`run_parallel`) gives the same outputs bit for bit.
    """
    first = hi
    if run.m < LANES_BELOW_M and lanes_schedule(run) and run.max_steps >= 1:
        first = min(hi, max(lo, out.rec_f.shape[0] - trial0))  # recorded trials run alone (run_trial records)
    for r in range(lo, first):
        run_trial(r, trial0, u0, run, pf, pa, pi, out)
    if first < hi:
        run_lanes(first, hi, trial0, u0, run, pf, pa, pi, out)


def run_parallel(kernel: Any, n: int, *args: Any) -> None:
    """``kernel(lo, hi, *args)`` over rows 0 .. n - 1, split into chunks run by Numba's thread count of
    Python threads (the kernel releases the GIL): multiples of LANE_GROUP, about four chunks a thread so
    that the threads finish together.  ``args[-1]`` is the :class:`TrialOutputs`.

    The calling thread only waits, waking every tenth of a second, so that Ctrl-C reaches it at once
    (a thread blocked in a compiled kernel would notice it only when the kernel returns): it then sets
    the outputs' ``stop`` flag, which every running trial polls each step, waits for the chunks to
    return, and raises KeyboardInterrupt."""
    threads = max(1, numba.get_num_threads())
    chunk = n
    if threads > 1 and n > LANE_GROUP:
        chunk = -(-n // (4 * threads))
        chunk = -(-chunk // LANE_GROUP) * LANE_GROUP
    kernel(0, 0, *args)  # no rows: compiles the kernel if need be, here, where Ctrl-C can stop it
    if n == 0:
        return
    stop = args[-1].stop
    pool = ThreadPoolExecutor(max_workers=threads)
    stuck = False
    try:
        jobs = [pool.submit(kernel, lo, min(n, lo + chunk), *args) for lo in range(0, n, chunk)]
        try:
            while wait(jobs, timeout=0.1).not_done:
                pass
        except KeyboardInterrupt:
            stop[0] = 1
            for job in jobs:
                job.cancel()
            stuck = not _wait_for_stop(jobs)
            raise
        for job in jobs:
            job.result()
    finally:
        pool.shutdown(wait=not stuck)


STOP_GRACE = 2.0
"""Seconds a stopped kernel has to return (it polls the stop flag every step) before it is taken for stuck."""

_STUCK: list[Any] = []  # the chunks that did not return after a stop (see kernels_stuck)


def _wait_for_stop(jobs: list[Any]) -> bool:
    """After Ctrl-C: wait for the chunks to see the stop flag; True once they all returned.

    A chunk that has not returned after STOP_GRACE seconds runs code that never reaches the poll
    between steps (a loaded objective's endless loop): one line says so, and a second Ctrl-C stops the
    wait (False), leaving that thread running; :func:`kernels_stuck` then tells the command line to
    exit without waiting for it."""
    if not wait(jobs, timeout=STOP_GRACE).not_done:
        return True
    with contextlib.suppress(OSError, ValueError, AttributeError):  # (stderr closed or gone)
        sys.stderr.write(
            f"saddle: the kernel has not stopped {STOP_GRACE:g} s after Ctrl-C (code that never returns to it, "
            "such as an endless loop in a loaded objective?); press Ctrl-C again to stop without it\n"
        )
        sys.stderr.flush()
    try:
        while wait(jobs, timeout=0.1).not_done:  # (in slices, so that the second Ctrl-C is seen at once)
            pass
    except KeyboardInterrupt:
        _STUCK.extend(job for job in jobs if not job.done())
        return False
    return True


def kernels_stuck() -> bool:
    """Whether a kernel thread left running after a second Ctrl-C is still running (the process cannot
    end normally while it does: Python waits for its threads at exit)."""
    return any(not job.done() for job in _STUCK)


def run_lanes(
    row0: int,
    row1: int,
    trial0: int,
    u0: np.ndarray,
    run: Any,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    out: Any,
) -> None:
    """sgd for the trials of rows row0 .. row1 - 1 (trial trial0 + row), TRIAL_LANES at a time in
    lockstep: lane r of (d, TRIAL_LANES) arrays holds one trial at its own step, and a lane whose trial
    ends takes the next one.  The objective's lane hooks compute every lane's gradient and f in loops
    over lanes that vectorise; each lane's arithmetic, random numbers and stopping rule are those of
    ``run_trial`` with sgd's step for its trial (no recording; schedules as ``lanes_schedule`` allows), so the
    outputs are the same bit for bit (tests/test_lanes.py).  Only an optimiser that declares ``lanes``
    (sgd) is compiled with this path.  Lanes left without a trial at the end keep stepping on their
    last state until the others finish; nothing of theirs is written.
    """
    d = u0.shape[0]
    L = rng.TRIAL_LANES
    # As in run_trial: the arrays are owned here (``owned``) and used through views that count no
    # references (``borrowed``), so that the lane hooks inlined into the step loop count none either.
    owned = (
        (np.empty((d, L)), np.empty((d, L)), np.empty((d, L)), np.empty((d, L)), np.empty((d, L)), np.empty((d, L))),
        (np.empty(L), np.empty(L), np.empty(L), np.empty(L), np.empty(L)),
        (np.zeros(L, dtype=np.int64), np.full(L, -1, dtype=np.int64), np.zeros(L, dtype=np.int64)),
        (np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d)),
        np.empty((4, L)),
        np.empty((lane_scratch_rows(run.objective, d, pi), L), dtype=np.uint64),
        (np.zeros(L, dtype=np.uint64), np.zeros(L, dtype=np.uint64), np.empty(4, dtype=np.uint64)),
    )
    rows2, lanes1, ints1, vecs = owned[0], owned[1], owned[2], owned[3]
    U, S, G = borrowed(rows2[0]), borrowed(rows2[1]), borrowed(rows2[2])  # S: each lane's start
    P, Z, X = borrowed(rows2[3]), borrowed(rows2[4]), borrowed(rows2[5])
    F, F0, ug = borrowed(lanes1[0]), borrowed(lanes1[1]), borrowed(lanes1[2])
    norm2, scale = borrowed(lanes1[3]), borrowed(lanes1[4])
    T, row, dropped = borrowed(ints1[0]), borrowed(ints1[1]), borrowed(ints1[2])
    start, g, p = borrowed(vecs[0]), borrowed(vecs[1]), borrowed(vecs[2])
    z, x, noise = borrowed(vecs[3]), borrowed(vecs[4]), borrowed(vecs[5])
    V, words = borrowed(owned[4]), borrowed(owned[5])
    keys, ts, block = borrowed(owned[6][0]), borrowed(owned[6][1]), borrowed(owned[6][2])
    pf, pa, pi = borrowed(pf), borrowed(pa), borrowed(pi)
    sphere = run.manifold == SPHERE
    bs = block_size(run.objective, d, pi)
    key0 = np.uint64(run.seed)
    m, eta, decaying = run.m, run.eta, run.eta_trigger == START
    delta, radius, target, max_steps = run.delta, run.radius, run.target, run.max_steps
    keep_u = out.final_u.shape[0] > 0
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
            lane = Trial(run.objective, sphere, bs, pf, pa, pi, key0, np.uint64(trial), g, p, z, x, noise, block)
            start_point(lane, run.random_start, m, start)
            for k in range(d):
                U[k, r] = start[k]
                S[k, r] = start[k]
            F0[r] = objective_value(run.objective, start, pf, pa, pi, x)
            keys[r] = np.uint64(trial)
            T[r] = 0
            dropped[r] = 0
        if live == 0 or out.stop[0] != 0:  # (Ctrl-C: this call's rows are discarded)
            break
        for r in range(L):
            T[r] += 1
            ts[r] = np.uint64(T[r])
            step = scheduled_eta(run.decay, run.decay_a, run.decay_b, eta, T[r]) if decaying and run.decay != 0 else eta
            scale[r] = -step
        lane_gradient(run.objective, U, pf, pa, pi, key0, keys, ts, m, Z, X, V, words, G)
        for lo in range(0, d, bs):  # p = g - (u.g) u on each sphere block (p = g on R^d), as riemannian
            for r in range(L):
                ug[r] = 0.0
            if sphere:
                for k in range(lo, lo + bs):
                    for r in range(L):
                        ug[r] += U[k, r] * G[k, r]
            for k in range(lo, lo + bs):
                for r in range(L):
                    P[k, r] = G[k, r] - ug[r] * U[k, r]
        for lo in range(0, d, bs):  # u <- R_u(-step p), as retract
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
        lane_value(run.objective, U, pf, pa, pi, X, V, F)
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
            o = row[r]
            out.steps[o] = t
            out.status[o] = code
            out.final_f[o] = f
            out.drop_steps[o] = dropped[r]
            out.switch_steps[o] = 0
            if keep_u:
                for k in range(d):
                    out.final_u[o, k] = U[k, r]
            live -= 1
            row[r] = -2 if nxt < row1 else -1  # the group's next trial, at the top of the next step
    keep_alive(owned)  # (the borrowed views above are used up to here)


def _no_lanes(*args: Any) -> None:
    """Bound as ``run_lanes`` in a kernel compiled without lanes: never called."""


def _rebind(func: Callable[..., Any], qualname: str, **names: Any) -> Callable[..., Any]:
    """A copy of ``func`` whose global ``names`` are bound to the given values (the template's hooks)."""
    glb = dict(func.__globals__)
    glb.update(names)
    copy = types.FunctionType(func.__code__, glb, qualname, func.__defaults__, func.__closure__)
    copy.__qualname__ = qualname
    return copy


def _checked_hooks(hooks: Any, options: dict[str, Any]) -> Any:
    """``hooks`` with every function that is not saddle's own compiled again with bounds checks: an
    index outside an array in a user's hook (or a kernel_params() shorter than its hooks read) is then an
    IndexError instead of memory read or overwritten at random (a wrong number or a crash).  A helper
    that such a hook calls is not recompiled: its indices are not checked."""
    changes = {}
    for field in dataclasses.fields(hooks):
        func = getattr(hooks, field.name)
        py_func = getattr(func, "py_func", None)
        if py_func is not None and not py_func.__module__.startswith("saddle."):
            changes[field.name] = numba.njit(**{**options, "boundscheck": True})(py_func)
    return dataclasses.replace(hooks, **changes) if changes else hooks


def specialise(
    hooks: Any, optimizer: type[Optimizer], cache: bool = True, lanes: bool = False, checked: bool = False
) -> Any:
    """The escape kernel of one objective and one optimiser: ``escape_rows`` and ``run_trial`` with
    their hooks bound to the objective's :class:`~saddle.objectives.base.KernelHooks` and to the
    optimiser's step (:class:`~saddle.optimizers.base.Optimizer`; the step's ``gradient`` bound to the
    objective's).

    One source serves every pair; each pair compiles only its own code (the cold main job compiles the
    spike with sgd alone), and each kernel is cached on disk under its own name.  The step is inlined
    into the trial at Numba's IR level, so it costs no call and the template no branch.  With ``lanes``
    (an optimiser that declares them, and hooks with lane hooks) small-m trials run in lockstep
    (``run_lanes``).  With ``checked`` (an objective or optimiser that is not saddle's own: its kernel
    is never cached on disk), every index is bounds-checked, the template's and the user's hooks'
    (``_checked_hooks``): a read or write outside an array raises IndexError.
    """
    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
    if checked:
        options["boundscheck"] = True
        hooks = _checked_hooks(hooks, options)
    cache = cache and cache_enabled()  # no writable cache folder: compile without the disk cache
    # A user's optimiser (defined outside the package) is not in the source fingerprint that keeps the
    # disk cache fresh (saddle/_numba.py), so its kernels are not cached on disk; nor are a user objective's.
    cache = cache and optimizer.__module__.startswith("saddle.")
    opt = optimizer.name.replace("-", "_")
    name = f"{hooks.name}_{opt}"
    jit = numba.njit(cache=cache, **options)
    inline = numba.njit(inline="always", **options)  # (inlined at Numba's IR level: no call, no compile of its own)
    gradient = inline(_rebind(objective_gradient, f"gradient_{hooks.name}", objective_gradient_hook=hooks.gradient))
    step = inline(_rebind(optimizer.step_hook(), f"{opt}_step_{hooks.name}", gradient=gradient))
    start = inline(_rebind(start_point, f"start_point_{hooks.name}", random_start_hook=hooks.random_start))
    run = jit(
        _rebind(
            run_trial,
            f"run_trial_{name}",
            objective_value=hooks.value,
            block_size=hooks.block_size,
            scratch_words=hooks.scratch_words,
            start_point=start,
            optimizer_step=step,
            STATE_VECTORS=optimizer.state_vectors,
            STATE_SCALARS=optimizer.state_scalars,
        )
    )
    lanes_below_m = hooks.lanes_below_m if lanes and optimizer.lanes and hooks.lane_gradient is not None else 0
    if lanes_below_m == 0:  # (run_lanes is then never called: a stub keeps the kernel's compile small)
        stub = jit(_rebind(_no_lanes, f"no_lanes_{hooks.name}"))
        return jit(_rebind(escape_rows, f"escape_rows_{name}", run_trial=run, run_lanes=stub))
    lane_kernel = jit(
        _rebind(
            run_lanes,
            f"run_lanes_{name}",
            objective_value=hooks.value,
            lane_value=hooks.lane_value,
            lane_gradient=hooks.lane_gradient,
            lane_scratch_rows=hooks.lane_scratch_rows,
            block_size=hooks.block_size,
            start_point=start,
        )
    )
    return jit(
        _rebind(
            escape_rows,
            f"escape_rows_lanes_{name}",
            run_trial=run,
            run_lanes=lane_kernel,
            LANES_BELOW_M=lanes_below_m,
        )
    )


_KERNELS: dict[tuple[Any, ...], Any] = {}


def kernel_for(
    hooks: Any, optimizer: type[Optimizer], cache: bool = True, lanes: bool = False, checked: bool = False
) -> Any:
    """The compiled kernel of an objective's hooks and an optimiser (memoised per process; for an
    optimiser with lanes and ``lanes``, the one that runs small-m trials in lockstep; ``checked``: with
    bounds checks, for code that is not saddle's own)."""
    lanes = bool(lanes) and optimizer.lanes and hooks.lane_gradient is not None
    key = (hooks, optimizer, cache, lanes, checked)
    if key not in _KERNELS:
        _KERNELS[key] = specialise(hooks, optimizer, cache=cache, lanes=lanes, checked=checked)
    return _KERNELS[key]
