"""``escape``: how long SGD takes to leave a strict saddle, for each batch size m."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saddle import optimizers
from saddle.experiments.common import (
    EXIT_INTERRUPTED,
    OutputError,
    Parser,
    add_run_arguments,
    emit,
    finite_float,
    fmt_steps,
    integer,
    name_interrupted_run,
    name_run,
    naming,
    say,
)

if TYPE_CHECKING:
    from saddle.config import EscapeConfig
    from saddle.options import Option
    from saddle.records import EscapeResult
    from saddle.sweep.config import SweepConfig

HELP = "how long SGD takes to leave a strict saddle, for each batch size m"
GRID_OPTIONS = ("eta", "d")
"""The options of ``escape`` that take several values: a grid of them runs as a sweep (:func:`grid_sweep`)."""


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    esc = sub.add_parser(
        "escape",
        help=HELP,
        description=HELP + ". Several values of --eta or --d run every combination as a sweep "
        "(docs/experiments.md); a folder holding this run with fewer trials or batch sizes is extended.",
    )
    add_config_arguments(esc, several=GRID_OPTIONS)
    esc.add_argument(
        "--trials", type=integer, default=None, help=f"trials per batch size (default {_default_text('trials')})"
    )
    esc.add_argument(
        "--max-steps",
        type=integer,
        default=None,
        help=f"trials not escaped by then are censored (default {_default_text('max_steps')})",
    )
    esc.add_argument(
        "--seed", type=integer, default=_default("seed"), help=f"experiment seed (default {_default('seed')})"
    )
    esc.add_argument("--threads", type=integer, default=None, help="Numba threads (default: all cores)")
    esc.add_argument(
        "--backend",
        default=None,
        metavar="{cpu,cupy}",
        help="cupy: a CUDA GPU (pip install 'saddle[gpu]'); default: $SADDLE_BACKEND, else cpu",
    )
    esc.add_argument(
        "--out",
        default=None,
        help="results folder (default: a new dated folder under ./saddle-results); an existing folder of "
        "the same configuration is resumed, and one holding it with fewer trials or batch sizes is extended",
    )
    esc.add_argument("--no-plot", action="store_true", help="do not draw escape.pdf / escape.png")
    esc.add_argument(
        "--quiet", action="store_true", help="no progress bar and no table: one line says where the results are"
    )
    add_run_arguments(esc)
    return esc


def _default(name: str) -> Any:
    from saddle.config import EscapeConfig

    return EscapeConfig.defaults()[name]


def _default_text(name: str) -> str:
    """The generic default, and the objectives' own where they differ ("0.01; teacher-student 1")."""
    from saddle.objectives.base import registered

    own = [
        f"{cls.name} {cls.generic_defaults[name]:g}" for cls in registered().values() if name in cls.generic_defaults
    ]
    return "; ".join([f"{_default(name):g}"] + own)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def names(values: Any) -> str:
    """A fixed set of names as ``--help`` shows them: ``{uniform,rademacher,laplace}``.

    Used as a metavar, not as argparse ``choices``: the values are checked where they always were (the
    configuration refuses an unknown one in one line), so that a registry that grows at run time (an
    objective of a ``--load`` file) is still accepted."""
    return "{" + ",".join(values) + "}"


def _option_argument(group: argparse._ActionsContainer, option: Option, help_text: str) -> None:
    """Add one declared Option (saddle.options.Option) as a flag; its default stays None (= not given)."""
    kinds: dict[str, dict[str, Any]] = {
        "int": dict(type=integer),
        "real": dict(type=finite_float),
        "nonneg": dict(type=finite_float),
        "signed": dict(type=finite_float),
        "fraction": dict(type=finite_float),
        "reals": dict(type=finite_float, nargs="+"),
        "choice": dict(metavar=names(option.choices)) if option.choices else dict(),
        "bool": dict(action="store_true", default=None),
    }
    group.add_argument(_flag(option.name), dest=option.name, default=None, help=help_text, **kinds[option.kind])


