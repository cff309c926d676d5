"""Running a frontier: for each batch size, the step-size search over escape cells, then the frontier's
tables, the fitted model, the noise scale and the theory's frontier (docs/frontier.md).

The batch sizes are searched in increasing order, each seeded at the tuned step size of the one before
it, moved by the square-root rule (eta grows by sqrt(m / m_prev)); the cells of one search round run
together (on a Dask cluster with ``workers`` or ``scheduler``, one after another otherwise).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saddle.frontier.config import FrontierConfig
from saddle.frontier.model import bootstrap_fit, fit_frontier, misfits, model_steps, regime
from saddle.frontier.result import FrontierResult
from saddle.frontier.search import STEPS_PER_OCTAVE, Evaluation, SearchOutcome, search_step_size
from saddle.options import ConfigError
from saddle.records import MResult
from saddle.stats import lower_median
from saddle.store.folder import csv_text
from saddle.store.frontier import CellRecord, FrontierFolder
from saddle.sweep.config import Cell
from saddle.sweep.run import (
    _check_dask,
    _int_option,
    _prepare_worker,
    _run_cell_task,
    dask_client,
    probe_scheduler,
    run_cell,
    take_statistics_failure,
)

__all__ = ["FrontierInterrupted", "FrontierSearchError", "run_frontier", "TUNING_COLUMNS", "FRONTIER_COLUMNS"]

TUNING_COLUMNS = (
    "m",
    "eta",
    "k",
    "cell",
    "trials",
    "reached",
    "diverged",
    "success",
    "median_steps",
    "steps_lo",
    "steps_hi",
    "median_samples",
    "escape_steps",
    "converge_steps",
    "wall_seconds",
    "step_seconds",
)
FRONTIER_COLUMNS = (
    "m",
    "eta_star",
    "eta_lo",
    "eta_hi",
    "edge",
    "S",
    "S_lo",
    "S_hi",
    "E",
    "E_lo",
    "E_hi",
    "escape_steps",
    "converge_steps",
    "reached",
    "seconds",
    "seconds_lo",
    "seconds_hi",
    "step_seconds",
    "model_S",
    "regime",
)


class FrontierInterrupted(KeyboardInterrupt):
    """A frontier stopped by Ctrl-C: ``kept`` cells are stored in ``out``; a rerun resumes."""

    def __init__(self, kept: int, out: Path) -> None:
        super().__init__()
        self.kept = kept
        self.out = out


class FrontierSearchError(ConfigError):
    """No step size met the success rule at some batch size (the message names the closest one tried)."""


def _lower_median(x: np.ndarray) -> float:
    """:func:`saddle.stats.lower_median`, inf for no values."""
    return float(lower_median(x)) if x.size else math.inf


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def cell_row(frontier: FrontierConfig, cell: Cell, k: int, rec: CellRecord) -> dict[str, Any]:
    """The tuning table's row of one cell."""
    n = rec.steps.size
    reached = rec.status == "escaped"
    diverged = int(np.count_nonzero(rec.status == "diverged"))
    frac = float(np.count_nonzero(reached)) / n if n else 0.0
    median = _number(rec.row.get("median_steps", "nan"))
    if median > frontier.escape.max_steps:
        median = math.inf
    lo, hi = _number(rec.row.get("median_steps_lo", "nan")), _number(rec.row.get("median_steps_hi", "nan"))
    dropped = rec.drop_steps > 0
    escape = _lower_median(np.where(dropped, rec.drop_steps, np.inf).astype(float))
    converge = _lower_median(np.where(reached & dropped, rec.steps - rec.drop_steps, np.inf).astype(float))
    wall = _number(rec.row.get("wall_seconds", "nan"))
    total_steps = float(rec.steps.sum())
    per_step = cell.config.samples_per_step(cell.config.m[0])
    return {
        "m": cell.config.m[0],
        "eta": cell.config.eta,
        "k": k,
        "cell": cell.key,
        "trials": n,
        "reached": frac,
        "diverged": diverged,
        "success": bool(frac >= frontier.success and diverged == 0),
        "median_steps": median,
        "steps_lo": lo,
        "steps_hi": hi,
        "median_samples": median * per_step,
        "escape_steps": escape,
        "converge_steps": converge,
        "wall_seconds": wall,
        "step_seconds": wall / total_steps if total_steps > 0 else math.nan,
    }


