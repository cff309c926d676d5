"""What every figure shares: the palette, the widths, the named styles, log axes a reader can read, and
:func:`save_figure` (PDF and PNG, each written atomically).  Matplotlib is imported only inside the
functions, so the command line's parser reads :data:`STYLES` and :data:`WIDTHS` without it.

:mod:`saddle.plotting` re-exports all of it; docs/figures.md shows the styles.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saddle.store.folder import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Colour = str | tuple[float, float, float, float]
"""A colour as Matplotlib takes it: a hex string, or an RGBA tuple (a colormap's samples)."""

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
WIDTH_ONE_COLUMN = 3.5
WIDTH_TWO_COLUMN = 7.2
WIDTHS = {"one": WIDTH_ONE_COLUMN, "two": WIDTH_TWO_COLUMN}
"""Figure widths in inches: one column and the full page width of two-column journals (3.5 in / 7.2 in)."""

BATCH_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9")
"""The batch sizes' colours (Okabe-Ito without reddish purple, which the theory keeps for itself)."""
THEORY_COLOUR = "#CC79A7"
"""The linear theory's line and band (Okabe-Ito reddish purple: no batch size uses it)."""
MODEL_COLOUR = "#882255"
"""The heat-path model's crosses (Tol's wine: apart from every batch size's colour and from the theory's)."""
LINESTYLES = ("-", "--", ":", "-.")
"""The line styles of overlaid runs, in order."""
RUN_MARKERS = ("o", "s", "^", "D", "v", "P")

_BASE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 6.5,
    "figure.titlesize": 8,
    "legend.frameon": False,
    "savefig.dpi": 200,
}
STYLES: dict[str, dict[str, Any]] = {
    "default": dict(_BASE),
    "paper": {
        **_BASE,
        "font.family": "serif",
        "font.serif": ["DejaVu Serif"],
        "mathtext.fontset": "dejavuserif",
        "font.size": 8,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "legend.fontsize": 6.5,
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.minor.width": 0.4,
        "ytick.minor.width": 0.4,
        "lines.linewidth": 1.0,
        "savefig.dpi": 300,
    },
    "talk": {
        **_BASE,
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 9,
        "legend.title_fontsize": 9,
        "figure.titlesize": 11,
        "lines.linewidth": 1.5,
    },
}
"""Named matplotlib settings: ``default`` (the results folders' figures), ``paper`` (serif, 8 pt
labels, 7 pt ticks, 300 dpi: the sizes of one- and two-column journal figures) and ``talk`` (slides)."""


def colour(i: int) -> str:
    """The i-th colour of the Okabe-Ito palette (cycling)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def palette(n: int) -> list[Colour]:
    """n colours: Okabe-Ito up to 8, else n samples of viridis (also colour-blind safe, and ordered)."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in [i / (n - 1) * 0.9 for i in range(n)]]


def batch_palette(n: int) -> list[Colour]:
    """n colours for batch sizes: :data:`BATCH_COLOURS` up to five, else viridis (ordered), never the
    theory's colours."""
    if n <= len(BATCH_COLOURS):
        return list(BATCH_COLOURS[:n])
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in [0.05 + i / (n - 1) * 0.85 for i in range(n)]]


@contextlib.contextmanager
def style(name: str | None = "default") -> Iterator[None]:
    """Draw (and save) under the named :data:`STYLES` entry: ``with style("paper"): fig = escape_figure(r)``."""
    import matplotlib

    if name is None:
        name = "default"
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; choose one of {', '.join(STYLES)}")
    with matplotlib.rc_context(STYLES[name]):  # type: ignore[arg-type]
        yield


def figure_width(width: float | str) -> float:
    """A width in inches from a number or a name of :data:`WIDTHS` ('one', 'two')."""
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"unknown width {width!r}; choose one of {', '.join(WIDTHS)} or give inches")
        return WIDTHS[width]
    return float(width)


def compact_number(value: float) -> str:
    """A tick label: 1, 20, 500, 2000, 20k, 1.5M (no '6x10^2')."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else ""
    a = abs(value)
    if a < 10_000:
        return f"{value:.0f}" if value == round(value) else f"{value:.3g}"
    if a < 1e6:
        return f"{value / 1e3:.3g}k"
    return f"{value / 1e6:.3g}M"


def readable_log_axis(axis: Any, lo: float, hi: float) -> None:
    """Log ticks a reader can read: at 1, 2, 5 x 10^k when the data span less than three decades, else at
    the decades (with unlabelled minor ticks), labelled as plain numbers (:func:`compact_number`)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        return
    decades = math.log10(hi / lo)
    subs: tuple[float, ...] = (1.0, 2.0, 5.0) if decades < 2.2 else (1.0,)
    if decades < 0.7:
        subs = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    axis.set_minor_formatter(NullFormatter())


EMBEDDED_FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42}
"""Fonts embedded as TrueType (Type 42) in PDF and PostScript, whatever the style: many journals refuse
matplotlib's default Type 3 fonts."""


def save_figure(
    fig: Figure, path_stem: str | Path, formats: Sequence[str] = ("pdf", "png"), dpi: float | None = None
) -> tuple[Path, ...]:
    """Write ``path_stem``.pdf (vector, TrueType fonts: :data:`EMBEDDED_FONTS`) and ``path_stem``.png (200 dpi,
    or the style's), each atomically.

    ``formats`` picks others (``svg``, ``eps``, ...); returns the paths written, in that order.
    """
    import matplotlib

    stem = Path(path_stem)
    paths = []
    engine = fig.get_layout_engine()
    for i, ext in enumerate(formats):
        if i == 1 and engine is not None:  # the layout of the first format holds for the others: not redone
            fig.set_layout_engine("none")
        kw: dict[str, Any] = {}
        if ext not in ("pdf", "svg", "eps", "ps"):
            kw["dpi"] = dpi if dpi is not None else 200
        elif dpi is not None:
            kw["dpi"] = dpi  # the resolution of the rasterised parts (trajectories)
        buf = io.BytesIO()
        with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):  # EMBEDDED_FONTS
            fig.savefig(buf, format=ext, **kw)
        path = stem.with_name(f"{stem.name}.{ext}")
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    if engine is not None and len(formats) > 1:
        fig.set_layout_engine(engine)
    return tuple(paths)
