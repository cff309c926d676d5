"""The escape experiment's figure: survival curves, medians against m, trajectories; each panel on its own.

- :func:`escape_figure`: the figure of one run (``run_escape``'s result or ``saddle.load(folder)``), or
  of several overlaid (one line style per run, labelled by what differs between their configurations).
- :func:`survival_panel`, :func:`batch_size_panel`, :func:`trajectory_panel`: one panel into a given
  matplotlib Axes, for a figure of one's own.

docs/figures.md shows them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from saddle.plotting.common import (
    LINESTYLES,
    MODEL_COLOUR,
    RUN_MARKERS,
    THEORY_COLOUR,
    WIDTH_TWO_COLUMN,
    batch_palette,
    figure_width,
    readable_log_axis,
)
from saddle.plotting.common import style as _style
from saddle.stats import survival_curve

COSTS = ("steps", "samples", "both")
"""What the batch-size panel measures an escape in: steps, samples (samples per step x steps), or both
(two panels)."""
_GREEK = {
    "eta": r"\eta",
    "gamma": r"\gamma",
    "tau": r"\tau",
    "delta": r"\delta",
    "lambda": r"\lambda",
    "beta": r"\beta",
    "sigma_iso": r"\sigma_{\mathrm{iso}}",
    "f_min": r"f_{\min}",
}
_GREEK_WORD = re.compile(r"(?<![\w$\\])(" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r")(?=\s*[=<>]|\b)")


def mathtext(text: str) -> str:
    """``text`` with the paper's symbols spelled in ASCII (eta, gamma, tau, delta, sigma_iso, f_min, ...)
    written as mathtext: ``"sgd, eta=0.01"`` -> ``"sgd, $\\eta$=0.01"``."""
    return _GREEK_WORD.sub(lambda match: f"${_GREEK[match.group(1)]}$", text)


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _criterion(cfg: Any) -> str:
    if cfg.target is not None:
        return f"escape: $f \\leq$ {cfg.target:.4g}"
    if cfg.radius is not None:
        return f"escape: $\\|u_t - u_0\\| \\geq$ {cfg.radius:.4g}"
    return f"$\\delta$ = {cfg.delta:g}"


def run_title(result: Any) -> str:
    """The figure's caption line: objective and start, optimiser and step size, trials and the escape criterion."""
    cfg = result.config
    text = mathtext(f"{cfg.describe()}; {cfg.optimizer}") + f", $\\eta$ = {cfg.eta:g}"
    if cfg.lr_scaling != "none":
        text += f" ({cfg.lr_scaling} in m)"
    trials = sorted({int(row["trials"]) for row in result.summary}) or [cfg.trials]
    text += f"; {'/'.join(map(str, trials))} trials per m, {_criterion(cfg)}"
    return text


