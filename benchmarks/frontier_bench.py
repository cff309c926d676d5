"""How long the default frontier takes, and where the time goes.

    python benchmarks/frontier_bench.py            # the default: spike, m = 1 .. 4096, 1000 trials a cell
    python benchmarks/frontier_bench.py --trials 200 --m 1 16 256

Runs the frontier twice into fresh folders in one process: first as a new user's first run (the kernel
loaded from the Numba cache or compiled), then warm; then a third time into the warm run's folder, where
every cell is read back (the resume).  For each it prints the wall seconds and splits them into the
kernel's seconds (summed over the cells' trials), the rest of each cell (the summary's bootstrap, the
theory columns, storing), the fit's bootstrap, the noise scale and the theory's frontier.  A benchmark,
not a test: docs/performance.md quotes a run with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from saddle.config import EscapeConfig
from saddle.frontier import run as frontier_run
from saddle.frontier.config import DEFAULT_M, FrontierConfig


def one_run(config: FrontierConfig, out: Path) -> dict[str, float]:
    spent: dict[str, float] = {"noise": 0.0, "theory": 0.0, "fit bootstrap": 0.0}
    originals = (frontier_run._noise, frontier_run._theory, frontier_run.bootstrap_fit)

    def wrap(name, fn):
        def inner(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - start

        return inner

    frontier_run._noise = wrap("noise", originals[0])
    frontier_run._theory = wrap("theory", originals[1])
    frontier_run.bootstrap_fit = wrap("fit bootstrap", originals[2])
    try:
        started = time.time()
        start = time.perf_counter()
        result = frontier_run.run_frontier(config, out=out)
        total = time.perf_counter() - start
    finally:
        frontier_run._noise, frontier_run._theory, frontier_run.bootstrap_fit = originals
    fresh = np.array([(out / "cells" / key / "cell.json").stat().st_mtime >= started for key in result.tuning["cell"]])
    kernel = float(np.nansum(np.where(fresh, result.tuning["wall_seconds"], 0.0)))  # stored cells ran before
    cells = int(fresh.sum())
    rest = total - kernel - sum(spent.values())
    return {"total": total, "cells run": cells, "kernel": kernel, **spent, "cells' other work": rest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=list(DEFAULT_M))
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    config = FrontierConfig(EscapeConfig(m=tuple(args.m), trials=args.trials))
    load = os.getloadavg()
    print(
        f"frontier: spike d = 10, m = {args.m[0]} .. {args.m[-1]}, {args.trials} trials a cell; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        runs["first (cache as found)"] = one_run(config, Path(tmp) / "a")
        runs["warm"] = one_run(config, Path(tmp) / "b")
        runs["resume (all cells stored)"] = one_run(config, Path(tmp) / "b")
        shutil.rmtree(Path(tmp) / "a", ignore_errors=True)
    keys = ["total", "cells run", "kernel", "cells' other work", "fit bootstrap", "noise", "theory"]
    print(f"{'run':28s}" + "".join(f"{k:>18s}" for k in keys))
    for name, row in runs.items():
        print(f"{name:28s}" + "".join(f"{row[k]:18.1f}" if k != "cells run" else f"{row[k]:18d}" for k in keys))


if __name__ == "__main__":
    main()
