"""The end of training: does finishing with m = 1 grind the error down?

From the same escaped states (every schedule below acts after the f-drop, and until then every trial
draws exactly the same numbers: its stream is keyed by (seed, trial, step)), each trial runs on for the
same budget of samples after its f-drop under five schedules:

* ``constant``: m0 throughout;
* ``m -> 1``: the seed's last advice, pure SGD after the drop, same step size;
* ``m -> 1, eta decays``: pure SGD with eta / (1 + tau / t0), t0 an eighth of its steps;
* ``eta decays``: m0 with the same decay (t0 an eighth of its own steps);
* ``m -> 8 m0``: Smith et al. (2018)'s "increase the batch size" at constant eta.

For each it reports the final f (median, 95% interval) against the noise floor of its last (eta, m):
the stationary median of f of the linearised dynamics (saddle.theory.noise_floor, the discrete-time
Lyapunov equation and its generalised chi-square law) for the spike and the quadratic, the long-time
limit of the ODE (with its eta^2 / m term) for the teacher-student network.  A second run of the same
schedules, ending at a tighter target (half the constant schedule's mean floor excess), gives the samples
after the drop each needs to reach it.
Two step sizes per objective answer "under which eta".

Runs go to saddle-results/end-of-training/ (one results folder a run: rerunning resumes); the tables and
the figure go to docs/results/end-of-training/, which docs/schedules.md quotes.  Run from the repository
root: ``python experiments/end_of_training.py`` (about 15 minutes on 2 cores); ``--trials N`` for a
quick look, ``--only spike`` for one objective.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.stats import median_with_interval

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results" / "end-of-training"
RUNS = ROOT / "saddle-results" / "end-of-training"

CASES: dict[str, dict[str, Any]] = {
    # the default spike (d = 10, uniform data, saddle at f = -1/2, f_min = -1), m0 = 32
    "spike": dict(objective="spike", m0=32, etas=(0.01, 0.0025), budget=32 * 4000, trials=300, max_steps=20_000),
    # the exactly solvable quadratic (gamma = beta = 1, unit noise: f_min = -1/4), m0 = 8
    "quadratic": dict(objective="quadratic", m0=8, etas=(0.01, 0.04), budget=8 * 4000, trials=300, max_steps=20_000),
    # the teacher-student network (K = M = 2, N = 50, reduced simulation) with label noise 0.5, so that
    # the per-sample gradients do not vanish at the teacher (without it there is no floor at all)
    "teacher-student": dict(
        objective="teacher-student",
        options=dict(output_noise=0.5),
        m0=8,
        etas=(1.0, 0.25),
        budget=8 * 32000,  # (32,000 steps at m0, alpha = 640: its slow directions need them to settle)
        trials=200,
        max_steps=200_000,
    ),
}

SCHEDULES = ("constant", "m -> 1", "m -> 1, eta decays", "eta decays", "m -> 8 m0")


def schedule_text(name: str, m0: int, budget: int) -> str:
    """The --schedule text of a named schedule (every rule after the f-drop; t0 an eighth of its steps)."""
    steps1, steps0 = budget, budget // m0
    return {
        "constant": f"budget={budget}",
        "m -> 1": f"m=1@drop,budget={budget}",
        "m -> 1, eta decays": f"m=1@drop,eta=inverse-time:{steps1 / 8:g}@drop,budget={budget}",
        "eta decays": f"eta=inverse-time:{steps0 / 8:g}@drop,budget={budget}",
        "m -> 8 m0": f"m={8 * m0}@drop,budget={budget}",
    }[name]


def folder_name(sched: str) -> str:
    """A schedule's name as a folder's ('m -> 1, eta decays' -> 'm-1_etadecays')."""
    return sched.replace(" ", "").replace(">", "").replace(",", "_")


def last_m(name: str, m0: int) -> int:
    return {"m -> 1": 1, "m -> 1, eta decays": 1, "m -> 8 m0": 8 * m0}.get(name, m0)


def base_config(case: dict[str, Any], eta: float, trials: int) -> dict[str, Any]:
    """The options every run of a case shares; the f-drop is the objective's own escape (delta)."""
    opts: dict[str, Any] = dict(
        objective=case["objective"], m=(case["m0"],), eta=eta, trials=trials, max_steps=case["max_steps"], seed=0
    )
    opts.update(case.get("options", {}))
    if case["objective"] == "teacher-student":  # the drop to the default escape level eps* / 10
        probe = EscapeConfig(**opts)
        obj = probe.build_objective()
        f0 = float(obj.f(probe.start_point(obj)))
        opts["delta"] = f0 - probe.target
        opts["target"] = None
        opts["record_trials"] = 0
    return opts


