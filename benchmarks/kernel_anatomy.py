"""Where the escape kernel's time goes, and what three changes to it would save.

    python benchmarks/kernel_anatomy.py [--json PATH]

Evidence for docs/performance.md, not a test and not part of the package.  The
spike step (d = 10, uniform data, sgd, f-drop, identity frame) is rebuilt here
in four ways, each checked to reproduce saddle.kernels.run_trials bit for bit
(escape step, status and final f of 500 escaping trials at m = 1, 4, 32):

  structure  the kernel's own layout: an objective code and parameter arrays
             dispatched once per step to helper functions (gradient,
             objective_value, minibatch_gradient, philox4x64, ...), each a
             plain @njit function called with array arguments;
  inlined    the same source with every helper @njit(inline="always");
  fused      one function specialised to spike + uniform data (the
             distribution a constant), helpers written out by hand;
  lockstep   the fused step for 8 trials at a time in the lanes of (d, 8)
             arrays, a finished lane taking the next trial; each trial's
             arithmetic is unchanged, so results are identical.

Each is timed in ns per trial-step on one thread (best of 5), at m = 1, 32,
1024, beside the kernel and the generator alone.  Only saddle.rng's variate
transforms and run_trials are used from the package; the prototypes draw the
previous generator, Philox4x64-10 (benchmarks/philox4x64.py), with which they
were measured (saddle's streams are now Philox4x32-10, docs/escape.md).
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
import philox4x64 as yardstick  # benchmarks/philox4x64.py: the generator these prototypes were measured with
from numba import prange

from saddle import rng
from saddle.kernels import run_trials
from saddle.objectives.spike import SpikeTensor

D = 10
KAPPA = -6.0 / 5.0
ETA = 0.01
TRIALS = 2000
LANES = 8


# ---------------------------------------------------------------------------------------------
# "structure" and "inlined": the kernel's layout, helpers compiled as calls or inlined.
# ---------------------------------------------------------------------------------------------


def build_structure(inline):
    """The kernel's layout with helpers as plain @njit functions, or @njit(inline='always')."""
    jit = numba.njit(inline="always") if inline else numba.njit
    m0, m1 = np.uint64(0xD2E7470EE14C6C93), np.uint64(0xCA5A826395121157)
    w0, w1 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBB67AE8584CAA73B)
    mulhilo = yardstick.mulhilo64  # the previous generator's 64 x 64 -> 128-bit multiply
    low32 = np.uint64(0xFFFFFFFF)

    @jit
    def philox4x64(c0, c1, c2, c3, k0, k1, out):
        for r in range(10):
            if r > 0:
                k0 = k0 + w0
                k1 = k1 + w1
            hi0, lo0 = mulhilo(m0, c0)
            hi1, lo1 = mulhilo(m1, c2)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        out[0] = c0
        out[1] = c1
        out[2] = c2
        out[3] = c3

    @jit
    def half_word(block, lane):
        w = block[lane >> 1]
        if lane & 1:
            return w >> np.uint64(32)
        return w & low32

    @jit
    def data_variate(h, dist):
        if dist == 1:
            return 1.0 - 2.0 * float(h >> np.uint64(31))
        u = (float(h) + 0.5) * 2.0**-32
        if dist == 0:
            return math.sqrt(3.0) * (2.0 * u - 1.0)
        v = u - 0.5
        if v < 0.0:
            return 0.7071067811865476 * math.log(1.0 + 2.0 * v)
        return -0.7071067811865476 * math.log(1.0 - 2.0 * v)

    @jit
    def frame_matvec(A, rotated, transpose, v, out):
        d = v.shape[0]
        for i in range(d):
            if rotated:
                acc = 0.0
                for k in range(d):
                    acc += (A[k, i] if transpose else A[i, k]) * v[k]
                out[i] = acc
            else:
                out[i] = v[i]

    @jit
    def spike_value(u, A, rotated, work):
        frame_matvec(A, rotated, True, u, work)
        f = 0.0
        for i in range(u.shape[0]):
            c2 = work[i] * work[i]
            f -= c2 * c2
        return f

    @jit
    def spike_minibatch_gradient(u, A, rotated, kappa, dist, key0, key1, t, m, z, x, block, g):
        d = u.shape[0]
        norm2 = 0.0
        for k in range(d):
            norm2 += u[k] * u[k]
            g[k] = 0.0
        j = np.uint64(0)
        lane = 8
        for _ in range(m):
            for k in range(d):
                if lane == 8:
                    j += np.uint64(1)
                    philox4x64(j, np.uint64(t), np.uint64(m), np.uint64(0), key0, key1, block)
                    lane = 0
                z[k] = data_variate(half_word(block, lane), dist)
                lane += 1
            if rotated:
                for k in range(d):
                    acc = 0.0
                    for i2 in range(d):
                        acc += A[k, i2] * z[i2]
                    x[k] = acc
            else:
                for k in range(d):
                    x[k] = z[k]
            c = 0.0
            for k in range(d):
                c += u[k] * x[k]
            c3 = c * c * c
            for k in range(d):
                g[k] += c3 * x[k]
        scale = -4.0 / (m * kappa)
        for k in range(d):
            g[k] = scale * g[k] + (12.0 / kappa) * norm2 * u[k]

    @jit
    def objective_value(objective, u, pf, pa, pi, work):
        if objective == 0:
            return spike_value(u, pa, pi[1] != 0, work)
        return math.nan

    @jit
    def gradient(objective, u, pf, pa, pi, key0, key1, t, m, z, x, block, g):
        if objective == 0:
            spike_minibatch_gradient(u, pa, pi[1] != 0, pf[0], pi[0], key0, key1, t, m, z, x, block, g)

    @numba.njit
    def run_trial(trial, seed, u0, objective, pf, pa, pi, m, delta, max_steps):
        d = u0.shape[0]
        u = u0.copy()
        g = np.empty(d)
        z = np.empty(d)
        x = np.empty(d)
        block = np.empty(4, np.uint64)
        key0, key1 = np.uint64(seed), np.uint64(trial)
        f0 = objective_value(objective, u, pf, pa, pi, z)
        f = f0
        for t in range(1, max_steps + 1):
            gradient(objective, u, pf, pa, pi, key0, key1, t, m, z, x, block, g)
            ug = 0.0
            for k in range(d):
                ug += u[k] * g[k]
            norm2 = 0.0
            for k in range(d):
                x[k] = u[k] - ETA * (g[k] - ug * u[k])
                norm2 += x[k] * x[k]
            inv = 1.0 / math.sqrt(norm2)
            for k in range(d):
                u[k] = x[k] * inv
            f = objective_value(objective, u, pf, pa, pi, z)
            if not math.isfinite(f):
                return t, 2, f
            if f <= f0 - delta:
                return t, 0, f
        return max_steps, 1, f

    @numba.njit(parallel=True)
    def run(u0, m, delta, max_steps, steps, status, final_f):
        pf = np.array([KAPPA])
        pa = np.eye(u0.shape[0])
        pi = np.zeros(2, np.int64)
        for r in prange(steps.shape[0]):
            steps[r], status[r], final_f[r] = run_trial(r, 0, u0, 0, pf, pa, pi, m, delta, max_steps)

    return run


