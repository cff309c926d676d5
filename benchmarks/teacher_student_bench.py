"""Per-step cost of the teacher-student simulations, full and reduced, against N and m.

The recorded run is in docs/objectives.md, "teacher-student: cost per step".

Both modes run through the package kernel (saddle.kernels.run_trials), sgd with K = M = 2 from the
plateau fixed point, with an unreachable target (eps_g <= -1) so that every trial runs exactly
``steps`` steps; the cost per step is wall time / (trials x steps), measured once with one Numba thread
(the latency of one trial's step) and once with the default threads (throughput: trials run in
parallel, so it is the cost per step of the machine, not of a trial).  Steps and trials are chosen per
point so that each measurement takes about ``--seconds`` (after a warm-up run that compiles); each is
repeated REPEATS times and the shortest kept, and the one-thread runs are also timed in CPU seconds of the
process (time.process_time), which other processes on a shared machine disturb much less than the wall
clock.  Run it on a quiet machine: other processes only add time.

The claim: the reduced chain's cost per step does not depend on N, so N = 10^4 costs what N = 10 costs;
the full simulation's grows like K N m (the m N input normals and the K N m multiply-adds).

    python benchmarks/teacher_student_bench.py [--out PATH] [--seconds 0.3] [--quick] [--modes reduced full]

Prints a table and writes JSON to --out (default: a file in the system's temporary folder; never a
tracked file of the repository).
"""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import EscapeConfig  # noqa: E402
from saddle.kernels import run_trials  # noqa: E402

NS = (10, 100, 1000, 10000)
MS = (1, 16, 64)
K = 2
REPEATS = 3
"""Each point is timed this many times; the shortest counts (other processes only ever add time)."""


def setup(mode, N, m):
    config = EscapeConfig(objective="teacher-student", N=N, K=K, M=K, start="plateau", simulation=mode, m=(m,), eta=1.0)
    objective = config.build_objective()
    return objective, np.asarray(objective.start_point_for(config, m), dtype=np.float64)


def timed(objective, u0, m, steps, trials, clock=time.perf_counter):
    t0 = clock()
    block = run_trials(
        objective,
        u0,
        optimizer="sgd",
        batch_size=m,
        eta=1.0,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=steps,
        seed=0,
        trial_start=0,
        n_trials=trials,
        target=-1.0,
    )
    wall = clock() - t0
    if not np.all(block.steps == steps):
        raise RuntimeError(f"a trial stopped early: steps {sorted(set(block.steps.tolist()))}")
    return wall


def measure(mode, N, m, threads, seconds):
    """Seconds per step (wall / (trials x steps)) with ``threads`` Numba threads."""
    numba.set_num_threads(threads)
    objective, u0 = setup(mode, N, m)
    timed(objective, u0, m, 2, 2)  # compile (or load from the cache)
    trials = 4 * threads
    steps = 8
    wall = timed(objective, u0, m, steps, trials)
    while wall < seconds / 8:  # grow the run until it is long enough to time
        steps *= 4
        wall = timed(objective, u0, m, steps, trials)
    steps = max(2, int(steps * seconds / max(wall, 1e-9)))
    wall = min(timed(objective, u0, m, steps, trials) for _ in range(REPEATS))  # the least disturbed run
    cpu = math.nan
    if threads == 1:  # CPU time of the one thread: what a shared machine disturbs least
        cpu = min(timed(objective, u0, m, steps, trials, time.process_time) for _ in range(REPEATS))
    return wall / (trials * steps), cpu / (trials * steps), steps, trials


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "teacher_student_bench.json"))
    ap.add_argument("--seconds", type=float, default=0.3, help="target wall time of each measurement")
    ap.add_argument("--quick", action="store_true", help="N = 10, 1000 and m = 1, 16 only")
    ap.add_argument("--modes", nargs="+", choices=("reduced", "full"), default=["reduced", "full"])
    args = ap.parse_args()
    out = Path(args.out).resolve()
    try:  # refuse to overwrite a tracked file
        import subprocess

        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(out)], cwd=ROOT, capture_output=True)
        if tracked.returncode == 0:
            raise SystemExit(f"refusing to overwrite the tracked file {out}; give another --out")
    except FileNotFoundError:
        pass
    ns, ms = ((10, 1000), (1, 16)) if args.quick else (NS, MS)
    default_threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    print(
        f"{'mode':8s} {'N':>6s} {'m':>4s} {'us/step, 1 thread':>18s} {'CPU us/step':>14s} "
        f"{f'us/step, {default_threads} threads':>19s} {'steps x trials (1 thread)':>26s}"
    )
    for mode in args.modes:
        for N in ns:
            for m in ms:
                one, cpu, steps1, trials1 = measure(mode, N, m, 1, args.seconds)
                many, _, _, _ = measure(mode, N, m, default_threads, args.seconds)
                rows.append(
                    dict(
                        mode=mode,
                        N=N,
                        m=m,
                        K=K,
                        us_per_step_1_thread=1e6 * one,
                        cpu_us_per_step_1_thread=1e6 * cpu,
                        us_per_step_default_threads=1e6 * many,
                        default_threads=default_threads,
                        steps=steps1,
                        trials=trials1,
                    )
                )
                print(
                    f"{mode:8s} {N:6d} {m:4d} {1e6 * one:18.2f} {1e6 * cpu:14.2f} {1e6 * many:19.2f} "
                    f"{f'{steps1} x {trials1}':>26s}",
                    flush=True,
                )
    red = {(r["N"], r["m"]): r["us_per_step_1_thread"] for r in rows if r["mode"] == "reduced"}
    full = {(r["N"], r["m"]): r["us_per_step_1_thread"] for r in rows if r["mode"] == "full"}
    if red:
        print("\nreduced chain, cost at the largest N over the cost at the smallest (1 thread):")
        for m in ms:
            vs = ""
            if full:
                vs = f"   (full at N = {ns[-1]}: {full[(ns[-1], m)] / red[(ns[-1], m)]:.0f} x the reduced chain)"
            print(f"  m = {m}: {red[(ns[-1], m)] / red[(ns[0], m)]:.2f}{vs}")
    doc = dict(
        benchmark="teacher_student_bench",
        python=platform.python_version(),
        numba=numba.__version__,
        numpy=np.__version__,
        machine=platform.machine(),
        processor=platform.processor(),
        cpu_count=os.cpu_count(),
        default_threads=default_threads,
        seconds_per_point=args.seconds,
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        rows=rows,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"\nwrote {out}")
    return 0 if all(math.isfinite(r["us_per_step_1_thread"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
