"""Is a small batch better for leaving the symmetric plateau of a two-layer network? (docs/experiments.md)

The teacher-student objective with K = M = 2 (T = I, no label noise), sgd, the exact reduced chain,
escape at eps_g <= eps*/2 (eps* = 0.0116108, the eta -> 0 plateau height), m = 1, 2, 4, ..., 64:

- fixed step size eta = 1 (lr_scaling none), N = 100, from the plateau fixed point of each m's eta/m
  (only SGD noise breaks the symmetry) and from random starts w_k ~ N(0, 0.1 I_N) (random starts at
  m = 1, 4, 16, 64 only, in every series);
- linear scaling eta_m = m / 8 (eta/m = 1/8 at every m: in the ODE limit samples/N is then m-independent,
  up to corrections of relative order eta_m / N and m / N at finite N, docs/theory.md, "The ODE"), plateau
  and random starts at N = 100 (the plateau start also at m = 128 ... 4096, eta_m up to 512, to find where
  that breaks), and plateau starts at N = 400;
- square-root scaling eta_m = sqrt(m) / 2, plateau and random starts at N = 100.

Every series is one run_escape (seed SEED), with the theory column of the objective
(ode.predict_exit: growth from the ODE's Jacobian, noise measured from the chain) beside the measurement.

Writes docs/results/teacher-student-batch-size/{summary.csv, table.md, batch_size.pdf/.png,
lr_scaling.pdf/.png}.

    python experiments/teacher_student_batch_size.py [--quick] [--out DIR] [--plot-only]

--quick: m = 1, 4, 16 (random starts 1, 16) and 40 trials per point, into a temporary folder unless --out is
given; --plot-only: redraw the figures from summary.csv (no simulation).
"""

import argparse
import csv
import io
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import EscapeConfig, run_escape  # noqa: E402
from saddle.plotting import WIDTH_TWO_COLUMN, colour, compact_number, readable_log_axis, save_figure  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

NAME = "teacher-student-batch-size"
SEED = 15
K = 2
MS = (1, 2, 4, 8, 16, 32, 64)

LARGE_MS = (128, 256, 512, 1024, 2048, 4096)
"""Linear scaling from the plateau at N = 100 is also run to m = 4096 (eta_m = 512), to see where the
m-independence of samples / N breaks: a quarter of the trials, at most LARGE_MAX_STEPS steps each."""
LARGE_MAX_STEPS = 1000

SERIES = (
    # label, start, lr_scaling, eta (at m = 1), N
    ("none, plateau start", "plateau", "none", 1.0, 100),
    ("none, random start", "random", "none", 1.0, 100),
    ("linear, plateau start", "plateau", "linear", 0.125, 100),
    ("linear, random start", "random", "linear", 0.125, 100),
    ("linear, plateau start, N = 400", "plateau", "linear", 0.125, 400),
    ("linear, plateau start, large m", "plateau", "linear", 0.125, 100),
    ("sqrt, plateau start", "plateau", "sqrt", 0.5, 100),
    ("sqrt, random start", "random", "sqrt", 0.5, 100),
)

COLUMNS = (
    "series",
    "start",
    "lr_scaling",
    "N",
    "m",
    "eta",
    "trials",
    "escaped",
    "censored",
    "diverged",
    "median_steps",
    "median_steps_lo",
    "median_steps_hi",
    "median_alpha",
    "median_samples_per_N",
    "samples_per_N_lo",
    "samples_per_N_hi",
    "theory_median_steps",
    "theory_samples_per_N",
    "theory_over_measured",
    "median_is_lower_bound",
    "wall_seconds",
)