# ---------------------------------------------------------------------------------------------
# "fused": one specialised function; "lockstep": the same for LANES trials at a time.
# ---------------------------------------------------------------------------------------------


@numba.njit
def _fused_trial(trial, u0, m, delta, max_steps):
    d = u0.shape[0]
    u = u0.copy()
    g = np.empty(d)
    x = np.empty(d)
    block = np.empty(4, np.uint64)
    key0, key1 = np.uint64(0), np.uint64(trial)
    f0 = 0.0
    for k in range(d):
        c2 = u[k] * u[k]
        f0 -= c2 * c2
    f = f0
    for t in range(1, max_steps + 1):
        norm2 = 0.0
        for k in range(d):
            norm2 += u[k] * u[k]
            g[k] = 0.0
        j = np.uint64(0)
        lane = 8
        for _ in range(m):
            for k in range(d):
                if lane == 8:
                    j += np.uint64(1)
                    yardstick.philox4x64(j, np.uint64(t), np.uint64(m), np.uint64(rng.DATA), key0, key1, block)
                    lane = 0
                x[k] = rng.data_variate(yardstick.half_word(block, lane), rng.UNIFORM)
                lane += 1
            c = 0.0
            for k in range(d):
                c += u[k] * x[k]
            c3 = c * c * c
            for k in range(d):
                g[k] += c3 * x[k]
        scale = -4.0 / (m * KAPPA)
        for k in range(d):
            g[k] = scale * g[k] + (12.0 / KAPPA) * norm2 * u[k]
        ug = 0.0
        for k in range(d):
            ug += u[k] * g[k]
        n2 = 0.0
        for k in range(d):
            x[k] = u[k] - ETA * (g[k] - ug * u[k])
            n2 += x[k] * x[k]
        inv = 1.0 / math.sqrt(n2)
        f = 0.0
        for k in range(d):
            u[k] = x[k] * inv
            c2 = u[k] * u[k]
            f -= c2 * c2
        if not math.isfinite(f):
            return t, 2, f
        if f <= f0 - delta:
            return t, 0, f
    return max_steps, 1, f


