"""What every figure shares: the palette (one fixed colour per batch size, :func:`batch_colour`), the widths,
the named styles, log axes a reader can read (and the step axis, :func:`step_axis`, that starts at t = 0),
legends that fit the figure's width (:func:`legend_columns`), and :func:`save_figure` (PDF and PNG, each
written atomically).  Matplotlib is imported only inside the
functions, so the command line's parser reads :data:`STYLES` and :data:`WIDTHS` without it.

:mod:`saddle.plotting` re-exports all of it; docs/figures.md shows the styles.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import re
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
"""Five colours in order (Okabe-Ito without reddish purple, which the theory keeps for itself), for
:func:`batch_palette`.  The toolkit's figures colour batch sizes with :func:`batch_colour` instead."""
BATCH_COLOUR_MAP = "viridis"
"""The colormap of :func:`batch_colour` (perceptually uniform, readable by colour-blind readers and in grey)."""
BATCH_LOG2_SPAN = 15
""":func:`batch_colour` spreads log2 m from 0 to this over the colormap: batch sizes from 1 to 32768 a few
percent apart or more get colours of their own (larger ones share the last)."""
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
labels, 7 pt ticks, 300 dpi: the sizes of one- and two-column journal figures), ``paper-tex`` (the
same with every text set by LaTeX, so that a figure's fonts are the paper's; it needs a TeX install,
:data:`TEX_PROGRAMS`) and ``talk`` (slides)."""
STYLES["paper-tex"] = {  # 'paper' with every text set by LaTeX (Computer Modern, Type 1 fonts): needs TeX
    **STYLES["paper"],
    "text.usetex": True,
    "font.serif": ["Computer Modern Roman", "DejaVu Serif"],  # (TeX sets the text; DejaVu: what it measures without)
    "text.latex.preamble": r"\usepackage{amsmath}",
}

TEX_PROGRAMS = ("latex", "dvipng")
"""What matplotlib's usetex needs on PATH: ``latex`` for every text, ``dvipng`` for PNG output (the
PDF embeds TeX's own Type 1 fonts)."""


