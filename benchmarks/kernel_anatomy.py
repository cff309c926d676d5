"""Where the spike kernel's time goes: its step taken apart, each part timed alone, on one thread.

    python benchmarks/kernel_anatomy.py [--m 1 4 32 1024] [--json PATH]

Evidence for docs/performance.md, not a test.  The default experiment (spike d = 10, s = 2, uniform
data, identity frame, sgd, eta = 0.01, the f-drop criterion) is timed in nanoseconds per trial-step,
one thread, as the median of alternating repeats:

  generator   the step's m d random words and their variates, drawn as the gradient draws them
              (rng.stream_word_doubles, rng.data_variates_in_place, in tiles of spike.tile_samples)
  gradient    spike.minibatch_gradient alone: the generator plus u.x, c**3 and the sum over samples
  yardstick   the whole trial of benchmarks/yardstick.py (gradient, step, f, criterion; hand-written)
  saddle      the whole trial in saddle's kernel, one trial at a time (run_trials, lanes off)
  lanes       the same in lockstep lanes of 8 trials (what runs of 10^8 trial-steps and more get)

so that gradient - generator is the arithmetic of the gradient, yardstick - gradient the rest of a
hand-written step, and saddle - yardstick what saddle's general template (any objective, optimiser,
criterion, schedule) costs beyond it.  The yardstick and saddle are first checked equal trial by trial.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
import yardstick  # benchmarks/yardstick.py

from saddle import rng
from saddle.kernels import run_trials
from saddle.objectives import spike

D = 10
TRIALS = 300  # trials of the whole-trial timings (one thread)
STEPS = {1: 200_000, 4: 100_000, 32: 20_000, 1024: 800}  # steps of the generator and gradient loops


@numba.njit(nogil=True, error_model="numpy")
def _generator(n_steps, m, d, block, out):
    """n_steps steps' words and variates, drawn as spike.minibatch_gradient draws them; summed."""
    tile = spike.tile_samples(d)
    buf = block.view(np.float64)
    acc = 0.0
    for t in range(1, n_steps + 1):
        for i0 in range(0, m, tile):
            nw = min(tile, m - i0) * d
            rng.stream_word_doubles(np.uint64(0), np.uint64(1), t, m, rng.DATA, i0 * d // 4, (nw + 3) // 4, block)
            rng.data_variates_in_place(buf, nw, rng.UNIFORM)
            acc += buf[0]
    out[0] = acc


@numba.njit(nogil=True, error_model="numpy")
def _gradient(n_steps, m, u, A, block, z, x, g):
    """n_steps calls of spike.minibatch_gradient (identity frame, uniform data) at u."""
    for t in range(1, n_steps + 1):
        spike.minibatch_gradient(u, A, False, -1.2, rng.UNIFORM, np.uint64(0), np.uint64(1), t, m, z, x, block, g)


def _trials(m, lanes):
    obj = spike.SpikeTensor(D, "uniform")
    return run_trials(
        obj, obj.saddle(2), optimizer="sgd", batch_size=m, eta=0.01, sigma_iso=0.0, delta=0.1, radius=None,
        max_steps=10_000, seed=0, trial_start=0, n_trials=TRIALS, lanes=lanes,
    )  # fmt: skip


def anatomy(m, repeats=7):
    """ns per trial-step of each part at batch size m (one thread), medians of alternating repeats."""
    numba.set_num_threads(1)
    u = spike.SpikeTensor(D).saddle(2) + 1e-3
    u /= np.linalg.norm(u)
    block = np.empty(spike.scratch_words(0, D, np.zeros(2, np.int64)), dtype=np.uint64)
    z, x, g, out = np.empty(D), np.empty(D), np.empty(D), np.empty(1)
    A = np.eye(D)
    n = STEPS[m] if m in STEPS else max(100, 4_000_000 // (m * D))
    ys, _ = yardstick.run(TRIALS, m, threads=1)
    saddle_steps = _trials(m, lanes=False).steps
    if not np.array_equal(ys, saddle_steps):
        raise RuntimeError(f"m = {m}: the yardstick's escapes differ from saddle's")
    trial_steps = int(ys.sum())
    parts = {
        "generator": (lambda: _generator(n, m, D, block, out), n),
        "gradient": (lambda: _gradient(n, m, u, A, block, z, x, g), n),
        "yardstick": (lambda: yardstick.run(TRIALS, m, threads=1), trial_steps),
        "saddle": (lambda: _trials(m, lanes=False), trial_steps),
    }
    if m < spike.SpikeTensor.kernel.lanes_below_m:
        parts["lanes"] = (lambda: _trials(m, lanes=True), trial_steps)
    for fn, _ in parts.values():
        fn()  # compile, or load from the cache
    walls = {name: [] for name in parts}
    for _ in range(repeats):
        for name, (fn, _) in parts.items():
            start = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - start)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {name: float(np.median(walls[name])) / count * 1e9 for name, (_, count) in parts.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[1, 4, 32, 1024])
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = {m: anatomy(m) for m in args.m}
    names = ["generator", "gradient", "yardstick", "saddle", "lanes"]
    print(f"ns per trial-step, one thread, spike d = {D}, medians of 7 alternating repeats")
    print(f"{'m':>5}" + "".join(f"  {name:>10}" for name in names) + "  saddle/yardstick")
    for m, row in rows.items():
        cells = "".join(f"  {row[name]:>10.0f}" if name in row else f"  {'-':>10}" for name in names)
        best = min(row["saddle"], row.get("lanes", np.inf))
        print(f"{m:>5}{cells}  {best / row['yardstick']:>15.2f}x")
    print(f"load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    if args.json:
        Path(args.json).write_text(json.dumps({str(m): r for m, r in rows.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
