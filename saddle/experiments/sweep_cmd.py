"""``sweep``: a grid of escape configurations from a TOML file, run into one resumable results folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from saddle.experiments.common import (
    EXIT_INTERRUPTED,
    OutputError,
    Parser,
    add_run_arguments,
    fmt_steps,
    integer,
    name_interrupted_run,
    name_run,
    naming,
)

HELP = "a grid of escape configurations from a TOML file, resumable, in-process or on Dask"


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    p = sub.add_parser(
        "sweep",
        help=HELP,
        description=HELP + ". See docs/sweeps.md for the config file and the folder layout.",
    )
    p.add_argument("config_file", nargs="?", default=None, metavar="FILE", help="the sweep's TOML file")
    p.add_argument("--config", default=None, metavar="FILE", help="the sweep's TOML file (the same as FILE)")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="results folder (default: [sweep] out of the config, else saddle-results/sweep-NAME); "
        "rerunning into it skips the cells already stored",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=integer,
        default=None,
        metavar="N",
        help="run the cells on a Dask LocalCluster of N worker processes (needs saddle[cluster])",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the cells on the Dask cluster at tcp://HOST:PORT (needs saddle[cluster])",
    )
    where.add_argument(
        "--plot-only", action="store_true", help="redraw the figures from the stored tables; run nothing"
    )
    p.add_argument(
        "--threads",
        type=integer,
        default=None,
        metavar="N",
        help="Numba threads per cell (default: all cores in-process, 1 per local worker)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw the figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    add_run_arguments(p)
    return p


def format_table(summary: Mapping[str, np.ndarray], swept: Sequence[str]) -> str:
    """The stdout table: one row per stored cell, its swept parameters then the escape numbers."""
    head = (*swept, "eta_m", "median steps [95% CI]", "median samples", "escaped", "censored", "diverged", "wall s")
    rows = []
    for i in range(len(summary["cell"])):
        lb = bool(summary["median_is_lower_bound"][i])
        med, lo, hi = (float(summary[k][i]) for k in ("median_steps", "median_steps_lo", "median_steps_hi"))
        ci = "" if lb else f" [{fmt_steps(lo)}, {fmt_steps(hi)}]"
        per_step = float(summary["median_samples"][i]) / med  # m, or k m for ge2015's per-column sampling
        samples = f">{per_step * (med - 1):.0f}" if lb else f"{float(summary['median_samples'][i]):.0f}"
        rows.append(
            (
                *(str(summary[k][i]) for k in swept),
                f"{float(summary['eta_m'][i]):g}",
                fmt_steps(med, lb) + ci,
                samples,
                *(str(summary[k][i]) for k in ("escaped", "censored", "diverged")),
                f"{float(summary['wall_seconds'][i]):.2f}",
            )
        )
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from saddle.options import ConfigError
    from saddle.store import StoreError
    from saddle.sweep import SweepConfig, SweepFolder, SweepInterrupted, plot_sweep, run_sweep

    if (args.config is None) == (args.config_file is None):
        raise ConfigError("give the sweep's TOML file once: sweep FILE (or sweep --config FILE)")
    sweep = SweepConfig.from_toml(args.config or args.config_file)
    naming(args)  # (an empty name is refused before anything runs)
    out = SweepFolder.checked_path(args.out) if args.out is not None else sweep.default_out()
    if args.plot_only:
        from saddle.store.load import load

        if (out / "sweep.json").exists():
            load(out)  # every cell verified against its checksums first, as plot and saddle.load do
        paths = plot_sweep(sweep, out)
        name_run(args, out, f"every cell is stored in {out}")
        if not args.quiet:
            names = ", ".join(p.name for p in paths) or "none (no parameter varies)"
            try:
                print(f"figures in {out}/: {names}")
                sys.stdout.flush()
            except OutputError as err:
                raise OutputError(f"{err}; the figures are in {out}") from None
        return 0
    progress = not args.quiet and sys.stderr is not None and sys.stderr.isatty()
    try:
        result = run_sweep(
            sweep, out=out, workers=args.workers, scheduler=args.scheduler, threads=args.threads, progress=progress
        )
    except SweepInterrupted as stop:
        if stop.kept:
            name_interrupted_run(args, out)
        print(
            f"interrupted: kept {stop.kept} of {stop.total} cells in {stop.out}; "
            f"run the same command to resume (stored cells are not rerun)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    name_run(args, out, f"every cell is stored in {out}")
    try:
        paths = [] if args.no_plot else plot_sweep(sweep, out)
    except KeyboardInterrupt:
        print(
            f"interrupted while drawing the figures; every cell is stored in {out}; redraw them with --plot-only",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except StoreError as err:
        raise StoreError(f"{err}; every cell is stored in {out} (redraw the figures with --plot-only)") from None
    if not args.quiet:
        try:
            print(format_table(result.summary, sweep.swept()))
            n_run, n_reused = len(result.computed), len(result.reused)
            print(
                f"{n_run} cell{'s' * (n_run != 1)} run, {n_reused} read back; results in {out}/ "
                f"(sweep.json, trials.csv, summary.csv, cells/" + "".join(f", {p.name}" for p in paths) + ")"
            )
            sys.stdout.flush()  # (a full disk answers the flush of block-buffered output)
        except OutputError as err:
            raise OutputError(f"{err}; every cell is stored in {out}") from None
    return 0