@numba.njit(parallel=True)
def run_fused(u0, m, delta, max_steps, steps, status, final_f):
    for r in prange(steps.shape[0]):
        steps[r], status[r], final_f[r] = _fused_trial(r, u0, m, delta, max_steps)


@numba.njit
def _lockstep_worker(lo, hi, u0, m, delta, max_steps, steps, status, final_f):
    """Trials lo..hi-1, LANES at a time; lane r holds trial tr[r] at its own step count T[r]."""
    d = u0.shape[0]
    K = LANES
    U = np.empty((d, K))
    G = np.empty((d, K))
    X = np.empty((d, K))
    norm2, C, UG, N2, F = np.empty(K), np.empty(K), np.empty(K), np.empty(K), np.empty(K)
    tr = np.full(K, -1, np.int64)
    T = np.zeros(K, np.int64)
    block = np.empty(4, np.uint64)
    f0 = 0.0
    for k in range(d):
        c2 = u0[k] * u0[k]
        f0 -= c2 * c2
    nxt, live = lo, 0
    for r in range(K):
        for k in range(d):
            U[k, r] = u0[k]
        if nxt < hi:
            tr[r] = nxt
            nxt += 1
            live += 1
    scale = -4.0 / (m * KAPPA)
    while live > 0:
        for r in range(K):
            norm2[r] = 0.0
            T[r] += 1
        for k in range(d):
            for r in range(K):
                norm2[r] += U[k, r] * U[k, r]
                G[k, r] = 0.0
        for i in range(m):
            for r in range(K):  # draw sample i of every lane (idle lanes draw for trial 0; ignored)
                key1, t = np.uint64(max(tr[r], 0)), np.uint64(T[r])
                for k in range(d):
                    h = i * d + k
                    if k == 0 or (h & 7) == 0:
                        yardstick.philox4x64(
                            np.uint64((h >> 3) + 1), t, np.uint64(m), np.uint64(rng.DATA), np.uint64(0), key1, block
                        )
                    X[k, r] = rng.data_variate(yardstick.half_word(block, h & 7), rng.UNIFORM)
            for r in range(K):
                C[r] = 0.0
            for k in range(d):
                for r in range(K):
                    C[r] += U[k, r] * X[k, r]
            for r in range(K):
                C[r] = C[r] * C[r] * C[r]
            for k in range(d):
                for r in range(K):
                    G[k, r] += C[r] * X[k, r]
        for r in range(K):
            UG[r] = 0.0
            N2[r] = 0.0
            F[r] = 0.0
        for k in range(d):
            for r in range(K):
                G[k, r] = scale * G[k, r] + (12.0 / KAPPA) * norm2[r] * U[k, r]
                UG[r] += U[k, r] * G[k, r]
        for k in range(d):
            for r in range(K):
                X[k, r] = U[k, r] - ETA * (G[k, r] - UG[r] * U[k, r])
                N2[r] += X[k, r] * X[k, r]
        for r in range(K):
            N2[r] = 1.0 / math.sqrt(N2[r])
        for k in range(d):
            for r in range(K):
                U[k, r] = X[k, r] * N2[r]
                c2 = U[k, r] * U[k, r]
                F[r] -= c2 * c2
        for r in range(K):
            if tr[r] < 0:
                continue
            st = -1
            if not math.isfinite(F[r]):
                st = 2
            elif F[r] <= f0 - delta:
                st = 0
            elif T[r] == max_steps:
                st = 1
            if st >= 0:
                steps[tr[r]], status[tr[r]], final_f[tr[r]] = T[r], st, F[r]
                T[r] = 0
                for k in range(d):
                    U[k, r] = u0[k]
                if nxt < hi:
                    tr[r] = nxt
                    nxt += 1
                else:
                    tr[r] = -1
                    live -= 1


@numba.njit(parallel=True)
def run_lockstep(u0, m, delta, max_steps, steps, status, final_f):
    n = steps.shape[0]
    workers = numba.get_num_threads()
    per = (n + workers - 1) // workers
    for w in prange(workers):
        lo = w * per
        hi = min(n, lo + per)
        if lo < hi:
            _lockstep_worker(lo, hi, u0, m, delta, max_steps, steps, status, final_f)