def refused_row(cell: Cell, k: int) -> dict[str, Any]:
    """The tuning table's row of a cell whose configuration was refused (no trial ran)."""
    nan = math.nan
    return {
        **dict.fromkeys(TUNING_COLUMNS, nan),
        **{"m": cell.config.m[0], "eta": cell.config.eta, "k": k, "cell": cell.key, "trials": 0},
        **{"reached": 0.0, "diverged": 0, "success": False, "median_steps": math.inf},
    }


def _ranked(rec: CellRecord) -> np.ndarray:
    return np.where(rec.status == "escaped", rec.steps, np.inf).astype(float)


def run_frontier(
    frontier: FrontierConfig | None = None,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    noise: bool = True,
    theory: bool = True,
    progress: Callable[[str], None] | None = None,
    n_bootstrap: int = 400,
    **options: Any,
) -> FrontierResult:
    """Tune the step size for every batch size of ``frontier`` and fit the frontier's model.

    Parameters
    ----------
    frontier : FrontierConfig, optional
        The frontier: escape options, batch sizes, target, search bounds, success rule.  Without it, one
        is built from ``options``: FrontierConfig's own (target_fraction, eta_min, eta_max, success,
        max_cells) and EscapeConfig's (m, default 1, 2, 4, ..., 4096; objective, eta, target, trials, ...).
    out : str or path, optional
        Results folder (default ``saddle-results/frontier-<objective>``); a folder of the same frontier
        is resumed: its stored cells are read back, never run again.
    workers, scheduler : optional
        Run each search round's cells on a Dask LocalCluster of ``workers`` processes, or on the cluster
        at ``scheduler`` (``pip install 'saddle[cluster]'``).
    threads : int, optional
        Numba threads per cell.
    noise, theory : bool
        Compute the noise scale along the noiseless path, and the theory's frontier where the
        objective has one.
    progress : callable, optional
        Called with one line after each cell and each batch size.
    n_bootstrap : int
        Resamples of the fit's bootstrap.

    Returns
    -------
    FrontierResult

    Raises
    ------
    FrontierSearchError
        When no step size meets the success rule at any batch size (every cell stays stored; a batch size
        where none meets it, among others that do, is named in the result's notes).
    FrontierInterrupted
        On Ctrl-C; every finished cell is stored.
    """
    if frontier is None:
        frontier = _frontier_from(options)
    elif options:
        raise TypeError(f"run_frontier: give a FrontierConfig or options, not both ({', '.join(options)})")
    if workers is not None and scheduler is not None:
        raise ConfigError("give either workers (a local cluster) or a scheduler address, not both")
    if workers is not None:
        workers = _int_option("workers", workers)
    if threads is not None:
        threads = _int_option("threads", threads)
    if workers is not None or scheduler is not None:
        _check_dask()
    if scheduler is not None:
        probe_scheduler(scheduler)
    path = (
        FrontierFolder.checked_path(out)
        if out is not None
        else Path("saddle-results") / f"frontier-{frontier.escape.objective}"
    )
    folder = FrontierFolder.open_frontier(path, frontier)
    say = progress or (lambda line: None)
    rows: list[dict[str, Any]] = []
    outcomes: dict[int, SearchOutcome] = {}
    records: dict[tuple[int, int], CellRecord] = {}
    refused: dict[int, str] = {}  # the first refusal of a cell's configuration at each batch size
    interrupted = False
    stack = contextlib.ExitStack()
    try:
        try:
            client = None
            if workers is not None or scheduler is not None:
                client = stack.enter_context(dask_client(workers, scheduler, threads))
                client.run(_prepare_worker, threads)
            prepared = False

            def evaluate_for(m: int) -> Callable[[Sequence[int]], list[Evaluation]]:
                def evaluate(ks: Sequence[int]) -> list[Evaluation]:
                    nonlocal prepared
                    cells = {k: frontier.cell(m, k) for k in ks}
                    todo = [k for k, c in cells.items() if not folder.load(c)]
                    if todo:
                        folder.require_writable(f"{len(todo)} cells of m = {m} are not stored yet")
                    if todo and client is None and not prepared:
                        _prepare_worker(threads)  # compile first: no cell's wall time includes it
                        prepared = True
                    results = _run_cells([cells[k] for k in todo], client, threads)
                    for k in todo:
                        done = results[cells[k].key]
                        if not isinstance(done, ConfigError):
                            failure = take_statistics_failure(done[1])
                            folder.store(cells[k], *done)
                            if failure is not None:  # (the frontier's own numbers come from the trials)
                                say(
                                    f"m = {m}, eta = {frontier.eta(k):.4g}: its escape statistics failed ({failure}); "
                                    "its trials are stored, its summary row left empty"
                                )
                    out_ = []
                    for k, cell in cells.items():
                        refusal = results.get(cell.key)
                        if isinstance(refusal, ConfigError):  # this eta is refused at this m: it fails the rule
                            reason = str(refusal).splitlines()[0]
                            refused.setdefault(m, f"eta = {frontier.eta(k):.4g}: {reason}")
                            rows.append(refused_row(cell, k))
                            say(f"m = {m}, eta = {frontier.eta(k):.4g}: refused ({reason})")
                            out_.append(Evaluation(k, math.inf, 0.0, False))
                            continue
                        rec = folder.records[cell.key]
                        records[(m, k)] = rec
                        row = cell_row(frontier, cell, k, rec)
                        rows.append(row)
                        say(
                            f"m = {m}, eta = {row['eta']:.4g}: {100 * row['reached']:.0f}% reached the target, "
                            f"median {row['median_steps']:g} steps{'' if k in todo else ' (stored)'}"
                        )
                        out_.append(Evaluation(k, row["median_steps"], row["reached"], row["success"]))
                    return out_

                return evaluate

            lower, upper = frontier.bounds()
            start = 0
            previous_m: int | None = None
            for m in frontier.ms:
                if previous_m is not None:
                    start += round(STEPS_PER_OCTAVE * 0.5 * math.log2(m / previous_m))
                outcome = search_step_size(evaluate_for(m), start, lower, upper, max_cells=int(frontier.max_cells))
                outcomes[m] = outcome
                if outcome.best is None:
                    say(f"m = {m}: no step size meets the success rule")
                    continue  # the next batch size starts from the last one that met it
                start, previous_m = outcome.best, m
                say(f"m = {m}: eta* = {frontier.eta(outcome.best):.4g}, {outcome.tried[outcome.best].steps:g} steps")
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            with contextlib.suppress(KeyboardInterrupt):
                folder.write_tables()
            raise FrontierInterrupted(len(folder.tidy.chunks), folder.path)
        failed = [m for m, o in outcomes.items() if o.best is None]
        try:  # every cell is stored by now: Ctrl-C during the fit or the noise scale keeps them (rerun: no cell runs)
            result = _assemble(frontier, rows, outcomes, records, noise=noise, theory=theory, n_bootstrap=n_bootstrap)
            result.notes += [f"m = {m}: a step size refused ({text})" for m, text in refused.items()]
            result.out = folder.path
            folder.set_results(_tables(result))
            folder.write_tables()
        except KeyboardInterrupt:
            raise FrontierInterrupted(len(folder.tidy.chunks), folder.path) from None
        if len(failed) == len(outcomes):
            raise FrontierSearchError(
                f"no step size in [{frontier.eta_min:g}, {frontier.eta_max:g}] meets the success rule at any m "
                f"(at least {100 * frontier.success:g}% of trials reach f <= {frontier.target:.6g} within "
                f"{frontier.escape.max_steps} steps, none diverging); "
                + _closest_text(frontier, outcomes[failed[0]], failed[0])
                + f"; the cells are stored in {folder.path}: raise --max-steps or the target"
            )
        return result
    finally:
        stack.close()
        folder.close()