def add_config_arguments(parser: argparse.ArgumentParser, several: tuple[str, ...] = ()) -> None:
    """The options that define a configuration (shared by ``escape``, ``theory`` and ``frontier``): the
    generic ones, one group per registered objective (from its declared options) and the optimisers' (from
    their table).  The options named in ``several`` (of :data:`GRID_OPTIONS`) take several values."""
    from saddle.config import BATCH_NOISES, LR_SCALINGS
    from saddle.objectives.base import option_owners, registered

    grid = " (several values: a sweep over them, docs/experiments.md)"
    parser.add_argument(
        "--m",
        "--batch-size",
        dest="m",
        type=integer,
        nargs="+",
        default=list(_default("m")),
        metavar="M",
        help=f"batch sizes, one configuration each (default {' '.join(map(str, _default('m')))})",
    )
    parser.add_argument(
        "--objective",
        default=_default("objective"),
        metavar=names(n for n, c in registered().items() if c.runs_from_config),
        help=f"the objective (default {_default('objective')}; a user's own objective: --load FILE, "
        "docs/objectives.md)",
    )
    parser.add_argument(  # default None: "not given", so that an objective whose size is its own refuses it
        "--d",
        type=integer,
        default=None,
        nargs="+" if "d" in several else None,
        metavar="D",
        help=f"dimension (default {_default('d')}; objectives with a d only)" + (grid if "d" in several else ""),
    )
    added = set()
    for cls in registered().values():
        fresh = [option for option in cls.options if option.name not in added]
        if not fresh:
            continue
        group = parser.add_argument_group(cls.title)
        for option in fresh:
            others = [name for name in option_owners(option.name) if name != cls.name]
            _option_argument(group, option, option.help_text() + (f" (also {', '.join(others)})" if others else ""))
            added.add(option.name)
    parser.add_argument(
        "--eta",
        type=finite_float,
        default=None,
        nargs="+" if "eta" in several else None,
        metavar="ETA",
        help=f"step size at m = 1 (default {_default_text('eta')})" + (grid if "eta" in several else ""),
    )
    parser.add_argument(
        "--lr-scaling",
        default=_default("lr_scaling"),
        metavar=names(LR_SCALINGS),
        help="step size against m, relative to m = 1 (default none)",
    )
    parser.add_argument(
        "--optimizer",
        default=_default("optimizer"),
        metavar=names(optimizers.registered()),
        help=f"the optimiser (default {_default('optimizer')})",
    )
    opt = parser.add_argument_group("optimiser options (each used by the optimisers named)")
    for option in optimizers.all_options():
        _option_argument(opt, option, f"{', '.join(optimizers.users(option.name))}: {option.help_text()}")
    sched = parser.add_argument_group("schedules")
    sched.add_argument(
        "--lr-decay",
        type=finite_float,
        default=None,
        help="step size eta / (1 + t / LR_DECAY) at step t (default: constant)",
    )
    sched.add_argument(
        "--batch-after-drop",
        type=integer,
        default=None,
        help="after a trial's first f-drop by delta, draw this many samples a step "
        "(the same as --schedule m=BATCH_AFTER_DROP@drop)",
    )
    sched.add_argument(
        "--schedule",
        default=None,
        metavar="RULES",
        help="batch-size and step-size rules after a trigger, comma-separated (docs/schedules.md): "
        "m=M@TRIGGER, eta=inverse-time:T0@TRIGGER, eta=step:GAMMA:EVERY@TRIGGER, budget=N (samples after "
        "the f-drop); triggers start, drop (the default), step:N, f:LEVEL; e.g. 'm=1@drop,budget=100000'. "
        "A rule after the f-drop needs --target or a budget, so that trials run on past it",
    )
    gaussian = " and ".join(name for name, cls in registered().items() if cls.gaussian_kernel is not None)
    parser.add_argument(
        "--batch-noise",
        choices=BATCH_NOISES,
        default=_default("batch_noise"),
        help="exact: each step averages m sampled per-sample gradients; gaussian: the exact gradient plus "
        f"N(0, Sigma(u)/m), the central limit, at the same cost for every m ({gaussian}, cpu; "
        f"docs/escape.md) (default {_default('batch_noise')})",
    )
    parser.add_argument(
        "--delta",
        type=finite_float,
        default=_default("delta"),
        help=f"escaped when f(u_t) <= f(u_0) - delta (default {_default('delta')})",
    )
    parser.add_argument(
        "--radius",
        type=finite_float,
        default=None,
        help="escaped when ||u_t - u_0|| >= radius (replaces the f-drop criterion)",
    )
    parser.add_argument(
        "--target",
        type=finite_float,
        default=None,
        help="escaped when f(u_t) <= target (replaces the f-drop criterion)",
    )
    parser.add_argument(
        "--start-perturbation",
        type=finite_float,
        default=None,
        help="start each trial at its own random point at this distance from the saddle",
    )
    parser.add_argument(
        "--allow-trap",
        action="store_true",
        help="run even when the start is a fixed point of the noise, where no trial can escape "
        "(the symmetry-trap experiment; refused otherwise)",
    )
    starts = [f"{cls.name}: {cls.random_start}" for cls in registered().values() if cls.random_start]
    parser.add_argument(
        "--random-start", action="store_true", help=f"start each trial at its own random point ({'; '.join(starts)})"
    )


