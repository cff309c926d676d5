"""Saad and Solla's picture: eps_g against alpha = steps / N, simulation and ODE (docs/experiments.md).

The teacher-student objective with K = M = 2 and K = M = 3 (T = I, no label noise), sgd with m = 1 from
small random weights w_k ~ N(0, sigma0^2 I_N), sigma0^2 = 0.1, at N = 2000 (the exact reduced chain on
(Q, R)), for several eta.  A few trials per eta run until eps_g <= TARGET (far below the plateau, to show
the whole learning curve); each trial's recorded eps_g(alpha) is drawn with the ODE integrated
(ode.integrate) from the SAME initial overlaps (Q_0, R_0) -- those of that trial's random start,
recomputed with kernels.reduced_random_start from its keys (seed, trial) and checked against the
recorded f(u_0).  (The ODE from the symmetric mean start Q_0 = sigma0^2 I, R_0 = 0 never leaves the
plateau: the asymmetry of the start is what breaks the symmetry in the ODE.)

Writes docs/results/teacher-student-saad-solla/{saad_solla.pdf, saad_solla.png, summary.csv, table.md}:
per trial the alpha at which eps_g first reaches eps*/2 (eps* the eta -> 0 plateau height) in the
simulation and in its ODE, and the plateau height of the run's eta (ode.plateau) beside the simulated
median eps_g on the plateau.

    python experiments/teacher_student_saad_solla.py [--quick] [--out DIR]

--quick: N = 500, two eta, two trials, into a temporary folder unless --out is given.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle import EscapeConfig, run_escape  # noqa: E402
from saddle.objectives.teacher_student import kernels, ode  # noqa: E402
from saddle.objectives.teacher_student.model import (  # noqa: E402
    TeacherStudent,
    generalisation_error,
    plateau_closed_form,
)
from saddle.plotting import WIDTH_TWO_COLUMN, colour, save_figure  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

NAME = "teacher-student-saad-solla"
SEED = 15
SIGMA0_SQ = 0.1
TARGET = 1e-4
"""Where a recorded trial stops: eps_g <= 1e-4, two orders of magnitude below the plateau."""


def initial_overlaps(config, trial, m):
    """(Q_0, R_0) of trial ``trial``'s random start: the reduced chain's START draw with keys (seed, trial)."""
    K, M, N = config.K, config.M, config.N
    model = TeacherStudent(N, K, M)
    pf, pa, pi = kernels.pack(model, kernels.REDUCED, SIGMA0_SQ)
    state = np.empty(K * K + K * M)
    block = np.empty(4, dtype=np.uint64)
    kernels.reduced_random_start(
        0, False, 1, pf, pa, pi, np.uint64(config.seed), np.uint64(trial), m, state, state, block
    )
    return state[: K * K].reshape(K, K).copy(), state[K * K :].reshape(K, M).copy()


def first_alpha_below(steps, f, level, N):
    """The first recorded alpha with f <= level (NaN if none)."""
    hit = np.nonzero(f <= level)[0]
    return steps[hit[0]] / N if len(hit) else math.nan


def run_panel(K, N, etas, trials, max_steps):
    """Simulate ``trials`` recorded trials per eta and integrate each one's ODE; returns curves and rows."""
    eps0 = plateau_closed_form(K)[3]
    curves, rows = [], []
    for eta in etas:
        config = EscapeConfig(
            objective="teacher-student",
            N=N,
            K=K,
            M=K,
            start="random",
            simulation="reduced",
            sigma0=math.sqrt(SIGMA0_SQ),
            m=(1,),
            eta=eta,
            trials=trials,
            record_trials=trials,
            record_points=512,
            target=TARGET,
            max_steps=max_steps,
            seed=SEED,
        )
        res = run_escape(config)
        mres = res.by_m[1]
        height = ode.plateau(K, eta).eps
        for trial, (steps, f) in enumerate(mres.trajectories):
            Q0, R0 = initial_overlaps(config, trial, 1)
            f0 = generalisation_error(Q0, R0, np.eye(K))
            if not abs(f0 - f[0]) <= 1e-12 * max(1.0, abs(f0)):
                raise RuntimeError(f"trial {trial}: recomputed start has eps_g {f0!r}, recorded {f[0]!r}")
            alpha_end = 1.15 * steps[-1] / N
            sol = ode.integrate(Q0, R0, np.eye(K), eta, 1, alpha_end, n_eval=800)
            exit_sim = first_alpha_below(steps, f, eps0 / 2, N)
            exit_ode = first_alpha_below(sol.alpha * N, sol.eps_g, eps0 / 2, N)
            # the simulated plateau: eps_g between the first time within 20 % of the plateau height and exit
            a = steps / N
            on = (a < exit_sim) & (np.abs(f - height) <= 0.2 * height)
            first_on = np.argmax(on) if on.any() else None
            plateau_median = (
                float(np.median(f[first_on:][a[first_on:] < exit_sim])) if first_on is not None else math.nan
            )
            curves.append(dict(eta=eta, trial=trial, alpha=a, f=f, ode_alpha=sol.alpha, ode_f=sol.eps_g))
            rows.append(
                dict(
                    K=K,
                    N=N,
                    eta=eta,
                    m=1,
                    seed=SEED,
                    trial=trial,
                    status=int(mres.status[trial]),
                    eps_g0=f0,
                    exit_alpha_sim=exit_sim,
                    exit_alpha_ode=exit_ode,
                    ode_over_sim=exit_ode / exit_sim,
                    plateau_eps_ode=height,
                    plateau_eps_sim_median=plateau_median,
                    final_alpha=steps[-1] / N,
                )
            )
        print(
            f"K = {K}, eta = {eta:g}: {trials} trials, exit alpha (eps*/2) sim "
            f"{[round(r['exit_alpha_sim'], 1) for r in rows if r['eta'] == eta]}, ODE "
            f"{[round(r['exit_alpha_ode'], 1) for r in rows if r['eta'] == eta]}",
            flush=True,
        )
    return curves, rows