@functools.cache
def tex_problem() -> str | None:
    """Why the ``paper-tex`` style cannot draw here, in a few words, or None where it can: a program of
    :data:`TEX_PROGRAMS` missing from PATH, or LaTeX failing on one letter set as that style sets it (a
    TeX install without the packages matplotlib asks for: type1cm, type1ec and cm-super, in Debian's
    texlive-latex-extra and cm-super).  Asked once per process."""
    import re
    import shutil

    missing = [p for p in TEX_PROGRAMS if shutil.which(p) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH"
    import matplotlib
    from matplotlib.texmanager import TexManager

    try:
        settings: dict[str, Any] = {k: v for k, v in STYLES["paper-tex"].items() if k.startswith(("text.", "font."))}
        with matplotlib.rc_context(settings):  # type: ignore[arg-type]
            TexManager.get_text_width_height_descent("x", 8)
    except (RuntimeError, OSError) as err:
        found = re.search(r"^! (.*)$", str(err), re.M)
        return f"LaTeX fails here: {found.group(1) if found else str(err).splitlines()[0]}"
    return None


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


def batch_colour(m: float) -> str:
    """The colour of batch size ``m`` in every figure saddle draws, whatever the other batch sizes beside it.

    A fixed map of log2 m onto :data:`BATCH_COLOUR_MAP` (viridis, from 0 to 0.97, the small batch sizes
    spread a little more: position 0.97 (log2 m / :data:`BATCH_LOG2_SPAN`)^0.7), so that m = 32 is the
    same teal in an overlay of runs with different m lists as in each run's own figure, and larger batch
    sizes are lighter.  It never gives the theory's colours (:data:`THEORY_COLOUR`, :data:`MODEL_COLOUR`).

    Returns
    -------
    str
        A hex colour, ``#rrggbb``.
    """
    from matplotlib.colors import to_hex

    if not (m >= 1 and math.isfinite(m)):
        raise ValueError(f"a batch size is a number >= 1, got {m!r}")
    position = 0.97 * min(1.0, math.log2(m) / BATCH_LOG2_SPAN) ** 0.7
    return to_hex(_batch_colormap()(position))


@functools.cache
def _batch_colormap() -> Any:
    """:data:`BATCH_COLOUR_MAP` interpolated finely (its 256 colours would give batch sizes a few percent
    apart the same one)."""
    from matplotlib import colormaps
    from matplotlib.colors import LinearSegmentedColormap

    samples = colormaps[BATCH_COLOUR_MAP]([i / 255 for i in range(256)])
    return LinearSegmentedColormap.from_list("saddle-batch", samples, N=4096)


@contextlib.contextmanager
def style(name: str | None = "default") -> Iterator[None]:
    """Draw (and save) under the named :data:`STYLES` entry: ``with style("paper"): fig = escape_figure(r)``."""
    import matplotlib

    if name is None:
        name = "default"
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; choose one of {', '.join(STYLES)}")
    problem = tex_problem() if STYLES[name].get("text.usetex") else None
    if problem is not None:
        raise ValueError(
            f"style {name!r} sets its text with LaTeX and needs a working TeX install ({problem}); "
            "style 'paper' draws the same figure with embedded TrueType fonts"
        )
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


def step_axis(ax: Any, t_max: float, label: str = "steps $t$") -> None:
    """A log step axis that shows t = 0: symmetric-log (linear from 0 to 1, logarithmic beyond), starting at
    0 on the left edge, ticked at 0 and at the decades (1, 2, 5 x 10^k when they span less than two), and
    labelled so that a reader knows (``label`` + "(0, then log)").

    Parameters
    ----------
    ax : matplotlib Axes
        Its x axis is set.
    t_max : float
        The largest step drawn.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    t_max = max(float(t_max), 10.0)
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.35)
    ax.set_xlim(0, t_max * 1.15)
    top = math.ceil(math.log10(t_max * 1.15))
    subs = (1.0, 2.0, 5.0) if math.log10(t_max) < 2.2 else (1.0,)
    major = [0.0] + [b * 10.0**k for k in range(top + 1) for b in subs if b * 10.0**k <= t_max * 1.15]
    minor = [b * 10.0**k for k in range(top + 1) for b in range(2, 10) if b * 10.0**k <= t_max * 1.15]
    ax.xaxis.set_major_locator(FixedLocator(major))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
    ax.xaxis.set_minor_locator(FixedLocator([v for v in minor if v not in major]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{label} (0, then log)")


def log_uniform_indices(steps: Any, points: int) -> Any:
    """Indices of about ``points`` entries of the increasing ``steps``, spread evenly in log(t + 1): all of the
    first steps, fewer and fewer later; the first (step 0) and the last always kept.

    What a trajectory recorded at a uniform stride keeps when it is drawn on a log step axis
    (:func:`step_axis`): uniform samples crowd at the right end of such an axis.
    """
    import numpy as np

    t = np.asarray(steps, dtype=float)
    n = t.size
    if n <= points:
        return np.arange(n)
    grid = np.geomspace(1.0, t[-1] - t[0] + 1.0, points) - 1.0 + t[0]
    picked = np.clip(np.searchsorted(t, grid), 0, n - 1)
    return np.unique(np.concatenate([[0], picked, [n - 1]]))


def text_inches(text: str, points: float) -> float:
    """How wide ``text`` (one line; mathtext included) is, in inches, at a font size of ``points``, in the
    current font family."""
    import matplotlib

    family = matplotlib.rcParams["font.family"]
    return _text_inches(text, float(points), tuple(family) if isinstance(family, list) else (family,))


@functools.lru_cache(maxsize=4096)
def _text_inches(text: str, points: float, family: tuple[str, ...]) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    if not text:
        return 0.0
    prop = FontProperties(family=list(family), size=points)
    math_text = text.count("$") >= 2 and text.count("$") % 2 == 0
    try:
        width = text_to_path.get_text_width_height_descent(text, prop, ismath=math_text)[0]
    except ValueError:  # text that mathtext cannot parse is drawn as plain text
        width = text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0]
    return float(width) / 72.0


def legend_fontsize() -> float:
    """The legend's font size in points under the current style."""
    import matplotlib
    from matplotlib.font_manager import FontProperties

    return float(FontProperties(size=matplotlib.rcParams["legend.fontsize"]).get_size_in_points())


def fill_lines(pieces: Sequence[str], inches: float, points: float) -> list[str]:
    """``pieces`` joined by spaces into as few lines as fit ``inches`` at a font size of ``points`` (a piece
    wider than that alone has a line of its own)."""
    lines = [pieces[0]] if pieces else []
    for piece in pieces[1:]:
        joined = f"{lines[-1]} {piece}"
        if text_inches(joined, points) <= inches:
            lines[-1] = joined
        else:
            lines.append(piece)
    return lines


def wrap_text(text: str, inches: float, points: float) -> str | None:
    """``text`` broken at its spaces (never inside $mathtext$) into lines at most ``inches`` wide at a
    font size of ``points``; None when one word alone is wider."""
    words = re.findall(r"(?:\$[^$]*\$|[^\s$])+", text)
    if not words:
        return text
    lines = fill_lines(words, inches, points)
    if any(text_inches(line, points) > inches for line in lines):
        return None
    return "\n".join(lines)


def legend_grid(
    groups: Sequence[Sequence[tuple[Any, str]]],
    inches: float,
    *,
    handlelength: float = 1.8,
    columnspacing: float = 1.0,
) -> tuple[list[Any], list[str], int]:
    """A legend's entries laid out as a table that fits ``inches``: each group (the batch sizes' colours,
    say, then what the markers mean) starts a row of its own; the number of columns is the one that makes
    the legend shortest, long texts broken into lines to fit their column (:func:`wrap_text`); blank
    entries pad the rows.

    Returns the handles and texts in the order matplotlib fills a legend (down each column first) and
    the number of columns: ``fig.legend(handles, texts, ncols=columns, handlelength=..., columnspacing=...)``.
    """
    from matplotlib.lines import Line2D

    groups = [list(g) for g in groups if g]
    size = legend_fontsize()
    em = size / 72.0
    Cell = tuple[Any, str] | None

    def table(columns: int) -> tuple[float, list[list[Cell]]] | None:
        budget = (
            inches - columns * (handlelength + 0.8) * em - (columns - 1) * columnspacing * em - 0.8 * em
        ) / columns
        rows: list[list[Cell]] = []
        for group in groups:
            cells: list[Cell] = []
            for handle, text in group:
                wrapped = wrap_text(text, budget, size) if columns > 1 else text
                if wrapped is None:
                    return None
                cells.append((handle, wrapped))
            for start in range(0, len(cells), columns):
                row = cells[start : start + columns]
                rows.append(row + [None] * (columns - len(row)))
        height = sum(max(cell[1].count("\n") + 1 if cell is not None else 1 for cell in row) for row in rows)
        return height, rows

    best: tuple[float, int, list[list[Cell]]] | None = None
    for columns in range(1, max((len(g) for g in groups), default=1) + 1):
        laid = table(columns)
        if laid is not None and (best is None or laid[0] <= best[0]):
            best = (laid[0], columns, laid[1])
    assert best is not None  # one column always fits (its texts unbroken)
    _, columns, rows = best
    handles: list[Any] = []
    texts: list[str] = []
    for c in range(columns):
        for row in rows:
            cell = row[c]
            handles.append(cell[0] if cell is not None else Line2D([], [], lw=0))
            texts.append(cell[1] if cell is not None else "")
    return handles, texts, columns


EMBEDDED_FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42}
"""Fonts embedded as TrueType (Type 42) in PDF and PostScript, whatever the style: many journals refuse
matplotlib's default Type 3 fonts."""


def save_figure(
    fig: Figure, path_stem: str | Path, formats: Sequence[str] = ("pdf", "png"), dpi: float | None = None
) -> tuple[Path, ...]:
    """Write ``path_stem``.pdf (vector, TrueType fonts: :data:`EMBEDDED_FONTS`) and ``path_stem``.png (200 dpi,
    or the style's), each atomically.

    ``formats`` picks others (``svg``, ``eps``, ...); returns the paths written, in that order.  Where
    LaTeX sets the text (``text.usetex``, the ``paper-tex`` style), every ``%`` of the figure's texts is
    escaped first (LaTeX would take the rest of a label for a comment: "95% CI" would print "95").
    """
    import matplotlib

    if matplotlib.rcParams["text.usetex"]:
        from matplotlib.text import Text

        for text in fig.findobj(Text):
            text.set_text(re.sub(r"(?<!\\)%", r"\\%", text.get_text()))
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
