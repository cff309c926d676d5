"""The CNC condition at the spike's s = 2 saddle: rademacher against uniform data (docs/experiments.md).

With rademacher data the per-sample gradient has exactly zero variance along the escape direction
(a_1 - a_2)/sqrt 2 at u_0 = (a_1 + a_2)/sqrt 2: the correlated-negative-curvature condition of
Daneshmand et al. (2018) fails, and mini-batch noise alone leaves only through higher-order terms.
Isotropic noise (noisy-sgd, Ge et al. 2015) or PGD's perturbation (Jin et al. 2017) restore a fast escape.

Spike d = 10, s = 2, eta = 0.01, delta = 0.1; m = 4 ... 1024.  Writes
docs/results/cnc-rademacher/{summary.csv, table.md, cnc_rademacher.pdf, cnc_rademacher.png}.

    python experiments/cnc_rademacher.py [--trials 500]
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
    "uniform data, sgd": dict(dist="uniform"),
    "rademacher data, sgd": dict(dist="rademacher"),
    "rademacher data, noisy-sgd (sigma_iso = 0.1)": dict(dist="rademacher", optimizer="noisy-sgd", sigma_iso=0.1),
    "rademacher data, pgd (r = 0.01)": dict(dist="rademacher", optimizer="pgd", perturbation_radius=0.01),
}


def _tex(name):
    """A variant's name with its symbols in mathtext (the tables keep the plain name)."""
    return name.replace("sigma_iso", r"$\sigma_{\rm iso}$").replace("(r = 0.01)", "($r = 0.01$)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "cnc-rademacher"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ms = (4, 16, 64, 256, 1024)
    rows = run_variants(VARIANTS, ms, eta=0.01, trials=args.trials, max_steps=args.max_steps, seed=0)
    fig = Figure(figsize=(WIDTH_ONE_COLUMN * 1.5, WIDTH_ONE_COLUMN), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(VARIANTS):
        mine = [r for r in rows if r["variant"] == name]
        m = np.array([r["m"] for r in mine], float)
        med = np.array([r["median_steps"] for r in mine])
        lo = np.array([r["median_steps_lo"] for r in mine])
        hi = np.array([r["median_steps_hi"] for r in mine])
        bound = np.array([r["median_is_lower_bound"] for r in mine])
        hi = np.where(np.isfinite(hi), hi, med)
        ax.errorbar(
            m[~bound],
            med[~bound],
            yerr=[med[~bound] - lo[~bound], hi[~bound] - med[~bound]],
            fmt="o-",
            color=colour(i),
            ms=4,
            lw=1.2,
            capsize=2,
            label=_tex(name),
        )
        if bound.any():
            ax.plot(m[bound], np.full(bound.sum(), args.max_steps), "^", color=colour(i), ms=6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
    readable_log_axis(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel(r"batch size $m$")
    ax.set_ylabel("median escape steps (95% CI)")
    ax.set_title(r"spike $d = 10$, $s = 2$, $\eta = 0.01$: the CNC condition", fontsize=8)
    ax.legend(fontsize=6, frameon=False)
    save_figure(fig, out / "cnc_rademacher")
    print(write_tables(rows, VARIANTS, ms, out, args.trials, args.max_steps))


if __name__ == "__main__":
    main()
