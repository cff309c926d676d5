"""The escape experiment's figure: survival curves, medians against m, trajectories; each panel on its own.

- :func:`escape_figure`: the figure of one run (``run_escape``'s result or ``saddle.load(folder)``), or
  of several overlaid (one line style per run, labelled by what differs between their configurations),
  with the panels one chooses (:data:`PANELS`), laid out for a one- or two-column page.
- :func:`survival_panel`, :func:`batch_size_panel`, :func:`trajectory_panel`: one panel into a given
  matplotlib Axes, for a figure of one's own.

Every batch size has one colour in every figure (:func:`~saddle.plotting.common.batch_colour`).  The numbers
drawn come from :mod:`saddle.plotting.escape_data`, which also writes them as tidy CSV.  docs/figures.md
shows them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from saddle.plotting.common import (
    LINESTYLES,
    MODEL_COLOUR,
    RUN_MARKERS,
    THEORY_COLOUR,
    WIDTH_TWO_COLUMN,
    batch_colour,
    figure_width,
    fill_lines,
    legend_fontsize,
    legend_grid,
    log_uniform_indices,
    readable_log_axis,
    step_axis,
    text_inches,
)
from saddle.plotting.common import style as _style
from saddle.plotting.escape_data import (
    TRAJECTORY_POINTS,
    median_points,
    survival_with_interval,
    theory_curves,
    trajectory_band,
)

COSTS = ("steps", "samples", "both")
"""What the batch-size panel measures an escape in: steps, samples (samples per step x steps), or both
(two panels)."""
PANELS = ("survival", "median", "trajectories")
"""The escape figure's panels, by name: the survival curves, the median escape time against m (in the
figure's ``cost``: one panel, or two for ``both``), f(u_t) along the recorded trials."""
TRAJECTORIES = ("bands", "curves", "both")
"""What the trajectory panel draws per batch size: the median and 10-90% band of f(u_t), a few recorded
trials, or both."""
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
_RUN_GREYS = ("black", "0.45", "0.25", "0.6")  # the medians of overlaid runs
_MODEL_MARKERS = ("x", "+", "1", "2")  # the heat-path model's medians of overlaid runs
_KEY = "_saddle_key"  # an Axes attribute: the panel's key, [(handle, text)], for the figure's legend
_LABEL_FIELDS = 3
"""Overlay labels name at most this many differing options ("+2 more" for the rest)."""
_LABEL_VALUE_CHARS = 16
_RUN_KEY_INSIDE = 2.4
"""An overlay's key of runs goes inside the survival panel when the panel is at least this wide (inches),
else into the figure's legend."""
_INSIDE = dict(frameon=True, framealpha=0.85, facecolor="white", edgecolor="none", borderpad=0.3)


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


def _value_text(value: Any) -> str:
    """An option's value, short: lists of more than four as first..last (count), floats to 3 digits,
    long texts cut."""
    if isinstance(value, (list, tuple)):
        items = [_value_text(v) for v in value]
        return ",".join(items) if len(items) <= 4 else f"{items[0]}..{items[-1]} ({len(items)})"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= _LABEL_VALUE_CHARS else text[: _LABEL_VALUE_CHARS - 1] + "…"