def floor(config: EscapeConfig, eta: float, m: int) -> tuple[float, float]:
    """(median, mean) of f at stationarity at (eta, m) of the linearised dynamics (the Lyapunov floor's
    generalised chi-square law), or the teacher-student ODE's long-time limit of eps_g for both (the ODE
    follows the mean order parameters: it gives no median)."""
    if config.objective == "teacher-student":
        from saddle.objectives.teacher_student.ode import integrate

        obj = config.build_objective()
        T = obj.model.T
        steps = 400_000
        sol = integrate(T, T, T, eta, m, alpha_max=steps / config.N, sigma=config.output_noise, n_eval=50)
        return float(sol.eps_g[-1]), float(sol.eps_g[-1])
    from saddle.theory.floor import noise_floor

    fl = noise_floor(config, eta, m)
    return float(fl.f_min + fl.quantiles[0.5]), float(fl.mean_f)


def run_case(name: str, case: dict[str, Any], trials: int) -> list[dict[str, Any]]:
    rows = []
    m0, budget = case["m0"], case["budget"]
    for eta in case["etas"]:
        opts = base_config(case, eta, trials)
        drops = None
        finals: dict[str, Any] = {}
        for sched in SCHEDULES:
            text = schedule_text(sched, m0, budget)
            folder = RUNS / name / f"eta{eta:g}" / folder_name(sched)
            res = run_escape(**opts, schedule=text, out=folder)
            r = res.by_m[m0]
            if drops is None:
                drops = r.drop_steps
            assert np.array_equal(drops, r.drop_steps), "the schedules must share their first phase"
            finals[sched] = (res, r)
        config = finals["constant"][0].config
        f_min = config.objective_class.min_value(config) or 0.0
        if config.objective == "spike":
            f_min = -1.0
        nan2 = (math.nan, math.nan)
        both = {s: (floor(config, eta, last_m(s, m0)) if "decays" not in s else nan2) for s in SCHEDULES}
        floors = {s: b[0] for s, b in both.items()}  # the median: what the final f's median is compared with
        tight = f_min + 0.5 * (both["constant"][1] - f_min)  # half the constant schedule's mean floor excess
        for sched in SCHEDULES:
            res, r = finals[sched]
            spent = (r.drop_steps > 0) & (r.status == 1)
            med, lo, hi = median_with_interval(r.final_f[spent])
            below = float(np.mean(r.final_f[spent] <= tight)) if spent.any() else math.nan
            # the tighter target: the same trials, ending at f <= tight (or at the budget)
            text = schedule_text(sched, m0, budget)
            folder = RUNS / name / f"eta{eta:g}" / ("target-" + folder_name(sched))
            tres = run_escape(**{**opts, "target": tight}, schedule=text, out=folder)
            tr = tres.by_m[m0]
            reached = (tr.status == 0) & (tr.drop_steps > 0)
            after = (tr.samples - m0 * tr.drop_steps).astype(float)
            ranked = np.where(reached, after, np.inf)
            t_med = float(np.sort(ranked)[(ranked.size + 1) // 2 - 1])
            rows.append(
                dict(
                    objective=name,
                    eta=eta,
                    m0=m0,
                    schedule=sched,
                    text=text,
                    budget=budget,
                    trials=r.steps.size,
                    spent=int(spent.sum()),
                    diverged=int(np.sum(r.status == 2)),
                    f_min=f_min,
                    final_f_median=med,
                    final_f_lo=lo,
                    final_f_hi=hi,
                    floor_f=floors[sched],
                    excess_over_floor=(med - floors[sched]) / (floors[sched] - f_min)
                    if math.isfinite(floors[sched])
                    else math.nan,
                    tight_target=tight,
                    fraction_below_tight_at_budget=below,
                    reached_tight=int(reached.sum()),
                    median_samples_to_tight=t_med,
                )
            )
            print(
                f"{name} eta={eta:g} {sched:>20}: final f {med:.5g} [{lo:.5g}, {hi:.5g}], floor {floors[sched]:.5g}; "
                f"tight {tight:.5g} reached by {int(reached.sum())}/{tr.steps.size}, median samples {t_med:.0f}",
                flush=True,
            )
    return rows


def write_tables(rows: list[dict[str, Any]]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = ["# The end of training: final f and time to a tighter target, by schedule", ""]
    lines.append("Written by `experiments/end_of_training.py`; docs/schedules.md explains it.")
    for (obj, eta), group in _groups(rows).items():
        g0 = group[0]
        lines += [
            "",
            f"## {obj}, eta = {eta:g}, m0 = {g0['m0']}, budget {g0['budget']} samples after the f-drop",
            "",
            f"f_min = {g0['f_min']:.6g}; tighter target f <= {g0['tight_target']:.6g} (half the constant "
            "schedule's mean floor excess)",
            "",
            "| schedule | final f median [95% CI] | floor median (theory) | trials at the target by the budget | "
            "median samples to the target |",
            "|---|---|---|---|---|",
        ]
        for r in group:
            fl = "–" if not math.isfinite(r["floor_f"]) else f"{r['floor_f']:.5g}"
            t = "never" if not math.isfinite(r["median_samples_to_tight"]) else f"{r['median_samples_to_tight']:.0f}"
            final = f"{r['final_f_median']:.5g} [{r['final_f_lo']:.5g}, {r['final_f_hi']:.5g}]"
            lines.append(f"| {r['schedule']} | {final} | {fl} | {r['reached_tight']} of {r['trials']} | {t} |")
    (OUT / "end-of-training.md").write_text("\n".join(lines) + "\n")


def _groups(rows: list[dict[str, Any]]) -> dict[tuple[str, float], list[dict[str, Any]]]:
    out: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["objective"], r["eta"]), []).append(r)
    return out


def draw(rows: list[dict[str, Any]]) -> None:
    """One panel per (objective, eta): each schedule's final f - f_min (median and 95% interval, log
    scale) with its floor's excess as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from saddle.plotting.common import save_figure

    groups = _groups(rows)
    objectives = list(dict.fromkeys(k[0] for k in groups))
    fig, axes = plt.subplots(2, len(objectives), figsize=(3.3 * len(objectives), 5.6), squeeze=False)
    for j, obj in enumerate(objectives):
        for i, ((o, eta), group) in enumerate([(k, g) for k, g in groups.items() if k[0] == obj]):
            ax = axes[i, j]
            x = np.arange(len(group))
            f_min = group[0]["f_min"]
            med = np.array([r["final_f_median"] - f_min for r in group])
            lo = np.array([r["final_f_lo"] - f_min for r in group])
            hi = np.array([r["final_f_hi"] - f_min for r in group])
            ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", color="C0", capsize=3, label="simulation")
            fl = np.array([r["floor_f"] - f_min for r in group])
            ax.scatter(x, fl, marker="_", s=400, color="C3", label="floor (theory)", zorder=3)
            ax.axhline(group[0]["tight_target"] - f_min, color="0.5", ls=":", lw=1, label="tighter target")
            ax.set_yscale("log")
            ax.set_xticks(x, [r["schedule"].replace(", ", ",\n") for r in group], rotation=45, ha="right", fontsize=7)
            ax.set_title(f"{o}, η = {eta:g}, m0 = {group[0]['m0']}", fontsize=9)
            if j == 0:
                ax.set_ylabel("final f − f_min")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, OUT / "end-of-training")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=None, help="trials per run (default: each case's)")
    p.add_argument("--only", choices=list(CASES), default=None)
    args = p.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name, case in CASES.items():
        if args.only and name != args.only:
            continue
        rows += run_case(name, case, args.trials or case["trials"])
    write_tables(rows)
    draw(rows)
    print(f"tables and figure in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