@numba.njit
def _generator_only(n, m, d, steps, out):
    """The step's random numbers alone (as escape_bench's floor), for n trials."""
    block = np.empty(4, np.uint64)
    for r in range(n):
        acc = 0.0
        for t in range(1, steps + 1):
            j = np.uint64(0)
            lane = 8
            for _ in range(m):
                for _k in range(d):
                    if lane == 8:
                        j += np.uint64(1)
                        yardstick.philox4x64(
                            j, np.uint64(t), np.uint64(m), np.uint64(rng.DATA), np.uint64(0), np.uint64(r), block
                        )
                        lane = 0
                    acc += rng.data_variate(yardstick.half_word(block, lane), rng.UNIFORM)
                    lane += 1
        out[r] = acc


# ---------------------------------------------------------------------------------------------


def variants():
    spike = SpikeTensor(D, "uniform")
    u0 = spike.saddle(2)

    def kernel(m, n, delta, max_steps):
        b = run_trials(
            spike,
            u0,
            optimizer="sgd",
            batch_size=m,
            eta=ETA,
            sigma_iso=0.0,
            delta=delta,
            radius=None,
            max_steps=max_steps,
            seed=0,
            trial_start=0,
            n_trials=n,
        )
        return b.steps, b.status.astype(np.int64), b.final_f

    def wrap(fn):
        def run(m, n, delta, max_steps):
            steps, status, final_f = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
            fn(u0, m, delta, max_steps, steps, status, final_f)
            return steps, status, final_f

        return run

    return u0, {
        "kernel (run_trials)": kernel,
        "structure (plain @njit helpers)": wrap(build_structure(False)),
        "inlined (inline='always' helpers)": wrap(build_structure(True)),
        "fused (specialised)": wrap(run_fused),
        f"lockstep ({LANES} trials per thread)": wrap(run_lockstep),
    }


def best_ns_per_trial_step(fn, m, n, steps, repeats=5):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(m, n, 1e3, steps)
        best = min(best, time.perf_counter() - start)
    return best / (n * steps) * 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    _, runs = variants()
    out = {"load_average_start": os.getloadavg(), "identical": {}, "ns_per_trial_step_1thread": {}}
    compile_s = {}
    for name, fn in runs.items():
        start = time.perf_counter()
        fn(1, 2, 0.1, 2)
        compile_s[name] = time.perf_counter() - start
    out["first_call_s"] = compile_s
    for m in (1, 4, 32):
        ref = runs["kernel (run_trials)"](m, 500, 0.1, 10_000)
        for name, fn in runs.items():
            got = fn(m, 500, 0.1, 10_000)
            out["identical"].setdefault(name, True)
            out["identical"][name] &= all(np.array_equal(a, b) for a, b in zip(ref, got))
    numba.set_num_threads(1)
    steps_for = {1: 1000, 32: 100, 1024: 4}
    gen = np.empty(TRIALS)
    _generator_only(1, 1, D, 1, gen)
    for m, steps in steps_for.items():
        row = {name: best_ns_per_trial_step(fn, m, TRIALS, steps) for name, fn in runs.items()}
        start = time.perf_counter()
        _generator_only(TRIALS, m, D, steps, gen)
        row["generator alone"] = (time.perf_counter() - start) / (TRIALS * steps) * 1e9
        out["ns_per_trial_step_1thread"][m] = row
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    out["load_average_end"] = os.getloadavg()

    names = list(runs) + ["generator alone"]
    width = max(map(len, names))
    print(
        f"spike d={D}, uniform, sgd, 1 thread: ns per trial-step (best of 5; {TRIALS} trials); "
        f"load average {out['load_average_start'][0]:.2f} -> {out['load_average_end'][0]:.2f}"
    )
    print(f"{'':<{width}}  {'m=1':>9}  {'m=32':>9}  {'m=1024':>9}  identical to run_trials  first call s")
    for name in names:
        cells = "  ".join(f"{out['ns_per_trial_step_1thread'][m][name]:9.0f}" for m in steps_for)
        same = {True: "yes", False: "NO"}.get(out["identical"].get(name), "-")
        first = f"{compile_s[name]:.1f}" if name in compile_s else "-"
        print(f"{name:<{width}}  {cells}  {same:>23}  {first:>12}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        os.replace(tmp, path)
    return 0 if all(out["identical"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
