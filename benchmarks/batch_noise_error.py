"""The error and the speed of the Gaussian batch-noise mode against exact sampling (docs/escape.md).

    python benchmarks/batch_noise_error.py                       # the spike, 1000 trials a batch size
    python benchmarks/batch_noise_error.py --objective ge2015    # ge2015 at its defaults
    python benchmarks/batch_noise_error.py --target -0.95        # the steps to a target instead
    python benchmarks/batch_noise_error.py --trials 200          # a quicker look

The objective at its defaults (the spike: d = 10, s = 2, uniform data, eta = 0.01; ge2015: d = k = 5,
uniform data, per-column samples, the collision start, eta = 0.005), sgd, the f-drop escape (delta = 0.1)
or with --target the step of f <= target, seed 0: for each m, the steps of 'exact' (m sampled per-sample
gradients a step) and of 'gaussian' (the exact gradient plus N(0, Sigma(u)/m)) are compared by a
two-sample KS test, beside the medians with their 95% bootstrap intervals from the runs' summaries.  Then
the cost of one step of each mode at m = 4096 (--cost-m): every trial runs exactly its steps (an f-drop it
cannot make), one Numba thread, CPU time per trial-step.  Prints two tables; writes them as JSON with --json.

A benchmark, not a test: it asserts nothing.  The mode is exact in law where the per-sample noise is
Gaussian (the quadratic; tests/test_batch_noise.py), so what this measures is the error of the central
limit on the non-Gaussian per-sample gradients of the spike and of ge2015.
"""

import argparse
import json
import time

import numba
import numpy as np
import scipy.stats

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.kernels import run_trials

MODES = ("exact", "gaussian")
NEVER = 1e3
"""An f-drop the spike cannot make: every trial of the cost measurement runs exactly its steps."""


def error_table(objective, ms, trials, seed, target=None):
    """Per m: both modes' medians with intervals, the KS statistic and p-value, and each run's wall time
    (the steps of the f-drop, or with ``target`` the steps to f <= target)."""
    runs = {
        mode: run_escape(
            objective=objective, m=ms, trials=trials, seed=seed, batch_noise=mode, target=target, record_trials=0
        )
        for mode in MODES
    }
    rows = []
    for i, m in enumerate(ms):
        row = {"m": m}
        for mode in MODES:
            s = runs[mode].summary[i]
            row[mode] = {
                k: s[k] for k in ("median_steps", "median_steps_lo", "median_steps_hi", "escaped", "wall_seconds")
            }
        a, b = (runs[mode].by_m[m].steps for mode in MODES)
        ks = scipy.stats.ks_2samp(a, b)
        row["ks_statistic"], row["ks_pvalue"] = float(ks.statistic), float(ks.pvalue)
        rows.append(row)
    return rows


def step_cost(name, m, steps, trials=2):
    """CPU seconds per trial-step of each mode at batch size m (one Numba thread; the kernel compiled first)."""
    config = EscapeConfig(objective=name)
    objective = config.objective_class.from_config(config)
    u0 = objective.start_point(config)
    numba.set_num_threads(1)
    out = {}
    for mode, n_steps in zip(MODES, steps):
        options = dict(
            optimizer="sgd",
            batch_size=m,
            eta=config.eta,
            sigma_iso=0.0,
            delta=NEVER,
            radius=None,
            max_steps=n_steps,
            seed=0,
            trial_start=0,
            batch_noise=mode,
        )
        run_trials(objective, u0, n_trials=0, **options)  # compile, or load from the disk cache
        best = np.inf
        for _ in range(3):
            start = time.process_time()
            run_trials(objective, u0, n_trials=trials, **options)
            best = min(best, (time.process_time() - start) / (trials * n_steps))
        out[mode] = best
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=("spike", "ge2015"), default="spike")
    parser.add_argument("--m", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=None, help="time the steps to f <= TARGET, not the f-drop")
    parser.add_argument("--cost-m", type=int, default=4096)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()

    rows = error_table(args.objective, args.m, args.trials, args.seed, args.target)
    config = EscapeConfig(objective=args.objective)
    escape = "f-drop 0.1" if args.target is None else f"target f <= {args.target:g}"
    print(f"{config.describe()}, sgd, eta = {config.eta:g}, {escape}, {args.trials} trials a mode, seed {args.seed}")
    print(f"{'m':>6}  {'exact: median [95% CI]':>24}  {'gaussian: median [95% CI]':>26}  {'KS D':>6}  {'KS p':>8}")
    for r in rows:
        cells = [
            f"{r[mode]['median_steps']:g} [{r[mode]['median_steps_lo']:g}, {r[mode]['median_steps_hi']:g}]"
            for mode in MODES
        ]
        print(f"{r['m']:>6}  {cells[0]:>24}  {cells[1]:>26}  {r['ks_statistic']:6.3f}  {r['ks_pvalue']:8.2g}")
    not_escaped = {mode: sum(args.trials - r[mode]["escaped"] for r in rows) for mode in MODES}
    print(f"trials not escaped by max_steps: exact {not_escaped['exact']}, gaussian {not_escaped['gaussian']}")

    cost = step_cost(args.objective, args.cost_m, steps=(400, 40000) if args.objective == "spike" else (40, 4000))
    gain = cost["exact"] / cost["gaussian"]
    print(f"\ncost of one step at m = {args.cost_m} (CPU, one thread):")
    print(f"  exact    {cost['exact'] * 1e6:9.3f} us")
    print(f"  gaussian {cost['gaussian'] * 1e6:9.3f} us   ({gain:.0f} times less)")
    if args.json:
        with open(args.json, "w") as fh:
            numbers = {"objective": args.objective, "target": args.target, "rows": rows}
            json.dump(numbers | {"cost_m": args.cost_m, "seconds_per_step": cost}, fh, indent=2)


if __name__ == "__main__":
    main()