def run_labels(results: Sequence[Any]) -> list[str]:
    """Labels telling overlaid runs apart: the options whose values differ between their configurations
    ("dist = uniform" and "dist = laplace"); "run 1", "run 2" where none differ."""
    dicts = [r.config.to_dict() for r in results]
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    differ = [
        k for k in keys if k not in ("record_trials", "record_points") and len({repr(d.get(k)) for d in dicts}) > 1
    ]
    if not differ:
        return [f"run {i + 1}" for i in range(len(results))]

    def text(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    return [mathtext(", ".join(f"{k} = {text(d.get(k))}" for k in differ)) for d in dicts]


# ----------------------------------------------------------------------------------------------- panels


def survival_panel(ax: Any, result: Any, *, labels: Sequence[str] | None = None, legend: bool = True) -> None:
    """Kaplan-Meier survival P(tau > t) against steps, one curve per batch size (and line style per run).

    ``result``: an EscapeResult or a list of them (overlaid, one line style each, named by ``labels``).
    """
    results = _as_list(result)
    ms = _all_m(results)
    colours = dict(zip(ms, batch_palette(len(ms))))
    t_max = 1
    for k, res in enumerate(results):
        cfg = res.config
        for m, r in res.by_m.items():
            t, surv = survival_curve(r.steps, r.status, cfg.max_steps)
            t_max = max(t_max, int(t.max()))
            ax.step(
                np.maximum(t, 1),
                surv,
                where="post",
                color=colours[m],
                lw=1.1,
                ls=LINESTYLES[k % len(LINESTYLES)],
                label=f"m = {m}" if k == 0 else None,
            )
    ax.set_xscale("log")
    readable_log_axis(ax.xaxis, 1, max(t_max, 10))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("steps $t$")
    ax.set_ylabel(r"$P(\tau > t)$")
    ax.set_title("survival at the saddle")
    if legend:
        handles, texts = ax.get_legend_handles_labels()
        if len(results) > 1:
            from matplotlib.lines import Line2D

            names = labels or run_labels(results)
            handles += [Line2D([], [], color="0.3", ls=LINESTYLES[k % len(LINESTYLES)]) for k in range(len(results))]
            texts += list(names)
        ax.legend(handles, texts, loc="lower left", handlelength=1.8)


def _all_m(results: Sequence[Any]) -> list[int]:
    ms: list[int] = []
    for res in results:
        ms += [m for m in res.by_m if m not in ms]
    return sorted(ms)


def batch_size_panel(
    ax: Any,
    result: Any,
    cost: str = "steps",
    *,
    labels: Sequence[str] | None = None,
    theory: bool = True,
    legend: bool = True,
) -> None:
    """Median escape time against the batch size m, with 95% intervals, the theory where it holds.

    Parameters
    ----------
    ax : matplotlib Axes
    result : EscapeResult or list of them
        Several are overlaid, one line style and marker each (named by ``labels``).
    cost : 'steps' or 'samples'
        The escape time in steps, or in samples drawn (samples per step x steps: what a step costs).
    theory : bool
        Draw the linear theory (docs/theory.md, sections 1-2: median and 25-75% band) only over the
        batch sizes where the summary trusts it (``theory_trusted``; the rows it does not trust are left
        out, as the legend says), the heat-path model's medians (crosses), or an objective's own
        prediction (diamonds).
    """
    if cost not in ("steps", "samples"):
        raise ValueError(f"cost must be 'steps' or 'samples', got {cost!r}")
    results = _as_list(result)
    names: list[str | None] = [None]
    if labels or len(results) > 1:
        names = list(labels or run_labels(results))
    values: list[float] = []
    for k, res in enumerate(results):
        cfg = res.config
        rows = res.summary
        ms = np.array([row["m"] for row in rows], dtype=float)
        med = np.array([row[f"median_{cost}"] for row in rows], dtype=float)
        lo = np.array([row[f"median_{cost}_lo"] for row in rows], dtype=float)
        hi = np.array([row[f"median_{cost}_hi"] for row in rows], dtype=float)
        bound = np.array([row["median_is_lower_bound"] for row in rows], dtype=bool)
        ok = ~bound
        lo = np.where(np.isfinite(lo), lo, med)
        hi = np.where(np.isfinite(hi), hi, med)
        run = f" ({names[k]})" if names[k] else ""
        colour_k = "black" if len(results) == 1 else ("black", "0.45", "0.25", "0.6")[k % 4]
        ax.errorbar(
            ms[ok],
            med[ok],
            yerr=[med[ok] - lo[ok], hi[ok] - med[ok]],
            fmt=RUN_MARKERS[k % len(RUN_MARKERS)],
            ls=LINESTYLES[k % len(LINESTYLES)],
            color=colour_k,
            ms=3.5,
            lw=1,
            capsize=2,
            label=("median, 95% CI" if len(results) == 1 else "median") + run,
        )
        values += list(lo[ok]) + list(hi[ok]) + list(med)
        if bound.any():
            frozen = any(row.get("frozen", 0) for row, b in zip(rows, bound) if b)
            ax.plot(
                ms[bound],
                med[bound],
                "^",
                mfc="none",
                color=colour_k,
                ms=5,
                label=f"> max steps ({cfg.max_steps})" + ("; frozen: never escape" if frozen else "") + run,
            )
        if theory and len(ms):
            per_step = med / np.array([row["median_steps"] for row in rows], dtype=float) if cost == "samples" else 1
            values += _theory(ax, res, ms, per_step, LINESTYLES[k % len(LINESTYLES)], first=k == 0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    all_m = _all_m(results)
    every = 1 if len(all_m) <= 6 else 2  # many batch sizes: label every other one, so that labels do not collide
    ax.set_xticks(all_m, [str(m) if i % every == 0 else "" for i, m in enumerate(all_m)])
    ax.minorticks_off()
    ax.xaxis.set_minor_locator(_null_locator())
    finite = np.array([v for v in values if np.isfinite(v) and v > 0])
    if finite.size:
        readable_log_axis(ax.yaxis, finite.min(), finite.max())
    ax.set_xlabel("batch size $m$")
    ax.set_ylabel(f"median escape {cost}")
    ax.set_title("steps to escape" if cost == "steps" else r"samples to escape ($m \times$ steps)")
    if legend:
        ax.legend(*_legend_of(ax), loc="best")


def _legend_of(ax: Any) -> tuple[list[Any], list[str]]:
    """The batch-size panel's legend entries: the theory's (band, line) pair first, then the others."""
    handles, texts = ax.get_legend_handles_labels()
    for handle, text in reversed(getattr(ax, _EXTRA, [])):
        handles.insert(0, handle)
        texts.insert(0, text)
    return handles, texts


_EXTRA = "_saddle_legend_extra"  # an Axes attribute: the theory's combined (band, line) legend entries


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


_THEORY_STYLES = ("--", ":", "-.", (0, (5, 1)))  # the theory's line of each overlaid run (the data's are solid first)


def _trusted_on(grid: np.ndarray, ms: np.ndarray, trusted: np.ndarray) -> np.ndarray:
    """Whether each grid point's nearest stored batch size (in log m) trusts the linear theory."""
    nearest = np.abs(np.log(grid)[:, None] - np.log(ms)[None, :]).argmin(axis=1)
    return trusted[nearest]


def _theory(ax: Any, res: Any, ms: np.ndarray, per_step: Any, ls: str, first: bool) -> list[float]:
    """The theory of one run on the batch-size panel; returns the values drawn (for the axis range)."""
    cfg, q, rows = res.config, res.theory, res.summary
    drawn: list[float] = []
    if q is not None and getattr(q, "sigma_v2", 0) > 0:
        trusted = np.array([bool(row.get("theory_trusted", False)) for row in rows])
        if trusted.any():
            grid = np.geomspace(ms.min(), ms.max(), 60) if ms.min() < ms.max() else ms.astype(float)
            keep = _trusted_on(grid, ms, trusted)
            grid = grid[keep]
            scale = np.interp(np.log(grid), np.log(ms), np.broadcast_to(per_step, ms.shape).astype(float))
            lin = [
                q.linear(cfg.eta_for(m), m, delta=None if cfg.radius else cfg.delta, radius=cfg.radius) for m in grid
            ]
            median = np.array([p.median for p in lin]) * scale
            lo = np.array([p.quantile(0.25) for p in lin]) * scale
            hi = np.array([p.quantile(0.75) for p in lin]) * scale
            where = "" if trusted.all() else ", where trusted"
            (line,) = ax.plot(
                grid,
                median,
                ls=_THEORY_STYLES[LINESTYLES.index(ls) % len(_THEORY_STYLES)],
                marker="" if grid.size > 1 else "D",
                color=THEORY_COLOUR,
                lw=1.1,
            )
            handle: Any = line
            if grid.size > 1:
                band = ax.fill_between(grid, lo, hi, color=THEORY_COLOUR, alpha=0.2, lw=0)
                handle = (band, line)
            if first:
                setattr(ax, _EXTRA, [*getattr(ax, _EXTRA, []), (handle, f"linear theory{where} (median, 25-75%)")])
            drawn += list(median) + list(lo) + list(hi)
        model = np.array([row.get("theory_model_median_steps", np.nan) for row in rows], dtype=float) * per_step
        ok = np.isfinite(model)
        if ok.any():
            ax.plot(
                ms[ok], model[ok], "x", color=MODEL_COLOUR, ms=5, mew=1.2, label="heat-path model" if first else None
            )
            drawn += list(model[ok])
    elif q is None:  # an objective's own prediction (e.g. the teacher-student plateau exit): its points
        own = np.array([row.get("theory_median_steps", np.nan) for row in rows], dtype=float) * per_step
        ok = np.isfinite(own)
        if ok.any():
            ax.plot(
                ms[ok],
                own[ok],
                "D",
                mfc="none",
                color=MODEL_COLOUR,
                ms=5,
                mew=1.2,
                label="theory (median)" if first else None,
            )
            drawn += list(own[ok])
    return drawn


def trajectory_panel(ax: Any, result: Any, *, per_m: int | None = None, legend: bool = False) -> None:
    """f(u_t) along a few recorded trials per batch size (thin, translucent and rasterised), with f(u_0)
    and the escape level marked and labelled at the right edge.

    The colours are the survival panel's (one per batch size); ``legend`` adds its own legend.
    """
    res = _as_list(result)[0]
    cfg = res.config
    colours = dict(zip(res.by_m, batch_palette(len(res.by_m))))
    per_m = per_m if per_m is not None else (3 if len(res.by_m) <= 4 else 2)
    t_max = 1
    for m, r in res.by_m.items():
        for j, (t, f) in enumerate(r.trajectories[:per_m]):
            keep = t >= 1
            if not keep.any():
                continue
            t_max = max(t_max, int(t[keep].max()))
            ax.plot(
                t[keep],
                f[keep],
                color=colours[m],
                lw=0.5,
                alpha=0.75,
                rasterized=True,
                label=f"m = {m}" if j == 0 else None,
            )
    from matplotlib.transforms import blended_transform_factory

    right = blended_transform_factory(ax.transAxes, ax.transData)

    def level(y: float, text: str, ls: str) -> None:
        ax.axhline(y, color="0.35", lw=0.8, ls=ls, zorder=0.5)
        ax.text(0.99, y, text, transform=right, ha="right", va="bottom", fontsize="small", color="0.25")

    if cfg.target is not None:
        level(cfg.target, "target $f$", "--")
    elif res.f0 is not None and not cfg.random_start and cfg.start_perturbation is None:
        level(res.f0, "$f(u_0)$", ":")  # (each trial has its own f(u_0) otherwise)
        if cfg.radius is None:
            level(res.f0 - cfg.delta, r"$f(u_0) - \delta$", "--")
    ax.set_xscale("log")
    readable_log_axis(ax.xaxis, 1, max(t_max, 10))
    ax.set_xlabel("steps $t$")
    ax.set_ylabel(r"$f(u_t)$")
    ax.set_title(f"trajectories ({per_m} per $m$)")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))


