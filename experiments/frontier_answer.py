"""Which batch size? The batch-size frontier of four objectives, with the step size tuned for every m.

Runs each frontier into saddle-results/frontier-<objective>/ (its whole results folder, cells included:
rerunning resumes it) and publishes its tables and figure (frontier.json, frontier.csv, tuning.csv,
fit.json, frontier.pdf/png) in docs/results/frontier-<objective>/, beside docs/results/frontier-answer.md,
the tables that docs/frontier.md quotes.  For every objective it also

* confirms eta*(m) with a fresh seed through ``run_escape`` (the median steps to the target at eta*(m),
  seed + 1, against the frontier's interval and the neighbouring step sizes' medians), and
* measures the same target at one fixed step size for every m (the comparison the folk claim rests on).

Run from the repository root: ``python experiments/frontier_answer.py`` (about 10 minutes on 2 cores);
``--only spike`` runs one objective, ``--trials N`` overrides the trials per cell (a quick look).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.frontier.config import FrontierConfig
from saddle.frontier.run import run_frontier
from saddle.plotting.frontier import frontier_figure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"

PUBLISHED = ("frontier.json", "frontier.csv", "tuning.csv", "fit.json", "frontier.pdf", "frontier.png")

CASES: dict[str, dict] = {
    # the default: spike d = 10, uniform data, target 90% of the way from the saddle (f = -1/2) to f_min = -1
    "spike": dict(objective="spike", m=tuple(2**i for i in range(13)), trials=1000, fixed_eta=0.01),
    # the exactly solvable testbed: gamma = 1, beta = 1, unit noise; f_min = -1/4, target -0.225
    "quadratic": dict(objective="quadratic", m=tuple(2**i for i in range(13)), trials=1000, fixed_eta=0.01),
    # ge2015 at its collision saddle, d = k = 5, independent samples per column (the shared-sample
    # symmetry trap never escapes); target f = 0.1
    "ge2015": dict(
        objective="ge2015",
        d=5,
        sampling="per-column",
        eta=0.005,
        m=tuple(4**i for i in range(6)),
        trials=400,
        max_steps=40_000,
        fixed_eta=0.005,
    ),
    # the teacher-student network's plateau (K = M = 2, N = 50, reduced simulation), target 90% of the
    # way from the plateau to zero error; m up to 64 (at m = 256 the tuned eta is near N and the cells
    # that fail the rule run minutes each on 2 cores)
    "teacher-student": dict(
        objective="teacher-student", m=tuple(4**i for i in range(4)), trials=200, max_steps=20_000, fixed_eta=1.0
    ),
}


def confirm(frontier, result, seed_offset: int = 1) -> list[dict]:
    """eta*(m) rerun with a new seed through run_escape: its median and interval beside the frontier's."""
    rows = []
    t, tune = result.frontier, result.tuning
    for i, m in enumerate(t["m"]):
        eta = float(t["eta_star"][i])
        config = EscapeConfig(
            **{**_escape_options(frontier), "m": (int(m),), "eta": eta, "target": frontier.target},
            seed=int(frontier.escape.seed) + seed_offset,
        )
        res = run_escape(config)
        row = res.summary[0]
        here = tune["m"] == m
        neighbours = [
            float(s)
            for e, s in zip(tune["eta"][here], tune["median_steps"][here])
            if e != eta and abs(math.log2(e / eta)) <= 0.5 + 1e-9
        ]
        rows.append(
            dict(
                m=int(m),
                eta=eta,
                median=float(row["median_steps"]),
                lo=float(row["median_steps_lo"]),
                hi=float(row["median_steps_hi"]),
                S=float(t["S"][i]),
                S_lo=float(t["S_lo"][i]),
                S_hi=float(t["S_hi"][i]),
                neighbours=min(neighbours) if neighbours else math.nan,
            )
        )
    return rows


def fixed_eta(frontier, eta: float) -> dict[int, tuple[float, float]]:
    """(median steps to the target, fraction reaching it) at one step size for every m."""
    config = EscapeConfig(
        **_escape_options(frontier), m=frontier.ms, eta=eta, target=frontier.target, seed=frontier.escape.seed
    )
    res = run_escape(config)
    out = {}
    for row in res.summary:
        median = float(row["median_steps"])
        out[int(row["m"])] = (math.inf if row["median_is_lower_bound"] else median, row["escaped"] / row["trials"])
    return out


def checks(path: Path, frontier, result, eta_fixed: float) -> tuple[list[dict], dict[int, tuple[float, float]]]:
    """confirm() and fixed_eta(), read back from ``path`` when it holds them for this frontier and these
    eta*(m) (a rerun that only redraws or recomputes the theory runs no simulation again)."""
    key = json.dumps(
        {
            "frontier": frontier.identity(),
            "eta_star": [float(e) for e in result.frontier["eta_star"]],
            "eta": eta_fixed,
        },
        sort_keys=True,
    )
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["confirmed"], {int(m): tuple(v) for m, v in stored["fixed"].items()}
    confirmed = confirm(frontier, result)
    fixed = fixed_eta(frontier, eta_fixed)
    path.write_text(json.dumps({"key": key, "confirmed": confirmed, "fixed": fixed}), encoding="utf-8")
    return confirmed, fixed


def _escape_options(frontier) -> dict:
    options = frontier.escape.to_dict()
    for name in ("m", "eta", "target", "seed", "record_trials", "record_points"):
        options.pop(name, None)
    return options


