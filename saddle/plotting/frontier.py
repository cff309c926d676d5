"""The batch-size frontier's figure: the step size tuned for every batch size m, the steps, samples and seconds
to reach the target, and McCandlish et al.'s model S = S_min (1 + B_crit / m) beside them (Shallue et al.,
JMLR 2019; McCandlish et al. 2018; docs/frontier.md).

Every function takes a :class:`~saddle.frontier.result.FrontierResult` (never re-running a search) and,
for a panel, an optional matplotlib Axes to draw on (a one-column figure of its own when none is given);
each returns the Axes it drew on.

- :func:`steps_panel`: S(m) at eta*(m) against m, the perfect-scaling guide S ~ 1/m, the fitted model,
  B_crit with its interval, the noise scales B_noise and B_simple, and a theory's frontier.
- :func:`samples_steps_panel`: the samples E = m S against the steps S, one point per m, on the model's
  hyperbola (S / S_min - 1)(E / E_min - 1) = 1.
- :func:`eta_panel`: eta*(m) with its bracket, beside the linear (eta ~ m) and square-root (eta ~ sqrt m)
  rules.
- :func:`tuning_panel`: the tuning curves S(m, eta) against eta, one per batch size.
- :func:`seconds_panel`: the wall time to the target against m, the best m marked.
- :func:`frontier_panels` lays the five out in one Figure; :func:`frontier_figure` also saves it (PDF with
  Type 42 fonts, and PNG).

Missing values (NaN, inf) are left out of lines and intervals; a batch size whose search found no step size
reaching the target (S infinite) is an open triangle on the top edge, and so is a tuning cell whose median
trial never reached it.  Each batch size keeps one colour (:func:`batch_colours`) in every panel, the
same as in the escape and sweep figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator
from matplotlib.transforms import blended_transform_factory

from saddle.plotting.common import (
    MODEL_COLOUR,
    THEORY_COLOUR,
    WIDTH_ONE_COLUMN,
    Colour,
    batch_colour,
    compact_number,
    figure_width,
    readable_log_axis,
    save_figure,
)
from saddle.plotting.common import style as _style
from saddle.plotting.escape import mathtext

__all__ = [
    "batch_colours",
    "eta_panel",
    "frontier_figure",
    "frontier_panels",
    "frontier_title",
    "samples_steps_panel",
    "seconds_panel",
    "steps_panel",
    "tuning_panel",
]

GUIDE_COLOUR = "0.45"
"""The scaling rules' and asymptotes' grey."""
NOISE_STYLES = {"B_noise": ("0.15", (0, (1, 1.5))), "B_simple": ("0.5", (0, (1, 3)))}
"""The noise scales' vertical lines: (colour, dotted line style)."""
_LEGEND = dict(frameon=True, framealpha=0.85, facecolor="white", edgecolor="none", borderpad=0.3, handlelength=1.8)


# ----------------------------------------------------------------------------------------------- helpers


def _column(table: Mapping[str, Any] | None, name: str, n: int | None = None) -> np.ndarray:
    """A column of ``table`` as floats (non-numbers as NaN); all NaN (length ``n``) where it is missing."""
    if table is None or name not in table or table[name] is None:
        return np.full(0 if n is None else n, np.nan)
    raw = np.asarray(table[name])
    try:
        return raw.astype(float).ravel()
    except (TypeError, ValueError):
        return np.array([_number(v) for v in raw.ravel()], dtype=float)


def _number(value: Any) -> float:
    """A float, or NaN for what is none (None, '', a text)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fit(result: Any, key: str) -> float:
    fit = getattr(result, "fit", None) or {}
    return _number(fit.get(key, math.nan))


def _frontier(result: Any) -> dict[str, np.ndarray]:
    """The frontier's numeric columns, rows sorted by m (rows without a finite m left out)."""
    table = getattr(result, "frontier", None) or {}
    m = _column(table, "m")
    n = len(m)
    names = ("eta_star", "eta_lo", "eta_hi", "S", "S_lo", "S_hi", "E", "E_lo", "E_hi")
    cols = {"m": m, **{k: _column(table, k, n) for k in names}}
    cols.update({k: _column(table, k, n) for k in ("seconds", "seconds_lo", "seconds_hi")})
    keep = np.isfinite(m) & (m > 0)
    order = np.argsort(m[keep], kind="stable")
    out = {k: v[keep][order] if len(v) == n else np.full(int(keep.sum()), np.nan) for k, v in cols.items()}
    edge = np.ravel(np.asarray(table.get("edge", [""] * n), dtype=object))
    at_edge = np.array([str(e) not in ("", "nan", "None") for e in edge], dtype=bool)
    out["at_edge"] = at_edge[keep][order] if len(at_edge) == n else np.zeros(len(order), dtype=bool)
    return out


