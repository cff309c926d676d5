"""A sweep's figures, drawn from its stored summary table (never by re-running cells).

- :func:`sweep_heatmap`: a summary value (median escape steps, say) over two
  swept parameters, one panel per value, each cell annotated with its number.
- :func:`sweep_lines`: a summary value against one swept parameter, one line
  per value of another, with the 95% bootstrap intervals of the medians.

- :func:`plot_sweep`: both figures of a sweep's results folder, from its stored ``summary.csv``, with
  :func:`figure_title`.

The first two take the tidy summary table of a sweep (``saddle.sweep.read_table`` of
``summary.csv``: a mapping of columns), a list of row dicts, or a pandas
DataFrame.  Batch sizes are drawn on log2 axes (the heatmap's columns are the
swept values, equally spaced, which for powers of two is the log2 axis).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from saddle.options import ConfigError
from saddle.plotting.common import WIDTH_TWO_COLUMN, batch_colour, colour, readable_log_axis, save_figure
from saddle.plotting.escape import mathtext
from saddle.store.sweep import SweepFolder, read_table
from saddle.sweep.config import SweepConfig, _text

PARAMETER_LABELS = {
    "m": "batch size $m$",
    "eta": r"step size $\eta$ at m = 1",
    "lr_scaling": r"learning-rate scaling of $\eta_m$",
    "d": "dimension $d$",
    "s": "saddle order $s$",
    "dist": "data distribution",
    "optimizer": "optimiser",
    "sigma_iso": r"isotropic noise $\sigma_{iso}$",
    "delta": r"escape threshold $\delta$",
    "radius": "escape radius $r$",
    "objective": "objective",
    "max_steps": "max steps",
    "trials": "trials",
}
VALUE_LABELS = {
    "median_steps": "median escape steps",
    "median_samples": r"median escape samples ($m \times$ steps)",
    "mean_steps": "mean escape steps",
    "escaped": "escaped trials",
    "censored": "censored trials",
    "diverged": "diverged trials",
    "wall_seconds": "wall time (s)",
    "theory_median_steps": "median steps, linear theory",
    "theory_model_median_steps": "median steps, heat-path model",
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Values with a lower-bound flag: a median that half of the trials never reached is only known to exceed it.
LOWER_BOUND_FLAG = {
    "median_steps": "median_is_lower_bound",
    "median_samples": "median_is_lower_bound",
    "mean_steps": "mean_is_lower_bound",
}


def _columns(table):
    """A table as {column: ndarray}: from a mapping of columns, a list of row dicts, or a DataFrame."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        table = {c: table[c].to_numpy() for c in table.columns}
    if isinstance(table, (list, tuple)):
        keys = list(table[0]) if table else []
        table = {k: [row[k] for row in table] for k in keys}
    return {k: np.asarray(v) for k, v in table.items()}


def _select(cols, where):
    keep = np.ones(len(next(iter(cols.values()))) if cols else 0, dtype=bool)
    for key, value in (where or {}).items():
        if key not in cols:
            raise ValueError(f"where: the table has no column {key!r}")
        keep &= np.array([_same(v, value) for v in cols[key]], dtype=bool)
    return {k: v[keep] for k, v in cols.items()}


