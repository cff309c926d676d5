"""``plot``: redraw the figure of stored results (escape, sweep or frontier folders), simulating nothing.

One escape folder gives its figure; several are overlaid in one, labelled by what differs between their
configurations (or by ``--label``); a sweep folder gives its sweep figures, a frontier folder its frontier
figure.  Only the stored tables are read (checked against their checksums): no kernel is compiled or run.
The figure goes beside the run's own (``escape-replot.*`` in the folder), never over it, unless ``--out``
says where; ``--export-csv`` writes the numbers drawn as tidy CSV beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from saddle.experiments.common import Parser

if TYPE_CHECKING:
    from saddle.store.sweep import SweepResult

HELP = "redraw the figure of stored results (escape, sweep or frontier folders), overlaying escapes; runs nothing"
FORMATS = ("pdf", "png", "svg", "eps")
REPLOT = "replot"
"""What ``plot`` adds to the name of a folder's own figure when it writes beside it (``escape-replot.pdf``)."""


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    p = sub.add_parser(
        "plot",
        help=HELP,
        description=HELP + ". See docs/figures.md for the styles, the panels and overlays.",
    )
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="results folders (escape runs, or one sweep)")
    p.add_argument(
        "--out",
        default=None,
        metavar="STEM",
        help=f"where to write, without the extension (default: beside the run's own figure, never over it: "
        f"FOLDER/escape-{REPLOT} for one escape folder, FOLDER/sweep-{REPLOT}-* for a sweep, "
        f"FOLDER/frontier-{REPLOT} for a frontier; ./overlay for several folders)",
    )
    cost = p.add_mutually_exclusive_group()
    cost.add_argument(
        "--steps", dest="cost", action="store_const", const="steps", help="escape time in steps (the default)"
    )
    cost.add_argument(
        "--samples",
        dest="cost",
        action="store_const",
        const="samples",
        help="escape time in samples drawn (m x steps)",
    )
    cost.add_argument("--both", dest="cost", action="store_const", const="both", help="steps and samples: two panels")
    p.set_defaults(cost="steps")
    from saddle.plotting import STYLES

    p.add_argument(
        "--style",
        default="default",
        choices=list(STYLES),
        help="default | paper (serif, 8 pt labels, 300 dpi) | paper-tex (paper with LaTeX text: needs TeX) | talk "
        "(default: default)",
    )
    p.add_argument(
        "--format",
        nargs="+",
        default=["pdf", "png"],
        choices=FORMATS,
        metavar="EXT",
        help=f"file formats, of {', '.join(FORMATS)} (default: pdf png)",
    )
    p.add_argument("--dpi", type=float, default=None, help="resolution of PNGs (default: the style's)")
    p.add_argument(
        "--width",
        default="two",
        help="one (3.5 in: one column) | two (7.2 in: two columns) | inches (default: two)",
    )
    from saddle.plotting.escape import PANELS, TRAJECTORIES

    p.add_argument(
        "--panels",
        default=None,
        metavar="LIST",
        help=f"the escape figure's panels, comma-separated, in order, of {','.join(PANELS)} "
        "(default: all three for one run, survival,median for an overlay)",
    )
    p.add_argument(
        "--trajectories",
        default="bands",
        choices=TRAJECTORIES,
        help="the trajectory panel: the median and 10-90%% band of f(u_t) per m, a few recorded trials, "
        "or both (default: bands)",
    )
    p.add_argument(
        "--label",
        action="append",
        default=None,
        metavar="TEXT",
        help="name an escape run, once per folder, in order: in an overlay's legend and in the CSV tables "
        "(default: the options that differ between the runs; one run: its folder's name)",
    )
    p.add_argument(
        "--export-csv",
        action="store_true",
        help="also write the numbers an escape figure draws as tidy CSV beside it: STEM-survival.csv, "
        "STEM-medians.csv, STEM-theory.csv, STEM-trajectories.csv (those of its panels)",
    )
    p.add_argument("--quiet", action="store_true", help="do not list the files written")
    return p


def _width(text: str) -> str | float:
    from saddle.options import ConfigError
    from saddle.plotting import WIDTHS

    if text in WIDTHS:
        return text
    try:
        inches = float(text)
    except ValueError:
        raise ConfigError(f"--width must be one, two or a width in inches, got {text!r}") from None
    if not 1.0 <= inches <= 30.0:
        raise ConfigError(f"--width must be between 1 and 30 inches, got {text}")
    return inches


def _panels(args: argparse.Namespace, overlay: bool) -> tuple[str, ...] | None:
    """--panels, checked (one line naming the valid panels when it names another)."""
    from saddle.options import ConfigError
    from saddle.plotting.escape import parse_panels

    if args.panels is None:
        return None
    try:
        return parse_panels(args.panels, overlay)
    except ValueError as err:
        raise ConfigError(f"--{err}") from None


def _escape_only(args: argparse.Namespace, kind: str) -> None:
    """Refuse the options that only an escape figure takes, for a sweep or frontier folder."""
    from saddle.options import ConfigError

    given = [name for name, on in (("--panels", args.panels is not None), ("--label", args.label is not None)) if on]
    given += ["--trajectories"] if args.trajectories != "bands" else []
    if given:
        raise ConfigError(f"{', '.join(given)}: for escape folders; a {kind} folder has figures of its own")
    if args.export_csv:
        table = "summary.csv" if kind == "sweep" else "frontier.csv and tuning.csv"
        raise ConfigError(f"--export-csv: for escape folders; a {kind}'s figures draw its {table}, already CSV")


