"""The plateau's length against N (log growth) and against eta, with the prediction (docs/experiments.md).

The teacher-student objective with K = M = 2 (T = I, no label noise), sgd with m = 1 on the exact reduced
chain, from the plateau fixed point of the run's eta (only SGD noise breaks the symmetry), escape at
eps_g <= eps*/2:

- against N: eta = 1, N = 50, 100, 200, 500, 1000, 2000, 5000, 10000 (trials fewer at large N, where a
  trial costs alpha N steps: see TRIALS);
- against eta: N = 100, eta = 0.25, 0.5, 0.75, 1, 1.5, 2.

Each point is one run_escape (seed SEED) with the objective's theory column (ode.predict_exit).  The
prediction grows like ln(N) / (2 lambda) in alpha (lambda the ODE's escape rate per unit alpha): the
initial amplitude of the unstable mode is the SGD noise, of RMS O(1/sqrt N) in the order parameters.

Writes docs/results/teacher-student-plateau-length/{summary.csv, table.md, plateau_length.pdf/.png}.

    python experiments/teacher_student_plateau_length.py [--quick] [--out DIR] [--plot-only]

--quick: N up to 1000 and 40 trials a point, into a temporary folder unless --out is given;
--plot-only: redraw the figure from summary.csv (no simulation).
"""

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import EscapeConfig, run_escape  # noqa: E402
from saddle.objectives.teacher_student import ode  # noqa: E402
from saddle.plotting import WIDTH_TWO_COLUMN, colour, readable_log_axis, save_figure  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

NAME = "teacher-student-plateau-length"
SEED = 15
K = 2
TRIALS = {50: 400, 100: 400, 200: 400, 500: 300, 1000: 200, 2000: 100, 5000: 50, 10000: 30}
"""Trials per N (a trial costs about alpha N steps, alpha ~ 100)."""
ETAS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
ETA_N, ETA_TRIALS = 100, 300

COLUMNS = (
    "sweep",
    "N",
    "eta",
    "m",
    "trials",
    "escaped",
    "censored",
    "median_steps",
    "median_steps_lo",
    "median_steps_hi",
    "median_alpha",
    "alpha_lo",
    "alpha_hi",
    "theory_median_steps",
    "theory_alpha",
    "theory_over_measured",
    "rate_alpha",
    "plateau_eps",
    "wall_seconds",
)


def run_point(sweep, N, eta, trials):
    config = EscapeConfig(
        objective="teacher-student",
        N=N,
        K=K,
        M=K,
        start="plateau",
        simulation="reduced",
        m=(1,),
        eta=eta,
        trials=trials,
        record_trials=0,
        max_steps=4000 * N,
        seed=SEED,
    )
    s = run_escape(config).summary[0]
    pl = ode.plateau(K, eta)
    th = s["theory_median_steps"]
    row = dict(
        sweep=sweep,
        N=N,
        eta=eta,
        m=1,
        trials=s["trials"],
        escaped=s["escaped"],
        censored=s["censored"],
        median_steps=s["median_steps"],
        median_steps_lo=s["median_steps_lo"],
        median_steps_hi=s["median_steps_hi"],
        median_alpha=s["median_alpha"],
        alpha_lo=s["median_steps_lo"] / N,
        alpha_hi=s["median_steps_hi"] / N,
        theory_median_steps=th,
        theory_alpha=th / N,
        theory_over_measured=th / s["median_steps"],
        rate_alpha=eta * pl.rate,
        plateau_eps=pl.eps,
        wall_seconds=s["wall_seconds"],
    )
    print(
        f"{sweep}: N = {N}, eta = {eta:g}: median alpha {row['median_alpha']:.1f} "
        f"[{row['alpha_lo']:.1f}, {row['alpha_hi']:.1f}], theory {row['theory_alpha']:.1f} "
        f"({row['escaped']}/{row['trials']}, {row['wall_seconds']:.0f} s)",
        flush=True,
    )
    return row