def _same(a, b):
    if isinstance(a, (int, float, np.integer, np.floating)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return str(a) == str(b)


def _levels(values):
    """The distinct values of a column: sorted when numeric, else in order of first appearance."""
    seen: list[Any] = []
    for v in values.tolist():
        if not any(_same(v, s) for s in seen):
            seen.append(v)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
        seen.sort()
    return seen


def _label(name):
    return PARAMETER_LABELS.get(name, name)


def _value_label(name):
    return VALUE_LABELS.get(name, name)


def _is_log2(name, levels):
    if name == "m":
        return True
    return (
        all(isinstance(v, (int, float)) and v > 0 and math.log2(v) == int(math.log2(v)) for v in levels)
        and len(levels) > 2
    )


def _compact(value, lower_bound=False):
    """A number in at most four characters or so: 87, 1555, 121k, 1.2M (with '>' for a lower bound)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if lower_bound:
        return ">" + _compact(value - 1)
    a = abs(value)
    if a < 10_000:
        return f"{value:.0f}" if value == int(value) or a >= 100 else f"{value:.3g}"
    if a < 1e6:
        return f"{value / 1e3:.0f}k" if a >= 1e5 else f"{value / 1e3:.1f}k".replace(".0k", "k")
    return f"{value / 1e6:.3g}M"


def _grid(cols, x, y, value):
    """value[y_level, x_level] (NaN where no cell) and the lower-bound flags, with the level lists."""
    xs, ys = _levels(cols[x]), _levels(cols[y]) if y is not None else [None]
    grid = np.full((len(ys), len(xs)), np.nan)
    bound = np.zeros(grid.shape, dtype=bool)
    filled = np.zeros(grid.shape, dtype=bool)
    flag = LOWER_BOUND_FLAG.get(value)
    for i in range(len(cols[x])):
        c = next(k for k, s in enumerate(xs) if _same(cols[x][i], s))
        r = 0 if y is None else next(k for k, s in enumerate(ys) if _same(cols[y][i], s))
        if filled[r, c]:
            raise ValueError(
                f"more than one row for {x}={xs[c]}"
                + ("" if y is None else f", {y}={ys[r]}")
                + ": hold the other swept parameters fixed with where={...}"
            )
        filled[r, c] = True
        grid[r, c] = float(cols[value][i])
        if flag is not None and flag in cols:
            bound[r, c] = bool(cols[flag][i])
    return xs, ys, grid, bound


def _values(value):
    return [value] if isinstance(value, str) else list(value)


def sweep_heatmap(
    summary: Any,
    x: str,
    y: str,
    value: str | Sequence[str] = "median_steps",
    *,
    where: Mapping[str, Any] | None = None,
    width: float = WIDTH_TWO_COLUMN,
    title: str | None = None,
) -> Figure:
    """A heatmap of ``value`` over the swept parameters ``x`` (columns) and ``y`` (rows).

    Parameters
    ----------
    summary : mapping of columns, list of row dicts, or DataFrame
        The tidy summary table of a sweep (summary.csv).
    x, y : str
        Swept parameters (columns of the table).
    value : str or list of str
        Summary column(s) to show, one panel each (median_steps, median_samples, ...).
    where : dict, optional
        Values of the other swept parameters to hold fixed (needed when they vary).
    width : float
        Figure width in inches (two-column by default).
    title : str, optional
        A line above the panels.

    Returns
    -------
    matplotlib.figure.Figure
        Colours on a log scale (cividis, readable by colour-blind readers and in
        grey); each cell shows its number, '>N' for a median known only to
        exceed max-steps (its cell is hatched) and 'n/a' for a cell not stored.
    """
    cols = _select(_columns(summary), where)
    values = _values(value)
    xs, ys = _levels(cols[x]), _levels(cols[y])
    panel_w = width / len(values)
    height = max(1.6, 0.75 + 0.32 * len(ys)) + (0.25 if title else 0)
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(values), squeeze=False)[0])
    for ax, val in zip(axes, values):
        xs, ys, grid, bound = _grid(cols, x, y, val)
        finite = grid[np.isfinite(grid)]
        positive = finite[finite > 0]
        norm: Normalize
        if positive.size and positive.min() < positive.max() and positive.size == finite.size:
            norm = LogNorm(positive.min(), positive.max())
        else:
            norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
        cmap = "cividis"
        img = ax.imshow(
            np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", origin="upper", interpolation="nearest"
        )
        for r in range(len(ys)):
            for c in range(len(xs)):
                v = grid[r, c]
                if bound[r, c]:
                    ax.add_patch(_hatch(c, r))
                shade = img.cmap(norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
                lum = 0.2126 * shade[0] + 0.7152 * shade[1] + 0.0722 * shade[2]
                ax.text(
                    c,
                    r,
                    _compact(v, bound[r, c]),
                    ha="center",
                    va="center",
                    fontsize=max(4.5, min(7, 55 * panel_w / max(1, len(xs)) / 4)),
                    color="black" if lum > 0.5 else "white",
                )
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], fontsize=6.5, rotation=0)
        ax.set_yticks(range(len(ys)), [str(v) for v in ys], fontsize=7)
        ax.set_xlabel(_label(x) + (r" (log$_2$ spacing)" if _is_log2(x, xs) else ""), fontsize=8)
        ax.set_ylabel(_label(y), fontsize=8)
        ax.set_title(_value_label(val), fontsize=8)
        bar = fig.colorbar(img, ax=ax, pad=0.01, fraction=0.05)
        _colorbar_ticks(bar, norm)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def _colorbar_ticks(bar, norm):
    """Colour-bar ticks at 1, 2, 5 x 10^k (log scale), labelled as the cells are."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    if isinstance(norm, LogNorm):
        lo, hi = norm.vmin, norm.vmax
        assert lo is not None and hi is not None  # the heatmap's LogNorm is made with both
        ticks = [
            b * 10.0**k
            for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            for b in (1, 2, 5)
            if lo <= b * 10.0**k <= hi
        ]
        if len(ticks) < 2:
            ticks = sorted({float(f"{lo:.2g}"), float(f"{hi:.2g}")} | set(ticks))
        bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))
    bar.ax.tick_params(which="both", labelsize=6)


