"""``frontier``: the step size tuned for every batch size m; steps, samples and seconds to a target past
the saddle; McCandlish et al.'s critical batch size fitted (docs/frontier.md)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saddle.experiments.common import (
    EXIT_INTERRUPTED,
    OutputError,
    Parser,
    add_run_arguments,
    emit,
    finite_float,
    integer,
    name_interrupted_run,
    name_run,
    naming,
    say,
)
from saddle.experiments.escape_cmd import add_config_arguments, config_from_args

if TYPE_CHECKING:
    from saddle.frontier.result import FrontierResult

HELP = "tune eta for every batch size m: steps, samples and seconds to a target, and the critical batch size"


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    from saddle.frontier.config import DEFAULT_M, FrontierConfig

    p = sub.add_parser(
        "frontier",
        help=HELP,
        description=HELP + " (Shallue et al. 2019; McCandlish et al. 2018). See docs/frontier.md.",
    )
    add_config_arguments(p)
    p.set_defaults(m=None)
    for action in p._actions:
        if action.dest == "m":
            action.help = f"batch sizes, increasing (default {' '.join(map(str, DEFAULT_M[:3]))} ... {DEFAULT_M[-1]})"
        if action.dest == "eta":
            action.help = "the step size the search starts from at the smallest m (default 0.01)"
        if action.dest == "target":
            action.help = "the goal: f(u_t) <= TARGET (default: --target-fraction of the way to f_min)"
    defaults = {f.name: f.default for f in FrontierConfig.__dataclass_fields__.values() if f.init}
    search = p.add_argument_group("the search (docs/frontier.md)")
    search.add_argument(
        "--target-fraction",
        type=finite_float,
        default=None,
        help="without --target: f_target = f(u_0) - FRACTION (f(u_0) - f_min) (default 0.9)",
    )
    search.add_argument("--eta-min", type=finite_float, default=None, help="lower search bound (default: --eta / 1000)")
    search.add_argument("--eta-max", type=finite_float, default=None, help="upper search bound (default: --eta x 1000)")
    search.add_argument(
        "--success",
        type=finite_float,
        default=defaults["success"],
        help="the success rule: this fraction of trials reach the target by --max-steps, none diverging "
        "(default %(default)s)",
    )
    search.add_argument(
        "--max-cells",
        type=integer,
        default=defaults["max_cells"],
        help="the most step sizes tried per batch size (default %(default)s)",
    )
    p.add_argument("--trials", type=integer, default=None, help="trials per cell (default 1000)")
    p.add_argument("--max-steps", type=integer, default=None, help="trials not at the target by then are censored")
    p.add_argument("--seed", type=integer, default=0, help="frontier seed (default 0)")
    p.add_argument("--threads", type=integer, default=None, help="Numba threads per cell (default: all cores)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer, default=None, metavar="N", help="a Dask LocalCluster of N workers")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="the Dask cluster at tcp://HOST:PORT")
    p.add_argument(
        "--out",
        default=None,
        help="results folder (default saddle-results/frontier-OBJECTIVE); rerunning into it reads the "
        "stored cells back instead of running them",
    )
    p.add_argument("--no-noise", action="store_true", help="skip the noise scale along the noiseless path")
    p.add_argument("--no-theory", action="store_true", help="skip the theory's frontier")
    p.add_argument("--no-plot", action="store_true", help="do not draw frontier.pdf / frontier.png")
    p.add_argument("--quiet", action="store_true", help="no progress lines and no table")
    add_run_arguments(p)
    return p


def _g(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return ">max"
    return f"{value:.{digits}g}"


_FITTED = (("S_min", " steps"), ("E_min", " samples"), ("B_crit", ""))


def _interval(fit: dict[str, Any], name: str) -> str:
    return f"{_g(fit[name])} [{_g(fit[name + '_lo'])}, {_g(fit[name + '_hi'])}]"


def format_table(result: FrontierResult) -> str:
    """The frontier as a text table, then the fitted model and the best batch sizes."""
    t, fit = result.frontier, result.fit
    head = ("m", "eta*", "bracket", "S (steps) [95% CI]", "E (samples)", "escape", "reached", "seconds", "regime")
    lines = []
    for i in range(len(t["m"])):
        edge = f" ({t['edge'][i]} bound)" if t["edge"][i] else ""
        lines.append(
            (
                str(int(t["m"][i])),
                _g(float(t["eta_star"][i])) + edge,
                f"[{_g(float(t['eta_lo'][i]))}, {_g(float(t['eta_hi'][i]))}]",
                f"{_g(float(t['S'][i]), 6)} [{_g(float(t['S_lo'][i]), 6)}, {_g(float(t['S_hi'][i]), 6)}]",
                _g(float(t["E"][i]), 6),
                _g(float(t["escape_steps"][i]), 6),
                f"{100 * float(t['reached'][i]):.1f}%",
                f"{float(t['seconds'][i]):.3g}",
                str(t["regime"][i]),
            )
        )
    widths = [max(len(h), *(len(r[j]) for r in lines)) if lines else len(h) for j, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in lines]
    cfg = result.config
    out.append(
        f"target f <= {cfg.target:.6g} (f(u_0) = {cfg.f0:.6g}); success: >= {100 * cfg.success:g}% of "
        f"{cfg.escape.trials} trials reach it within {cfg.escape.max_steps} steps, none diverging; "
        "escape = median step of the f-drop; seconds = S x the measured cost of a step"
    )
    if cfg.escape.batch_noise == "gaussian":
        out.append(
            "batch noise: Gaussian at every m (the exact gradient plus N(0, Sigma(u)/m) in place of m samples; "
            "docs/escape.md, Gaussian batch noise)"
        )
    if "S_min" in fit:
        out.append(
            "model S = S_min (1 + B_crit/m): "
            + ", ".join(f"{name} = {_interval(fit, name)}{unit}" for name, unit in _FITTED)
            + ("" if fit.get("fits") else " (the model misses some m: see below)")
        )
    if fit.get("B_noise_mean") is not None:
        out.append(
            f"noise scale along the noiseless path past the saddle: B_noise = {_g(fit['B_noise_mean'])}, "
            f"B_simple = {_g(fit['B_simple_mean'])} (McCandlish et al.'s prediction of B_crit)"
        )
    out.append(
        f"best m: {fit.get('best_m_steps')} in steps, {fit.get('best_m_samples')} in samples, "
        f"{fit.get('best_m_seconds')} in seconds on this machine"
    )
    out += [f"note: {n}" for n in result.notes]
    return "\n".join(out)


def frontier_config_from_args(args: argparse.Namespace) -> Any:
    from saddle.frontier.config import DEFAULT_M, FrontierConfig

    if args.m is None:
        args.m = list(DEFAULT_M)
    escape = config_from_args(args, trials=args.trials, max_steps=args.max_steps, seed=args.seed)
    return FrontierConfig(
        escape,
        target_fraction=args.target_fraction,
        eta_min=args.eta_min,
        eta_max=args.eta_max,
        success=args.success,
        max_cells=args.max_cells,
    )


def run(args: argparse.Namespace) -> int:
    from saddle.frontier.run import FrontierInterrupted, run_frontier
    from saddle.store.frontier import FrontierFolder

    frontier = frontier_config_from_args(args)
    naming(args)  # (an empty name is refused before anything runs)
    for message in frontier.escape.start_warnings():
        say(f"warning: {message}")
    out = (
        FrontierFolder.checked_path(args.out)
        if args.out is not None
        else Path("saddle-results") / f"frontier-{frontier.escape.objective}"
    )
    try:
        result = run_frontier(
            frontier,
            out=out,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads,
            noise=not args.no_noise,
            theory=not args.no_theory,
            progress=None if args.quiet else say,
        )
    except FrontierInterrupted as stop:
        if stop.kept:
            name_interrupted_run(args, out)
        say(f"interrupted: kept {stop.kept} cells in {stop.out}; run the same command to resume")
        return EXIT_INTERRUPTED
    name_run(args, out, f"every cell is stored in {out}")
    figures = ""
    if not args.no_plot:
        try:
            from saddle.plotting.frontier import frontier_figure  # (importing matplotlib takes a second)

            paths = frontier_figure(result, out=out / "frontier")
            figures = "".join(f", {Path(p).name}" for p in paths)
        except KeyboardInterrupt:
            say(f"interrupted while drawing the figure; every cell is stored in {out}")
            return EXIT_INTERRUPTED
    if not args.quiet:
        try:
            emit(format_table(result))
            emit(f"results in {out}/ (frontier.json, tuning.csv, frontier.csv, fit.json, cells/{figures})")
        except OutputError as err:
            raise OutputError(f"{err}; every cell is stored in {out}") from None
    return 0