def _frontier_from(options: dict[str, Any]) -> FrontierConfig:
    from saddle.config import EscapeConfig
    from saddle.frontier.config import DEFAULT_M

    own = {f.name for f in dataclasses.fields(FrontierConfig) if f.init and f.name != "escape"}
    search = {k: v for k, v in options.items() if k in own}
    escape = {k: v for k, v in options.items() if k not in own}
    escape.setdefault("m", DEFAULT_M)
    if isinstance(escape["m"], int):
        escape["m"] = (escape["m"],)
    return FrontierConfig(EscapeConfig(**{**escape, "m": tuple(escape["m"])}), **search)


def _closest_text(frontier: FrontierConfig, outcome: SearchOutcome, m: int) -> str:
    """Where the search at m came closest to the success rule, in words."""
    if outcome.closest is None:
        return f"at m = {m} no step size was tried"
    c = outcome.tried[outcome.closest]
    return (
        f"at m = {m} the closest, eta = {frontier.eta(c.k):.4g}, reached the target in {100 * c.reached:.0f}% "
        f"of trials ({len(outcome.tried)} step sizes tried)"
    )


CellOutcome = tuple[MResult, dict[str, Any]] | ConfigError


def _run_one(cell: Cell, threads: int | None) -> CellOutcome:
    try:
        return run_cell(cell.config, threads)
    except ConfigError as err:  # a step size this objective refuses at this m (a start that needs eta/m small)
        return err


