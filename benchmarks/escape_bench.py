"""Benchmarks of saddle's escape kernel, each figure beside its target.

    python benchmarks/escape_bench.py            # the full run (about 2 minutes on 2 free cores)
    python benchmarks/escape_bench.py --quick    # a smoke version (about 1 minute)

Prints the throughput table and one table of figures with their targets
(PASS / FAIL / info), and writes every number to JSON (default
benchmarks/results/latest.json, written atomically).  docs/performance.md
holds a run and explains the figures.

What is measured:

- throughput of the escape kernel in sample-gradients per second
  (trials x steps x m / wall) at m = 1, 32, 1024, with 1 and 2 Numba threads;
  every trial runs exactly ``steps`` steps (delta = 1000 is never reached, so
  all trials are censored at max_steps and the work is known exactly);
- the floor: nanoseconds per random variate of saddle's own generator
  (saddle.rng) drawn the way the spike kernel draws them, without the gradient;
- the same configurations through a plain-NumPy reference vectorised over
  trials (trials as rows; the spike and sgd of docs/escape.md, "What is simulated"), timed in the same run;
- cold start: interpreter, ``import saddle.escape``, the first kernel call with
  an empty and with a warm Numba cache, and the main job cold and warm, with
  the number of compiled specialisations it triggers;
- scaling of time with trials, m and d (fitted exponents, the cost model) and
  the peak memory of a run against steps and m.

Only the public API is used: saddle.kernels.run_trials, saddle.escape.run_escape
and the generator saddle.rng.  The small loops below that imitate the kernel's
use of the generator are written here, with plain numba.njit (no fastmath).
"""

import os

# The NumPy reference runs on one core (its random numbers do anyway); this must
# precede the first import of NumPy.  Subprocesses get the caller's environment.
_CALLER_ENV = dict(os.environ)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import yardstick  # noqa: E402  (benchmarks/yardstick.py: the same-generator hand-tuned kernel)
from numba import prange  # noqa: E402

from saddle import rng  # noqa: E402
from saddle.kernels import CENSORED, run_trials  # noqa: E402
from saddle.objectives.spike import SpikeTensor, tile_samples  # noqa: E402
from saddle.store.load import load as load_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path("escape_bench.json")
"""Where a run writes its figures unless told (--json): the working directory, never a tracked file.
The recorded run of docs/performance.md is written with --json benchmarks/results/latest.json."""

ETA = 0.01
NEVER = 1e3  # an f-drop no objective here can reach: every trial runs exactly max_steps steps
SEED = 0
MAIN_JOB = ["escape", "--m", "1", "4", "32", "1024", "--quiet", "--no-plot"]
MAIN_JOB_WITH_FIGURE = ["escape", "--m", "1", "4", "32", "1024", "--quiet"]

TARGETS = {
    "floor_fraction": 0.70,  # m = 1024, d = 10: kernel throughput / generator floor, at least (was 0.4)
    "yardstick_ratio": 1.2,  # spike d = 10, m = 1, 4, 32, 1024: saddle / the same-generator yardstick, at most
    "numpy_ratio": 20.0,  # m = 1024, d = 10: kernel / NumPy reference, at least (was 15)
    "quadratic_numpy_ratio": 5.0,  # quadratic d = 10, m = 1: kernel / NumPy reference, at least
    "ge2015_numpy_ratio": 8.0,  # ge2015 d = 10 at m = 1 and m = 1024: kernel / NumPy reference, at least
    "step_overhead_ns": 80.0,  # m = 1, d = 10: ns per trial-step beyond the generator, under (was 100)
    "thread_scaling": 1.7,  # 1 -> 2 threads at 2000 trials, at least
    "cold_main_s": 15.0,  # main job with an empty Numba cache, under
    "warm_main_s": 3.0,  # main job again (warm cache), under
    "main_overhead_s": 1.5,  # warm main job with its figure: wall minus the kernel's time, under
    "warm_compiles": 0,  # kernels compiled by the warm main job
    "exponent": 1.1,  # time against trials, m (m >= 32) and d: at most linear
    "memory_growth_mib": 1.0,  # peak memory growth with 100x the steps, or 2048x the batch size
    "total_s": 300.0,  # the whole benchmark, under
}


@dataclass(frozen=True)
class Settings:
    seconds: float  # wall time aimed at for one timed run on one thread
    repeats: int  # every timing is the best of this many
    trials: int  # trials per throughput run (the thread-scaling target is stated at 2000)
    cold_runs: int  # main-job runs with an empty cache (each in a fresh cache folder)
    warm_runs: int  # main-job runs with the warm cache


FULL = Settings(seconds=0.4, repeats=3, trials=2000, cold_runs=2, warm_runs=3)
QUICK = Settings(seconds=0.08, repeats=2, trials=2000, cold_runs=1, warm_runs=1)


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def best_wall(fn, repeats):
    """The smallest wall time of ``repeats`` calls of fn()."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def calibrate(run, seconds):
    """Steps n >= 1 such that run(n) takes about ``seconds`` (probing n = 1, 4, 16, ...)."""
    n = 1
    while True:
        start = time.perf_counter()
        run(n)
        wall = time.perf_counter() - start
        if wall >= seconds / 8 or n >= 1 << 22:
            return max(1, round(n * seconds / wall))
        n *= 4


def fit_exponent(x, y):
    """Slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


# ---------------------------------------------------------------------------------------------
# Objectives benchmarked.  Each entry makes (objective, start point) for a dimension d, says how
# its kernel draws random numbers, and gives the NumPy reference step.
# ---------------------------------------------------------------------------------------------

SQRT3 = math.sqrt(3.0)


def _spike(d):
    objective = SpikeTensor(d, "uniform")
    return objective, objective.saddle(2)


def numpy_spike_step(u, gen, m, eta, kappa=-6.0 / 5.0):
    """One SGD step of every row of u (docs/escape.md, "What is simulated"), uniform data, frame A = I.

    g = mean over m samples of (12 ||u||^2 u - 4 (u.x)^3 x) / kappa, p = g - (u.g) u,
    w = u - eta p, u = w / ||w||.
    """
    x = gen.uniform(-SQRT3, SQRT3, size=(u.shape[0], m, u.shape[1]))
    c = np.matmul(x, u[:, :, None])[:, :, 0]  # u.x for every sample
    g = np.matmul((c**3)[:, None, :], x)[:, 0, :] * (-4.0 / (m * kappa))
    g += (12.0 / kappa) * np.einsum("td,td->t", u, u)[:, None] * u
    p = g - np.einsum("td,td->t", u, g)[:, None] * u
    w = u - eta * p
    return w / np.sqrt(np.einsum("td,td->t", w, w))[:, None]


def numpy_spike_f(u):
    return -np.sum(u**4, axis=1)