# ----------------------------------------------------------------------------------------------- the figure


def escape_figure(
    result: Any,
    width: float | str = WIDTH_TWO_COLUMN,
    *,
    cost: str = "steps",
    labels: Sequence[str] | None = None,
    style: str | None = None,
    title: bool | str = True,
) -> Figure:
    """Survival P(tau > t) per m; the median escape time against m; f(u_t) along trajectories.

    Parameters
    ----------
    result : EscapeResult or list of EscapeResult
        One run (``run_escape``'s result, or ``saddle.load(folder)``), or several to overlay: then one
        line style per run (labelled by ``labels``, by default by the options that differ between their
        configurations) and no trajectory panel.
    width : float or 'one' or 'two'
        Figure width in inches, or a column width (3.5 in, 7.2 in); two-column by default.
    cost : 'steps', 'samples' or 'both'
        What the batch-size panel measures: steps, samples drawn (samples per step x steps), or both (two
        panels).
    style : str, optional
        A style of :data:`saddle.plotting.STYLES` (``paper``: 8 pt serif); save the figure under the same
        style (``with saddle.plotting.style("paper"): ...``) for its dpi.
    title : bool or str
        The caption line (objective, optimiser, eta, trials per m, delta), a text of one's own, or none.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    results = _as_list(result)
    if not results:
        raise ValueError("escape_figure needs at least one result")
    overlay = len(results) > 1
    labels = list(labels) if labels is not None else (run_labels(results) if overlay else None)
    costs = ["steps", "samples"] if cost == "both" else [cost]
    n_panels = 1 + len(costs) + (0 if overlay else 1)
    inches = figure_width(width)
    with _style(style):
        narrow = inches < 5.0  # one column: the panels one above the other
        cols, rows = (1, n_panels) if narrow else (n_panels, 1)
        aspect = {1: 0.62, 2: 0.42, 3: 0.36, 4: 0.3}[cols] * rows
        fig = Figure(figsize=(inches, inches * aspect + (0.75 if narrow else 0.45)), layout="constrained")
        axes = list(np.ravel(fig.subplots(rows, cols, squeeze=False)))
        for ax in axes[n_panels:]:
            ax.remove()
        survival_panel(axes[0], results, labels=labels)
        for ax, c in zip(axes[1:], costs):
            batch_size_panel(ax, results, c, labels=labels, legend=False)
        handles, texts = _legend_of(axes[1])
        fig.legend(handles, texts, loc="outside lower center", ncols=1 if narrow else min(len(texts), 4))
        if not overlay:
            trajectory_panel(axes[n_panels - 1], results[0])
        if title:
            if isinstance(title, str):
                text = title
            elif overlay:
                text = _common_title(results)
            else:
                text = run_title(results[0])
            if narrow and "; " in text:  # the caption on two lines
                head, _, tail = text.rpartition("; ")
                text = f"{head}\n{tail}"
            fig.suptitle(text)
    return fig


def _common_title(results: Sequence[Any]) -> str:
    """The caption of an overlay: what the runs share (their titles' common parts)."""
    parts = [re.split(r"; |, ", run_title(r)) for r in results]
    common = [p for p in parts[0] if all(p in other for other in parts[1:])]
    return ", ".join(common) if common else f"{len(results)} runs"


__all__ = [
    "COSTS",
    "batch_size_panel",
    "escape_figure",
    "mathtext",
    "run_labels",
    "run_title",
    "survival_panel",
    "trajectory_panel",
]