def _run_cells(cells: list[Cell], client: Any, threads: int | None) -> dict[str, CellOutcome]:
    """Each cell's (MResult, summary row), or the ConfigError that refused its configuration."""
    if not cells:
        return {}
    if client is None:
        return {c.key: _run_one(c, threads) for c in cells}
    futures = [
        client.submit(_run_cell_task, c.config, threads, key=f"saddle-frontier-{c.key}", pure=False) for c in cells
    ]
    out: dict[str, CellOutcome] = {}
    for c, f in zip(cells, futures):
        try:
            out[c.key] = f.result()
        except ConfigError as err:
            out[c.key] = err
    return out


def _column(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    values = [r[name] for r in rows]
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.array(values, bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.array(values, np.int64)
    if all(isinstance(v, (int, float, np.floating, np.integer)) for v in values):
        return np.array(values, float)
    return np.array(values, dtype=object)


def _pooled_step_seconds(rows: list[dict[str, Any]]) -> float:
    """The cost of one step of one trial at a batch size: the kernel's wall seconds over the steps its
    trials ran, pooled over every cell of that batch size (a cell near S_min runs too few steps to time
    alone)."""
    wall = sum(r["wall_seconds"] for r in rows if math.isfinite(r["wall_seconds"]))
    steps = sum(r["wall_seconds"] / r["step_seconds"] for r in rows if r["step_seconds"] > 0)
    return wall / steps if steps > 0 else math.nan


def _assemble(
    frontier: FrontierConfig,
    rows: list[dict[str, Any]],
    outcomes: dict[int, SearchOutcome],
    records: dict[tuple[int, int], CellRecord],
    *,
    noise: bool,
    theory: bool,
    n_bootstrap: int,
) -> FrontierResult:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen[r["cell"]] = r  # a cell evaluated twice (never run twice) keeps one row
    tuning_rows = sorted(seen.values(), key=lambda r: (r["m"], r["k"]))
    per_m: list[dict[str, Any]] = []
    ranked: list[np.ndarray] = []
    for m, o in outcomes.items():
        if o.best is None:
            continue
        best = next(r for r in tuning_rows if r["m"] == m and r["k"] == o.best)
        below, above = o.bracket()
        rec = records[(m, o.best)]
        per_step = best["median_samples"] / best["median_steps"] if best["median_steps"] > 0 else m
        step_s = _pooled_step_seconds([r for r in tuning_rows if r["m"] == m])
        per_m.append(
            {
                "m": m,
                "eta_star": best["eta"],
                "eta_lo": frontier.eta(below) if below is not None else math.nan,
                "eta_hi": frontier.eta(above) if above is not None else math.nan,
                "edge": o.edge,
                "S": best["median_steps"],
                "S_lo": best["steps_lo"],
                "S_hi": best["steps_hi"],
                "E": per_step * best["median_steps"],
                "E_lo": per_step * best["steps_lo"],
                "E_hi": per_step * best["steps_hi"],
                "escape_steps": best["escape_steps"],
                "converge_steps": best["converge_steps"],
                "reached": best["reached"],
                "seconds": step_s * best["median_steps"],
                "seconds_lo": step_s * best["steps_lo"],
                "seconds_hi": step_s * best["steps_hi"],
                "step_seconds": step_s,
            }
        )
        ranked.append(_ranked(rec))
    fit: dict[str, Any] = {"fits": False, "misfit": []}
    notes: list[str] = []
    if len(per_m) >= 2:
        ms = np.array([r["m"] for r in per_m], float)
        S = np.array([r["S"] for r in per_m], float)
        f = fit_frontier(ms, S)
        ci = bootstrap_fit(ms, ranked, n_resamples=n_bootstrap, seed=int(frontier.escape.seed))
        bad = misfits(ms, S, np.array([r["S_lo"] for r in per_m]), np.array([r["S_hi"] for r in per_m]), f)
        # samples per step per unit of m (1; k for ge2015's per-column sampling): E_min in samples
        unit = per_m[0]["E"] / (per_m[0]["S"] * per_m[0]["m"]) if per_m[0]["S"] > 0 else 1.0
        fit.update(
            S_min=f.s_min,
            S_min_lo=ci["S_min"][0],
            S_min_hi=ci["S_min"][1],
            B_crit=f.b_crit,
            B_crit_lo=ci["B_crit"][0],
            B_crit_hi=ci["B_crit"][1],
            E_min=f.e_min * unit,
            E_min_lo=ci["E_min"][0] * unit,
            E_min_hi=ci["E_min"][1] * unit,
            fits=not bad,
            misfit=bad,
        )
        for r in per_m:
            r["model_S"] = float(model_steps(r["m"], f.s_min, f.b_crit))
            r["regime"] = regime(r["m"], f.b_crit)
        if bad:
            notes.append(
                "the model S = S_min (1 + B_crit / m) leaves the measured interval at m = " + ", ".join(map(str, bad))
            )
    else:
        for r in per_m:
            r["model_S"], r["regime"] = math.nan, ""
        notes.append("fewer than two batch sizes reached the target: no model fitted")
    for key, col in (("best_m_steps", "S"), ("best_m_samples", "E"), ("best_m_seconds", "seconds")):
        vals = [(r[col], r["m"]) for r in per_m if math.isfinite(r[col])]
        fit[key] = min(vals)[1] if vals else None
    for m, o in outcomes.items():
        if o.best is None:
            notes.append(f"m = {m}: no step size meets the success rule; {_closest_text(frontier, o, m)}")
    for r in per_m:
        if r["edge"]:
            notes.append(f"m = {r['m']}: eta* = {r['eta_star']:.4g} sits on the search's {r['edge']} bound")
    noise_d = None
    if noise:
        noise_d = _noise(frontier, notes)
        if noise_d is not None:
            fit["B_simple_mean"] = noise_d.get("B_simple_mean")
            fit["B_noise_mean"] = noise_d.get("B_noise_mean")
    theory_d = None
    if theory:
        theory_d = _theory(frontier, notes)
    tuning = (
        {c: _column(tuning_rows, c) for c in TUNING_COLUMNS}
        if tuning_rows
        else {c: np.array([]) for c in TUNING_COLUMNS}
    )
    table = {c: _column(per_m, c) for c in FRONTIER_COLUMNS} if per_m else {c: np.array([]) for c in FRONTIER_COLUMNS}
    fit["target"] = frontier.target
    fit["f0"] = frontier.f0
    fit["notes"] = notes
    return FrontierResult(frontier, tuning, table, fit, noise=noise_d, theory=theory_d, notes=notes)


def _noise(frontier: FrontierConfig, notes: list[str]) -> dict[str, Any] | None:
    try:
        from saddle.frontier.noise import noise_scale_path
    except ImportError:
        return None
    try:
        return noise_scale_path(frontier.escape, frontier.target)
    except (ValueError, ConfigError) as err:
        notes.append(f"noise scale not computed: {str(err).splitlines()[0]}")
        return None


def _theory(frontier: FrontierConfig, notes: list[str]) -> dict[str, np.ndarray] | None:
    try:
        from saddle.frontier.theory import theory_frontier
    except ImportError:
        return None
    try:
        out = theory_frontier(frontier.escape, frontier.ms, frontier.target)
    except (ValueError, ConfigError) as err:
        notes.append(f"theory frontier not computed: {str(err).splitlines()[0]}")
        return None
    if out is None:
        return None
    return _within_validity(frontier, out, notes)


def _within_validity(frontier: FrontierConfig, theory: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The theory's frontier where its tuned eta is its own optimum: where the next larger step size lies
    outside the theory's range of validity (the teacher-student ODE's eta/N bound), eta* is that bound, not
    an optimum, and S there is no prediction of the tuned frontier: S and eta_star become NaN, and a note
    says where the predicted frontier stops."""
    from saddle.frontier.theory import predict_cell

    eta = np.asarray(theory["eta_star"], dtype=float).copy()
    S = np.asarray(theory["S"], dtype=float).copy()
    cut: list[int] = []
    reason = ""
    for i, m in enumerate(np.asarray(theory["m"])):
        if not np.isfinite(eta[i]):
            continue
        above = predict_cell(frontier.escape, int(m), float(eta[i] * 2 ** (1 / STEPS_PER_OCTAVE)), frontier.target)
        if above.reason.startswith("outside"):
            reason = reason or above.reason.split(":")[0]  # the first batch size's reason
            cut.append(int(m))
            eta[i] = S[i] = math.nan
    if cut:
        notes.append(
            f"the theory's frontier ends before m = {cut[0]}: from there on its tuned eta sits at the edge of "
            f"the theory's range ({reason}), and S there predicts no tuned frontier"
        )
    return {**theory, "eta_star": eta, "S": S}


def _text(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.12g}"
    return value


def _tables(result: FrontierResult) -> dict[str, bytes]:
    """tuning.csv, frontier.csv and fit.json as bytes."""
    out = {}
    for name, table, columns in (
        ("tuning.csv", result.tuning, TUNING_COLUMNS),
        ("frontier.csv", result.frontier, FRONTIER_COLUMNS),
    ):
        n = len(table[columns[0]]) if columns[0] in table else 0
        rows = [
            [_text(table[c][i].item() if hasattr(table[c][i], "item") else table[c][i]) for c in columns]
            for i in range(n)
        ]
        out[name] = csv_text(columns, rows).encode("utf-8")
    fit = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.fit.items()}
    if result.noise is not None:
        fit["noise"] = {  # the path's states ("u") stay out: the curves are what the figures draw
            k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in result.noise.items() if k != "u"
        }
    if result.theory is not None:
        fit["theory"] = {k: np.asarray(v).tolist() for k, v in result.theory.items()}
    out["fit.json"] = (json.dumps(fit, indent=2, default=_json_default) + "\n").encode("utf-8")
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")