def _batch_sizes(result: Any) -> list[int]:
    """Every batch size of the frontier and of the tuning table, sorted."""
    ms = np.concatenate(
        [_column(getattr(result, "frontier", None), "m"), _column(getattr(result, "tuning", None), "m")]
    )
    return sorted({int(m) for m in ms[np.isfinite(ms) & (ms > 0)]})


def batch_colours(result: Any) -> dict[int, Colour]:
    """The colour of each batch size of ``result`` (:func:`~saddle.plotting.common.batch_colour`): the same
    in every panel, and in every other figure saddle draws."""
    return {m: batch_colour(m) for m in _batch_sizes(result)}


def _own_axes(ax: Any) -> tuple[Any, bool]:
    """``ax`` and False, or the Axes of a new one-column Figure and True."""
    if ax is not None:
        return ax, False
    fig = Figure(figsize=(WIDTH_ONE_COLUMN, 0.75 * WIDTH_ONE_COLUMN), layout="constrained")
    return fig.add_subplot(), True


def _legend(ax: Any, handles: list[Any], texts: list[str], own: bool, loc: str = "best", **kw: Any) -> None:
    """The panel's legend: inside the Axes at ``loc`` (where it hides the least, by default), or, on a
    figure of the panel's own, below the Axes in as many columns as the width takes (the figure grows to
    hold it)."""
    if not own:
        ax.legend(handles, texts, loc=loc, **{**_LEGEND, **kw})
        return
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=matplotlib.rcParams["legend.fontsize"]).get_size_in_points() / 72  # inches
    fig = ax.figure
    widths = [_text_inches(t, size) + 3.6 * size for t in texts]  # with the handle, its pad, the column gap
    columns = next(c for c in range(len(texts), 0, -1) if _columns_inches(widths, c) <= fig.get_figwidth() or c == 1)
    fig.set_figheight(fig.get_figheight() + 1.4 * size * math.ceil(len(texts) / columns) + 0.15)
    fig.legend(handles, texts, loc="outside lower center", ncols=columns, handlelength=1.8, columnspacing=1.0)


def _columns_inches(widths: list[float], columns: int) -> float:
    """The width of a legend of entries this wide in ``columns`` columns, filled as matplotlib fills them
    (down each column; the first ones one entry longer)."""
    rows, longer = divmod(len(widths), columns)
    total, start = 0.0, 0
    for c in range(columns):
        count = rows + (1 if c < longer else 0)
        total += max(widths[start : start + count], default=0.0)
        start += count
    return total


def _text_inches(text: str, size: float) -> float:
    """About how wide a legend text is, in inches, at a font ``size`` in inches (mathtext commands count
    as one character)."""
    shown = re.sub(r"[${}^_]", "", re.sub(r"\\[a-zA-Z]+", "x", text))
    return 0.55 * size * len(shown)