def _hatch(c, r):
    from matplotlib.patches import Rectangle

    return Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="////", edgecolor="0.55", lw=0)


def sweep_lines(
    summary: Any,
    x: str,
    by: str | None = None,
    value: str | Sequence[str] = "median_steps",
    *,
    where: Mapping[str, Any] | None = None,
    width: float = WIDTH_TWO_COLUMN,
    title: str | None = None,
) -> Figure:
    """``value`` against the swept parameter ``x``, one line per value of ``by``.

    Parameters
    ----------
    summary : mapping of columns, list of row dicts, or DataFrame
        The tidy summary table of a sweep (summary.csv).
    x : str
        The swept parameter on the horizontal axis (log2 for m and other powers of two).
    by : str, optional
        The swept parameter whose values give the lines (colour and marker).
    value : str or list of str
        Summary column(s), one panel each; medians get their 95% bootstrap
        intervals as error bars, and a median known only to exceed max-steps is
        an open triangle pointing up.
    where, width, title :
        As for :func:`sweep_heatmap`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = _select(_columns(summary), where)
    values = _values(value)
    fig = Figure(
        figsize=(width, width * (0.42 if len(values) > 1 else 0.6) / max(1, len(values) / 2)), layout="constrained"
    )
    axes = fig.subplots(1, len(values), squeeze=False)[0]
    for ax, val in zip(axes, values):
        xs, groups, grid, bound = _grid(cols, x, by, val)
        numeric = all(isinstance(v, (int, float)) for v in xs)
        xpos = np.array(xs, dtype=float) if numeric else np.arange(len(xs), dtype=float)
        lo_hi = None
        if f"{val}_lo" in cols and f"{val}_hi" in cols:
            lo_hi = (_grid(cols, x, by, f"{val}_lo")[2], _grid(cols, x, by, f"{val}_hi")[2])
        shown_bound = False
        for g, group in enumerate(groups):
            med = grid[g]
            ok = np.isfinite(med) & ~bound[g]
            label = None if by is None else str(group)
            shade = batch_colour(group) if by == "m" and isinstance(group, (int, float)) else colour(g)
            kw = dict(color=shade, marker=MARKERS[g % len(MARKERS)], ms=3.5, lw=1.1)
            if lo_hi is not None:
                lo, hi = lo_hi[0][g], lo_hi[1][g]
                hi = np.where(np.isfinite(hi), hi, med)
                yerr = [np.clip(med - lo, 0, None)[ok], np.clip(hi - med, 0, None)[ok]]
                ax.errorbar(xpos[ok], med[ok], yerr=yerr, capsize=1.8, elinewidth=0.7, label=label, **kw)
            else:
                ax.plot(xpos[ok], med[ok], label=label, **kw)
            if bound[g].any():
                ax.plot(
                    xpos[bound[g]],
                    med[bound[g]],
                    linestyle="none",
                    marker="^",
                    mfc="none",
                    mec=shade,
                    ms=6,
                    label=None if shown_bound else "> max steps (lower bound)",
                )
                shown_bound = True
        if numeric and _is_log2(x, xs):
            ax.set_xscale("log", base=2)
            ax.set_xticks(xpos, [str(v) for v in xs], fontsize=6.5)
            ax.minorticks_off()
        elif not numeric:
            ax.set_xticks(xpos, [str(v) for v in xs], fontsize=7)
        finite = grid[np.isfinite(grid)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
            ax.set_yscale("log")
            readable_log_axis(ax.yaxis, finite.min(), finite.max())
        ax.set_xlabel(_label(x), fontsize=8)
        ax.set_ylabel(_value_label(val), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", lw=0.3, color="0.85")
        if by is not None or shown_bound:
            ax.legend(fontsize=6, frameon=False, title=None if by is None else _label(by), title_fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


__all__ = ["sweep_heatmap", "sweep_lines"]


# ----------------------------------------------------------------------------- a sweep folder's figures


def figure_title(sweep: SweepConfig, where: dict[str, Any] | None = None) -> str:
    """A one-line description of what a sweep's figures hold: what every cell shares.

    The objective's description keeps only the parts common to all cells (with ``dist`` swept, no single
    distribution is named); the swept parameters are the figures' axes and legends, and those held fixed
    for the figure (``where``) are named at the end.
    """
    cells = sweep.cells()
    cfg = cells[0].config
    text = _common_description([c.config.describe() for c in cells])
    if "optimizer" not in sweep.grid:
        text += f"; {cfg.optimizer}"
    text = mathtext(text)
    if "eta" not in sweep.grid:
        text += f", $\\eta$ = {cfg.eta:g} at m = 1"
    text += f"; {cfg.trials} trials per cell" if "trials" not in sweep.grid else ""
    if where:
        text += "; " + ", ".join(f"{k} = {_text(v)}" for k, v in where.items())
    return text


def _common_description(texts: list[str]) -> str:
    """The parts (split at ", ", the objective's name apart) that every description shares, in order."""

    def parts(text: str) -> list[str]:
        head, *rest = text.split(", ")
        name, _, size = head.partition(" ")
        return [name, *([size] if size else []), *rest]

    split = [parts(t) for t in texts]
    common = [p for p in split[0] if all(p in other for other in split[1:])]
    if not common:
        return ""
    name, rest = (common[0], common[1:]) if common[0] == split[0][0] else ("", common)
    return (name + (" " if name and rest else "") + ", ".join(rest)).strip()


def plot_sweep(sweep: SweepConfig | str | Path, out: str | Path | None = None) -> list[Path]:
    """Draw sweep-heatmap.{pdf,png} and sweep-lines.{pdf,png} from the stored summary table.

    Nothing is run: the figures come from ``<out>/summary.csv`` (checked against its checksum).
    Returns the paths written (an empty list when no parameter varies).
    """
    if not isinstance(sweep, SweepConfig):
        sweep = SweepConfig.from_toml(sweep)
    folder = SweepFolder.open(
        SweepFolder.checked_path(out) if out is not None else sweep.default_out(), sweep, create=False
    )
    spec = sweep.plot_spec()
    if spec is None:
        return []
    path = folder.path / "summary.csv"
    if not path.exists():
        raise ConfigError(f"{folder.path} holds no summary.csv yet; run the sweep first")
    table = read_table(path)
    title = figure_title(sweep, spec["where"])
    paths: list[Path] = []
    if spec["y"] is not None:
        fig = sweep_heatmap(table, spec["x"], spec["y"], spec["values"], where=spec["where"], title=title)
        paths += save_figure(fig, folder.path / "sweep-heatmap")
    fig = sweep_lines(table, spec["x"], spec["y"], spec["values"], where=spec["where"], title=title)
    paths += save_figure(fig, folder.path / "sweep-lines")
    return [Path(p) for p in paths]