OBJECTIVES = {
    # name: (make(d) -> (objective, u0), NumPy step, NumPy f, (d, m) cases, how the kernel draws)
    "spike": (
        _spike,
        numpy_spike_step,
        numpy_spike_f,
        [(10, 1), (10, 32), (10, 1024), (100, 1), (100, 32), (100, 1024)],
        "d uniform variates (32-bit) per sample-gradient",
    ),
}

# ---- quadratic (docs/objectives.md, quadratic) ----------------------------------------------
# The quadratic testbed draws the batch mean directly (d normals per step, whatever m), so its
# sample-gradients per second grow with m by construction; compare its ns per trial-step.
try:
    from saddle.objectives import QuadraticSaddle
except ImportError:  # not in this version of saddle
    QuadraticSaddle = None

if QuadraticSaddle is not None:

    def _quadratic(d):
        objective = QuadraticSaddle(d)  # gamma = lambda = beta = 1, Sigma = I
        return objective, objective.start()

    def numpy_quadratic_step(x, gen, m, eta):
        """x <- x - eta (H x + beta ||x||^2 x + xi / sqrt(m)), H = diag(-1, 1, ..., 1), beta = 1, Sigma = I."""
        h = np.ones(x.shape[1])
        h[0] = -1.0
        g = h * x + np.einsum("td,td->t", x, x)[:, None] * x
        g += gen.standard_normal(x.shape) / math.sqrt(m)
        return x - eta * g

    def numpy_quadratic_f(x):
        h = np.ones(x.shape[1])
        h[0] = -1.0
        n2 = np.einsum("td,td->t", x, x)
        return 0.5 * np.einsum("td,td->t", x * h, x) + 0.25 * n2 * n2

    OBJECTIVES["quadratic"] = (
        _quadratic,
        numpy_quadratic_step,
        numpy_quadratic_f,
        [(10, 1), (10, 1024)],
        "d normals per step, whatever m (the batch mean in law)",
    )

# ---- ge2015 (Ge et al. 2015), k = d columns from the collision saddle, shared samples ---------------
# Benchmarked when the kernel accepts it (see kernel_supports); U is held flat, column by column.
try:
    from saddle.objectives.ge2015 import GeTensorDecomposition
except ImportError:
    GeTensorDecomposition = None

if GeTensorDecomposition is not None:

    def _ge2015(d):
        objective = GeTensorDecomposition(d, d)
        return objective, objective.flatten(objective.collision_saddle())

    def numpy_ge2015_step(u, gen, m, eta, kappa=-6.0 / 5.0):
        """ge2015's per-sample gradient averaged over m shared samples; step and retraction per column.

        Rows of u are U flattened column by column (k = d columns of length d).
        """
        T, dk = u.shape
        d = math.isqrt(dk)
        U = u.reshape(T, d, d).transpose(0, 2, 1)  # U[t, :, i] = column i
        x = gen.uniform(-SQRT3, SQRT3, size=(T, m, d))
        c = np.matmul(x, U)  # c[t, s, i] = u_i . x_s
        S = np.sum(c * c, axis=2, keepdims=True)
        data = np.matmul(x.transpose(0, 2, 1), c * (S - c * c)) / m  # d x k
        n = np.sum(U * U, axis=1)  # ||u_i||^2
        G = np.matmul(U.transpose(0, 2, 1), U)
        cross = np.matmul(U, G) - U * n[:, None, :]  # column i: sum_{j != i} (u_i.u_j) u_j
        g = (4.0 / kappa) * (data - (n.sum(axis=1)[:, None] - n)[:, None, :] * U - 2.0 * cross)
        p = g - np.sum(U * g, axis=1, keepdims=True) * U
        W = U - eta * p
        W /= np.sqrt(np.sum(W * W, axis=1, keepdims=True))
        return W.transpose(0, 2, 1).reshape(T, dk)

    def numpy_ge2015_f(u):
        T, dk = u.shape
        d = math.isqrt(dk)
        C2 = (u.reshape(T, d, d).transpose(0, 2, 1)) ** 2  # C2[t, l, i] = (a_l . u_i)^2, A = I
        return np.sum(np.sum(C2, axis=2) ** 2 - np.sum(C2 * C2, axis=2), axis=1)

    OBJECTIVES["ge2015"] = (
        _ge2015,
        numpy_ge2015_step,
        numpy_ge2015_f,
        [(10, 1), (10, 1024)],
        "d uniform variates per sample, shared by the k = d columns",
    )


# ---------------------------------------------------------------------------------------------
# The kernel and the NumPy reference, run for exactly ``steps`` steps.
# ---------------------------------------------------------------------------------------------


def run_kernel(objective, u0, m, trials, steps, threads, delta=NEVER, max_steps=None, lanes=True):
    """run_trials on ``threads`` Numba threads; returns the TrialBlock.  ``lanes``: sgd at small m in
    lockstep lanes, as long runs get it (run_trials' default for n_trials x max_steps >= LANES_MIN_WORK;
    the benchmark's runs are shorter, so it asks); False: one trial at a time, as short runs get it."""
    numba.set_num_threads(threads)
    try:
        return run_trials(
            objective,
            u0,
            optimizer="sgd",
            batch_size=m,
            eta=ETA,
            sigma_iso=0.0,
            delta=delta,
            radius=None,
            max_steps=steps if max_steps is None else max_steps,
            seed=SEED,
            trial_start=0,
            n_trials=trials,
            recorder=None,
            backend="cpu",
            lanes=lanes,
        )
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def run_kernel_fixed(objective, u0, m, trials, steps, threads, lanes=True):
    block = run_kernel(objective, u0, m, trials, steps, threads, lanes=lanes)
    if not (np.all(block.status == CENSORED) and np.all(block.steps == steps)):
        raise RuntimeError("a benchmark trial ended before max_steps; the work would not be known exactly")


