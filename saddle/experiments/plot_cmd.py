"""``plot``: redraw the figure of stored results (escape or sweep folders), simulating nothing.

One escape folder gives its figure; several are overlaid in one, labelled by what differs between their
configurations; a sweep folder gives its sweep figures.  Only the stored tables are read (checked
against their checksums): no kernel is compiled or run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from saddle.experiments.common import Parser

if TYPE_CHECKING:
    from saddle.store.sweep import SweepResult

HELP = "redraw the figure of stored results (escape, sweep or frontier folders), overlaying escapes; runs nothing"
FORMATS = ("pdf", "png", "svg", "eps")


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
        help="where to write, without the extension (default: FOLDER/escape for one escape folder, "
        "FOLDER/sweep-* for a sweep, ./overlay for several folders)",
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
        help="default | paper (serif, 8 pt labels, 300 dpi) | talk (default: default)",
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


def run(args: argparse.Namespace) -> int:
    from saddle.options import ConfigError
    from saddle.plotting import STYLES, save_figure, style
    from saddle.store.load import load

    width = _width(args.width)
    if args.dpi is not None and not 10 <= args.dpi <= 2400:
        raise ConfigError(f"--dpi must be between 10 and 2400, got {args.dpi:g}")
    dpi = args.dpi if args.dpi is not None else STYLES[args.style]["savefig.dpi"]
    results = [load(folder) for folder in args.folders]
    kinds = {"sweep" if hasattr(r, "sweep") else "frontier" if hasattr(r, "frontier") else "escape" for r in results}
    if len(kinds) > 1:
        raise ConfigError("plot: give escape folders, one sweep folder or one frontier folder, not several kinds")
    paths = []
    with style(args.style):
        if kinds == {"frontier"}:
            if len(results) > 1:
                raise ConfigError("plot: one frontier folder at a time")
            from saddle.plotting.frontier import frontier_figure

            stem = Path(args.out) if args.out is not None else Path(args.folders[0]) / "frontier"
            if not stem.parent.is_dir():
                raise ConfigError(f"--out: no such folder: {str(stem.parent)!r}")
            paths = list(frontier_figure(results[0], out=stem, width=width, style=args.style))
        elif kinds == {"sweep"}:
            if len(results) > 1:
                raise ConfigError("plot: one sweep folder at a time (its figures overlay its cells already)")
            paths = _sweep_figures(cast("SweepResult", results[0]), args, width, dpi)
        else:
            from saddle.plotting import escape_figure

            fig = escape_figure(results if len(results) > 1 else results[0], width, cost=args.cost, style=args.style)
            default = Path(args.folders[0]) / "escape" if len(results) == 1 else Path("overlay")
            stem = Path(args.out) if args.out is not None else default
            if not stem.parent.is_dir():
                raise ConfigError(f"--out: no such folder: {str(stem.parent)!r}")
            paths = list(save_figure(fig, stem, formats=args.format, dpi=dpi))
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _sweep_figures(result: SweepResult, args: argparse.Namespace, width: str | float, dpi: float) -> list[Path]:
    """The sweep's heatmap (two swept parameters) and lines figures, from its stored summary."""
    from saddle.options import ConfigError
    from saddle.plotting import figure_width, save_figure
    from saddle.plotting.sweep import figure_title, sweep_heatmap, sweep_lines

    spec = result.sweep.plot_spec()
    if spec is None:
        raise ConfigError(f"{result.out}: no parameter of the sweep varies; there is no figure to draw")
    table = result.summary
    title = figure_title(result.sweep, spec["where"])
    base = Path(args.out) if args.out is not None else Path(result.out) / "sweep"
    if not base.parent.is_dir():
        raise ConfigError(f"--out: no such folder: {str(base.parent)!r}")
    inches = figure_width(width)
    paths: list[Path] = []
    if spec["y"] is not None:
        fig = sweep_heatmap(table, spec["x"], spec["y"], spec["values"], where=spec["where"], width=inches, title=title)
        paths += save_figure(fig, base.with_name(f"{base.name}-heatmap"), formats=args.format, dpi=dpi)
    fig = sweep_lines(table, spec["x"], spec["y"], spec["values"], where=spec["where"], width=inches, title=title)
    paths += save_figure(fig, base.with_name(f"{base.name}-lines"), formats=args.format, dpi=dpi)
    return paths