def draw(panels, N, out):
    fig = Figure(figsize=(WIDTH_TWO_COLUMN, 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (K, etas, curves) in zip(np.atleast_1d(axes), panels):
        eps0 = plateau_closed_form(K)[3]
        for i, eta in enumerate(etas):
            mine = [c for c in curves if c["eta"] == eta]
            for j, c in enumerate(mine):
                ax.plot(
                    c["alpha"],
                    c["f"],
                    color=colour(i),
                    lw=0.9,
                    alpha=0.85,
                    label=rf"$\eta = {eta:g}$, simulation" if j == 0 else None,
                )
                ax.plot(
                    c["ode_alpha"],
                    c["ode_f"],
                    color=colour(i),
                    lw=1.1,
                    ls=(0, (3, 2)),
                    label=rf"$\eta = {eta:g}$, ODE from the same start" if j == 0 else None,
                )
            ax.axhline(ode.plateau(K, eta).eps, color=colour(i), lw=0.6, ls=":")
        ax.axhline(eps0 / 2, color="grey", lw=0.6, ls="-.")
        ax.text(
            0.99,
            eps0 / 2 * 0.82,
            r"escape: $\varepsilon^*/2$",
            color="grey",
            fontsize=6,
            ha="right",
            va="top",
            transform=ax.get_yaxis_transform(),
        )
        ax.set_yscale("log")
        ax.set_ylim(TARGET * 0.7, 2.0)
        ax.set_xlim(0, None)
        ax.set_xlabel(r"$\alpha$ = steps / $N$")
        ax.set_ylabel(r"generalisation error $\varepsilon_g$")
        ax.set_title(rf"$K = M = {K}$, $N = {N}$, $m = 1$, random starts", fontsize=8)
    handles, labels = np.atleast_1d(axes)[-1].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        fontsize=6,
        frameon=False,
        loc="outside lower center",
        ncol=max(1, len(labels) // 2),
        title=r"dotted: the ODE's plateau fixed point of each $\eta$",
        title_fontsize=6,
    )
    save_figure(fig, out / "saad_solla")


def write_tables(rows, out):
    cols = list(rows[0])
    lines = [",".join(cols)]
    for r in rows:
        lines.append(",".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    atomic_write_text(out / "summary.csv", "\n".join(lines) + "\n")
    md = [
        "| K | eta | trial | eps_g(0) | exit alpha, simulation | exit alpha, ODE | ODE / sim | plateau eps_g: "
        "ODE fixed point | simulated (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['K']} | {r['eta']:g} | {r['trial']} | {r['eps_g0']:.4f} | {r['exit_alpha_sim']:.1f} | "
            f"{r['exit_alpha_ode']:.1f} | {r['ode_over_sim']:.2f} | {r['plateau_eps_ode']:.5f} | "
            f"{r['plateau_eps_sim_median']:.5f} |"
        )
    atomic_write_text(out / "table.md", "\n".join(md) + "\n")
    return "\n".join(md)


class no_theory_column:
    """Skip the objective's theory column (ode.predict_exit) inside run_escape: this figure does not use it,
    and for random starts it costs 5-40 s a run (16 ODE exits of random starts)."""

    def __enter__(self):
        from saddle.objectives.teacher_student.objective import TeacherStudentObjective

        self.cls, self.saved = TeacherStudentObjective, TeacherStudentObjective.theory_prediction
        TeacherStudentObjective.theory_prediction = lambda self, config, m: None
        return self

    def __exit__(self, *exc):
        self.cls.theory_prediction = self.saved


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke run (into a temporary folder)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.quick:
        N, etas, trials = 500, (0.5, 1.0), 2
        out = Path(args.out or Path(tempfile.gettempdir()) / "saddle-quick" / NAME)
    else:
        N, etas, trials = 2000, (0.25, 0.5, 1.0), 3
        out = Path(args.out or ROOT / "docs" / "results" / NAME)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    panels, rows = [], []
    for K in (2, 3):
        with no_theory_column():
            curves, r = run_panel(K, N, etas, trials, max_steps=4000 * N)
        panels.append((K, etas, curves))
        rows += r
    draw(panels, N, out)
    print(write_tables(rows, out))
    print(f"{time.perf_counter() - start:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
