"""Regenerate the theory figures of docs/theory.md from simulations.

1. quadratic_vs_theory: the quadratic testbed (d = 1, beta = 0.01) at two (eta, gamma) pairs,
   5000 trials per m in {1, 4, 16, 64, 256}: measured median and mean escape steps against the
   linear theory of docs/theory.md (sections 1-2), and the SD, which the theory says does not depend on m.
2. lr_scaling: the spike default and the quadratic with fixed eta (steps grow like log m) and with
   linear scaling eta = eta_0 m (samples m x steps flat in m while eta gamma is small).
3. spike_default: the spike default over m = 1, 2, 4, ..., 1024 against the linear theory and the
   heat-path model (the escape figure of the package).

Writes docs/results/theory/*.{pdf,png} and table.md.

    python experiments/theory_figures.py [--trials 5000]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import theory  # noqa: E402
from saddle.escape import run_escape  # noqa: E402
from saddle.plotting import (  # noqa: E402
    WIDTH_TWO_COLUMN,
    colour,
    compact_number,
    escape_figure,
    readable_log_axis,
    save_figure,
)  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

M_GRID = (1, 4, 16, 64, 256)
PAIRS = ((0.05, 1.0), (0.01, 4.0))


def quadratic_figure(trials, lines):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, WIDTH_TWO_COLUMN * 0.36), layout="constrained")
    ax_med, ax_mean, ax_sd = fig.subplots(1, 3)
    lines += ["| eta | gamma | m | median (theory) | mean ± SE (theory) | SD (theory) |", "|---|---|---|---|---|---|"]
    for i, (eta, gamma) in enumerate(PAIRS):
        res = run_escape(
            objective="quadratic",
            d=1,
            gamma=gamma,
            beta=0.01,
            m=M_GRID,
            eta=eta,
            delta=0.1,
            trials=trials,
            max_steps=100_000,
            seed=1,
        )
        q = theory.quadratic_saddle([-gamma], [1.0], beta=0.01)
        grid = np.geomspace(1, 256, 50)
        preds = [q.linear(eta, m, delta=0.1) for m in grid]
        steps = [r.steps.astype(float) for r in res.by_m.values()]
        label = rf"$\eta = {eta:g}$, $\gamma = {gamma:g}$"
        c = colour(i)
        ax_med.plot(grid, [p.median for p in preds], "--", color=c, lw=1)
        ax_med.plot(M_GRID, [np.median(s) for s in steps], "o", color=c, ms=4, label=label)
        ax_mean.plot(grid, [p.mean for p in preds], "--", color=c, lw=1)
        ax_mean.errorbar(
            M_GRID,
            [s.mean() for s in steps],
            yerr=[3 * s.std() / np.sqrt(len(s)) for s in steps],
            fmt="o",
            color=c,
            ms=4,
            capsize=2,
            label=label,
        )
        ax_sd.axhline(preds[0].sd, ls="--", color=c, lw=1)
        ax_sd.plot(M_GRID, [s.std(ddof=1) for s in steps], "o", color=c, ms=4, label=label)
        for m, s in zip(M_GRID, steps):
            p = q.linear(eta, m, delta=0.1)
            lines.append(
                f"| {eta:g} | {gamma:g} | {m} | {np.median(s):.0f} ({p.median:.0f}) | "
                f"{s.mean():.2f} ± {s.std() / np.sqrt(len(s)):.2f} ({p.mean:.2f}) | "
                f"{s.std(ddof=1):.2f} ({p.sd:.2f}) |"
            )
    for ax, name in (
        (ax_med, "median escape steps"),
        (ax_mean, "mean escape steps (±3 SE)"),
        (ax_sd, "SD of escape steps"),
    ):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
        ax.set_xlabel(r"batch size $m$", fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    ax_sd.set_ylim(0, None)
    ax_med.legend(fontsize=6, frameon=False)
    fig.suptitle(
        rf"quadratic testbed, $d = 1$, {trials} trials per $m$: points simulation, dashed linear theory", fontsize=8
    )
    return fig


def _tex(name):
    """A run's name with its symbols in mathtext (the table keeps the plain name)."""
    return {
        "spike, fixed eta = 0.0005": r"spike, fixed $\eta = 0.0005$",
        "spike, eta = 0.0005 m": r"spike, $\eta = 0.0005\,m$",
        "quadratic d=1, fixed eta = 0.002": r"quadratic $d = 1$, fixed $\eta = 0.002$",
        "quadratic d=1, eta = 0.002 m": r"quadratic $d = 1$, $\eta = 0.002\,m$",
    }.get(name, name)