def draw(rows, out):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, 2.9), layout="constrained")
    ax_n, ax_eta = fig.subplots(1, 2)
    by_n = [r for r in rows if r["sweep"] == "N"]
    if by_n:
        n = np.array([r["N"] for r in by_n], float)
        a = np.array([r["median_alpha"] for r in by_n])
        err = np.array(
            [[r["median_alpha"] - r["alpha_lo"] for r in by_n], [r["alpha_hi"] - r["median_alpha"] for r in by_n]]
        )
        ax_n.errorbar(
            n,
            a,
            yerr=err,
            fmt="o-",
            color=colour(0),
            ms=3.5,
            capsize=2,
            lw=1.1,
            label="simulation (reduced chain), median, 95% CI",
        )
        ax_n.plot(
            n, [r["theory_alpha"] for r in by_n], "D", mfc="none", color=colour(1), ms=5, label="theory (predict_exit)"
        )
        lam = by_n[0]["rate_alpha"]
        slope, icpt = np.polyfit(np.log(n), a, 1)
        ax_n.plot(
            n,
            icpt + slope * np.log(n),
            "-",
            color="grey",
            lw=0.8,
            label=f"least-squares line: {slope:.1f} per e-fold of $N$",
        )
        ax_n.plot(
            n,
            np.mean(a - np.log(n) / (2 * lam)) + np.log(n) / (2 * lam),
            ":",
            color="black",
            lw=1,
            label=rf"slope $1/(2\lambda_\alpha)$ = {1 / (2 * lam):.1f} per e-fold",
        )
        ax_n.set_xscale("log")
        readable_log_axis(ax_n.xaxis, *ax_n.get_xlim())
        ax_n.set_xlabel(r"input dimension $N$")
        ax_n.set_ylabel(r"median exit $\alpha$ = steps / $N$")
        ax_n.set_title(rf"$K = M = 2$, $\eta = {by_n[0]['eta']:g}$, $m = 1$, plateau start", fontsize=8)
        ax_n.legend(fontsize=6, frameon=False, loc="upper left")
    by_eta = [r for r in rows if r["sweep"] == "eta"]
    if by_eta:
        e = np.array([r["eta"] for r in by_eta])
        a = np.array([r["median_alpha"] for r in by_eta])
        err = np.array(
            [[r["median_alpha"] - r["alpha_lo"] for r in by_eta], [r["alpha_hi"] - r["median_alpha"] for r in by_eta]]
        )
        ax_eta.errorbar(
            e, a, yerr=err, fmt="o-", color=colour(0), ms=3.5, capsize=2, lw=1.1, label="simulation, median, 95% CI"
        )
        ax_eta.plot(
            e,
            [r["theory_alpha"] for r in by_eta],
            "D",
            mfc="none",
            color=colour(1),
            ms=5,
            label="theory (predict_exit)",
        )
        ax_eta.set_xscale("log", base=2)
        ax_eta.set_yscale("log")
        from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator, ScalarFormatter

        ax_eta.yaxis.set_major_locator(FixedLocator([50, 70, 100, 150, 200, 300, 400]))
        ax_eta.yaxis.set_major_formatter(ScalarFormatter())
        ax_eta.yaxis.set_minor_locator(NullLocator())
        ax_eta.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax_eta.set_xlabel(r"step size $\eta$")
        ax_eta.set_ylabel(r"median exit $\alpha$ = steps / $N$")
        ax_eta.set_title(rf"$K = M = 2$, $N = {by_eta[0]['N']}$, $m = 1$, plateau start", fontsize=8)
        ax_eta.legend(fontsize=6, frameon=False)
    save_figure(fig, out / "plateau_length")


def write_tables(rows, out):
    lines = [",".join(COLUMNS)]
    for r in rows:
        lines.append(",".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS))
    atomic_write_text(out / "summary.csv", "\n".join(lines) + "\n")
    md = []
    for sweep, head in (("N", "N"), ("eta", "eta")):
        mine = [r for r in rows if r["sweep"] == sweep]
        if not mine:
            continue
        md += [
            f"| {head} | trials | median alpha [95% CI] | theory alpha | theory / measured | plateau eps_g (ODE) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in mine:
            md.append(
                f"| {r[sweep]:g} | {r['trials']} | {r['median_alpha']:.1f} [{r['alpha_lo']:.1f}, "
                f"{r['alpha_hi']:.1f}] | {r['theory_alpha']:.1f} | {r['theory_over_measured']:.3f} | "
                f"{r['plateau_eps']:.5f} |"
            )
        md.append("")
    atomic_write_text(out / "table.md", "\n".join(md))
    return "\n".join(md)


def read_rows(path):
    """The rows of a summary.csv written by this script (numbers back as int or float)."""
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                {k: v if k == "sweep" else (int(v) if v.lstrip("-").isdigit() else float(v)) for k, v in r.items()}
            )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke run (into a temporary folder)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from the folder's summary.csv")
    args = ap.parse_args()
    if args.quick:
        trials_n = {N: 40 for N in (50, 200, 1000)}
        etas, eta_trials = (0.5, 1.0, 2.0), 40
        out = Path(args.out or Path(tempfile.gettempdir()) / "saddle-quick" / NAME)
    else:
        trials_n, etas, eta_trials = TRIALS, ETAS, ETA_TRIALS
        out = Path(args.out or ROOT / "docs" / "results" / NAME)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        draw(read_rows(out / "summary.csv"), out)
        return
    start = time.perf_counter()
    rows = [run_point("N", N, 1.0, n) for N, n in trials_n.items()]
    rows += [run_point("eta", ETA_N, eta, eta_trials) for eta in etas]
    draw(rows, out)
    print(write_tables(rows, out))
    print(f"{time.perf_counter() - start:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