def _default_out(kind: str = "escape") -> Path:
    """A new dated folder under saddle-results/: KIND-YYYYMMDD-HHMMSS (with -2, -3, ... if taken)."""
    base = Path("saddle-results")
    stamp = datetime.now().strftime(f"{kind}-%Y%m%d-%H%M%S")
    path, i = base / stamp, 1
    while path.exists():
        i += 1
        path = base / f"{stamp}-{i}"
    return path


def _fmt_theory(row: dict[str, Any]) -> str:
    """Linear-theory median (docs/theory.md), '*' where it should not be trusted, and the heat-path model's."""
    lin, model = row.get("theory_median_steps", math.nan), row.get("theory_model_median_steps", math.nan)
    if not math.isfinite(lin) and not math.isfinite(model):
        return "-"
    text = f"{lin:.0f}{'' if row['theory_trusted'] else '*'}" if math.isfinite(lin) else "inf*"
    return text + (f" / {model:.0f}" if math.isfinite(model) else "")


def _no_theory_reason(config: Any) -> str:
    """Why the theory column is empty, in a few words (docs/theory.md says what the theory covers)."""
    from saddle.objectives.base import Objective
    from saddle.theory.columns import MAX_THEORY_D, theory_applies

    if not config.schedule_plan.constant:
        return "it assumes a constant step size and batch size"
    if config.objective_class.uses_d and config.d > MAX_THEORY_D:
        return f"it is computed for d <= {MAX_THEORY_D} (its cost grows as d^4)"
    if not theory_applies(config):
        return "the linear theory covers plain sgd from the saddle itself, to an f-drop (docs/theory.md)"
    if config.objective_class.saddle_theory is Objective.saddle_theory:
        return f"the {config.objective} objective has no saddle quantities (docs/theory.md)"
    return "docs/theory.md"