def run_labels(results: Sequence[Any], *, symbols: bool = True) -> list[str]:
    """Labels telling overlaid runs apart: the options whose values differ between their configurations,
    shortened ("dist = uniform" and "dist = laplace"; "run 1", "run 2" where none differ).

    Where the objectives differ, each label starts with its objective's name, and names that objective's
    own options only where they differ between the runs of the same objective; the m lists are left out
    unless nothing else differs (each batch size has its colour); at most three options are named ("+2
    more" for the rest), their values cut short.  ``symbols``: the paper's symbols as mathtext (for a
    figure), or as typed (for a table).
    """
    configs = [r.config for r in results]
    dicts = [c.to_dict() for c in configs]
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]

    def differs(k: str, among: Sequence[dict[str, Any]]) -> bool:
        return len({repr(d.get(k)) for d in among}) > 1

    differ = [k for k in keys if k not in ("record_trials", "record_points") and differs(k, dicts)]
    if differ != ["m"]:
        differ = [k for k in differ if k != "m"]
    if not differ:
        return [f"run {i + 1}" for i in range(len(results))]
    by_objective = "objective" in differ
    labels = []
    for c, d in zip(configs, dicts):
        if by_objective:
            own = set(getattr(c, "options", {}))
            alike = [e for e in dicts if e.get("objective") == d.get("objective")]
            names = [k for k in differ if k != "objective" and (k not in own or differs(k, alike))]
            names = [k for k in names if not (k not in own and k in _own_options(configs))]
        else:
            names = list(differ)
        parts = [_value_text(d.get("objective"))] if by_objective else []
        parts += [f"{k} = {_value_text(d.get(k))}" for k in names[:_LABEL_FIELDS]]
        more = len(names) - _LABEL_FIELDS
        text = ", ".join(parts) + (f", +{more} more" if more > 0 else "")
        labels.append(mathtext(text) if symbols else text)
    if len(set(labels)) < len(labels):  # cut values that read alike: number them
        labels = [f"{i + 1}: {text}" for i, text in enumerate(labels)]
    return labels


def _own_options(configs: Sequence[Any]) -> set[str]:
    """The options that belong to one of the configurations' objectives."""
    return {name for c in configs for name in getattr(c, "options", {})}


def parse_panels(panels: str | Sequence[str] | None, overlay: bool = False) -> tuple[str, ...]:
    """The panels asked for, in order: a comma-separated text (``"survival,median"``) or names of
    :data:`PANELS`; None for the default (all three for one run; no trajectories for an overlay).

    Raises ValueError (one line naming the valid panels) for an unknown or repeated name, and for
    trajectories in an overlay (the panel draws one run).
    """
    if panels is None:
        return PANELS[:2] if overlay else PANELS
    names = [p.strip() for p in (panels.split(",") if isinstance(panels, str) else panels)]
    names = [p for p in names if p]
    if not names:
        raise ValueError(f"panels: name at least one of {', '.join(PANELS)}")
    for name in names:
        if name not in PANELS:
            raise ValueError(f"panels: no panel {name!r}; choose from {', '.join(PANELS)} (comma-separated)")
    repeated = sorted({p for p in names if names.count(p) > 1})
    if repeated:
        raise ValueError(f"panels: {', '.join(repeated)} named more than once")
    if overlay and "trajectories" in names:
        raise ValueError("panels: the trajectories panel draws one run; leave it out when overlaying runs")
    return tuple(names)


def _key(ax: Any) -> list[tuple[Any, str]]:
    return list(getattr(ax, _KEY, []))


def _batch_key(ms: Sequence[int]) -> list[tuple[Any, str]]:
    """The batch sizes' colours, as legend entries."""
    return [(Line2D([], [], color=batch_colour(m), lw=1.5), f"m = {m}") for m in ms]


def _run_key(labels: Sequence[str], markers: bool = True) -> list[tuple[Any, str]]:
    """The overlaid runs' line styles (and the markers of their medians), as legend entries."""
    return [
        (
            Line2D(
                [],
                [],
                color=_RUN_GREYS[k % len(_RUN_GREYS)],
                ls=LINESTYLES[k % len(LINESTYLES)],
                marker=RUN_MARKERS[k % len(RUN_MARKERS)] if markers else "",
                ms=3.5,
            ),
            text,
        )
        for k, text in enumerate(labels)
    ]


# ----------------------------------------------------------------------------------------------- panels