def run_series(label, start, scaling, eta, N, ms, trials, max_steps):
    config = EscapeConfig(
        objective="teacher-student",
        N=N,
        K=K,
        M=K,
        start=start,
        simulation="reduced",
        m=tuple(ms),
        eta=eta,
        lr_scaling=scaling,
        trials=trials,
        record_trials=0,
        max_steps=max_steps,
        seed=SEED,
    )
    t0 = time.perf_counter()
    res = run_escape(config)
    rows = []
    for s in res.summary:
        m = s["m"]
        th = s["theory_median_steps"]
        rows.append(
            dict(
                series=label,
                start=start,
                lr_scaling=scaling,
                N=N,
                m=m,
                eta=s["eta"],
                trials=s["trials"],
                escaped=s["escaped"],
                censored=s["censored"],
                diverged=s["diverged"],
                median_steps=s["median_steps"],
                median_steps_lo=s["median_steps_lo"],
                median_steps_hi=s["median_steps_hi"],
                median_alpha=s["median_alpha"],
                median_samples_per_N=s["median_samples_per_N"],
                samples_per_N_lo=m * s["median_steps_lo"] / N,
                samples_per_N_hi=m * s["median_steps_hi"] / N,
                theory_median_steps=th,
                theory_samples_per_N=m * th / N,
                theory_over_measured=th / s["median_steps"],
                median_is_lower_bound=int(bool(s["median_is_lower_bound"])),
                wall_seconds=s["wall_seconds"],
            )
        )
    print(f"{label} (N = {N}): {time.perf_counter() - t0:.0f} s", flush=True)
    for r in rows:
        print(
            f"  m = {r['m']:3d} eta = {r['eta']:g}: median steps {r['median_steps']:.0f} "
            f"[{r['median_steps_lo']:.0f}, {r['median_steps_hi']:.0f}], samples/N {r['median_samples_per_N']:.1f}, "
            f"theory {r['theory_median_steps']:.0f} ({r['escaped']}/{r['trials']} escaped, "
            f"{r['diverged']} diverged)",
            flush=True,
        )
    return rows


def _errorbar(ax, rows, key, lo, hi, i, label, marker="o"):
    """Medians with their 95% intervals; a median that is only a lower bound (most trials censored) as a
    triangle without an interval."""
    done = [r for r in rows if not r.get("median_is_lower_bound", 0)]
    bound = [r for r in rows if r.get("median_is_lower_bound", 0)]
    m = np.array([r["m"] for r in done], float)
    y = np.array([r[key] for r in done])
    err = np.array([[r[key] - r[lo] for r in done], [r[hi] - r[key] for r in done]]).reshape(2, -1)
    ax.errorbar(m, y, yerr=err, fmt=marker + "-", color=colour(i), ms=3.5, lw=1.1, capsize=2, label=label)
    if bound:
        ax.plot(
            [r["m"] for r in bound],
            [r[key] for r in bound],
            "^",
            color=colour(i),
            ms=6,
            label="censored (lower bound)",
        )


def _theory(ax, rows, key, i, label=None):
    m = np.array([r["m"] for r in rows], float)
    y = np.array([r[key] for r in rows])
    ax.plot(m, y, "D", mfc="none", color=colour(i), ms=5, mew=0.9, label=label)