def format_table(result: EscapeResult) -> str:
    """The stdout table: one row per m (and the objective's own columns, e.g. alpha = steps / N)."""

    cls = result.config.objective_class
    draws = optimizers.get(result.config.optimizer).minibatch
    frozen = any(r.get("frozen", 0) for r in result.summary)
    extra = [c for c in cls.table_columns if all(c[0] in r for r in result.summary)]
    head = (
        "m",
        "eta",
        "median steps [95% CI]",
        "theory",
        "median samples",
        *(h for _, h, _ in extra),
        "escaped",
        "censored",
        "diverged",
        *(("frozen",) if frozen else ()),
        "wall s",
    )
    rows = []
    for r in result.summary:
        lb = r["median_is_lower_bound"]
        ci = "" if lb else f" [{fmt_steps(r['median_steps_lo'])}, {fmt_steps(r['median_steps_hi'])}]"
        per_step = r["median_samples"] / r["median_steps"]
        samples = f">{per_step * (r['median_steps'] - 1):.0f}" if lb else f"{r['median_samples']:.0f}"
        samples = samples if draws else "-"
        own = [("> " if lb else "") + format(r[key], spec) for key, _, spec in extra]
        rows.append(
            (
                str(r["m"]),
                f"{r['eta']:g}",
                fmt_steps(r["median_steps"], lb) + ci,
                _fmt_theory(r),
                samples,
                *own,
                str(r["escaped"]),
                str(r["censored"]),
                str(r["diverged"]),
                *((str(r["frozen"]),) if frozen else ()),
                f"{r['wall_seconds']:.2f}",
            )
        )
    plan = result.config.schedule_plan
    if plan.budget is not None:
        return format_budget_table(result)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    if not plan.constant:
        lines.append(f"schedule: {plan.describe()}")
    if any(math.isfinite(r.get("theory_median_steps", math.nan)) for r in result.summary):
        lines.append(cls.theory_footnote)
    if not draws:
        lines.append(
            f"{result.config.optimizer} draws no mini-batches: m does not change the law of its trials, "
            "and there are no samples to count"
        )
    notes = sorted({r["theory_note"] for r in result.summary if r.get("theory_note")})
    lines += [f"theory: {note}" for note in notes]
    if not notes and all(_fmt_theory(r) == "-" for r in result.summary):
        lines.append(f"theory: - (no escape-time theory for this run: {_no_theory_reason(result.config)})")
    if frozen:
        lines.append("frozen: gd reached an exact float64 fixed point (u_t == u_t-1) and can never escape")
    if cls.diverged_note and any(r["diverged"] for r in result.summary):
        lines.append(f"diverged ({result.config.objective}): {cls.diverged_note}")
    if "simulation" in result.config.options:  # (an objective with more than one simulation: which ran)
        lines.append(f"ran: {result.config.describe()}")
    return "\n".join(lines)