def lr_scaling_figure(trials, lines):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, WIDTH_TWO_COLUMN * 0.36), layout="constrained")
    ax_steps, ax_samples = fig.subplots(1, 2)
    ms = (1, 2, 4, 8, 16, 32)
    lines += ["", "| objective | scaling | m | eta | median steps | median samples |", "|---|---|---|---|---|---|"]
    runs = [
        ("spike, fixed eta = 0.0005", dict(eta=0.0005), colour(0), "-"),
        ("spike, eta = 0.0005 m", dict(eta=0.0005, lr_scaling="linear"), colour(0), "--"),
        ("quadratic d=1, fixed eta = 0.002", dict(objective="quadratic", d=1, beta=0.01, eta=0.002), colour(1), "-"),
        (
            "quadratic d=1, eta = 0.002 m",
            dict(objective="quadratic", d=1, beta=0.01, eta=0.002, lr_scaling="linear"),
            colour(1),
            "--",
        ),
    ]
    for name, options, c, ls in runs:
        res = run_escape(m=ms, trials=trials, max_steps=100_000, seed=2, **options)
        steps = [r["median_steps"] for r in res.summary]
        samples = [r["median_samples"] for r in res.summary]
        ax_steps.plot(ms, steps, "o" + ls, color=c, ms=4, lw=1.2, label=_tex(name))
        ax_samples.plot(ms, samples, "o" + ls, color=c, ms=4, lw=1.2, label=_tex(name))
        for r in res.summary:
            lines.append(
                f"| {name.split(',')[0]} | {'linear' if 'lr_scaling' in options else 'none'} | {r['m']} | "
                f"{r['eta']:g} | {r['median_steps']:.0f} | {r['median_samples']:.0f} |"
            )
    for ax, name in ((ax_steps, "median escape steps"), (ax_samples, r"median escape samples ($m$ × steps)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
        readable_log_axis(ax.yaxis, *ax.get_ylim())
        ax.set_xlabel(r"batch size $m$", fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    ax_samples.legend(fontsize=6, frameon=False)
    fig.suptitle(
        r"fixed $\eta$: steps grow like $\log m$; linear scaling $\eta = \eta_0 m$: samples flat in $m$", fontsize=8
    )
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5000)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "theory"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    save_figure(quadratic_figure(args.trials, lines), out / "quadratic_vs_theory")
    save_figure(lr_scaling_figure(min(args.trials, 2000), lines), out / "lr_scaling")
    res = run_escape(m=tuple(2**k for k in range(11)), trials=2000, seed=0)
    save_figure(escape_figure(res), out / "spike_default")
    lines += [
        "",
        "| m | measured median [95% CI] | linear theory | heat-path model | regime |",
        "|---|---|---|---|---|",
    ]
    for r in res.summary:
        lines.append(
            f"| {r['m']} | {r['median_steps']:.0f} [{r['median_steps_lo']:.0f}, {r['median_steps_hi']:.0f}] | "
            f"{r['theory_median_steps']:.0f}{'' if r['theory_trusted'] else '*'} | "
            f"{r['theory_model_median_steps']:.0f} | {r['theory_regime']} |"
        )
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