def _f(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "not reached"
    return f"{x:.{digits}g}"


def markdown(name: str, frontier, result, confirmed, fixed, eta_fixed, seconds: float) -> str:
    t, fit = result.frontier, result.fit
    lines = [
        f"## {name}",
        "",
        f"{frontier.escape.describe()}; target f ≤ {frontier.target:.4g} (f(u₀) = {frontier.f0:.4g}); "
        f"{frontier.escape.trials} trials per cell, at most {frontier.escape.max_steps} steps; "
        f"{len(result.tuning['cell'])} cells, {np.nansum(result.tuning['wall_seconds']):.0f} s in the kernel "
        f"({seconds:.0f} s for this run, stored cells read back). "
        f"Folder: [frontier-{name}/](frontier-{name}/frontier.csv).",
        "",
        "| m | η*(m) | bracket | S [95% CI] | E (samples) | escape | converge | s to target | regime "
        f"| S at η* with seed + 1 | S at η = {eta_fixed:g} (reached) |",
        "|---:|---:|:---:|---:|---:|---:|---:|---:|:---|---:|---:|",
    ]
    conf = {c["m"]: c for c in confirmed}
    for i, m in enumerate(t["m"]):
        c = conf.get(int(m))
        s_fix, reach = fixed.get(int(m), (math.nan, math.nan))
        col = {name: float(t[name][i]) for name in ("eta_star", "eta_lo", "eta_hi", "S", "S_lo", "S_hi", "E")}
        cells = [
            str(int(m)),
            _f(col["eta_star"]),
            f"[{_f(col['eta_lo'])}, {_f(col['eta_hi'])}]",
            f"{_f(col['S'], 6)} [{_f(col['S_lo'], 6)}, {_f(col['S_hi'], 6)}]",
            _f(col["E"], 6),
            _f(float(t["escape_steps"][i]), 6),
            _f(float(t["converge_steps"][i]), 6),
            f"{float(t['seconds'][i]):.2g}",
            str(t["regime"][i]),
            f"{_f(c['median'], 6)} [{_f(c['lo'], 6)}, {_f(c['hi'], 6)}]" if c else "–",
            f"{_f(s_fix, 6)} ({100 * reach:.0f}%)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for m in sorted(set(fixed) - {int(x) for x in t["m"]}):
        s_fix, reach = fixed[m]
        lines.append(f"| {m} | no η met the rule | | | | | | | | | {_f(s_fix, 6)} ({100 * reach:.0f}%) |")
    lines.append("")
    if "S_min" in fit:
        fitted = ", ".join(
            f"{name} = {_f(fit[name])} [{_f(fit[name + '_lo'])}, {_f(fit[name + '_hi'])}]{unit}"
            for name, unit in (("S_min", " steps"), ("E_min", " samples"), ("B_crit", ""))
        )
        verdict = "fits every m" if fit.get("fits") else "misses m = " + ", ".join(map(str, fit["misfit"]))
        lines.append(f"Model S = S_min (1 + B_crit/m): {fitted}; {verdict}.")
    if fit.get("B_noise_mean") is not None:
        lines.append(
            f"Noise scale along the noiseless path from the f-drop to the target: B_simple = "
            f"{_f(fit['B_simple_mean'])}, B_noise = {_f(fit['B_noise_mean'])}."
        )
    if result.theory is not None:
        th = result.theory
        pairs = ", ".join(f"m = {int(m)}: {_f(float(s), 4)}" for m, s in zip(th["m"], th["S"]) if np.isfinite(s))
        lines.append(f"Theory's frontier S(m) (η tuned on the theory): {pairs}.")
    lines.append(
        f"Best m: {fit.get('best_m_steps')} in steps, {fit.get('best_m_samples')} in samples, "
        f"{fit.get('best_m_seconds')} in seconds."
    )
    for note in result.notes:
        lines.append(f"Note: {note}.")
    lines.append("")
    lines.append(f"![frontier of {name}](frontier-{name}/frontier.png)")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--trials", type=int, default=None, help="trials per cell (default: each case's)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "saddle-results", help="where the folders go (default saddle-results)"
    )
    args = parser.parse_args(argv)
    parts = [
        "# The batch-size frontier: results",
        "",
        "Generated by `python experiments/frontier_answer.py`; explained in [frontier.md](../frontier.md).",
        "",
    ]
    for name in args.only:
        case = dict(CASES[name])
        eta_fixed = case.pop("fixed_eta")
        if args.trials is not None:
            case["trials"] = args.trials
        frontier = FrontierConfig(EscapeConfig(**case))
        start = time.perf_counter()
        result = run_frontier(frontier, out=args.out / f"frontier-{name}", progress=None)
        seconds = time.perf_counter() - start
        folder = args.out / f"frontier-{name}"
        frontier_figure(result, out=folder / "frontier")
        publish = RESULTS / f"frontier-{name}"
        publish.mkdir(parents=True, exist_ok=True)
        for file in PUBLISHED:
            shutil.copyfile(folder / file, publish / file)
        confirmed, fixed = checks(args.out / f"frontier-{name}-checks.json", frontier, result, eta_fixed)
        parts.append(markdown(name, frontier, result, confirmed, fixed, eta_fixed, seconds))
        print(parts[-1], flush=True)
    if args.only == list(CASES):
        (RESULTS / "frontier-answer.md").write_text("\n".join(parts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
