"""The symmetry trap (docs/objectives.md, ge2015): leaving ge2015's collision saddle, against the batch size.

From u_1 = u_2 = (a_1 + a_2)/sqrt 2, u_i = a_i (d = k = 5, uniform data,
eta = 0.005, f-drop delta = 0.2), for m = 4 ... 1024:

- sgd with shared samples: u_1 = u_2 is invariant, so no trial escapes (censored at max-steps);
- sgd with per-column samples (k m samples a step);
- noisy-sgd with shared samples (isotropic noise sigma_iso = 0.5, Ge et al. 2015);
- sgd with shared samples from a perturbed start (radius 0.01, a random direction per trial).

Writes docs/results/symmetry-trap/{summary.csv, symmetry_trap.pdf, symmetry_trap.png, table.md}.

    python experiments/symmetry_trap.py [--trials 300]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _variants import run_variants, write_tables  # noqa: E402

from saddle.plotting import WIDTH_ONE_COLUMN, colour, compact_number, readable_log_axis, save_figure  # noqa: E402

VARIANTS = {
    "sgd, shared samples": dict(sampling="shared", allow_trap=True),
    "sgd, per-column samples": dict(sampling="per-column"),
    "noisy-sgd (sigma_iso = 0.5), shared": dict(sampling="shared", optimizer="noisy-sgd", sigma_iso=0.5),
    "sgd, shared, perturbed start (r = 0.01)": dict(sampling="shared", start_perturbation=0.01),
}


def _tex(name):
    """A variant's name with its symbols in mathtext (the tables keep the plain name)."""
    return name.replace("sigma_iso", r"$\sigma_{\rm iso}$").replace("(r = 0.01)", "($r = 0.01$)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=5000)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "symmetry-trap"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ms = (4, 16, 64, 256, 1024)
    rows = run_variants(
        VARIANTS,
        ms,
        objective="ge2015",
        d=5,
        eta=0.005,
        delta=0.2,
        trials=args.trials,
        max_steps=args.max_steps,
        seed=0,
    )

    fig = Figure(figsize=(WIDTH_ONE_COLUMN * 1.5, WIDTH_ONE_COLUMN), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(VARIANTS):
        mine = [r for r in rows if r["variant"] == name]
        m = np.array([r["m"] for r in mine], float)
        med = np.array([r["median_steps"] for r in mine])
        bound = np.array([r["median_is_lower_bound"] for r in mine])
        escaped = sum(r["escaped"] for r in mine)
        label = _tex(name) + (" (no trial escapes)" if escaped == 0 else "")
        if not bound.all():
            ax.plot(m[~bound], med[~bound], "o-", color=colour(i), ms=4, lw=1.2, label=label)
        if bound.any():  # medians beyond max-steps, stacked so that none hides another
            ax.plot(
                m[bound],
                np.full(bound.sum(), args.max_steps * 1.15**i),
                "^",
                color=colour(i),
                ms=6,
                label=label if bound.all() else None,
            )
    ax.axhline(args.max_steps, color="grey", lw=0.6, ls=":")
    ax.text(
        4, args.max_steps * 0.8, f"triangles: median > {args.max_steps} steps (max-steps)", fontsize=6, color="grey"
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
    readable_log_axis(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel(r"batch size $m$")
    ax.set_ylabel("median escape steps")
    ax.set_title(r"ge2015 $d = k = 5$, collision saddle, $\eta = 0.005$", fontsize=8)
    ax.legend(fontsize=6, frameon=False)
    save_figure(fig, out / "symmetry_trap")

    print(write_tables(rows, VARIANTS, ms, out, args.trials, args.max_steps))


if __name__ == "__main__":
    main()
