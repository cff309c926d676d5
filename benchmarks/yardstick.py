"""The yardstick: a small hand-tuned escape kernel for the default spike experiment, on saddle's generator.

    python benchmarks/yardstick.py    # yardstick and saddle side by side, 2000 trials per m, in one run

(benchmarks/escape_bench.py runs the same comparison among its figures.)

What it runs is the default experiment of ``python -m saddle.experiments escape``: mini-batch SGD on the
spike objective (docs/objectives.md) with uniform data, A = I, from the s = 2 saddle, step size eta,
escape at the first f(u_t) <= f(u_0) - delta, censored at max_steps.  It uses the same generator
(Philox4x32-10 with key (seed, trial) and the stream layout of saddle.rng: coordinate k of sample i
is 32-bit word i d + k of step t's DATA stream, u = (h + 0.5) 2**-32) and the same order of every sum
as saddle's kernel (docs/performance.md), so its escape steps and final f equal saddle's trial by
trial, bit for bit (checked before every timing).  It is written for speed and nothing else: no
objective but this one, no options, no recording, no validation.

Its structure, per trial and step:

- the m samples in tiles of TILE = 128 that stay in the L1 cache;
- a tile's Philox blocks in one loop over blocks, which LLVM vectorises across blocks (several
  blocks per SIMD instruction);
- each word stored as the bits of the double 2**52 + h, so that it becomes a variate by an
  or, a bit cast and a subtraction in vector registers (AVX2 has no vector conversion of 64-bit
  integers to doubles);
- the dot products u.x of four samples at a time, four independent chains of additions that the
  CPU overlaps, each in coordinate order; then c**3 x added into g sample by sample;
- no allocation inside the step loop; trials split over threads (the kernel releases the GIL).

Plain ``numba.njit`` (no fastmath: no fused multiply-adds, no reassociation), as saddle's kernels.

A second variant, ``gradient_partials``, sums over samples in eight partial sums with the tile's
variates transposed, so that the dot products and partial sums run in vector instructions across
samples (the layout that suits AVX-512).  Its order differs from saddle's, so its escapes equal
saddle's in law only; it is timed beside the first as the evidence for the order saddle keeps.
"""

import argparse
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

TILE = 128
"""Samples per tile (a multiple of 8, so that every tile starts on a whole Philox block)."""
PARTIALS = 8
"""Partial sums per coordinate of the sum over samples."""

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_LOW32 = np.uint64(0xFFFFFFFF)
_SQRT3 = math.sqrt(3.0)
_TWO_M32 = 2.0**-32
_KAPPA = -6.0 / 5.0  # uniform data
_TWO52 = 2.0**52
_TWO52_BITS = np.uint64(0x4330000000000000)  # the bits of the double 2**52

jit = numba.njit(nogil=True, cache=True, error_model="numpy")


@jit
def philox_words(k0s, k1s, trial, t, m, j0, nb, out):
    """Blocks j0 .. j0 + nb - 1 of step t's DATA stream of the trial, word l of block j0 + b into
    out[4 b + l] as the bits of the double 2**52 + word (so that the word's value is that double minus
    2**52, exactly: a conversion AVX2 does in vector registers, which uint64 -> double is not)."""
    c1s = np.uint64(trial)
    c2s = np.uint64(t)
    c3s = np.uint64(m) - np.uint64(1)  # purpose DATA = 0
    first = np.uint64(j0) + np.uint64(1)
    for b in range(nb):
        c0 = first + np.uint64(b)
        c1, c2, c3 = c1s, c2s, c3s
        k0, k1 = k0s, k1s
        for r in range(10):
            if r > 0:
                k0 = (k0 + _W0) & _LOW32
                k1 = (k1 + _W1) & _LOW32
            p0 = _M0 * c0
            p1 = _M1 * c2
            c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _LOW32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _LOW32
        out[4 * b] = c0 | _TWO52_BITS
        out[4 * b + 1] = c1 | _TWO52_BITS
        out[4 * b + 2] = c2 | _TWO52_BITS
        out[4 * b + 3] = c3 | _TWO52_BITS