def run(args: argparse.Namespace) -> int:
    from saddle.options import ConfigError
    from saddle.plotting import STYLES, style
    from saddle.store.load import load

    width = _width(args.width)
    if args.dpi is not None and not 10 <= args.dpi <= 2400:
        raise ConfigError(f"--dpi must be between 10 and 2400, got {args.dpi:g}")
    dpi = args.dpi if args.dpi is not None else STYLES[args.style]["savefig.dpi"]
    _panels(args, overlay=False)  # a misspelt panel is refused before any folder is read
    if args.label is not None and len(args.label) != len(args.folders):
        raise ConfigError(f"--label: give one per folder ({len(args.folders)}), in order; got {len(args.label)}")
    results = [load(folder) for folder in args.folders]
    kinds = {"sweep" if hasattr(r, "sweep") else "frontier" if hasattr(r, "frontier") else "escape" for r in results}
    if len(kinds) > 1:
        raise ConfigError("plot: give escape folders, one sweep folder or one frontier folder, not several kinds")
    (kind,) = kinds
    if kind != "escape":
        _escape_only(args, kind)
        if len(results) > 1:
            raise ConfigError(
                f"plot: one {kind} folder at a time"
                + (" (its figures overlay its cells already)" if kind == "sweep" else "")
            )
    own = Path(args.folders[0]) / kind  # the stem of the folder's own figure: escape, sweep(-heatmap, -lines), frontier
    stem = Path(args.out) if args.out is not None else own.with_name(f"{own.name}-{REPLOT}")
    if kind == "escape" and len(results) > 1 and args.out is None:
        stem = Path("overlay")
    if not stem.parent.is_dir():
        raise ConfigError(f"--out: no such folder: {str(stem.parent)!r}")
    paths = []
    with style(args.style):
        if kind == "frontier":
            from saddle.plotting.frontier import frontier_figure

            paths = list(frontier_figure(results[0], out=stem, width=width, style=args.style))
        elif kind == "sweep":
            paths = _sweep_figures(cast("SweepResult", results[0]), args, stem, width, dpi)
        else:
            paths = _escape_figure(results, args, stem, width, dpi)
    if not args.quiet:
        line = "wrote " + ", ".join(str(p) for p in paths)
        patterns = ("sweep-heatmap.*", "sweep-lines.*") if kind == "sweep" else (f"{kind}.*",)
        mine = sorted(p.name for pattern in patterns for p in own.parent.glob(pattern)) if args.out is None else []
        if mine and len(results) == 1:
            line += f" (beside the folder's own {', '.join(mine)}, left as they were; --out STEM writes elsewhere)"
        print(line)
    return 0


def _escape_figure(
    results: list[Any], args: argparse.Namespace, stem: Path, width: str | float, dpi: float
) -> list[Path]:
    """The escape figure of one run or an overlay, and with --export-csv its tables."""
    from saddle.options import ConfigError
    from saddle.plotting import save_figure
    from saddle.plotting.escape import escape_figure, run_labels
    from saddle.plotting.escape_data import write_figure_tables

    overlay = len(results) > 1
    panels = _panels(args, overlay)
    if panels is not None and "trajectories" in panels and not any(r.trajectories for r in results[0].by_m.values()):
        raise ConfigError("--panels: the run recorded no trajectories (record_trials = 0); leave out trajectories")
    labels = args.label if args.label is not None else (run_labels(results) if overlay else None)
    figure = results if overlay else results[0]
    fig = escape_figure(
        figure, width, cost=args.cost, style=args.style, labels=labels, panels=panels, trajectories=args.trajectories
    )
    paths = list(save_figure(fig, stem, formats=args.format, dpi=dpi))
    if args.export_csv:
        if args.label is not None:
            runs = list(args.label)
        elif overlay:
            runs = run_labels(results, symbols=False)
        else:
            runs = [Path(args.folders[0]).resolve().name]
        drawn = [str(ax.get_label()) for ax in fig.axes]  # the panels escape_figure drew, by name (PANELS)
        costs = ["steps", "samples"] if args.cost == "both" else [args.cost]
        paths += write_figure_tables(results, stem, runs, panels=drawn, costs=costs)
    return paths


def _sweep_figures(
    result: SweepResult, args: argparse.Namespace, base: Path, width: str | float, dpi: float
) -> list[Path]:
    """The sweep's heatmap (two swept parameters) and lines figures, from its stored summary."""
    from saddle.options import ConfigError
    from saddle.plotting import figure_width, save_figure
    from saddle.plotting.sweep import figure_title, sweep_heatmap, sweep_lines

    spec = result.sweep.plot_spec()
    if spec is None:
        raise ConfigError(f"{result.out}: no parameter of the sweep varies; there is no figure to draw")
    table = result.summary
    title = figure_title(result.sweep, spec["where"])
    inches = figure_width(width)
    paths: list[Path] = []
    if spec["y"] is not None:
        fig = sweep_heatmap(table, spec["x"], spec["y"], spec["values"], where=spec["where"], width=inches, title=title)
        paths += save_figure(fig, base.with_name(f"{base.name}-heatmap"), formats=args.format, dpi=dpi)
    fig = sweep_lines(table, spec["x"], spec["y"], spec["values"], where=spec["where"], width=inches, title=title)
    paths += save_figure(fig, base.with_name(f"{base.name}-lines"), formats=args.format, dpi=dpi)
    return paths