def numpy_reference(step, f_of, u0, m, trials, steps, delta=NEVER, seed=SEED, chunk_elements=1 << 18):
    """Trials as rows: SGD from u0 until f <= f(u0) - delta, non-finite f, or ``steps`` steps.

    Trials run in chunks of at most ``chunk_elements`` sample coordinates per step, so the
    m x d samples of a chunk stay in cache.  Returns the escape steps (steps + 1 if not escaped).
    """
    gen = np.random.default_rng(seed)
    d = u0.shape[0]
    chunk = max(1, min(trials, chunk_elements // (m * d)))
    f0 = float(f_of(u0[None, :])[0])
    out = np.full(trials, steps + 1, np.int64)
    for lo in range(0, trials, chunk):
        idx = np.arange(lo, min(trials, lo + chunk))
        u = np.tile(u0, (idx.size, 1))
        for t in range(1, steps + 1):
            u = step(u, gen, m, ETA)
            f = f_of(u)
            done = (f <= f0 - delta) | ~np.isfinite(f)
            if done.any():
                out[idx[done]] = t
                idx, u = idx[~done], u[~done]
                if idx.size == 0:
                    break
    return out


# ---------------------------------------------------------------------------------------------
# The generator floor: saddle.rng drawn the way spike.minibatch_gradient draws it, nothing else.
# ---------------------------------------------------------------------------------------------


@numba.njit
def _draw_like_minibatch(key0, key1, steps, m, d, dist, sums):
    """Per step t: m samples of d variates from the 32-bit words of Philox4x32-10 blocks (t, m, DATA),
    drawn as spike.minibatch_gradient draws them: in tiles of spike.tile_samples(d) samples, a tile's
    blocks by rng.stream_word_doubles and its variates by rng.data_variates_in_place.  Each variate is
    added to sums[k] (one add, as the kernel's g[k] += c^3 x[k]), so nothing can be optimised away."""
    tile = tile_samples(d)
    block = np.empty(tile * d, dtype=np.uint64)
    buf = block.view(np.float64)
    for t in range(1, steps + 1):
        for i0 in range(0, m, tile):
            nw = min(tile, m - i0) * d
            rng.stream_word_doubles(key0, key1, t, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, block)
            rng.data_variates_in_place(buf, nw, dist)
            for off in range(0, nw, d):
                for k in range(d):
                    sums[k] += buf[off + k]


@numba.njit(parallel=True)
def _draw_trials(n_trials, steps, m, d, dist, out):
    """The floor loop for n_trials keys (seed 0, trial r), in parallel over trials."""
    for r in prange(n_trials):
        sums = np.zeros(d)
        _draw_like_minibatch(np.uint64(0), np.uint64(r), steps, m, d, dist, sums)
        out[r] = sums.sum()


@numba.njit
def _philox_blocks(n, key0, key1):
    """n Philox4x32-10 blocks (counters 1..n), xor-folded so that they are all computed: one at a time."""
    block = np.empty(4, dtype=np.uint64)
    acc = np.uint64(0)
    for j in range(n):
        rng.stream_block(key0, key1, 1, 1, rng.DATA, j, block)
        acc ^= block[0] ^ block[1] ^ block[2] ^ block[3]
    return acc


@numba.njit
def _philox_blocks_simd(n, key0, key1):
    """n Philox4x32-10 blocks drawn 64 at a time by rng.stream_blocks (the vectorised loop), xor-folded."""
    words = np.empty(256, dtype=np.uint64)
    acc = np.uint64(0)
    for j in range(0, n, 64):
        rng.stream_blocks(key0, key1, 1, 1, rng.DATA, j, words)
        for q in range(256):
            acc ^= words[q]
    return acc


@numba.njit(error_model="numpy")
def _fill_normals_loop(n_steps, d, key1, out, inlined):
    """d normals per step, n_steps steps, summed: rng.normals_at inlined (the quadratic's and the
    octopus's per-step draw) or rng.fill_normals called (random starts, noisy-sgd's direction).
    error_model="numpy", as the kernels (saddle._numba): the default would keep the inlined loops scalar."""
    block = np.empty(4, dtype=np.uint64)
    xi = np.empty(d)
    acc = 0.0
    for t in range(1, n_steps + 1):
        if inlined:
            rng.normals_at(np.uint64(0), key1, t, 1, rng.DATA, 0, xi, block)
        else:
            rng.fill_normals(np.uint64(0), key1, t, 1, rng.DATA, xi, block)
        for k in range(d):
            acc += xi[k]
    out[0] = acc


def floor_ns_per_variate(m, d, trials, threads, settings, draw=_draw_trials):
    """Wall ns per variate of the floor loop ``draw`` on ``threads`` threads (d variates per sample)."""
    out = np.empty(trials)
    numba.set_num_threads(threads)
    try:
        draw(2, 1, 1, d, rng.UNIFORM, np.empty(2))  # compile
        steps = calibrate(lambda n: draw(trials, n, m, d, rng.UNIFORM, out), settings.seconds / threads)
        wall = best_wall(lambda: draw(trials, steps, m, d, rng.UNIFORM, out), settings.repeats)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return wall / (trials * steps * m * d) * 1e9


def bench_floor(settings):
    """ns per variate of saddle's generator alone, drawn as the spike's gradient draws it, and of NumPy's
    generators for comparison."""
    log("generator floor")
    for fn in (_philox_blocks, _philox_blocks_simd):
        fn(64, np.uint64(0), np.uint64(0))
    n_blocks = 4_000_000 if settings is FULL else 1_000_000
    block_ns = {
        name: best_wall(lambda fn=fn: fn(n_blocks, np.uint64(0), np.uint64(1)), settings.repeats) / n_blocks * 1e9
        for name, fn in (
            ("philox4x32", _philox_blocks),
            ("philox4x32_simd", _philox_blocks_simd),
        )
    }
    buf = np.empty(1 << 20)
    numpy_ns = {}
    for name, bitgen in (("pcg64", np.random.PCG64), ("philox", np.random.Philox)):
        gen = np.random.Generator(bitgen(0))
        numpy_ns[name] = best_wall(lambda gen=gen: gen.random(out=buf), settings.repeats) / buf.size * 1e9
    gen = np.random.default_rng(0)
    numpy_ns["pcg64_standard_normal"] = (
        best_wall(lambda: gen.standard_normal(out=buf), settings.repeats) / buf.size * 1e9
    )
    out1 = np.empty(1)
    n_steps = 200_000 if settings is FULL else 50_000
    normal_ns = {}
    for inlined in (True, False):
        _fill_normals_loop(1, 10, np.uint64(0), out1, inlined)
        normal_ns[inlined] = best_wall(
            lambda inlined=inlined: _fill_normals_loop(n_steps, 10, np.uint64(1), out1, inlined), settings.repeats
        ) / (10 * n_steps)
    return {
        "ns_per_variate_d10_m1024_1thread": floor_ns_per_variate(1024, 10, 64, 1, settings),
        "ns_per_variate_d10_m1024_2threads": floor_ns_per_variate(1024, 10, 64, 2, settings),
        "ns_per_variate_d100_m1024_1thread": floor_ns_per_variate(1024, 100, 8, 1, settings),
        # m = 1: one step's d = 10 variates use 3 Philox4x32 blocks (12 words, 10 used)
        "ns_per_trial_step_d10_m1_1thread": 10 * floor_ns_per_variate(1, 10, 512, 1, settings),
        "ns_per_trial_step_d100_m1_1thread": 100 * floor_ns_per_variate(1, 100, 512, 1, settings),
        "ns_per_philox_block": block_ns["philox4x32"],
        "ns_per_philox_block_simd": block_ns["philox4x32_simd"],
        "ns_per_normal_d10": normal_ns[True] * 1e9,
        "ns_per_normal_d10_called": normal_ns[False] * 1e9,
        "numpy_ns_per_uniform": numpy_ns,
    }


def bench_yardstick(settings):
    """saddle against the same-generator hand-tuned kernel (benchmarks/yardstick.py) on the default
    experiment, 2000 trials per m, timed alternately in this run (medians); their escapes are checked
    equal trial by trial first."""
    return yardstick.compare((1, 4, 32, 1024), 2000, settings.repeats + 2, log=log)


# ---------------------------------------------------------------------------------------------
# Throughput: kernel on 1 and 2 threads and the NumPy reference, side by side.
# ---------------------------------------------------------------------------------------------


def thread_counts():
    return sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})