@jit
def gradient(u, k0s, k1s, trial, t, m, words, C, P, g):
    """g = the mean over the m samples of step t of (12 ||u||^2 u - 4 (u.x)^3 x) / kappa: the sum over
    samples in sample order, each u.x in coordinate order (saddle's order); the dot products of four
    samples at a time (four independent chains that the CPU overlaps)."""
    d = u.shape[0]
    x = words.view(np.float64)  # the tile's variates, sample-major, in place of their words
    norm2 = 0.0
    for k in range(d):
        norm2 += u[k] * u[k]
        g[k] = 0.0
    for i0 in range(0, m, TILE):
        nt = min(TILE, m - i0)
        nw = nt * d
        philox_words(k0s, k1s, trial, t, m, i0 * d // 4, (nw + 3) // 4, words)
        for q in range(nw):
            x[q] = _SQRT3 * (2.0 * ((x[q] - _TWO52 + 0.5) * _TWO_M32) - 1.0)
        n4 = nt - nt % 4
        for s in range(0, n4, 4):
            o = s * d
            c0 = c1 = c2 = c3 = 0.0
            for k in range(d):
                uk = u[k]
                c0 += uk * x[o + k]
                c1 += uk * x[o + d + k]
                c2 += uk * x[o + 2 * d + k]
                c3 += uk * x[o + 3 * d + k]
            C[s] = c0 * c0 * c0
            C[s + 1] = c1 * c1 * c1
            C[s + 2] = c2 * c2 * c2
            C[s + 3] = c3 * c3 * c3
        for s in range(n4):
            o = s * d
            for k in range(d):
                g[k] += C[s] * x[o + k]
        for o in range(n4 * d, nw, d):
            c = 0.0
            for k in range(d):
                c += u[k] * x[o + k]
            cube = c * c * c
            for k in range(d):
                g[k] += cube * x[o + k]
    scale = -4.0 / (m * _KAPPA)
    for k in range(d):
        g[k] = scale * g[k] + (12.0 / _KAPPA) * norm2 * u[k]


@jit
def gradient_partials(u, k0s, k1s, trial, t, m, words, C, P, g):
    """The same gradient with the sum over samples in eight partial sums (sample i into partial sum
    i mod 8, combined as ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))), the variates transposed so
    that the tile's dot products and partial sums run in vector instructions across samples: the
    layout that suits AVX-512.  Its escapes equal saddle's in law, not bit for bit (another order)."""
    d = u.shape[0]
    x = words.view(np.float64)
    X = P[:, PARTIALS:]  # (d, TILE): the tile's variates, coordinate-major
    norm2 = 0.0
    for k in range(d):
        norm2 += u[k] * u[k]
        for q in range(PARTIALS):
            P[k, q] = 0.0
    for i0 in range(0, m, TILE):
        nt = min(TILE, m - i0)
        nw = nt * d
        philox_words(k0s, k1s, trial, t, m, i0 * d // 4, (nw + 3) // 4, words)
        for s in range(nt):
            for k in range(d):
                X[k, s] = _SQRT3 * (2.0 * ((x[s * d + k] - _TWO52 + 0.5) * _TWO_M32) - 1.0)
        for s in range(nt):
            C[s] = 0.0
        for k in range(d):  # the dot products of all the tile's samples, coordinate by coordinate
            uk = u[k]
            for s in range(nt):
                C[s] += uk * X[k, s]
        for s in range(nt):
            C[s] = C[s] * C[s] * C[s]
        n8 = nt - nt % PARTIALS
        for k in range(d):  # sample i0 + s into partial sum s mod 8 (i0 is a multiple of 8)
            for s0 in range(0, n8, PARTIALS):
                for q in range(PARTIALS):
                    P[k, q] += C[s0 + q] * X[k, s0 + q]
            for s in range(n8, nt):
                P[k, s - n8] += C[s] * X[k, s]
    scale = -4.0 / (m * _KAPPA)
    for k in range(d):
        acc = ((P[k, 0] + P[k, 1]) + (P[k, 2] + P[k, 3])) + ((P[k, 4] + P[k, 5]) + (P[k, 6] + P[k, 7]))
        g[k] = scale * acc + (12.0 / _KAPPA) * norm2 * u[k]


def make_trials(gradient):
    """The trial loop around a gradient: trials lo .. hi - 1, their escape step (max_steps if censored)
    and final f; sgd's step as saddle's (projection, step, normalisation), f, the f-drop criterion."""

    @jit
    def trials(lo, hi, seed, u0, m, eta, delta, max_steps, steps, final_f):
        d = u0.shape[0]
        k0s = np.uint64(seed) & _LOW32
        k1s = np.uint64(seed) >> np.uint64(32)
        words = np.empty(TILE * d + 4, dtype=np.uint64)
        C = np.empty(TILE)
        P = np.empty((d, PARTIALS + TILE))
        g = np.empty(d)
        u = np.empty(d)
        for trial in range(lo, hi):
            f0 = 0.0
            for k in range(d):
                u[k] = u0[k]
                c2 = u[k] * u[k]
                f0 -= c2 * c2
            f = f0
            done = max_steps
            for t in range(1, max_steps + 1):
                gradient(u, k0s, k1s, trial, t, m, words, C, P, g)
                ug = 0.0
                for k in range(d):
                    ug += u[k] * g[k]
                norm2 = 0.0
                for k in range(d):
                    u[k] = u[k] + -eta * (g[k] - ug * u[k])
                    norm2 += u[k] * u[k]
                inv = 1.0 / math.sqrt(norm2)
                f = 0.0
                for k in range(d):
                    u[k] *= inv
                    c2 = u[k] * u[k]
                    f -= c2 * c2
                if f <= f0 - delta:
                    done = t
                    break
            steps[trial] = done
            final_f[trial] = f

    return trials


TRIALS = {"sample order": make_trials(gradient), "8 partial sums": make_trials(gradient_partials)}


def run(n_trials, m, *, d=10, eta=0.01, delta=0.1, max_steps=10_000, seed=0, threads=None, order="sample order"):
    """(steps, final_f) of n_trials trials of the default spike experiment, over ``threads`` threads
    (default: Numba's thread count), the sum over samples in ``order`` (a key of TRIALS)."""
    u0 = np.zeros(d)
    u0[:2] = 1.0 / math.sqrt(2.0)
    steps = np.empty(n_trials, dtype=np.int64)
    final_f = np.empty(n_trials)
    threads = threads or numba.get_num_threads()
    chunk = max(1, -(-n_trials // (4 * threads)))
    args = (seed, u0, m, eta, delta, max_steps, steps, final_f)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        jobs = [pool.submit(TRIALS[order], lo, min(n_trials, lo + chunk), *args) for lo in range(0, n_trials, chunk)]
        for job in jobs:
            job.result()
    return steps, final_f


def check_words():
    """The words equal saddle.rng.words (step 7 of trial 3, seed 2**40 + 5, m = 64)."""
    from saddle import rng

    seed, trial, t, m, nb = 2**40 + 5, 3, 7, 64, 160
    out = np.empty(4 * nb, dtype=np.uint64)
    philox_words(np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), trial, t, m, 0, nb, out)
    got = out.view(np.float64) - _TWO52
    if not np.array_equal(got, rng.words(seed, trial, t, m, rng.DATA, 4 * nb).astype(np.float64)):
        raise RuntimeError("the yardstick's words differ from saddle.rng.words")


def saddle_run(n_trials, m, *, eta=0.01, delta=0.1, max_steps=10_000, seed=0, lanes=None):
    """saddle's kernel on the same experiment (saddle.kernels.run_trials, Numba's thread count):
    (steps, final_f).  ``lanes`` None: as the main job runs it (lanes only for runs of at least
    LANES_MIN_WORK trial-steps, so one trial at a time here); True: in lockstep lanes where the
    objective has them (the spike, at every m)."""
    from saddle.kernels import run_trials
    from saddle.objectives.spike import SpikeTensor

    obj = SpikeTensor(10, "uniform")
    block = run_trials(
        obj, obj.saddle(2), optimizer="sgd", batch_size=m, eta=eta, sigma_iso=0.0, delta=delta, radius=None,
        max_steps=max_steps, seed=seed, trial_start=0, n_trials=n_trials, lanes=lanes,
    )  # fmt: skip
    return block.steps, block.final_f


def compare(ms=(1, 4, 32, 1024), trials=2000, repeats=5, log=print):
    """For each m: the yardstick (sample order and eight partial sums) and saddle, timed alternately
    ``repeats`` times in the same run (median wall seconds), after checking that the yardstick's words
    are saddle.rng's and that its escapes in sample order equal saddle's trial by trial (steps and
    final f, bit for bit).  Returns one dict per m."""
    from saddle.objectives.spike import SpikeTensor

    check_words()
    rows = []
    for m in ms:
        ys, yf = run(trials, m)
        ss, sf = saddle_run(trials, m)
        if not (np.array_equal(ys, ss) and np.array_equal(yf, sf)):
            raise RuntimeError(f"m = {m}: the yardstick's escapes differ from saddle's")
        run(trials, m, order="8 partial sums")
        fns = {
            "yardstick_s": lambda m=m: run(trials, m),
            "partials_s": lambda m=m: run(trials, m, order="8 partial sums"),
            "saddle_s": lambda m=m: saddle_run(trials, m),
        }
        if m < SpikeTensor.kernel.lanes_below_m:  # where the spike has lockstep lanes
            ls, lf = saddle_run(trials, m, lanes=True)
            if not (np.array_equal(ls, ss) and np.array_equal(lf, sf)):
                raise RuntimeError(f"m = {m}: saddle's lanes differ from its one-trial path")
            fns["saddle_lanes_s"] = lambda m=m: saddle_run(trials, m, lanes=True)
        walls = {key: [] for key in fns}
        for _ in range(repeats):
            for key, fn in fns.items():
                start = time.perf_counter()
                fn()
                walls[key].append(time.perf_counter() - start)
        row = {"m": m, "trials": trials, "median_steps": float(np.median(ys)), "equal_trial_by_trial": True}
        row.update({key: float(np.median(w)) for key, w in walls.items()})
        row["ratio"] = row["saddle_s"] / row["yardstick_s"]
        # each repeat's saddle time over the yardstick's of the same repeat (seconds apart): the load of
        # the machine moves both, so these ratios scatter less than the times
        paired = np.array(walls["saddle_s"]) / np.array(walls["yardstick_s"])
        row["paired_ratios"] = paired.tolist()
        row["paired_ratio_median"] = float(np.median(paired))
        row["paired_ratio_quartiles"] = [float(q) for q in np.percentile(paired, [25, 75])]
        if "saddle_lanes_s" in row:
            row["lanes_ratio"] = row["saddle_lanes_s"] / row["yardstick_s"]
        rows.append(row)
        log(f"yardstick m={m}: saddle {row['saddle_s']:.3f} s, yardstick {row['yardstick_s']:.3f} s")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[1, 4, 32, 1024])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{args.trials} trials per m, median of {args.repeats}, {numba.get_num_threads()} threads")
    load0 = os.getloadavg()[0]
    rows = compare(args.m, args.trials, args.repeats, log=lambda _: None)
    head = f"{'m':>5}  {'saddle':>8}  {'yardstick':>9}  {'saddle/yardstick':>16}  {'paired [quartiles]':>20}"
    print(f"{head}  {'in lanes':>14}  {'8 partial sums':>14}  median steps")
    for r in rows:
        lanes = f"{r['saddle_lanes_s']:.3f}s ({r['lanes_ratio']:.2f}x)" if "lanes_ratio" in r else "-"
        q1, q3 = r["paired_ratio_quartiles"]
        paired = f"{r['paired_ratio_median']:.2f}x [{q1:.2f}, {q3:.2f}]"
        print(
            f"{r['m']:>5}  {r['saddle_s']:>7.3f}s  {r['yardstick_s']:>8.3f}s  {r['ratio']:>15.2f}x  {paired:>20}  "
            f"{lanes:>14}  {r['partials_s']:>13.3f}s  {r['median_steps']:.0f}"
        )
    load1 = os.getloadavg()[0]
    print(f"escapes equal trial by trial at every m; load average {load0:.2f} at start, {load1:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