def format_budget_table(result: EscapeResult) -> str:
    """The stdout table of a run with a schedule's sample budget: per m, the f-drop's median step, the
    trials that made it (and so spent the budget after it), their final f (median and 95% interval),
    and the noise floor at the schedule's last step size and batch size."""
    from saddle.stats import summarize

    plan = result.config.schedule_plan
    head = (
        "m",
        "eta",
        "f-drop median [95% CI]",
        "spent",
        "final f median [95% CI]",
        "floor median",
        "diverged",
        "wall s",
    )
    rows = []
    for r in result.summary:
        mres = result.by_m[r["m"]]
        drop = mres.drop_steps if mres.drop_steps is not None else np.zeros_like(mres.steps)
        s = summarize(drop, np.where(drop > 0, 0, 1), result.config.max_steps, seed=result.config.seed + mres.m)
        ci = "" if s.median_is_lower_bound else f" [{fmt_steps(s.median_steps_lo)}, {fmt_steps(s.median_steps_hi)}]"
        final = f"{r['median_final_f']:.5g} [{r['median_final_f_lo']:.5g}, {r['median_final_f_hi']:.5g}]"
        rows.append(
            (
                str(r["m"]),
                f"{r['eta']:g}",
                fmt_steps(s.median_steps, s.median_is_lower_bound) + ci,
                f"{r['spent_budget']} of {r['trials']}",
                final if r["spent_budget"] else "-",
                f"{r['floor_median_f']:.5g}" if math.isfinite(r["floor_median_f"]) else "-",
                str(r["diverged"]),
                f"{r['wall_seconds']:.2f}",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    lines.append(f"schedule: {plan.describe()}")
    lines.append(
        f"spent: the trials that made the f-drop and drew {plan.budget} samples after it; final f: f where each "
        "ended; floor median: the median of f at stationarity of the linearised dynamics at the schedule's last "
        "eta and m (docs/theory.md, the noise floor; '-' under a step-size rule, which has no stationary law)"
    )
    return "\n".join(lines)


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration options of parsed arguments (see add_config_arguments), as EscapeConfig takes them:
    the generic ones, and the objectives' and optimisers' options that were given."""
    from saddle.config import ConfigError
    from saddle.objectives.base import registered

    tup = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    generic = (
        "m",
        "objective",
        "d",
        "eta",
        "lr_scaling",
        "optimizer",
        "lr_decay",
        "batch_after_drop",
        "schedule",
        "batch_noise",
        "delta",
        "radius",
        "target",
        "start_perturbation",
        "random_start",
        "allow_trap",
    )
    values = {name: tup(getattr(args, name)) for name in generic}
    for name in GRID_OPTIONS:  # (escape: a list, of one value unless it runs as a sweep)
        if isinstance(values[name], tuple) and len(values[name]) == 1:
            values[name] = values[name][0]
    cls = registered().get(args.objective)
    if cls is not None and not cls.uses_d and args.d is not None:
        size = ", ".join(_flag(name) for name in cls.size_options())
        raise ConfigError(f"--d does not apply to the {cls.name} objective (its size: {size or 'its own options'})")
    values = {k: v for k, v in values.items() if v is not None or k not in ("eta", "d")}
    values.update({o.name: getattr(args, o.name) for o in optimizers.all_options()})
    for cls in registered().values():
        for option in cls.options:
            value = getattr(args, option.name, None)
            if value is not None:
                values[option.name] = tup(value)
    return values


def config_from_args(args: argparse.Namespace, **more: Any) -> EscapeConfig:
    """The EscapeConfig of parsed configuration options (see add_config_arguments)."""
    from saddle.config import ConfigError, EscapeConfig

    values = config_options(args)
    several = [_flag(name) for name in GRID_OPTIONS if isinstance(values.get(name), tuple)]
    if several:
        raise ConfigError(f"{several[0]} takes one value here")
    more = {k: v for k, v in more.items() if v is not None}
    return EscapeConfig(**values, **more)


def grid_values(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The options of :data:`GRID_OPTIONS` given several values on the command line, in that order."""
    return {
        name: list(value)
        for name in GRID_OPTIONS
        if isinstance(value := getattr(args, name, None), list) and len(value) > 1
    }


def grid_sweep(args: argparse.Namespace) -> SweepConfig | None:
    """The sweep that ``escape`` runs when options of :data:`GRID_OPTIONS` are given several values (None
    when none is): the same :class:`~saddle.sweep.config.SweepConfig` a TOML file of these tables builds::

        [sweep]   seed = --seed, trials = --trials, max_steps = --max-steps (where given)
        [grid]    each option with several values (eta, then d), then m where --m lists several
        [fixed]   every other option given that differs from its default

    Each cell (one value of each, one batch size) has its own seed derived from --seed and the cell's
    options, as in every sweep (docs/sweeps.md): a cell's numbers are not those of a single escape run
    with the same options.  Every cell is checked here (ConfigError, one line, naming it).
    """
    from saddle.config import EscapeConfig
    from saddle.options import ConfigError
    from saddle.sweep.config import SweepConfig

    grid: dict[str, Any] = grid_values(args)
    if not grid:
        return None
    if args.backend not in (None, "cpu"):
        raise ConfigError(
            f"several values of {', '.join(map(_flag, grid))} run as a sweep, on the cpu: --backend {args.backend} "
            "runs single configurations only"
        )
    from saddle.objectives.base import registered

    plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    options = config_options(args)
    cls = registered().get(options["objective"])
    defaults = {**EscapeConfig.defaults(), **(cls.generic_defaults if cls is not None else {})}
    ms = options.pop("m")
    if len(ms) > 1:
        grid["m"] = list(ms)
    fixed = {k: plain(v) for k, v in options.items() if k not in grid and v is not None and v != defaults.get(k)}
    if len(ms) == 1:
        fixed["m"] = ms[0]
    head: dict[str, Any] = {"name": "escape-grid", "seed": args.seed, "description": "escape with several values"}
    head.update({k: getattr(args, k) for k in ("trials", "max_steps") if getattr(args, k) is not None})
    return SweepConfig.from_dict({"sweep": head, "grid": grid, "fixed": fixed}, source="escape")


def run(args: argparse.Namespace) -> int:
    from saddle.escape import Interrupted, run_escape
    from saddle.extend import complete_stored

    naming(args)  # (an empty name is refused before anything runs)
    sweep = grid_sweep(args)
    if sweep is not None:
        return _run_grid(args, sweep)
    config = config_from_args(args, trials=args.trials, max_steps=args.max_steps, seed=args.seed)
    from saddle.escape import check_backend_options

    check_backend_options(config, args.backend)  # a run the backend refuses says so alone, with no warning
    for message in config.start_warnings():
        say(f"warning: {message}")
    from saddle.store.escape import ResultsFolder

    out = ResultsFolder.checked_path(args.out) if args.out is not None else _default_out()  # ('' is refused)
    progress = not args.quiet and sys.stderr is not None and sys.stderr.isatty()
    try:
        announce = None if args.quiet or progress else say
        complete_stored(config, out, backend=args.backend, threads=args.threads, announce=None if args.quiet else say)
        result = run_escape(
            config, out=out, threads=args.threads, progress=progress, backend=args.backend, announce=announce
        )
    except Interrupted as stop:
        if not stop.kept:
            say("interrupted before any batch size finished; nothing was stored")
        else:
            kept = ", ".join(map(str, stop.kept))
            name_interrupted_run(args, out)
            say(
                f"interrupted: kept the trials of m = {kept} in {stop.out}; "
                f"run the same command with --out {stop.out} to resume"
            )
        return EXIT_INTERRUPTED
    name_run(args, out, f"every trial is stored in {out}")
    if not args.no_plot:
        from saddle.store import StoreError

        try:
            from saddle.plotting import escape_figure, save_figure  # (importing matplotlib takes a second)

            save_figure(escape_figure(result), out / "escape")
        except KeyboardInterrupt:  # every trial is stored already: say so (not cli.main's "nothing was stored")
            say(f"interrupted while drawing the figure; every trial is stored in {out}")
            return EXIT_INTERRUPTED
        except StoreError as err:
            raise StoreError(f"{err}; every trial is stored in {out}") from None
    try:
        if not args.quiet:
            emit(format_table(result))
        files = ["config.json", "trials.csv", "summary.csv"]
        files += [] if args.no_plot else ["escape.pdf", "escape.png"]
        files += ["run.json"] if naming(args) else []
        emit(f"results in {out}/ ({', '.join(files)})")
    except OutputError as err:
        raise OutputError(f"{err}; every trial is stored in {out}") from None
    return 0


def _run_grid(args: argparse.Namespace, sweep: SweepConfig) -> int:
    """``escape`` with several values of an option: the sweep of :func:`grid_sweep`, into a sweep folder."""
    from saddle.experiments.sweep_cmd import format_table as sweep_table
    from saddle.store import StoreError
    from saddle.sweep import SweepFolder, SweepInterrupted, plot_sweep, run_sweep

    out = SweepFolder.checked_path(args.out) if args.out is not None else _default_out("sweep")
    progress = not args.quiet and sys.stderr is not None and sys.stderr.isatty()
    try:
        result = run_sweep(sweep, out=out, threads=args.threads, progress=progress)
    except SweepInterrupted as stop:
        if stop.kept:
            name_interrupted_run(args, out)
        say(
            f"interrupted: kept {stop.kept} of {stop.total} cells in {stop.out}; "
            f"run the same command with --out {stop.out} to resume (stored cells are not rerun)"
        )
        return EXIT_INTERRUPTED
    name_run(args, out, f"every cell is stored in {out}")
    try:
        paths = [] if args.no_plot else plot_sweep(sweep, out)
    except KeyboardInterrupt:
        say(f"interrupted while drawing the figures; every cell is stored in {out}")
        return EXIT_INTERRUPTED
    except StoreError as err:
        raise StoreError(f"{err}; every cell is stored in {out}") from None
    cells = len(sweep.cells())
    try:
        if not args.quiet:
            emit(sweep_table(result.summary, sweep.swept()))
        files = ["sweep.json", "trials.csv", "summary.csv", "cells/", *(p.name for p in paths)]
        files += ["run.json"] if naming(args) else []
        emit(
            f"ran as a sweep of {cells} cells over {' x '.join(sweep.swept())} (docs/sweeps.md; each cell's seed "
            f"derives from --seed): results in {out}/ ({', '.join(files)})"
        )
    except OutputError as err:
        raise OutputError(f"{err}; every cell is stored in {out}") from None
    return 0