def _interval(value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Error-bar lengths [below, above] for ``value``: 0 where a bound is missing or on the wrong side."""
    below = np.where(np.isfinite(lo), value - lo, 0.0)
    above = np.where(np.isfinite(hi), hi - value, 0.0)
    return np.vstack([np.clip(below, 0, None), np.clip(above, 0, None)])


def _positive(*arrays: Any) -> np.ndarray:
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays] or [np.zeros(0)])
    return values[np.isfinite(values) & (values > 0)]


def _log_limits(ax: Any, which: str, values: np.ndarray, below: float = 1.6, above: float = 1.6) -> None:
    """A log axis spanning ``values`` (with margins, as factors), its ticks readable."""
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    if not values.size:
        return
    lo, hi = float(values.min()) / below, float(values.max()) * above
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_ylim if which == "y" else ax.set_xlim)(lo, hi)
    readable_log_axis(axis, lo, hi)


def _m_axis(ax: Any, ms: list[int]) -> None:
    """A log2 axis of batch sizes, ticked at the batch sizes (every other one labelled when there are many)."""
    ax.set_xscale("log", base=2)
    if ms:
        ax.set_xlim(min(ms) / 1.5, max(ms) * 1.5)
        every = 1 if len(ms) <= 7 else 2
        ax.set_xticks(ms, [compact_number(m) if i % every == 0 else "" for i, m in enumerate(ms)])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch size $m$ (samples per step)")


def _per_m_errorbars(
    ax: Any,
    m: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    colours: dict[int, Colour],
    hollow: np.ndarray | None = None,
) -> list[Any]:
    """One error bar per batch size with a finite positive value, in its colour (an open marker where
    ``hollow``), joined by a thin grey line; returns the containers."""
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() > 1:
        ax.plot(m[ok], y[ok], color="0.7", lw=0.8, zorder=1.5)
    err = _interval(y, lo, hi)
    bars = []
    for i in np.flatnonzero(ok):
        c = colours.get(int(m[i]), "0.3")
        bars.append(
            ax.errorbar(
                [m[i]],
                [y[i]],
                yerr=err[:, i : i + 1],
                fmt="o",
                color=c,
                mfc="white" if hollow is not None and hollow[i] else c,
                ms=3.5,
                elinewidth=0.8,
                capsize=1.5,
                zorder=3,
            )
        )
    return bars


def _unreached(ax: Any, m: np.ndarray, never: np.ndarray, colours: dict[int, Colour]) -> bool:
    """Open triangles on the top edge (above any data, below any legend) at the batch sizes where ``never``
    (no step size reached the target: S infinite); whether any was drawn."""
    if not never.any():
        return False
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for x in m[never]:
        ax.plot(
            [x], [1.0], "^", mfc="white", mec=colours.get(int(x), "0.3"), ms=5, transform=top, clip_on=False, zorder=5
        )
    return True


def _short(value: float) -> str:
    """A value to three significant digits, as a tick label would show it (6400, 12.5k)."""
    return compact_number(float(f"{value:.3g}")) if math.isfinite(value) else "n/a"


def _proxy(**kw: Any) -> Line2D:
    return Line2D([], [], **kw)


def _measured_handle() -> Line2D:
    return _proxy(marker="o", ms=3.5, color="0.7", mfc="0.35", mec="0.35", lw=0.8)


# ----------------------------------------------------------------------------------------------- panels


def steps_panel(result: Any, ax: Any = None, *, legend: bool = True) -> Any:
    """The steps to the target at the tuned step size, S(m) = S(m, eta*(m)), against the batch size m.

    Drawn: S(m) with its 95% interval (one colour per m); the perfect-scaling guide S ~ 1/m through the
    smallest m; the fitted model S_min (1 + B_crit / m) (McCandlish et al. 2018), with the batch sizes
    where it leaves the measured interval in squares; B_crit (vertical line, its interval shaded); the
    noise scales B_noise and B_simple averaged over the noiseless path (dotted; docs/frontier.md), when the result
    has them; a theory's frontier (dashed), when it has one.  Log-log axes.

    Parameters
    ----------
    result : FrontierResult
        A frontier run's tables (:mod:`saddle.frontier.result`).
    ax : matplotlib Axes, optional
        Where to draw; a new one-column figure's when none.
    legend : bool
        Add the panel's legend: inside ``ax`` where it hides the least (upper right, above the model's
        plateau, as a rule), or below the Axes on a figure of the panel's own.

    Returns
    -------
    matplotlib Axes
    """
    ax, own = _own_axes(ax)
    colours = batch_colours(result)
    f = _frontier(result)
    m, S = f["m"], f["S"]
    ms = [int(x) for x in m]
    _per_m_errorbars(ax, m, S, f["S_lo"], f["S_hi"], colours)
    handles: list[Any] = [_measured_handle()]
    texts = [r"$S(m)$ at $\eta^*(m)$, 95% CI"]
    drawn = [S, f["S_lo"], f["S_hi"]]
    noise_means = getattr(result, "noise", None) or {}
    marks = [_fit(result, k) for k in ("B_crit", "B_crit_hi")]
    marks += [_number(noise_means.get(f"{k}_mean", math.nan)) for k in NOISE_STYLES]
    marks = [x for x in marks if math.isfinite(x) and x > 0]
    # the axis reaches B_crit and the noise scales when they lie beyond the largest m (up to 64 times it)
    right = max([*ms, *(min(x, 64 * max(ms)) for x in marks)]) if ms else 1.0
    grid = np.geomspace(min(ms), right, 200) if len(ms) > 1 else m.astype(float)
    ok = np.isfinite(S) & (S > 0)
    if ok.any():
        m0, s0 = m[ok][0], S[ok][0]
        (guide,) = ax.plot(grid, s0 * m0 / grid, color=GUIDE_COLOUR, ls="-.", lw=0.9, zorder=1, gid="perfect-scaling")
        handles.append(guide)
        texts.append(r"perfect scaling $S \propto 1/m$")
    s_min, b_crit = _fit(result, "S_min"), _fit(result, "B_crit")
    if math.isfinite(s_min) and math.isfinite(b_crit) and grid.size:
        model = s_min * (1 + b_crit / grid)
        fits = (getattr(result, "fit", None) or {}).get("fits", True)
        (line,) = ax.plot(grid, model, color=MODEL_COLOUR, lw=1.1, zorder=2, gid="model")
        handles.append(line)
        texts.append(r"model $S_{\min}(1 + B_{\mathrm{crit}}/m)$" + ("" if fits else " (does not fit)"))
        drawn.append(model)
        misfit = [x for x in (getattr(result, "fit", None) or {}).get("misfit", []) or [] if x in ms]
        if misfit:
            at = np.array([S[ms.index(x)] for x in misfit])
            ring = ax.plot(misfit, at, "s", ms=7, mfc="none", mec=MODEL_COLOUR, mew=0.8, ls="none", gid="misfit")
            handles.append(ring[0])
            texts.append("model outside the 95% CI")
    if math.isfinite(b_crit) and b_crit > 0:
        lo, hi = _fit(result, "B_crit_lo"), _fit(result, "B_crit_hi")
        vline = ax.axvline(b_crit, color=MODEL_COLOUR, lw=0.9, ls="--", zorder=1, gid="B_crit")
        text = rf"$B_{{\mathrm{{crit}}}}$ = {_short(b_crit)}"
        if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
            band = ax.axvspan(lo, hi, color=MODEL_COLOUR, alpha=0.12, lw=0, zorder=0.5, gid="B_crit-interval")
            handles.append((band, vline))
            text += f" [{_short(lo)}, {_short(hi)}]"
        else:
            handles.append(vline)
        texts.append(text)
    noise = getattr(result, "noise", None) or {}
    for key, name in (("B_noise", r"$B_{\mathrm{noise}}$"), ("B_simple", r"$B_{\mathrm{simple}}$")):
        value = _number(noise.get(f"{key}_mean", math.nan))
        if math.isfinite(value) and value > 0:
            shade, ls = NOISE_STYLES[key]
            handles.append(ax.axvline(value, color=shade, ls=ls, lw=1.1, zorder=1, gid=key))
            texts.append(f"{name} = {_short(value)} (path mean)")
    theory = getattr(result, "theory", None)
    tm, ts = _column(theory, "m"), _column(theory, "S")
    if len(tm) and len(tm) == len(ts):
        good = np.isfinite(tm) & np.isfinite(ts) & (tm > 0) & (ts > 0)
        if good.any():
            order = np.argsort(tm[good])
            (line,) = ax.plot(tm[good][order], ts[good][order], color=THEORY_COLOUR, ls="--", lw=1.1, gid="theory")
            handles.append(line)
            texts.append("theory")
            drawn.append(ts[good])
    if _unreached(ax, m, np.isposinf(S), colours):
        handles.append(_proxy(marker="^", mfc="none", mec="0.3", ls="none", ms=5))
        texts.append(r"no $\eta$ reached the target")
    _m_axis(ax, ms)
    if ms and right > max(ms):
        ax.set_xlim(right=right * 1.5)
    _log_limits(ax, "y", _positive(*drawn))
    ax.set_ylabel(r"steps to target $S(m)$ (steps)")
    ax.set_title(r"steps at the tuned $\eta^*(m)$")
    if legend:
        _legend(ax, handles, texts, own)
    return ax


def _label_points(ax: Any, m: np.ndarray, S: np.ndarray, E: np.ndarray, b_crit: float) -> None:
    """Name the points of the samples-steps panel by m, on the outer side of the model's hyperbola: above
    where m << B_crit (the curve runs flat), to the right where m >> B_crit (it runs steep), up and right
    at the corner; every other point when there are more than seven (their colours name the rest)."""
    every = 1 if len(m) <= 7 else 2
    for i in range(len(m)):
        if i % every and i != len(m) - 1:
            continue
        u = m[i] / b_crit if math.isfinite(b_crit) and b_crit > 0 else 0.0
        angle = math.atan2(1.0, u)  # the hyperbola's outward normal in log-log: along (u, 1)
        dx, dy = 5.5 * math.cos(angle), 5.5 * math.sin(angle)
        ax.annotate(
            compact_number(m[i]),
            (S[i], E[i]),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left" if dx > 2.5 else "center",
            va="bottom" if dy > 2.5 else "center",
            fontsize=5.5,
            color="0.2",
        )


def samples_steps_panel(result: Any, ax: Any = None, *, legend: bool = True) -> Any:
    """The samples to the target E(m) = m S(m) against the steps S(m), one point per batch size (labelled
    with m), on the model's hyperbola (S / S_min - 1)(E / E_min - 1) = 1 (McCandlish et al. 2018)
    with its asymptotes S = S_min and E = E_min, and its point m = B_crit, (2 S_min, 2 E_min), marked.
    Each point has its 95% intervals in S and E.

    Parameters and returns as for :func:`steps_panel`.
    """
    ax, own = _own_axes(ax)
    colours = batch_colours(result)
    f = _frontier(result)
    m, S, E = f["m"], f["S"], f["E"]
    E = np.where(np.isfinite(E), E, m * S)
    err_s = _interval(S, f["S_lo"], f["S_hi"])
    err_e = _interval(E, f["E_lo"], f["E_hi"])
    s_min, e_min, b_crit = _fit(result, "S_min"), _fit(result, "E_min"), _fit(result, "B_crit")
    if not math.isfinite(e_min):
        e_min = s_min * b_crit
    if not math.isfinite(b_crit) and math.isfinite(s_min) and s_min > 0:
        b_crit = e_min / s_min
    ok = np.isfinite(S) & np.isfinite(E) & (S > 0) & (E > 0)
    for i in np.flatnonzero(ok):
        c = colours.get(int(m[i]), "0.3")
        ax.errorbar(
            [S[i]],
            [E[i]],
            xerr=err_s[:, i : i + 1],
            yerr=err_e[:, i : i + 1],
            fmt="o",
            color=c,
            ms=3.5,
            elinewidth=0.7,
            capsize=1.2,
            zorder=3,
        )
    _label_points(ax, m[ok], S[ok], E[ok], b_crit)
    handles: list[Any] = [_proxy(marker="o", ms=3.5, color="0.35", ls="none")]
    texts = [r"$(S, E)$ at $\eta^*(m)$, 95% CI; label: $m$"]
    drawn_s, drawn_e = [S[ok]], [E[ok]]
    if all(math.isfinite(v) and v > 0 for v in (s_min, e_min, b_crit)):
        ms = m[ok] if ok.any() else np.array([b_crit])
        u = np.geomspace(min(ms.min(), b_crit) / b_crit / 4, max(ms.max(), b_crit) / b_crit * 4, 300)
        hyper_s, hyper_e = s_min * (1 + 1 / u), e_min * (1 + u)  # m = u B_crit
        (line,) = ax.plot(hyper_s, hyper_e, color=MODEL_COLOUR, lw=1.1, zorder=2, gid="model")
        handles.append(line)
        texts.append(r"model $(S/S_{\min}-1)(E/E_{\min}-1)=1$")
        ax.axvline(s_min, color=GUIDE_COLOUR, ls=":", lw=0.9, zorder=1, gid="S_min")
        ax.axhline(e_min, color=GUIDE_COLOUR, ls=":", lw=0.9, zorder=1, gid="E_min")
        handles.append(_proxy(color=GUIDE_COLOUR, ls=":", lw=0.9))
        texts.append(rf"asymptotes $S_{{\min}}$ = {_short(s_min)}, $E_{{\min}}$ = {_short(e_min)}")
        (star,) = ax.plot(
            [2 * s_min], [2 * e_min], "D", ms=7, mfc="none", mec=MODEL_COLOUR, mew=1.0, zorder=4, gid="B_crit"
        )
        handles.append(star)
        texts.append(r"$m = B_{\mathrm{crit}}$: $(2S_{\min}, 2E_{\min})$")
        drawn_s += [np.array([s_min, 2 * s_min])]
        drawn_e += [np.array([e_min, 2 * e_min])]
    theory = getattr(result, "theory", None)
    tm, ts = _column(theory, "m"), _column(theory, "S")
    if len(tm) and len(tm) == len(ts):
        good = np.isfinite(tm) & np.isfinite(ts) & (tm > 0) & (ts > 0)
        if good.any():
            order = np.argsort(tm[good])
            ts_, te_ = ts[good][order], (tm * ts)[good][order]
            (line,) = ax.plot(ts_, te_, color=THEORY_COLOUR, ls="--", lw=1.1, gid="theory")
            handles.append(line)
            texts.append("theory")
            drawn_s.append(ts_)
            drawn_e.append(te_)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_limits(ax, "x", _positive(*drawn_s), below=1.25, above=1.8)
    _log_limits(ax, "y", _positive(*drawn_e), below=1.6, above=2.0)
    ax.set_xlabel(r"steps to target $S$ (steps)")
    ax.set_ylabel(r"samples to target $E = mS$ (samples)")
    ax.set_title("samples against steps")
    if legend:
        _legend(ax, handles, texts, own)
    return ax


def eta_panel(result: Any, ax: Any = None, *, legend: bool = True) -> Any:
    """The tuned step size eta*(m) against m, its bracket (the nearest step sizes tried on either side) as
    the error bar, beside the linear rule eta ~ m and the square-root rule eta ~ sqrt(m) through eta* at the
    smallest m (linear: Goyal et al. 2017; square root: Krizhevsky 2014, Hoffer et al. 2017).  A step size
    on a search bound is an open marker; a theory's eta*(m), when the result has one, is dashed.

    Parameters and returns as for :func:`steps_panel`.
    """
    ax, own = _own_axes(ax)
    colours = batch_colours(result)
    f = _frontier(result)
    m, eta = f["m"], f["eta_star"]
    ms = [int(x) for x in m]
    _per_m_errorbars(ax, m, eta, f["eta_lo"], f["eta_hi"], colours, hollow=f["at_edge"])
    ok = np.isfinite(eta) & (eta > 0)
    handles: list[Any] = [_measured_handle()]
    texts = [r"$\eta^*(m)$, bracket"]
    if (ok & f["at_edge"]).any():
        handles.append(_proxy(marker="o", mfc="white", mec="0.35", ls="none", ms=3.5))
        texts.append("on a search bound")
    drawn = [eta, f["eta_lo"], f["eta_hi"]]
    if ok.any() and len(ms) > 1:
        grid = np.geomspace(min(ms), max(ms), 200)
        m0, e0 = m[ok][0], eta[ok][0]
        (lin,) = ax.plot(grid, e0 * grid / m0, color=GUIDE_COLOUR, ls="--", lw=0.9, zorder=1, gid="linear")
        (sq,) = ax.plot(grid, e0 * np.sqrt(grid / m0), color=GUIDE_COLOUR, ls="-.", lw=0.9, zorder=1, gid="sqrt")
        handles += [lin, sq]
        texts += [r"linear rule $\eta \propto m$", r"square-root rule $\eta \propto \sqrt{m}$"]
    theory = getattr(result, "theory", None)
    tm, te = _column(theory, "m"), _column(theory, "eta_star")
    if len(tm) and len(tm) == len(te):
        good = np.isfinite(tm) & np.isfinite(te) & (tm > 0) & (te > 0)
        if good.any():
            order = np.argsort(tm[good])
            (line,) = ax.plot(tm[good][order], te[good][order], color=THEORY_COLOUR, ls="--", lw=1.1, gid="theory")
            handles.append(line)
            texts.append("theory")
            drawn.append(te[good])
    if _unreached(ax, m, ~np.isfinite(eta) & np.isposinf(f["S"]), colours):
        handles.append(_proxy(marker="^", mfc="none", mec="0.3", ls="none", ms=5))
        texts.append(r"no $\eta$ reached the target")
    _m_axis(ax, ms)
    _log_limits(ax, "y", _positive(*drawn), below=2.0, above=4.0)
    ax.set_ylabel(r"tuned step size $\eta^*(m)$")
    ax.set_title(r"the tuned step size $\eta^*(m)$")
    if legend:
        _legend(ax, handles, texts, own, "lower right")
    return ax


def _tuning_key(result: Any) -> tuple[list[Any], list[str]]:
    """The tuning panel's marker key: filled (meets the success rule), open (fails it), open triangle (never
    reached: S infinite), ringed (eta*); only the kinds the tuning table has."""
    tuning = getattr(result, "tuning", None) or {}
    S = _column(tuning, "median_steps")
    success = np.ravel(np.asarray(tuning.get("success", np.zeros(len(S), dtype=bool)), dtype=bool))
    finite = np.isfinite(S) & (S > 0)
    handles: list[Any] = [_proxy(marker="o", color="0.35", ms=3, ls="none")]
    texts = ["meets the success rule"]
    if len(success) == len(S) and (finite & ~success).any():
        handles.append(_proxy(marker="o", mfc="white", mec="0.35", ms=3, ls="none"))
        texts.append("fails it")
    if np.isposinf(S).any():
        handles.append(_proxy(marker="^", mfc="white", mec="0.35", ms=3.5, ls="none"))
        texts.append(r"fails it, never reached ($S = \infty$)")
    handles.append(_proxy(marker="o", mfc="none", mec="black", ms=6.5, mew=0.9, ls="none"))
    texts.append(r"$\eta^*(m)$")
    return handles, texts


def tuning_panel(result: Any, ax: Any = None, *, legend: bool = True, batch_key: bool = True) -> Any:
    """The tuning curves: S(m, eta) against eta, one curve per batch size in its colour (Shallue et al.,
    JMLR 2019).  Cells meeting the success rule are filled markers; cells failing it are open, at
    their S, or at the top edge when S is infinite (the median trial never reached the target); eta*(m) is
    ringed in black.

    Parameters
    ----------
    result, ax :
        As for :func:`steps_panel`.
    legend : bool
        Add the legend of the markers (filled, open, eta*).
    batch_key : bool
        Name the batch sizes' colours in that legend too (a figure with its own colour key leaves them out).

    Returns
    -------
    matplotlib Axes
    """
    ax, own = _own_axes(ax)
    colours = batch_colours(result)
    tuning = getattr(result, "tuning", None) or {}
    m, eta, S = _column(tuning, "m"), _column(tuning, "eta"), _column(tuning, "median_steps")
    n = len(m)
    success = np.asarray(tuning.get("success", np.zeros(n, dtype=bool)), dtype=bool).ravel() if n else np.zeros(0, bool)
    if len(eta) != n or len(S) != n or len(success) != n:
        raise ValueError("tuning_panel: the tuning table's columns m, eta, median_steps and success differ in length")
    top = blended_transform_factory(ax.transData, ax.transAxes)
    batch_handles: list[Any] = []
    for mm, c in colours.items():
        rows = np.flatnonzero((m == mm) & np.isfinite(eta) & (eta > 0))
        rows = rows[np.argsort(eta[rows], kind="stable")]
        finite = rows[np.isfinite(S[rows]) & (S[rows] > 0)]
        (line,) = ax.plot(eta[finite], S[finite], color=c, lw=0.8, zorder=2)
        batch_handles.append(line)
        good, bad = finite[success[finite]], finite[~success[finite]]
        ax.plot(eta[good], S[good], "o", color=c, ms=3, ls="none", zorder=3)
        if bad.size:
            ax.plot(eta[bad], S[bad], "o", mfc="white", mec=c, ms=3, ls="none", zorder=3)
        never = rows[np.isposinf(S[rows])]
        if never.size:
            ax.plot(
                eta[never],
                np.ones(never.size),
                "^",
                mfc="white",
                mec=c,
                ms=3.5,
                ls="none",
                transform=top,
                clip_on=False,
                zorder=5,
            )
    f = _frontier(result)
    star = np.isfinite(f["eta_star"]) & np.isfinite(f["S"]) & (f["eta_star"] > 0) & (f["S"] > 0)
    ax.plot(f["eta_star"][star], f["S"][star], "o", ms=6.5, mfc="none", mec="black", mew=0.9, zorder=4, gid="eta_star")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_limits(ax, "x", _positive(eta), below=1.4, above=1.4)
    finite_s = S[np.isfinite(S) & (S > 0)]
    _log_limits(ax, "y", finite_s, below=1.5, above=1.5)
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel(r"steps to target $S(m, \eta)$ (steps)")
    ax.set_title(r"tuning curves: $S(m, \eta)$ for each $m$")
    if legend:
        handles, texts = _tuning_key(result)
        if batch_key:
            handles += batch_handles
            texts += [f"m = {mm}" for mm in colours]
        _legend(ax, handles, texts, own, ncols=2 if len(texts) > 8 else 1, columnspacing=0.8)
    return ax


def seconds_panel(result: Any, ax: Any = None, *, legend: bool = True) -> Any:
    """The wall time to the target, seconds(m) = S(m) x the measured cost of one step at m, with its
    95% interval, against m; the best m in wall time ringed and named.

    Parameters and returns as for :func:`steps_panel`.
    """
    ax, own = _own_axes(ax)
    colours = batch_colours(result)
    f = _frontier(result)
    m, sec = f["m"], f["seconds"]
    ms = [int(x) for x in m]
    _per_m_errorbars(ax, m, sec, f["seconds_lo"], f["seconds_hi"], colours)
    handles: list[Any] = [_measured_handle()]
    texts = ["seconds to target, 95% CI"]
    ok = np.isfinite(sec) & (sec > 0)
    best = _fit(result, "best_m_seconds")
    if not (math.isfinite(best) and best in ms and ok[ms.index(int(best))]) and ok.any():
        best = float(m[ok][np.argmin(sec[ok])])
    if math.isfinite(best) and int(best) in ms and ok[ms.index(int(best))]:
        at = sec[ms.index(int(best))]
        (ring,) = ax.plot([best], [at], "o", ms=8, mfc="none", mec="black", mew=1.0, zorder=4, gid="best_m")
        ax.annotate(
            f"best $m$ = {int(best)}",
            (best, at),
            xytext=(0, -9),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize="small",
        )
        handles.append(ring)
        texts.append("fastest in wall time")
    if _unreached(ax, m, np.isposinf(sec) | (~np.isfinite(sec) & np.isposinf(f["S"])), colours):
        handles.append(_proxy(marker="^", mfc="none", mec="0.3", ls="none", ms=5))
        texts.append(r"no $\eta$ reached the target")
    _m_axis(ax, ms)
    _log_limits(ax, "y", _positive(sec, f["seconds_lo"], f["seconds_hi"]), below=2.0, above=1.6)
    ax.set_ylabel("seconds to target (s)")
    ax.set_title("wall time at the tuned $\\eta^*(m)$")
    if legend:
        _legend(ax, handles, texts, own, "upper center")
    return ax


# ----------------------------------------------------------------------------------------------- the figure


def frontier_title(result: Any) -> str:
    """The figure's caption line: the objective (``config.describe()``, or its name and d), the target,
    the trials per cell and the step budget."""
    cfg = getattr(result, "config", None)
    if cfg is None:
        return "batch-size frontier"
    target = _number(getattr(cfg, "target", None))  # a FrontierConfig holds the target, its escape the rest
    cfg = getattr(cfg, "escape", cfg)
    describe = getattr(cfg, "describe", None)
    if callable(describe):
        text = describe()
    else:
        text = str(getattr(cfg, "objective", "objective"))
        if getattr(cfg, "d", None) is not None:
            text += f" d={cfg.d}"
    text = mathtext(text)
    if not math.isfinite(target):
        target = _number(getattr(cfg, "target", None))
    if math.isfinite(target):
        text += f"; target $f \\leq {target:.4g}$"
    extra = []
    if getattr(cfg, "trials", None) is not None:
        extra.append(f"{cfg.trials} trials per cell")
    if getattr(cfg, "max_steps", None) is not None:
        extra.append(f"at most {compact_number(cfg.max_steps)} steps")
    return text + ("; " + ", ".join(extra) if extra else "")


def frontier_panels(result: Any, width: float | str = "two", *, style: str | None = None, title: bool = True) -> Figure:
    """The frontier's five panels in one Figure, with one colour key for the batch sizes.

    Two columns wide: the steps and the samples against the steps above, eta* and the seconds in the middle,
    the tuning curves (the full width) below.  Narrower than 5 in: the panels one above the other.

    Parameters
    ----------
    result : FrontierResult
    width : float or 'one' or 'two'
        Inches, or a column width (3.5 in, 7.2 in).
    style : str, optional
        A style of :data:`saddle.plotting.STYLES`.
    title : bool
        The caption line (:func:`frontier_title`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    inches = figure_width(width)
    with _style(style):
        narrow = inches < 5.0
        layout: Any
        if narrow:
            layout = [["steps"], ["samples"], ["eta"], ["seconds"], ["tuning"]]
            height = 5 * 0.56 * inches + 1.0
        else:
            layout = [["steps", "samples"], ["eta", "seconds"], ["tuning", "tuning"]]
            height = 3 * 0.31 * inches + 0.75
        fig = Figure(figsize=(inches, height), layout="constrained")
        axes = fig.subplot_mosaic(layout)
        steps_panel(result, axes["steps"])
        samples_steps_panel(result, axes["samples"])
        eta_panel(result, axes["eta"])
        tuning_panel(result, axes["tuning"], legend=not narrow, batch_key=False)
        if narrow:  # the tuning panel is too narrow for its key inside: the key goes below its axis label
            axes["tuning"].legend(
                *_tuning_key(result),
                loc="upper center",
                bbox_to_anchor=(0.5, -0.3),
                ncols=2,
                borderaxespad=0,
                columnspacing=1.0,
            )
        seconds_panel(result, axes["seconds"])
        colours = batch_colours(result)
        if colours:
            keys: list[Any] = [_proxy(marker="o", ms=3.5, color=c, lw=0.8) for c in colours.values()]
            names = [compact_number(mm) for mm in colours]
            fig.legend(
                keys,
                names,
                loc="outside lower center",
                ncols=min(len(keys), 7 if narrow else 16),
                title="batch size $m$",
                handlelength=1.2,
                columnspacing=0.9,
                handletextpad=0.3,
            )
        if title:
            text = frontier_title(result)
            if narrow and "; " in text:
                head, _, tail = text.rpartition("; ")
                text = f"{head}\n{tail}"
            fig.suptitle(text)
    return fig


def frontier_figure(
    result: Any, out: str | Path | None = None, width: float | str = "two", style: str | None = None
) -> tuple[Path, ...]:
    """Draw the frontier's figure (:func:`frontier_panels`) and save it as PDF (Type 42 fonts, which journals
    take) and PNG.

    Parameters
    ----------
    result : FrontierResult
    out : str or Path, optional
        The files' path without extension (``figs/frontier`` writes figs/frontier.pdf and .png), or an
        existing folder (then ``frontier.pdf`` and ``.png`` in it); by default the result's folder
        (``result.out``).
    width : float or 'one' or 'two'
        Inches, or a column width.
    style : str, optional
        A style of :data:`saddle.plotting.STYLES`; the PNG takes its dpi.

    Returns
    -------
    tuple of Path
        The PDF's and the PNG's paths.
    """
    if out is None:
        if getattr(result, "out", None) is None:
            raise ValueError("frontier_figure: give out= (the result has no folder of its own)")
        out = Path(result.out)
    stem = Path(out)
    if stem.is_dir():
        stem = stem / "frontier"
    fig = frontier_panels(result, width, style=style)
    with _style(style), matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        dpi = matplotlib.rcParams["savefig.dpi"]
        return save_figure(fig, stem, dpi=float(dpi) if isinstance(dpi, (int, float)) else None)