def _readable(ax):
    """Plain-number ticks on both log axes (batch sizes 1, 4, 16, ...; no '6x10^3')."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_number(v)))
    readable_log_axis(ax.yaxis, *ax.get_ylim())


def draw_batch_size(rows, out):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, 2.9), layout="constrained")
    ax_steps, ax_samples = fig.subplots(1, 2)
    for i, label in enumerate(("none, plateau start", "none, random start")):
        mine = [r for r in rows if r["series"] == label]
        if not mine:
            continue
        _errorbar(ax_steps, mine, "median_steps", "median_steps_lo", "median_steps_hi", i, label)
        _theory(ax_steps, mine, "theory_median_steps", i, "theory (predict_exit)" if i == 0 else None)
        _errorbar(ax_samples, mine, "median_samples_per_N", "samples_per_N_lo", "samples_per_N_hi", i, label)
        _theory(ax_samples, mine, "theory_samples_per_N", i)
    for ax, what in ((ax_steps, "median escape steps"), (ax_samples, r"median escape samples / $N$")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _readable(ax)
        ax.set_xlabel(r"batch size $m$")
        ax.set_ylabel(what)
    ax_steps.set_title(r"$K = M = 2$, $N = 100$, $\eta = 1$ at every $m$: steps", fontsize=8)
    ax_samples.set_title(r"the same runs in samples / $N = m\alpha$", fontsize=8)
    ax_steps.legend(fontsize=6, frameon=False)
    save_figure(fig, out / "batch_size")


def draw_scaling(rows, out):
    """Steps (top) and samples / N (bottom) against m, one column per scaling rule."""
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, 5.0), layout="constrained")
    axes = fig.subplots(2, 3, sharex="col")
    rules = (
        ("none", r"none: $\eta_m = 1$"),
        ("linear", r"linear: $\eta_m = m / 8$"),
        ("sqrt", r"sqrt: $\eta_m = \sqrt{m} / 2$"),
    )
    for col, (rule, title) in enumerate(rules):
        labels = [s[0] for s in SERIES if s[2] == rule and any(r["series"] == s[0] for r in rows)]
        for i, label in enumerate(labels):
            mine = [r for r in rows if r["series"] == label]
            marker = "s" if "random" in label else "o"
            short = label.split(", ", 1)[1] + ("" if "N =" in label else f", N = {mine[0]['N']}")
            short = re.sub(r"N = (\d+)", r"$N = \1$", short).replace("large m", "large $m$")
            _errorbar(axes[0, col], mine, "median_steps", "median_steps_lo", "median_steps_hi", i, short, marker)
            _theory(axes[0, col], mine, "theory_median_steps", i, "theory" if i == 0 else None)
            done = [r for r in mine if not r["median_is_lower_bound"]]
            _errorbar(
                axes[1, col], done, "median_samples_per_N", "samples_per_N_lo", "samples_per_N_hi", i, short, marker
            )
            _theory(axes[1, col], done, "theory_samples_per_N", i)
            for r in mine:  # a censored median would squash the scale: say it in words at its m
                if r["median_is_lower_bound"]:
                    axes[1, col].annotate(
                        rf"$m = {r['m']}$ ($\eta_m = {r['eta']:g}$):" + "\n"
                        f"{r['escaped']}/{r['trials']} escaped in\n{LARGE_MAX_STEPS} steps (off the scale)",
                        xy=(r["m"], 0.45),
                        xycoords=("data", "axes fraction"),
                        ha="right",
                        va="center",
                        fontsize=5.5,
                        color=colour(i),
                    )
        axes[0, col].set_title(title, fontsize=8)

        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            _readable(ax)
        axes[1, col].set_xlabel(r"batch size $m$")
    axes[0, 0].set_ylabel("median escape steps")
    axes[1, 0].set_ylabel(r"median escape samples / $N$")
    fig.suptitle(
        r"teacher-student $K = M = 2$, sgd, escape at $\varepsilon^*/2$ (diamonds: theory, predict_exit)", fontsize=8
    )
    seen = {}  # one legend for the three columns: the same colour and marker mean the same series in each
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(seen.values(), seen.keys(), fontsize=6, frameon=False, loc="outside lower center", ncol=3)
    save_figure(fig, out / "lr_scaling")


def write_tables(rows, out):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # the series labels hold commas: quoted
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS])
    atomic_write_text(out / "summary.csv", buf.getvalue())
    md = []
    for label, *_ in SERIES:
        mine = [r for r in rows if r["series"] == label]
        if not mine:
            continue
        md += [
            f"**{label}** (N = {mine[0]['N']}, {mine[0]['trials']} trials per m, seed {SEED})",
            "",
            "| m | eta_m | median steps [95% CI] | theory | samples/N | theory samples/N | escaped |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in mine:
            med = (
                f">{r['median_steps']:.0f} (censored)"
                if r["median_is_lower_bound"]
                else f"{r['median_steps']:.0f} [{r['median_steps_lo']:.0f}, {r['median_steps_hi']:.0f}]"
            )
            md.append(
                f"| {r['m']} | {r['eta']:g} | {med} | {r['theory_median_steps']:.0f} | "
                f"{r['median_samples_per_N']:.1f} | {r['theory_samples_per_N']:.1f} | "
                f"{r['escaped']}/{r['trials']} |"
            )
        md.append("")
    atomic_write_text(out / "table.md", "\n".join(md))
    return "\n".join(md)


def read_rows(path):
    """The rows of a summary.csv written by this script (numbers back as int or float)."""
    text = ("series", "start", "lr_scaling")
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                {k: v if k in text else (int(v) if v.lstrip("-").isdigit() else float(v)) for k, v in r.items()}
            )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke run (into a temporary folder)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--plot-only", action="store_true", help="redraw the figures from the folder's summary.csv")
    args = ap.parse_args()
    if args.quick:
        ms, trials, large_ms = (1, 4, 16), 40, (256,)
        out = Path(args.out or Path(tempfile.gettempdir()) / "saddle-quick" / NAME)
    else:
        ms, trials, large_ms = MS, 200, LARGE_MS
        out = Path(args.out or ROOT / "docs" / "results" / NAME)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        rows = read_rows(out / "summary.csv")
        draw_batch_size(rows, out)
        draw_scaling(rows, out)
        return
    start = time.perf_counter()
    rows = []
    for label, st, scaling, eta, N in SERIES:
        n = trials if N <= 100 else max(trials // 2, 20)
        mine = ms if st == "plateau" else ms[::2]  # random starts: every other m (their theory costs ~5 s a point)
        max_steps = 4000 * N
        if label.endswith("large m"):
            mine, n, max_steps = large_ms, max(trials // 4, 20), LARGE_MAX_STEPS
        rows += run_series(label, st, scaling, eta, N, mine, n, max_steps)
    draw_batch_size(rows, out)
    draw_scaling(rows, out)
    print(write_tables(rows, out))
    print(f"{time.perf_counter() - start:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