def survival_panel(
    ax: Any,
    result: Any,
    *,
    labels: Sequence[str] | None = None,
    legend: bool = True,
    interval: bool | None = None,
) -> None:
    """Kaplan-Meier survival P(tau > t) against steps, one curve per batch size (and line style per run).

    Parameters
    ----------
    ax : matplotlib Axes
    result : EscapeResult or list of them
        Several are overlaid, one line style each (named by ``labels``).
    legend : bool
        Name the batch sizes (and the runs) in a legend inside the panel.
    interval : bool, optional
        Shade each curve's pointwise 95% interval (:func:`~saddle.plotting.escape_data.survival_with_interval`);
        by default for one run, not for an overlay.

    The step axis starts at t = 0 (:func:`~saddle.plotting.common.step_axis`).
    """
    results = _as_list(result)
    interval = len(results) == 1 if interval is None else interval
    t_max = 1
    for k, res in enumerate(results):
        for m, r in res.by_m.items():
            t, surv, lo, hi = survival_with_interval(r.steps, r.status, res.config.max_steps)
            t_max = max(t_max, int(t.max()))
            c = batch_colour(m)
            ax.step(t, surv, where="post", color=c, lw=1.1, ls=LINESTYLES[k % len(LINESTYLES)])
            if interval:
                ax.fill_between(t, lo, hi, step="post", color=c, alpha=0.18, lw=0)
    step_axis(ax, t_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(r"$P(\tau > t)$")
    ax.set_title("survival at the saddle")
    if legend:
        entries = _batch_key(_all_m(results))
        if len(results) > 1:
            entries += _run_key(labels or run_labels(results), markers=False)
        ax.legend(*zip(*entries), loc="lower left", handlelength=1.8)


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
        Several are overlaid, one line style, grey and marker each (named by ``labels``); their theories
        take the same line styles, and their heat-path models' crosses different shapes.
    cost : 'steps' or 'samples'
        The escape time in steps, or in samples drawn (samples per step x steps: what a step costs).
    theory : bool
        Draw the linear theory (docs/theory.md, sections 1-2: median and 25-75% band) only over the
        batch sizes where the summary trusts it (``theory_trusted``; the rows it does not trust are left
        out, as the legend says), the heat-path model's medians (crosses), or an objective's own
        prediction (diamonds).
    legend : bool
        A legend inside the panel: what the markers and lines mean (and, for an overlay, which run is which).
    """
    if cost not in ("steps", "samples"):
        raise ValueError(f"cost must be 'steps' or 'samples', got {cost!r}")
    results = _as_list(result)
    overlay = len(results) > 1
    names = list(labels or run_labels(results)) if overlay else [""]
    values: list[float] = []
    key: dict[str, tuple[Any, str]] = {}
    partly_trusted = False
    for k, res in enumerate(results):
        p = median_points(res, cost)
        ok = ~p.lower_bound
        colour_k = _RUN_GREYS[k % len(_RUN_GREYS)]
        ls = LINESTYLES[k % len(LINESTYLES)]
        bars = ax.errorbar(
            p.m[ok],
            p.median[ok],
            yerr=[p.median[ok] - p.lo[ok], p.hi[ok] - p.median[ok]],
            fmt=RUN_MARKERS[k % len(RUN_MARKERS)],
            ls=ls,
            color=colour_k,
            ms=3.5,
            lw=1,
            capsize=2,
        )
        key.setdefault("median", (bars if not overlay else _errorbar_proxy(), "median, 95% CI"))
        values += list(p.lo[ok]) + list(p.hi[ok]) + list(p.median)
        if p.lower_bound.any():
            ax.plot(p.m[p.lower_bound], p.median[p.lower_bound], "^", mfc="none", color=colour_k, ms=5)
            frozen = bool(p.frozen[p.lower_bound].any())
            bound = f"> max steps ({res.config.max_steps})" if not overlay else "> max steps (a lower bound)"
            text = bound + ("; frozen: never escape" if frozen else "")
            key["bound"] = (Line2D([], [], marker="^", mfc="none", color="black", ms=5, ls="none"), text)
        if theory and len(p.m):
            curves = theory_curves(res, cost)
            theory_ls = ls if overlay else "--"
            if curves.linear_m.size:
                partly_trusted |= not curves.all_trusted
                (line,) = ax.plot(
                    curves.linear_m,
                    curves.linear_median,
                    ls=theory_ls,
                    marker="" if curves.linear_m.size > 1 else "D",
                    color=THEORY_COLOUR,
                    lw=1.1,
                )
                handle: Any = line
                if curves.linear_m.size > 1:
                    band = ax.fill_between(
                        curves.linear_m, curves.linear_lo, curves.linear_hi, color=THEORY_COLOUR, alpha=0.2, lw=0
                    )
                    handle = (band, Line2D([], [], color=THEORY_COLOUR, lw=1.1, ls="--"))
                key.setdefault("linear", (handle, ""))
                values += list(curves.linear_median) + list(curves.linear_lo) + list(curves.linear_hi)
            if curves.model_m.size:
                marker = _MODEL_MARKERS[k % len(_MODEL_MARKERS)] if overlay else "x"
                ax.plot(
                    curves.model_m,
                    curves.model_median,
                    marker=marker,
                    ls=ls if overlay and curves.model_m.size > 1 else "none",
                    lw=0.6,
                    color=MODEL_COLOUR,
                    ms=5,
                    mew=1.2,
                )
                key.setdefault("model", (Line2D([], [], marker="x", ls="none", color=MODEL_COLOUR, ms=5, mew=1.2), ""))
                values += list(curves.model_median)
            if curves.own_m.size:
                ax.plot(curves.own_m, curves.own_median, "D", mfc="none", color=MODEL_COLOUR, ms=5, mew=1.2)
                key["own"] = (Line2D([], [], marker="D", mfc="none", ls="none", color=MODEL_COLOUR, ms=5), "")
                values += list(curves.own_median)
    entries: list[tuple[Any, str]] = []
    if "linear" in key:
        where = ", where trusted" if partly_trusted else ""
        entries.append((key["linear"][0], f"linear theory{where} (median, 25-75%)"))
    if "model" in key:
        entries.append((key["model"][0], "heat-path model" + (" (one cross shape per run)" if overlay else "")))
    if "own" in key:
        entries.append((key["own"][0], "theory (median)"))
    entries += [key[name] for name in ("median", "bound") if name in key]
    setattr(ax, _KEY, entries)
    ax.set_xscale("log", base=2)
    finite = np.array([v for v in values if np.isfinite(v) and v > 0])
    if finite.size:
        ax.set_yscale("log")
    else:  # (statistics that failed leave summary.csv empty: the trials are stored, the medians are not)
        ax.text(0.5, 0.5, "no medians stored:\nrunning the same command\nagain computes them", ha="center",
                va="center", transform=ax.transAxes, fontsize="small", color="0.35")  # fmt: skip
        ax.set_yticks([])
    all_m = _all_m(results)
    every = 1 if len(all_m) <= 6 else 2  # many batch sizes: label every other one, so that labels do not collide
    ax.set_xticks(all_m, [str(m) if i % every == 0 else "" for i, m in enumerate(all_m)])
    ax.minorticks_off()
    ax.xaxis.set_minor_locator(_null_locator())
    if finite.size:
        readable_log_axis(ax.yaxis, finite.min(), finite.max())
    ax.set_xlabel("batch size $m$")
    ax.set_ylabel(f"median escape {cost}")
    ax.set_title("steps to escape" if cost == "steps" else r"samples to escape ($m \times$ steps)")
    if legend:
        shown = entries + (_run_key(names) if overlay else [])
        ax.legend(*zip(*shown), loc="best")


def _errorbar_proxy() -> Any:
    return Line2D([], [], color="black", marker="o", ms=3.5, lw=1)


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def trajectory_panel(
    ax: Any,
    result: Any,
    *,
    per_m: int | None = None,
    legend: bool = False,
    show: str = "bands",
    points: int = TRAJECTORY_POINTS,
) -> None:
    """f(u_t) of the recorded trials per batch size: the median and 10-90% band over them, or a few of
    them (thin, translucent and rasterised), or both; with f(u_0) and the escape level marked and labelled
    at the right edge.

    The steps are those recorded (``MResult.trajectories``), thinned log-uniformly in the step for the
    log step axis, which starts at t = 0 (:func:`~saddle.plotting.common.step_axis`); the band is taken
    where every trial has a recorded value, a trial that stopped counting with its last
    (:func:`~saddle.plotting.escape_data.trajectory_band`).  The colours are the batch sizes' own
    (:func:`~saddle.plotting.common.batch_colour`).

    Parameters
    ----------
    ax : matplotlib Axes
    result : EscapeResult
        (The first of a list.)
    per_m : int, optional
        How many recorded trials to draw per batch size: by default none with ``show="bands"``, else 3 (2
        with more than four batch sizes).
    legend : bool
        Add the panel's own legend (the batch sizes and what the band means).
    show : 'bands', 'curves' or 'both'
        The band (median, 10-90%), the trials themselves, or both.
    points : int
        About how many steps to draw per band or trial.
    """
    if show not in TRAJECTORIES:
        raise ValueError(f"show must be one of {', '.join(TRAJECTORIES)}, got {show!r}")
    res = _as_list(result)[0]
    cfg = res.config
    bands = show in ("bands", "both")
    if per_m is None:
        per_m = 0 if show == "bands" else (3 if len(res.by_m) <= 4 else 2)
    t_max = 1
    recorded = 0
    for m, r in res.by_m.items():
        c = batch_colour(m)
        recorded = max(recorded, len(r.trajectories))
        if bands:
            band = trajectory_band(r.trajectories, points)
            if band.steps.size:
                t_max = max(t_max, int(band.steps[-1]))
                ax.fill_between(band.steps, band.lo, band.hi, color=c, alpha=0.2, lw=0)
                ax.plot(band.steps, band.median, color=c, lw=1.2)
        for t, f in r.trajectories[:per_m]:
            if not len(t):
                continue
            keep = log_uniform_indices(t, points)
            t_max = max(t_max, int(t[-1]))
            ax.plot(t[keep], f[keep], color=c, lw=0.5, alpha=0.6 if bands else 0.75, rasterized=True)
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
    floors = {int(row["m"]): row.get("floor_median_f", math.nan) for row in res.summary or []}
    floors = {m: float(f) for m, f in floors.items() if f is not None and math.isfinite(float(f))}
    for m, f in floors.items():  # a schedule's budget: the noise floor at its last (eta, m), per m
        ax.axhline(f, color=batch_colour(m), lw=1.0, ls="-.", zorder=0.6)
    step_axis(ax, t_max)
    ax.set_ylabel(r"$f(u_t)$")
    entries: list[tuple[Any, str]] = []
    if bands:
        ax.set_title(f"trajectories: median, 10-90% ({recorded} per $m$)")
        grey = (Patch(color="0.5", alpha=0.3, lw=0), Line2D([], [], color="0.35", lw=1.2))
        entries.append((grey, f"$f(u_t)$: median, 10-90% of {recorded} recorded trials per $m$"))
    else:
        ax.set_title(f"trajectories ({per_m} per $m$)")
    if per_m and bands:
        entries.append((Line2D([], [], color="0.35", lw=0.5), f"{per_m} of them per $m$"))
    if floors:
        entries.append((Line2D([], [], color="0.35", lw=1.0, ls="-."), "noise floor (theory's median), per $m$"))
    setattr(ax, _KEY, entries)
    if legend:
        ax.legend(*zip(*(_batch_key(list(res.by_m)) + entries)), loc="upper left", bbox_to_anchor=(1.0, 1.0))


# ----------------------------------------------------------------------------------------------- the figure


def escape_figure(
    result: Any,
    width: float | str = WIDTH_TWO_COLUMN,
    *,
    cost: str = "steps",
    labels: Sequence[str] | None = None,
    style: str | None = None,
    title: bool | str = True,
    panels: str | Sequence[str] | None = None,
    trajectories: str = "bands",
) -> Figure:
    """Survival P(tau > t) per m; the median escape time against m; f(u_t) along trajectories.

    Parameters
    ----------
    result : EscapeResult or list of EscapeResult
        One run (``run_escape``'s result, or ``saddle.load(folder)``), or several to overlay: then one
        line style per run (labelled by ``labels``, by default by the options that differ between their
        configurations: :func:`run_labels`) and no trajectory panel.
    width : float or 'one' or 'two'
        Figure width in inches, or a column width (3.5 in, 7.2 in); two-column by default.  Narrower than
        5 in, the panels go two to a row (two rows at most); wider, all in one row.
    cost : 'steps', 'samples' or 'both'
        What the batch-size panel measures: steps, samples drawn (samples per step x steps), or both (two
        panels).
    labels : list of str, optional
        The overlaid runs' names.
    style : str, optional
        A style of :data:`saddle.plotting.STYLES` (``paper``: 8 pt serif); save the figure under the same
        style (``with saddle.plotting.style("paper"): ...``) for its dpi.
    title : bool or str
        The caption line (objective, optimiser, eta, trials per m, delta), a text of one's own, or none.
    panels : str or list of str, optional
        Which panels, in order, of :data:`PANELS` ("survival,median"); by default all of them (no
        trajectories for an overlay, nor for a run that recorded none; only the trajectories, with the
        noise floor per m, for a run whose schedule ends every trial at a sample budget).
    trajectories : 'bands', 'curves' or 'both'
        What the trajectory panel draws (:func:`trajectory_panel`).

    Returns
    -------
    matplotlib.figure.Figure
        Its legend below the panels names every batch size's colour, what the markers and lines mean,
        and (without a survival panel) the runs.
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    if trajectories not in TRAJECTORIES:
        raise ValueError(f"trajectories must be one of {', '.join(TRAJECTORIES)}, got {trajectories!r}")
    results = _as_list(result)
    if not results:
        raise ValueError("escape_figure needs at least one result")
    overlay = len(results) > 1
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"labels: {len(labels)} given for {len(results)} runs")
    labels = list(labels) if labels is not None else (run_labels(results) if overlay else None)
    chosen = parse_panels(panels, overlay)
    if panels is None and not any(r.trajectories for r in results[0].by_m.values()):
        chosen = tuple(p for p in chosen if p != "trajectories")
    budget = getattr(results[0].config, "schedule_plan", None)
    if panels is None and not overlay and budget is not None and budget.budget is not None and "trajectories" in chosen:
        chosen = ("trajectories",)  # (a run to a budget ends every trial censored: f(u_t) and its floor tell)
    costs = ["steps", "samples"] if cost == "both" else [cost]
    kinds = [k for p in chosen for k in ([f"median:{c}" for c in costs] if p == "median" else [p])]
    inches = figure_width(width)
    with _style(style):
        narrow = inches < 5.0
        fig, axes = _layout(len(kinds), inches, narrow)
        columns = 2 if narrow and len(kinds) > 1 else 1 if narrow else len(kinds)
        runs = _run_key(labels or [], markers=any(k.startswith("median") for k in kinds)) if overlay else []
        runs_inside = False
        for ax, kind in zip(axes, kinds):
            ax.set_label(kind.partition(":")[0])  # the panel's name (PANELS)
            panel_inches = inches * len(ax.get_subplotspec().colspan) / columns
            if kind == "survival":
                survival_panel(ax, results, labels=labels, legend=False)
                if runs and panel_inches >= _RUN_KEY_INSIDE:  # the runs' key where their line styles are
                    ax.legend(*zip(*runs), loc="lower left", handlelength=2.4, **_INSIDE)
                    runs_inside = True
            elif kind.startswith("median:"):
                batch_size_panel(ax, results, kind.partition(":")[2], labels=labels, legend=False)
            else:
                trajectory_panel(ax, results[0], show=trajectories)
            _fit_title(ax, panel_inches)
        groups: list[list[tuple[Any, str]]] = []
        if "survival" in kinds or "trajectories" in kinds:
            groups.append(_batch_key(_all_m(results)))
        if runs and not runs_inside:
            groups.append(runs)
        seen: dict[str, tuple[Any, str]] = {}
        for ax in axes:
            seen.update({text: (handle, text) for handle, text in _key(ax) if text not in seen})
        groups.append(list(seen.values()))
        handles, texts, columns = legend_grid(groups, inches - 0.1)
        fig.legend(handles, texts, loc="outside lower center", ncols=columns, handlelength=1.8, columnspacing=1.0)
        lines = 0
        if title:
            if isinstance(title, str):
                text = title
            elif overlay:
                text = _common_title(results)
            else:
                text = run_title(results[0])
            text = _wrap(text, inches - 0.2)
            lines = text.count("\n") + 1
            fig.suptitle(text)
        legend_inches = _legend_inches(texts, columns)
        title_inches = lines * _title_points() * 1.45 / 72 + 0.1 * bool(lines)
        fig.set_figheight(_panels_height(len(kinds), inches, narrow) + legend_inches + title_inches)
    return fig


def _legend_inches(texts: Sequence[str], columns: int) -> float:
    """About how tall a legend of ``texts`` in ``columns`` columns (filled down each column) is."""
    rows = len(texts) // max(columns, 1)
    lines = sum(max(texts[c * rows + r].count("\n") + 1 for c in range(columns)) for r in range(rows))
    em = legend_fontsize() / 72
    return lines * 1.25 * em + rows * 0.5 * em + 1.6 * em


def _title_points() -> float:
    import matplotlib
    from matplotlib.font_manager import FontProperties

    return float(FontProperties(size=matplotlib.rcParams["figure.titlesize"]).get_size_in_points())


def _panels_height(n: int, inches: float, narrow: bool) -> float:
    """The height of the panels (with their titles and axis labels): one row of up to four side by side;
    narrow figures two to a row (a single panel alone), at most two rows."""
    if not narrow:
        return inches * {1: 0.62, 2: 0.42, 3: 0.36, 4: 0.3}[n]
    if n == 1:
        return 0.72 * inches
    return math.ceil(n / 2) * 0.56 * inches


def _layout(n: int, inches: float, narrow: bool) -> tuple[Figure, list[Any]]:
    """A Figure and its ``n`` Axes in reading order: one row when wide; two to a row when narrow (the
    third of three spanning the row below)."""
    fig = Figure(figsize=(inches, _panels_height(n, inches, narrow)), layout="constrained")
    if not narrow or n == 1:
        return fig, list(np.ravel(fig.subplots(1, n, squeeze=False)))
    grid = fig.add_gridspec(math.ceil(n / 2), 2)
    spans = [grid[i // 2, i % 2] for i in range(n)]
    if n % 2:
        spans[-1] = grid[n // 2, :]
    return fig, [fig.add_subplot(span) for span in spans]


def _fit_title(ax: Any, inches: float) -> None:
    """A panel title too wide for its panel (``inches`` wide), shortened to its first words (the details
    are in the legend and the axis labels): "samples to escape", "trajectories"."""
    import matplotlib
    from matplotlib.font_manager import FontProperties

    text = ax.get_title()
    size = float(FontProperties(size=matplotlib.rcParams["axes.titlesize"]).get_size_in_points())
    if text_inches(text, size) > inches - 0.5:  # the Axes: the panel less its tick and axis labels
        ax.set_title(re.split(r" \(|: ", text)[0])


def _wrap(text: str, inches: float) -> str:
    """The caption on as many lines as it needs to fit ``inches``: broken after its "; " separators, and a
    line still too wide after its ", " ones."""
    size = _title_points()
    lines = fill_lines(re.split(r"(?<=;) ", text), inches, size)
    return "\n".join(part for line in lines for part in fill_lines(re.split(r"(?<=,) ", line), inches, size))


def _common_title(results: Sequence[Any]) -> str:
    """The caption of an overlay: what the runs share (their titles' common parts)."""
    parts = [re.split(r"; |, ", run_title(r)) for r in results]
    common = [p for p in parts[0] if all(p in other for other in parts[1:])]
    return ", ".join(common) if common else f"{len(results)} runs"


__all__ = [
    "COSTS",
    "PANELS",
    "TRAJECTORIES",
    "batch_size_panel",
    "escape_figure",
    "mathtext",
    "parse_panels",
    "run_labels",
    "run_title",
    "survival_panel",
    "trajectory_panel",
]
