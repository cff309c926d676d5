"""The escape experiment's figure: survival curves, medians against m, trajectories."""

import numpy as np
from matplotlib.figure import Figure

from saddle.plotting import WIDTH_TWO_COLUMN, colour, palette
from saddle.stats import survival_curve


def escape_figure(result, width=WIDTH_TWO_COLUMN):
    """Three panels: survival P(tau > t) per m; median escape steps against m; f(u_t) per m.

    Parameters
    ----------
    result : EscapeResult
    width : float
        Figure width in inches (two-column by default).
    """
    cfg = result.config
    fig = Figure(figsize=(width, width * 0.36), layout="constrained")
    ax_s, ax_m, ax_f = fig.subplots(1, 3)
    label = f"{cfg.describe()}; {cfg.optimizer}, eta={cfg.eta:g}"
    if cfg.lr_scaling != "none":
        label += f" ({cfg.lr_scaling} in m)"
    fig.suptitle(label, fontsize=8)

    colours = palette(len(result.by_m))
    for i, (m, r) in enumerate(result.by_m.items()):
        t, surv = survival_curve(r.steps, r.status, cfg.max_steps)
        ax_s.step(np.maximum(t, 1), surv, where="post", color=colours[i], lw=1.2, label=f"m = {m}")
    ax_s.set_xscale("log")
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_xlabel("steps t")
    ax_s.set_ylabel(r"$P(\tau > t)$")
    ax_s.set_title("survival (Kaplan-Meier)", fontsize=8)
    ax_s.legend(fontsize=6, frameon=False)

    ms = np.array([row["m"] for row in result.summary], dtype=float)
    med = np.array([row["median_steps"] for row in result.summary])
    lo = np.array([row["median_steps_lo"] for row in result.summary])
    hi = np.array([row["median_steps_hi"] for row in result.summary])
    bound = np.array([row["median_is_lower_bound"] for row in result.summary], dtype=bool)
    ok = ~bound
    hi_plot = np.where(np.isfinite(hi), hi, med)
    ax_m.errorbar(
        ms[ok],
        med[ok],
        yerr=[med[ok] - lo[ok], hi_plot[ok] - med[ok]],
        fmt="o-",
        color="black",
        ms=3.5,
        lw=1,
        capsize=2,
        label="median, 95% CI",
    )
    if bound.any():
        frozen = any(row.get("frozen", 0) for row, b in zip(result.summary, bound) if b)
        ax_m.plot(
            ms[bound],
            med[bound],
            "^",
            color=colour(3),
            ms=5,
            label=f"> max steps ({cfg.max_steps})" + ("\nfrozen: never escape" if frozen else ""),
        )
    if result.theory is not None and len(ms) > 0:
        _theory_overlay(ax_m, result, ms)
    elif len(ms) > 0:  # an objective's own prediction (e.g. the teacher-student plateau exit): its points
        own = np.array([row.get("theory_median_steps", np.nan) for row in result.summary], dtype=float)
        ok = np.isfinite(own)
        if ok.any():
            ax_m.plot(ms[ok], own[ok], "D", mfc="none", color=colour(3), ms=5, mew=1.2, label="theory (median)")
    ax_m.set_xscale("log", base=2)
    ax_m.set_yscale("log")
    ax_m.set_xlabel("batch size m")
    ax_m.set_ylabel("median escape steps")
    ax_m.set_title("escape time against batch size", fontsize=8)
    ax_m.legend(fontsize=6, frameon=False)

    per_m = 4 if len(result.by_m) <= 4 else 2
    for i, (m, r) in enumerate(result.by_m.items()):
        for j, (t, f) in enumerate(r.trajectories[:per_m]):
            keep = t >= 1
            ax_f.plot(t[keep], f[keep], color=colours[i], lw=0.7, alpha=0.8, label=f"m = {m}" if j == 0 else None)
    if cfg.target is not None:
        ax_f.axhline(cfg.target, color="grey", lw=0.8, ls="--", label="target f")
    elif result.f0 is not None and not cfg.random_start and cfg.start_perturbation is None:
        ax_f.axhline(result.f0, color="grey", lw=0.6, ls=":")  # (each trial has its own f(u_0) otherwise)
        if cfg.radius is None:
            ax_f.axhline(result.f0 - cfg.delta, color="grey", lw=0.8, ls="--", label=r"$f(u_0)-\delta$")
    ax_f.set_xscale("log")
    ax_f.set_xlabel("steps t")
    ax_f.set_ylabel(r"$f(u_t)$")
    ax_f.set_title("trajectories until escape", fontsize=8)
    ax_f.legend(fontsize=6, frameon=False)
    for ax in (ax_s, ax_m, ax_f):
        ax.tick_params(which="both", labelsize=7)
        ax.xaxis.label.set_size(8)
        ax.yaxis.label.set_size(8)
    return fig


def _theory_overlay(ax, result, ms):
    """The linear theory's median with its 25-75% band (SPEC 5), and the heat-path model's medians."""
    cfg, q = result.config, result.theory
    grid = np.geomspace(ms.min(), ms.max(), 60)
    lin = [q.linear(cfg.eta_for(m), m, delta=None if cfg.radius else cfg.delta, radius=cfg.radius) for m in grid]
    if q.sigma_v2 > 0:
        ax.plot(grid, [p.median for p in lin], "--", color=colour(0), lw=1, label="linear theory (median)")
        ax.fill_between(
            grid,
            [p.quantile(0.25) for p in lin],
            [p.quantile(0.75) for p in lin],
            color=colour(0),
            alpha=0.15,
            lw=0,
            label="linear theory, 25-75%",
        )
    model = np.array([row.get("theory_model_median_steps", np.nan) for row in result.summary], dtype=float)
    ok = np.isfinite(model)
    if ok.any():
        ax.plot(ms[ok], model[ok], "x", color=colour(3), ms=5, mew=1.2, label="heat-path model")