def bench_case(name, d, m, settings):
    """One (objective, d, m): kernel walls per thread count, the NumPy reference, derived rates."""
    make, np_step, np_f = OBJECTIVES[name][:3]
    objective, u0 = make(d)
    trials = settings.trials
    run_kernel_fixed(objective, u0, m, 4, 1, 1)  # compile, or load from the cache
    steps = calibrate(lambda n: run_kernel_fixed(objective, u0, m, trials, n, 1), settings.seconds)
    walls = {th: math.inf for th in thread_counts()}
    for _ in range(settings.repeats):  # alternate thread counts so both see the same machine load
        for th in walls:
            walls[th] = min(
                walls[th], best_wall(lambda th=th: run_kernel_fixed(objective, u0, m, trials, steps, th), 1)
            )
    hooks = objective.kernel
    alone = None  # the same trials one at a time (lanes off), where lanes apply
    if hooks.lane_gradient is not None and m < hooks.lanes_below_m:
        run_kernel_fixed(objective, u0, m, 4, 1, 1, lanes=False)
        alone = best_wall(lambda: run_kernel_fixed(objective, u0, m, trials, steps, 1, lanes=False), settings.repeats)
    # NumPy: as many trial-steps as fit in `seconds` (trials at most `trials`, steps at least 1)
    probe_trials = max(1, min(trials, (1 << 16) // (m * d)))
    probe = best_wall(lambda: numpy_reference(np_step, np_f, u0, m, probe_trials, 1), 1)
    trial_steps = max(1, int(settings.seconds / probe * probe_trials))
    np_trials, np_steps = (trials, max(1, trial_steps // trials)) if trial_steps >= trials else (trial_steps, 1)
    np_wall = best_wall(lambda: numpy_reference(np_step, np_f, u0, m, np_trials, np_steps), settings.repeats)
    work = trials * steps * m
    row = {
        "objective": name,
        "d": d,
        "m": m,
        "trials": trials,
        "steps": steps,
        "wall_s": {str(th): w for th, w in walls.items()},
        "sample_gradients_per_s": {str(th): work / w for th, w in walls.items()},
        "ns_per_trial_step_1thread": walls[1] / (trials * steps) * 1e9,
        "lanes": alone is not None,
        "ns_per_trial_step_1thread_alone": None if alone is None else alone / (trials * steps) * 1e9,
        "numpy_trials": np_trials,
        "numpy_steps": np_steps,
        "numpy_wall_s": np_wall,
        "numpy_sample_gradients_per_s": np_trials * np_steps * m / np_wall,
    }
    top = str(max(walls))
    row["thread_scaling"] = walls[1] / walls[max(walls)]
    row["numpy_ratio"] = {
        th: rate / row["numpy_sample_gradients_per_s"] for th, rate in row["sample_gradients_per_s"].items()
    }
    row["numpy_ratio_top"] = row["numpy_ratio"][top]
    return row


def kernel_supports(name):
    """None if run_trials runs objective ``name`` (one short trial), else the reason it does not."""
    try:
        objective, u0 = OBJECTIVES[name][0](10)
        run_kernel(objective, u0, 1, 1, 1, 1)
        return None
    except Exception as err:  # an objective the kernel does not (yet) run is skipped, not fatal
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


def bench_throughput(settings):
    rows, skipped = [], {}
    for name, entry in OBJECTIVES.items():
        reason = kernel_supports(name)
        if reason is not None:
            log(f"throughput {name}: skipped ({reason})")
            skipped[name] = reason
            continue
        for d, m in entry[3]:
            log(f"throughput {name} d={d} m={m}")
            rows.append(bench_case(name, d, m, settings))
    return rows, skipped


def add_floor_fractions(rows, floor):
    """Kernel throughput as a fraction of the floor's (spike, d variates per sample-gradient)."""
    floor_d = {10: floor["ns_per_variate_d10_m1024_1thread"], 100: floor["ns_per_variate_d100_m1024_1thread"]}
    for row in rows:
        if row["objective"] == "spike" and row["m"] == 1024:
            floor_rate = 1e9 / (row["d"] * floor_d[row["d"]])
            row["floor_fraction_1thread"] = row["sample_gradients_per_s"]["1"] / floor_rate
            if "2" in row["sample_gradients_per_s"] and row["d"] == 10:
                floor_rate2 = 1e9 / (row["d"] * floor["ns_per_variate_d10_m1024_2threads"])
                row["floor_fraction_2threads"] = row["sample_gradients_per_s"]["2"] / floor_rate2


def check_numpy_reference():
    """The NumPy reference simulates the same model: median escape steps beside the kernel's."""
    log("NumPy reference: median escape steps against the kernel")
    objective, u0 = _spike(10)
    trials, m, max_steps = 400, 32, 10_000
    kernel = run_kernel(objective, u0, m, trials, None, numba.config.NUMBA_NUM_THREADS, delta=0.1, max_steps=max_steps)
    ref = numpy_reference(numpy_spike_step, numpy_spike_f, u0, m, trials, max_steps, delta=0.1, seed=12345)
    k_med, r_med = float(np.median(kernel.steps)), float(np.median(ref))
    return {
        "trials": trials,
        "m": m,
        "d": 10,
        "delta": 0.1,
        "kernel_median_steps": k_med,
        "numpy_median_steps": r_med,
        "relative_difference": abs(r_med - k_med) / k_med,
        "tolerance": 0.10,
    }


# ---------------------------------------------------------------------------------------------
# Cold start, in subprocesses with their own Numba cache folder (NUMBA_CACHE_DIR).
# ---------------------------------------------------------------------------------------------

_COUNT_SPECIALISATIONS = r"""
def _count_specialisations():
    import sys
    from numba.core.dispatcher import Dispatcher
    seen, out = set(), {}
    for modname, mod in list(sys.modules.items()):
        if not (modname == "saddle" or modname.startswith("saddle.")):
            continue
        values = []
        for obj in list(vars(mod).values()):  # dispatchers, and those in dicts (saddle.kernels.cpu.KERNELS)
            values.extend(obj.values() if isinstance(obj, dict) else [obj])
        for obj in values:
            if isinstance(obj, Dispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                stats = obj.stats
                out[f"{obj.py_func.__module__}.{obj.py_func.__qualname__}"] = {
                    "signatures": len(obj.signatures),
                    "cache_hits": sum(stats.cache_hits.values()),
                    "cache_misses": sum(stats.cache_misses.values()),
                }
    return out
"""

_RUN_MAIN_JOB = r"""
sys.argv = ["python -m saddle.experiments"] + sys.argv[1:]
try:
    runpy.run_module("saddle.experiments", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    if stop.code not in (None, 0):
        raise
"""
"""The main job run in the benchmark's subprocess, as ``python -m saddle.experiments`` would run it."""

MAIN_JOB_WRAPPER = (
    _COUNT_SPECIALISATIONS
    + "import json, runpy, sys\n"
    + _RUN_MAIN_JOB
    + 'print("BENCH-JSON " + json.dumps(_count_specialisations()))\n'
)

MAIN_JOB_SPLIT = (
    r"""
import json, runpy, sys, time
import saddle.escape as escape
import saddle.plotting as plotting
split = {"kernel_load_s": 0.0, "figure_s": 0.0}
def timed(fn, key, when=lambda kw: True):
    def wrapper(*args, **kw):
        start = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            if when(kw):
                split[key] += time.perf_counter() - start
    return wrapper
# the n_trials = 0 call before the first batch size loads the kernel from the disk cache (saddle.escape)
escape.run_trials = timed(escape.run_trials, "kernel_load_s", lambda kw: kw.get("n_trials") == 0)
plotting.escape_figure = timed(plotting.escape_figure, "figure_s")
plotting.save_figure = timed(plotting.save_figure, "figure_s")
"""
    + _RUN_MAIN_JOB
    + 'print("BENCH-JSON " + json.dumps(split))\n'
)
"""The main job with its figure, timing the kernel's load from the disk cache and the figure (drawn and
saved); the kernel's own time is what the run stores (each batch size's wall_seconds)."""

IMPORTS = "import saddle.experiments.cli, saddle.escape, saddle.plotting.escape"
"""What the main job imports, in a fresh interpreter (the CLI imports lazily, so this is measured apart)."""

FIRST_CALL = (
    _COUNT_SPECIALISATIONS
    + r"""
import json, time
t0 = time.perf_counter()
from saddle.kernels import run_trials
from saddle.objectives.spike import SpikeTensor
t1 = time.perf_counter()
obj = SpikeTensor(10)
run_trials(obj, obj.saddle(2), optimizer="sgd", batch_size=1, eta=0.01, sigma_iso=0.0, delta=0.1, radius=None,
           max_steps=1, seed=0, trial_start=0, n_trials=1)
t2 = time.perf_counter()
print("BENCH-JSON " + json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1,
                                  "dispatchers": _count_specialisations()}))
"""
)


def run_python(args, cache_dir=None, cwd=ROOT):
    """Run this python with ``args`` (and NUMBA_CACHE_DIR=cache_dir if given); (wall, BENCH-JSON or None)."""
    env = dict(_CALLER_ENV) if cache_dir is None else dict(_CALLER_ENV, NUMBA_CACHE_DIR=str(cache_dir))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:80]} failed:\n{done.stderr[-2000:]}")
    payload = None
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            payload = json.loads(line[len("BENCH-JSON ") :])
    return wall, payload


def summarise_dispatchers(dispatchers):
    return {
        "specialisations": sum(v["signatures"] for v in dispatchers.values()),
        "compiled": sum(v["cache_misses"] for v in dispatchers.values()),
        "loaded_from_cache": sum(v["cache_hits"] for v in dispatchers.values()),
        "escape_kernel_specialisations": {k: v["signatures"] for k, v in dispatchers.items() if "escape_trials" in k},
        "per_function": {k: v["signatures"] for k, v in dispatchers.items() if v["signatures"]},
    }


def bench_cold_start(settings):
    """Interpreter start, import, first kernel call and main job, with an empty and a warm cache."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="saddle-bench-") as tmp:
        tmp = Path(tmp)
        log("cold start: interpreter and import")
        results["python_start_s"] = min(run_python(["-c", "pass"], tmp / "none")[0] for _ in range(3))
        results["import_saddle_escape_s"] = min(
            run_python(["-c", "import saddle.escape"], tmp / "none")[0] for _ in range(3)
        )
        log("cold start: first kernel call, empty then warm cache")
        _, cold = run_python(["-c", FIRST_CALL], tmp / "first")
        _, warm = run_python(["-c", FIRST_CALL], tmp / "first")
        results["first_call_cold_s"] = cold["first_call_s"]
        results["first_call_warm_s"] = warm["first_call_s"]
        results["first_call_cold_dispatchers"] = summarise_dispatchers(cold["dispatchers"])
        cold_walls, warm_walls = [], []
        for i in range(settings.cold_runs):
            log(f"cold start: main job with an empty cache ({i + 1}/{settings.cold_runs})")
            cache = tmp / f"main-{i}"
            wall, cold_counts = run_python(["-c", MAIN_JOB_WRAPPER, *MAIN_JOB, "--out", str(tmp / f"cold-{i}")], cache)
            cold_walls.append(wall)
        for i in range(settings.warm_runs):
            log(f"cold start: main job with the warm cache ({i + 1}/{settings.warm_runs})")
            wall, warm_counts = run_python(["-c", MAIN_JOB_WRAPPER, *MAIN_JOB, "--out", str(tmp / f"warm-{i}")], cache)
            warm_walls.append(wall)
        log("main job with its figure, warm cache: wall and its split")
        splits = []
        for i in range(settings.warm_runs):
            out = tmp / f"figure-{i}"
            wall, split = run_python(["-c", MAIN_JOB_SPLIT, *MAIN_JOB_WITH_FIGURE, "--out", str(out)], cache)
            kernel = sum(r.wall_seconds for r in load_results(out).by_m.values())
            splits.append(dict(split, wall_s=wall, kernel_s=kernel))
        python_start = results["python_start_s"]
        imports = min(run_python(["-c", IMPORTS], cache)[0] for _ in range(3)) - python_start
        best = min(splits, key=lambda r: r["wall_s"])
        best.update(python_start_s=python_start, imports_s=imports)
        best["rest_s"] = best["wall_s"] - sum(
            best[k] for k in ("kernel_s", "kernel_load_s", "figure_s", "python_start_s", "imports_s")
        )
        best["overhead_s"] = best["wall_s"] - best["kernel_s"]
        results["main_job_with_figure"] = {
            "command": "python -m saddle.experiments " + " ".join(MAIN_JOB_WITH_FIGURE) + " --out TMP",
            "walls_s": [r["wall_s"] for r in splits],
            "best": best,
        }
    results.update(
        {
            "main_job": "python -m saddle.experiments " + " ".join(MAIN_JOB) + " --out TMP",
            "main_job_cold_s": min(cold_walls),
            "main_job_cold_all_s": cold_walls,
            "main_job_warm_s": min(warm_walls),
            "main_job_warm_all_s": warm_walls,
            "main_job_cold_dispatchers": summarise_dispatchers(cold_counts),
            "main_job_warm_dispatchers": summarise_dispatchers(warm_counts),
        }
    )
    return results


# ---------------------------------------------------------------------------------------------
# Scaling with trials, m and d; the cost model.
# ---------------------------------------------------------------------------------------------


def ns_per_trial_step(d, m, trials, threads, settings):
    objective, u0 = _spike(d)
    run_kernel_fixed(objective, u0, m, 4, 1, threads)
    steps = calibrate(lambda n: run_kernel_fixed(objective, u0, m, trials, n, threads), settings.seconds / threads)
    wall = best_wall(lambda: run_kernel_fixed(objective, u0, m, trials, steps, threads), settings.repeats)
    return wall / (trials * steps) * 1e9, steps


def bench_scaling(settings):
    """Wall time against trials (all threads), against m and d (1 thread), and the fitted cost model."""
    top = max(thread_counts())
    log("scaling with trials")
    objective, u0 = _spike(10)
    steps = calibrate(lambda n: run_kernel_fixed(objective, u0, 32, 2000, n, top), settings.seconds)
    by_trials = {n: math.inf for n in (500, 1000, 2000)}
    for _ in range(settings.repeats):  # alternate, so that every size sees the same machine load
        for n in by_trials:
            by_trials[n] = min(
                by_trials[n], best_wall(lambda n=n: run_kernel_fixed(objective, u0, 32, n, steps, top), 1)
            )
    log("scaling with m and d")
    by_m = {m: ns_per_trial_step(10, m, 500, 1, settings)[0] for m in (1, 4, 32, 256, 1024)}
    by_d = {d: ns_per_trial_step(d, 256, 200, 1, settings)[0] for d in (10, 30, 100)}
    return {
        "trials": {
            "d": 10,
            "m": 32,
            "steps": steps,
            "threads": top,
            "wall_s": by_trials,
            "exponent": fit_exponent(list(by_trials), list(by_trials.values())),
        },
        "m": {
            "d": 10,
            "threads": 1,
            "ns_per_trial_step": by_m,
            "exponent_m_ge_32": fit_exponent([32, 256, 1024], [by_m[m] for m in (32, 256, 1024)]),
        },
        "d": {
            "m": 256,
            "threads": 1,
            "ns_per_trial_step": by_d,
            "exponent": fit_exponent(list(by_d), list(by_d.values())),
        },
    }


def fit_cost_model(points):
    """Least squares (relative error) of ns per trial-step = a + b d + m (c + e d), one thread.

    a + b d is the per-step overhead, c + e d the cost of one sample-gradient
    (e: per sample coordinate, about one variate).
    """
    d = np.array([p[0] for p in points], float)
    m = np.array([p[1] for p in points], float)
    y = np.array([p[2] for p in points], float)
    X = np.stack([np.ones_like(d), d, m, m * d], axis=1) / y[:, None]
    coef, *_ = np.linalg.lstsq(X, np.ones_like(y), rcond=None)
    pred = (X * y[:, None]) @ coef
    a, b, c, e = (float(v) for v in coef)
    return {
        "a_ns": a,
        "b_ns_per_dim": b,
        "c_ns_per_sample": c,
        "e_ns_per_sample_coordinate": e,
        "step_overhead_d10_ns": a + 10 * b,
        "max_relative_error": float(np.max(np.abs(pred / y - 1))),
        "points": [[int(p[0]), int(p[1]), float(p[2])] for p in points],
    }


def cost_model_points(throughput, scaling):
    pts = [(r["d"], r["m"], r["ns_per_trial_step_1thread"]) for r in throughput if r["objective"] == "spike"]
    pts += [(10, m, v) for m, v in scaling["m"]["ns_per_trial_step"].items()]
    pts += [(d, 256, v) for d, v in scaling["d"]["ns_per_trial_step"].items()]
    return pts


# ---------------------------------------------------------------------------------------------
# Peak memory, in one subprocess: the peak-RSS mark (VmHWM) is reset before each run.
# ---------------------------------------------------------------------------------------------

MEMORY_PROBE = r"""
import json, resource, sys
from saddle.escape import run_escape

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

run_escape(m=[32], trials=8, max_steps=10, radius=10.0)  # load the kernel first
out = {}
reset_peak()  # control: an 8 MiB array must show up as 8 MiB of growth
before = kib("VmRSS")
import numpy as np
np.ones(1 << 20).sum()
out["control: 8 MiB array"] = {"growth_mib": (kib("VmHWM") - before) / 1024, "peak_mib": kib("VmHWM") / 1024}
for m, steps, trials in json.loads(sys.argv[1]):
    exact = reset_peak()
    before = kib("VmRSS")
    run_escape(m=[m], trials=trials, max_steps=steps, radius=10.0, record_trials=8, record_points=256)
    out[f"m={m} steps={steps}"] = {"growth_mib": (kib("VmHWM") - before) / 1024,
                                   "peak_mib": kib("VmHWM") / 1024, "exact": exact}
print("BENCH-JSON " + json.dumps(out))
"""


def bench_memory(settings):
    """Peak-memory growth of run_escape (8 trials record f) against steps and m; all trials censored."""
    log("peak memory against steps and m")
    trials = 32 if settings is FULL else 16
    runs = [(1, 1000, trials), (1, 100_000, trials), (32, 20, trials), (65536, 20, trials)]
    _, out = run_python(["-c", MEMORY_PROBE, json.dumps(runs)])  # the cache this process filled
    steps_growth = out["m=1 steps=100000"]["growth_mib"] - out["m=1 steps=1000"]["growth_mib"]
    m_growth = out["m=65536 steps=20"]["growth_mib"] - out["m=32 steps=20"]["growth_mib"]
    return {
        "trials": trials,
        "runs": out,
        "growth_steps_100x_mib": steps_growth,
        "growth_m_2048x_mib": m_growth,
        "control_8mib": out["control: 8 MiB array"]["growth_mib"],
    }


# ---------------------------------------------------------------------------------------------
# The machine, the tables, the JSON.
# ---------------------------------------------------------------------------------------------


def machine():
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "saddle_commit": git("rev-parse", "--short", "HEAD"),
        "saddle_sources_modified": bool(git("status", "--porcelain", "--", "saddle")),
        "cpu": model,
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average_start": os.getloadavg(),
    }


def verdict(ok):
    return "PASS" if ok else "FAIL"


def target_rows(res):
    """(figure, measured, target, verdict) for every figure with a target (TARGETS)."""
    rows = []
    tp = {(r["objective"], r["d"], r["m"]): r for r in res["throughput"]}
    fl, cs, sc, mem = res["floor"], res["cold_start"], res["scaling"], res["memory"]
    main = tp[("spike", 10, 1024)]
    frac = main["floor_fraction_1thread"]
    rows.append(
        (
            "generator floor, d uniform variates per sample (1 thread)",
            f"{fl['ns_per_variate_d10_m1024_1thread']:.2f} ns/variate",
            "-",
            "info",
        )
    )
    for y in res["yardstick"]:
        rows.append(
            (
                f"spike d=10 m={y['m']}: saddle / same-generator yardstick ({y['trials']} trials, all threads)",
                f"{y['ratio']:.2f}x ({y['saddle_s']:.3f} s / {y['yardstick_s']:.3f} s"
                + (f"; in lanes {y['lanes_ratio']:.2f}x" if "lanes_ratio" in y else "")
                + f"; 8 partial sums {y['partials_s']:.3f} s)",
                f"<= {TARGETS['yardstick_ratio']:.1f}x",
                verdict(y["ratio"] <= TARGETS["yardstick_ratio"]),
            )
        )
    rows.append(
        (
            "Philox4x32-10 block (4 variates), one at a time / 64 at once (SIMD)",
            f"{fl['ns_per_philox_block']:.1f} / {fl['ns_per_philox_block_simd']:.1f} ns",
            "-",
            "info",
        )
    )
    rows.append(
        (
            "standard normals, d = 10 a step: rng.normals_at inlined / rng.fill_normals called",
            f"{fl['ns_per_normal_d10']:.1f} / {fl['ns_per_normal_d10_called']:.1f} ns/normal (NumPy: "
            f"{fl['numpy_ns_per_uniform']['pcg64_standard_normal']:.1f})",
            "-",
            "info",
        )
    )
    rows.append(
        (
            "m=1024 d=10: kernel / generator floor (1 thread)",
            f"{100 * frac:.0f}%"
            + (f" (2 thr: {100 * main['floor_fraction_2threads']:.0f}%)" if "floor_fraction_2threads" in main else ""),
            f">= {100 * TARGETS['floor_fraction']:.0f}%",
            verdict(frac >= TARGETS["floor_fraction"]),
        )
    )
    ratio = main["numpy_ratio_top"]
    rows.append(
        (
            "m=1024 d=10: kernel (all threads) / NumPy reference (1 core)",
            f"{ratio:.1f}x (1 thr: {main['numpy_ratio']['1']:.1f}x)",
            f">= {TARGETS['numpy_ratio']:.0f}x",
            verdict(ratio >= TARGETS["numpy_ratio"]),
        )
    )
    if ("quadratic", 10, 1) in tp:
        q = tp[("quadratic", 10, 1)]
        rows.append(
            (
                "quadratic m=1 d=10: kernel (all threads) / NumPy reference (1 core)",
                f"{q['numpy_ratio_top']:.1f}x (1 thr: {q['numpy_ratio']['1']:.1f}x)",
                f">= {TARGETS['quadratic_numpy_ratio']:.0f}x",
                verdict(q["numpy_ratio_top"] >= TARGETS["quadratic_numpy_ratio"]),
            )
        )
    for m in (1, 1024):
        if ("ge2015", 10, m) in tp:
            q = tp[("ge2015", 10, m)]
            rows.append(
                (
                    f"ge2015 m={m} d=10: kernel (all threads) / NumPy reference (1 core)",
                    f"{q['numpy_ratio_top']:.1f}x (1 thr: {q['numpy_ratio']['1']:.1f}x)",
                    f">= {TARGETS['ge2015_numpy_ratio']:.0f}x",
                    verdict(q["numpy_ratio_top"] >= TARGETS["ge2015_numpy_ratio"]),
                )
            )
    m1 = tp[("spike", 10, 1)]
    gen_m1 = fl["ns_per_trial_step_d10_m1_1thread"]
    overhead = m1["ns_per_trial_step_1thread"] - gen_m1
    alone = m1["ns_per_trial_step_1thread_alone"]
    rows.append(
        (
            "m=1 d=10: per-step overhead beyond the generator (1 thread)",
            f"{overhead:.0f} ns (step {m1['ns_per_trial_step_1thread']:.0f} ns in lanes, "
            + ("" if alone is None else f"{alone:.0f} ns alone; ")
            + f"generator {gen_m1:.0f} ns)",
            f"< {TARGETS['step_overhead_ns']:.0f} ns",
            verdict(overhead < TARGETS["step_overhead_ns"]),
        )
    )
    if len(thread_counts()) > 1:
        spike_rows = [r for r in res["throughput"] if r["objective"] == "spike"]
        worst = min(spike_rows, key=lambda r: r["thread_scaling"])
        best = max(spike_rows, key=lambda r: r["thread_scaling"])
        rows.append(
            (
                f"thread scaling 1 -> 2 at {res['settings']['trials']} trials (worst spike case)",
                f"{worst['thread_scaling']:.2f}x (d={worst['d']} m={worst['m']}; best {best['thread_scaling']:.2f}x)",
                f">= {TARGETS['thread_scaling']}x",
                verdict(worst["thread_scaling"] >= TARGETS["thread_scaling"]),
            )
        )
        control = fl["ns_per_variate_d10_m1024_1thread"] / fl["ns_per_variate_d10_m1024_2threads"]
        rows.append(
            ("  control: generator loop 1 -> 2 threads (what the machine gave)", f"{control:.2f}x", "-", "info")
        )
    rows.append(
        (
            "python start; import saddle.escape",
            f"{cs['python_start_s']:.2f} s; {cs['import_saddle_escape_s']:.2f} s",
            "-",
            "info",
        )
    )
    rows.append(
        (
            "first run_trials call: empty cache / warm cache",
            f"{cs['first_call_cold_s']:.2f} s / {cs['first_call_warm_s']:.2f} s",
            "-",
            "info",
        )
    )
    rows.append(
        (
            "main job, empty Numba cache",
            f"{cs['main_job_cold_s']:.1f} s",
            f"< {TARGETS['cold_main_s']:.0f} s",
            verdict(cs["main_job_cold_s"] < TARGETS["cold_main_s"]),
        )
    )
    rows.append(
        (
            "main job, warm cache",
            f"{cs['main_job_warm_s']:.1f} s",
            f"< {TARGETS['warm_main_s']:.0f} s",
            verdict(cs["main_job_warm_s"] < TARGETS["warm_main_s"]),
        )
    )
    fig = cs["main_job_with_figure"]["best"]
    rows.append(
        (
            "warm main job with its figure: wall minus kernel",
            f"{fig['overhead_s']:.2f} s (wall {fig['wall_s']:.2f} s, kernel {fig['kernel_s']:.2f} s)",
            f"< {TARGETS['main_overhead_s']:.1f} s",
            verdict(fig["overhead_s"] < TARGETS["main_overhead_s"]),
        )
    )
    rows.append(
        (
            "  its split: python start; imports; kernel load; figure; rest",
            f"{fig['python_start_s']:.2f}; {fig['imports_s']:.2f}; {fig['kernel_load_s']:.2f}; "
            f"{fig['figure_s']:.2f}; {fig['rest_s']:.2f} s",
            "-",
            "info",
        )
    )
    cold_d, warm_d = cs["main_job_cold_dispatchers"], cs["main_job_warm_dispatchers"]
    kern = ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in cold_d["escape_kernel_specialisations"].items() if v)
    rows.append(("specialisations compiled by the cold main job", f"{cold_d['compiled']} ({kern})", "-", "info"))
    rows.append(
        (
            "functions compiled by the warm main job",
            f"{warm_d['compiled']}",
            f"= {TARGETS['warm_compiles']}",
            verdict(warm_d["compiled"] == TARGETS["warm_compiles"]),
        )
    )
    for label, value in (
        ("time vs trials (500..2000, all threads)", sc["trials"]["exponent"]),
        ("time vs m (32..1024, d=10)", sc["m"]["exponent_m_ge_32"]),
        ("time vs d (10..100, m=256)", sc["d"]["exponent"]),
    ):
        rows.append(
            (f"exponent of {label}", f"{value:.2f}", f"<= {TARGETS['exponent']}", verdict(value <= TARGETS["exponent"]))
        )
    cm = res["cost_model"]
    rows.append(
        (
            "cost model: ns/trial-step = a + b d + m (c + e d)",
            f"a+10b={cm['step_overhead_d10_ns']:.0f}, c={cm['c_ns_per_sample']:.1f}, "
            f"e={cm['e_ns_per_sample_coordinate']:.2f} (fit {100 * cm['max_relative_error']:.0f}%)",
            "-",
            "info",
        )
    )
    for label, key in (
        ("peak memory growth, 100x the steps", "growth_steps_100x_mib"),
        ("peak memory growth, 2048x the batch size", "growth_m_2048x_mib"),
    ):
        rows.append(
            (
                label,
                f"{mem[key]:+.2f} MiB",
                f"< {TARGETS['memory_growth_mib']:.0f} MiB",
                verdict(mem[key] < TARGETS["memory_growth_mib"]),
            )
        )
    rows.append(
        ("  control: peak growth of an 8 MiB array, same probe", f"{mem['control_8mib']:+.2f} MiB", "-", "info")
    )
    ref = res["numpy_check"]
    rows.append(
        (
            "NumPy reference: median escape steps vs kernel (m=32)",
            f"{ref['numpy_median_steps']:.0f} vs {ref['kernel_median_steps']:.0f}",
            f"within {100 * ref['tolerance']:.0f}%",
            verdict(ref["relative_difference"] <= ref["tolerance"]),
        )
    )
    return rows


def format_table(head, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def throughput_table(rows):
    head = [
        "objective",
        "d",
        "m",
        "steps",
        "ns/trial-step (1 thr)",
        "lanes off",
        "sample-grad/s 1 thr",
        "2 thr",
        "scaling",
        "NumPy",
        "kernel/NumPy (2 thr)",
    ]
    out = []
    for r in rows:
        rate = r["sample_gradients_per_s"]
        out.append(
            [
                r["objective"],
                r["d"],
                r["m"],
                r["steps"],
                f"{r['ns_per_trial_step_1thread']:.0f}",
                "-" if not r.get("lanes") else f"{r['ns_per_trial_step_1thread_alone']:.0f}",
                f"{rate['1']:.3g}",
                f"{rate.get('2', float('nan')):.3g}",
                f"{r['thread_scaling']:.2f}x",
                f"{r['numpy_sample_gradients_per_s']:.3g}",
                f"{r['numpy_ratio_top']:.1f}x",
            ]
        )
    return format_table(head, out)


def write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke version (about a minute)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write every figure (JSON)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    start = time.perf_counter()
    res = {"machine": machine(), "settings": dict(asdict(settings), quick=args.quick), "targets": TARGETS}
    res["floor"] = bench_floor(settings)
    res["yardstick"] = bench_yardstick(settings)
    res["throughput"], res["skipped_objectives"] = bench_throughput(settings)
    add_floor_fractions(res["throughput"], res["floor"])
    res["numpy_check"] = check_numpy_reference()
    res["scaling"] = bench_scaling(settings)
    res["cost_model"] = fit_cost_model(cost_model_points(res["throughput"], res["scaling"]))
    res["memory"] = bench_memory(settings)
    res["cold_start"] = bench_cold_start(settings)
    res["total_s"] = time.perf_counter() - start
    res["machine"]["load_average_end"] = os.getloadavg()
    res["machine"]["threading_layer"] = numba.threading_layer()  # known once a parallel kernel ran
    rows = target_rows(res)
    rows.append(
        (
            "whole benchmark",
            f"{res['total_s']:.0f} s",
            f"< {TARGETS['total_s']:.0f} s",
            verdict(res["total_s"] < TARGETS["total_s"]),
        )
    )
    res["table"] = [dict(zip(("figure", "measured", "target", "verdict"), r)) for r in rows]
    mach = res["machine"]
    print(
        f"saddle escape benchmark{' (quick)' if args.quick else ''}: {mach['cpu']}, {mach['cores']} cores, "
        f"numba {mach['numba']} ({mach['threading_layer']}), numpy {mach['numpy']}, {mach['date']}"
    )
    print(
        f"saddle commit {mach['saddle_commit'] or 'unknown'}"
        f"{' (saddle/ has uncommitted changes)' if mach['saddle_sources_modified'] else ''}; "
        f"load average at start {mach['load_average_start'][0]:.2f}, at end {mach['load_average_end'][0]:.2f}\n"
    )
    print(
        "Throughput (sample-gradients per second = trials x steps x m / wall; "
        f"{settings.trials} trials, best of {settings.repeats})"
    )
    print(throughput_table(res["throughput"]))
    for name, entry in OBJECTIVES.items():
        if name in res["skipped_objectives"]:
            print(f"  {name}: skipped, the kernel does not run it here ({res['skipped_objectives'][name]})")
        elif name != "spike":
            print(f"  {name}: the kernel draws {entry[4]}")
    print()
    print(format_table(["figure", "measured", "target", "verdict"], rows))
    write_json(args.json, res)
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
