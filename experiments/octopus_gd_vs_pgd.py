"""Du et al. (2017): gradient descent against perturbed gradient descent on the octopus (docs/objectives.md, octopus).

Iterations to reach f - f_min < 0.01 from uniform starts in [-1, 1]^d, for d = 3 .. 10, with the
paper's constants L = e, gamma = 1, tau = e and eta = 1 / (4 L).  Three series:

- gd in float64 (the package's kernel): reaches the minimum for d = 3 and 4; from d = 5 on every
  trial ends *frozen*: the coordinates waiting behind later saddles were halved about a thousand
  times, underflowed to a subnormal or zero, and gd became an exact fixed point.  Frozen trials are
  counted apart, never given an escape time.
- gd without underflow (float64 mantissas with unbounded integer exponents), from the same start
  points (the same START-stream words), for d = 3 .. 7: what gd does when nothing underflows (numpy's
  longdouble would not do: its 15-bit exponent underflows after about 16,400 halvings, during saddle 6).
  Its time grows geometrically, each saddle taking 1 + ln 2 / ln(1 + 2 eta gamma) = 5.11
  times as long as the previous one; the table lists the measured per-saddle ratios.
- pgd (the package's kernel; Jin et al. 2017) with the toolkit's default r = 0.01, g_thres = 1e-3,
  t_thres = 20 (our choice: the paper's experiment parameters were not available to us): time linear in d.
- pgd with the parameters that secondary sources report for Du et al.'s figure (not checked against the
  paper's text): r = e/100, g_thres = gamma e/100, t_thres = 1.

Writes docs/results/octopus/{summary.csv, table.md, gd_vs_pgd.pdf, gd_vs_pgd.png}.

    python experiments/octopus_gd_vs_pgd.py [--trials 200] [--unbounded-trials 40] [--unbounded-max-d 7]
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import rng  # noqa: E402
from saddle.escape import EscapeConfig, run_escape  # noqa: E402
from saddle.objectives import Octopus  # noqa: E402
from saddle.plotting import WIDTH_TWO_COLUMN, colour, readable_log_axis, save_figure  # noqa: E402
from saddle.stats import summarize  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

ETA = 1.0 / (4.0 * math.e)
SEED = 0
RATIO = 1.0 + math.log(2.0) / math.log(1.0 + 2.0 * ETA * 1.0)


PGD_REPORTED = dict(perturbation_radius=math.e / 100, grad_threshold=1.0 * math.e / 100, t_threshold=1)
"""PGD's parameters as secondary sources report them for Du et al.'s figure: r = e/100, g_thres = gamma e/100
(gamma = 1), t_thres = 1 (not checked against the paper's text)."""


def kernel_runs(d, optimizer, trials, max_steps, record, **params):
    """One run_escape of the octopus at dimension d: (summary row, recorded trajectories)."""
    obj = Octopus(d)
    config = EscapeConfig(
        **params,
        m=(1,),
        objective="octopus",
        d=d,
        optimizer=optimizer,
        eta=ETA,
        random_start=True,
        target=obj.f_min + 0.01,
        trials=trials,
        max_steps=max_steps,
        seed=SEED,
        record_trials=record,
        record_points=512,
    )
    res = run_escape(config)
    return res.summary[0], res.by_m[1]


def unbounded_gd(d, trials, max_steps):
    """gd without underflow, from the kernel's start points; returns (steps to target, passage times).

    Every coordinate is a float64 mantissa times 2^e with an int64 exponent e (numpy.frexp / ldexp), so
    nothing underflows.  A coordinate in a linear regime -- waiting behind later saddles (x <- x (1 - 2
    eta L)), next in line on a spline (x <- x (1 - 2 eta g2(y_i))) or active at its saddle (x <- x (1 +
    2 eta gamma)) -- is updated by that factor on its mantissa; the others (the O(1) ones) by the plain
    step x - eta grad f(x).  Vectorised over trials; passage[n, i] is the first step with |x_i| >= 2 tau.
    """
    obj = Octopus(d)
    L, gam, tau, nu = obj.L, obj.gamma, obj.tau, obj.nu
    target = obj.f_min + 0.01
    X = np.empty((trials, d))
    for n in range(trials):  # the START-stream uniforms of the kernel's random starts (saddle.rng.fill_uniforms)
        X[n] = 2.0 * rng.uniforms(SEED, n, 0, 1, rng.START, d) - 1.0
    mant, expo = np.frexp(X)
    expo = expo.astype(np.int64)
    a, b, c = (-14 * L + 10 * gam) / (3 * tau), (5 * L - 3 * gam) / (2 * tau * tau), L + gam
    steps = np.full(trials, -1, dtype=np.int64)
    passage = np.full((trials, d), -1, dtype=np.int64)
    alive = np.arange(trials)
    k = np.arange(d)[None, :]
    for t in range(1, max_steps + 1):
        m, e = mant[alive], expo[alive]
        x = np.ldexp(m, np.clip(e, -2000, 2000))  # tiny coordinates read as 0: they only enter linearly
        y = np.abs(x)
        passed = y >= 2 * tau
        i = np.where(passed.all(axis=1), d, np.argmin(passed, axis=1))[:, None]  # the active coordinate
        yi = np.take_along_axis(np.pad(y, ((0, 0), (0, 1))), i, axis=1)
        spline = (yi > tau) & (i < d)
        w_, s_ = yi - tau, (yi - 2 * tau) / tau
        g1 = -gam * yi * yi + a * w_**3 + b * w_**4
        g1p = -2 * gam * yi + 3 * a * w_ * w_ + 4 * b * w_**3
        g2 = -gam - c * s_**3 * (10 + s_ * (15 + 6 * s_))
        # the curvature h_k of each coordinate in a linear regime (grad_k = h_k x_k)
        h = np.where(k == i + 1, np.where(spline, 2 * g2, 2 * L), np.where(k == i, -2 * gam, 2 * L))
        linear = (k > i) | ((k == i) & ~spline)
        xi_next = np.take_along_axis(np.pad(x, ((0, 0), (0, 1))), np.minimum(i + 1, d), axis=1)
        g_plain = np.where(
            k < i,
            2 * L * (x - np.sign(x) * 4 * tau),
            np.sign(x) * (g1p - c * 30 * s_ * s_ * (1 + s_) ** 2 / tau * xi_next * xi_next),
        )
        F = np.where(
            k < i,
            L * (y - 4 * tau) ** 2,
            np.where(
                k == i, np.where(spline, g1, -gam * y * y), np.where(k == i + 1, np.where(spline, g2, L), L) * x * x
            ),
        )
        f = F.sum(axis=1) - i[:, 0] * nu
        if t > 1:  # f and passages of the point reached by step t - 1
            passage[alive] = np.where(passed & (passage[alive] < 0), t - 1, passage[alive])
            done = f <= target
            steps[alive[done]] = t - 1
            keep = ~done
            alive, m, e, x, h, linear, g_plain = (v[keep] for v in (alive, m, e, x, h, linear, g_plain))
            if alive.size == 0:
                break
        m_lin, e_lin = np.frexp(m * (1 - ETA * h))
        m_pl, e_pl = np.frexp(x - ETA * g_plain)
        mant[alive] = np.where(linear, m_lin, m_pl)
        expo[alive] = np.where(linear, e + e_lin, e_pl)
    return steps, passage


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200, help="kernel trials per d and optimiser")
    ap.add_argument("--unbounded-trials", type=int, default=40, help="trials per d of gd without underflow")
    ap.add_argument("--unbounded-max-d", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "octopus"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dims = list(range(3, 11))
    rows, traces = [], {}
    for d in dims:
        for series, optimizer, max_steps, params in (
            ("gd float64", "gd", 10**6, {}),
            ("pgd float64", "pgd", 10**5, {}),
            ("pgd float64, reported parameters", "pgd", 10**5, PGD_REPORTED),
        ):
            t0 = time.perf_counter()
            row, mres = kernel_runs(d, optimizer, args.trials, max_steps, record=1 if d == 10 else 0, **params)
            rows.append(
                {
                    "series": series,
                    "d": d,
                    "trials": row["trials"],
                    "reached": row["escaped"],
                    "frozen": row["frozen"],
                    "median_steps": row["median_steps"],
                    "median_steps_lo": row["median_steps_lo"],
                    "median_steps_hi": row["median_steps_hi"],
                    "median_frozen_step": float(np.median(mres.steps[mres.status == 3])) if row["frozen"] else math.nan,
                }
            )
            if d == 10 and not params:
                traces[optimizer] = mres.trajectories[0]
            print(rows[-1], f"{time.perf_counter() - t0:.2f} s", flush=True)
    ratios = []
    for d in range(3, args.unbounded_max_d + 1):
        t0 = time.perf_counter()
        steps, passage = unbounded_gd(d, args.unbounded_trials, 10**7)
        status = np.where(steps > 0, 0, 1)
        s = summarize(np.where(steps > 0, steps, 10**7), status, 10**7, seed=d)
        rows.append(
            {
                "series": "gd unbounded exponent",
                "d": d,
                "trials": args.unbounded_trials,
                "reached": s.escaped,
                "frozen": 0,
                "median_steps": s.median_steps,
                "median_steps_lo": s.median_steps_lo,
                "median_steps_hi": s.median_steps_hi,
                "median_frozen_step": math.nan,
            }
        )
        per_saddle = np.diff(np.column_stack([np.zeros(len(steps), np.int64), passage]), axis=1)
        ratios.append((d, np.median(per_saddle[:, 1:] / per_saddle[:, :-1], axis=0)))
        print(rows[-1], f"{time.perf_counter() - t0:.2f} s", flush=True)
    write_outputs(rows, ratios, traces, out, args)


def write_outputs(rows, ratios, traces, out, args):
    keys = list(rows[0])
    atomic_write_text(
        out / "summary.csv", ",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in rows)
    )
    lines = [
        "| d | gd float64: median steps [95% CI] | gd float64 frozen | gd without underflow | pgd float64 "
        "(r = 0.01, g_thres = 1e-3, t_thres = 20) | pgd float64 (r = e/100, g_thres = e/100, t_thres = 1) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(r):
        if r is None:
            return ""
        if r["reached"] * 2 < r["trials"]:
            return f"never ({r['reached']}/{r['trials']} reached)"
        return f"{r['median_steps']:.0f} [{r['median_steps_lo']:.0f}, {r['median_steps_hi']:.0f}]"

    get = lambda series, d: next((r for r in rows if r["series"] == series and r["d"] == d), None)  # noqa: E731
    for d in sorted({r["d"] for r in rows}):
        gd = get("gd float64", d)
        frozen = f"{gd['frozen']}/{gd['trials']}" + (f" (step {gd['median_frozen_step']:.0f})" if gd["frozen"] else "")
        lines.append(
            f"| {d} | {cell(gd)} | {frozen} | {cell(get('gd unbounded exponent', d))} | {cell(get('pgd float64', d))} "
            f"| {cell(get('pgd float64, reported parameters', d))} |"
        )
    lines += [
        "",
        f"Median per-saddle time ratios of gd without underflow (saddle i+1 against saddle i; theory {RATIO:.3f}):",
        "",
        "| d | " + " | ".join(f"{i + 1}/{i}" for i in range(1, max(d for d, _ in ratios))) + " |",
        "|---:|" + "---:|" * (max(d for d, _ in ratios) - 1),
    ]
    d, r = ratios[-1]  # (smaller d give the same ratios: the same starts follow the same path)
    lines.append(f"| {d} | " + " | ".join(f"{v:.2f}" for v in r) + " |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", table)
    print(table)
    figure(rows, traces, out)


def figure(rows, traces, out):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, WIDTH_TWO_COLUMN * 0.42), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    styles = {
        "gd float64": (0, "o-", 6),
        "gd unbounded exponent": (1, "s--", 4),
        "pgd float64": (2, "D-", 4),
        "pgd float64, reported parameters": (3, "v:", 4),
    }
    for series, (ci, fmt, ms) in styles.items():
        mine = [r for r in rows if r["series"] == series and r["reached"] * 2 >= r["trials"]]
        d = np.array([r["d"] for r in mine])
        med = np.array([r["median_steps"] for r in mine])
        lo = np.array([r["median_steps_lo"] for r in mine])
        hi = np.array([r["median_steps_hi"] for r in mine])
        ax.errorbar(
            d,
            med,
            yerr=[med - lo, np.where(np.isfinite(hi), hi, med) - med],
            fmt=fmt,
            color=colour(ci),
            ms=ms,
            mfc="none" if series == "gd float64" else colour(ci),
            lw=1.2,
            capsize=2,
            label=series.replace("unbounded exponent", "without underflow"),
        )
    frozen = [r for r in rows if r["series"] == "gd float64" and r["reached"] * 2 < r["trials"]]
    if frozen:
        ax.plot(
            [r["d"] for r in frozen],
            [r["median_frozen_step"] for r in frozen],
            "x",
            color=colour(0),
            ms=7,
            label="gd float64 frozen (exact fixed point) at step",
        )
    anchor = next(r for r in rows if r["series"] == "gd unbounded exponent" and r["d"] == 4)
    dd = np.arange(4, 11)
    ax.plot(
        dd,
        anchor["median_steps"] * RATIO ** (dd - 4),
        ":",
        color="0.4",
        lw=1,
        label=rf"$\times${RATIO:.2f} per saddle, from $d = 4$",
    )
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel(r"dimension $d$ (number of saddles)")
    ax.set_ylabel(r"median steps to $f - f_{\min} < 0.01$")
    ax.set_title(r"$L = \tau = e$, $\gamma = 1$, $\eta = 1/(4L)$; 95% CIs", fontsize=8)
    ax.legend(fontsize=6, frameon=False)
    obj = Octopus(10)
    for name, (t, f) in sorted(traces.items()):
        ax2.plot(t, f - obj.f_min, color=colour(0 if name == "gd" else 2), lw=1.2, label=f"{name} (trial 0)")
    if "gd" in traces:
        t, f = traces["gd"]
        ax2.plot(t[-1], f[-1] - obj.f_min, "x", color=colour(0), ms=7, label="gd frozen")
    for i in range(1, 11):
        ax2.axhline(obj.f(obj.saddle(i)) - obj.f_min, color="0.85", lw=0.6, zorder=0)
    ax2.axhline(0.01, color="0.5", lw=0.8, ls="--", label=r"success: $f - f_{\min} = 0.01$")
    ax2.set_yscale("log")
    ax2.set_ylim(1e-3, 3e3)
    ax2.set_xlabel(r"steps $t$")
    ax2.set_ylabel(r"$f(x_t) - f_{\min}$")
    ax2.set_title(r"$d = 10$ (grey: the ten saddles' levels)", fontsize=8)
    ax2.legend(fontsize=6, frameon=False, loc="center right")
    save_figure(fig, out / "gd_vs_pgd")


if __name__ == "__main__":
    main()
