"""Extending a stored escape run: more trials per batch size, more batch sizes, nothing stored recomputed.

Trial i of batch size m draws its random numbers from streams keyed by the seed, the trial i and m alone
(docs/escape.md, the random streams), never from the trials around it.  So the trials N ... 2N-1 that
extend a run of N trials are exactly those of a run of 2N trials, and a batch size added to a run is the
one a run with it computes: an extended folder holds what a fresh run of the larger configuration writes
(trials.csv byte for byte; summary.csv the same but for ``wall_seconds``, which sums the runs' times).

:func:`extend_escape` is the Python API (``python -m saddle.experiments escape`` calls the same two
steps): :func:`complete_stored` runs the missing trials of the stored batch sizes into the folder, then
:func:`~saddle.escape.run_escape` runs the batch sizes it does not hold yet and writes every table.
Fewer trials than stored, a stored batch size left out, or any other option that differs is refused
in one line before anything is written (:func:`saddle.store.escape.extension_refusal`).  Every table is
written with its checksum; an extension stopped by Ctrl-C keeps each batch size it completed (and the
stored trials of the others), and the same call resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from saddle.config import EscapeConfig
from saddle.escape import (
    Interrupted,
    _checked_start,
    _objective_and_start,
    _trial_options,
    check_backend_options,
    put_block,
    recorded_trajectories,
    resolve_backend,
    run_escape,
    summary_row,
    summary_row_or_failure,
    trials_in_calls,
)
from saddle.kernels import Recorder, run_trials
from saddle.objectives.base import Objective
from saddle.options import ConfigError, StatisticsError, integer
from saddle.records import EscapeResult, MResult
from saddle.store.escape import ResultsFolder
from saddle.store.folder import folder_kind
from saddle.theory.columns import TheoryColumns, saddle_theory

__all__ = ["Extension", "complete_stored", "extend_escape"]


@dataclass(frozen=True)
class Extension:
    """What extending a stored run does: ``have`` (batch size -> its trials stored, for each whose missing
    trials run now, up to ``trials``) and ``added_m`` (the batch sizes the stored run does not list)."""

    out: Path
    trials: int
    have: dict[int, int]
    added_m: tuple[int, ...]

    def describe(self) -> str:
        """One line: 'extending OUT (40 trials per batch size): m = 2 from 20, m = 8 from 20; adding m = 32'."""
        parts = [", ".join(f"m = {m} from {k}" for m, k in self.have.items())] if self.have else []
        if self.added_m:
            parts.append(f"adding m = {', '.join(map(str, self.added_m))}")
        return (
            f"extending {self.out} ({self.trials} trials per batch size)"
            + (f": {'; '.join(parts)}" if parts else "")
            + " (the stored trials are kept, not run again)"
        )


def extend_escape(config: EscapeConfig, *, out: Any, **run_options: Any) -> EscapeResult:
    """Run ``config`` into the results folder ``out``, extending the run stored there.

    Like :func:`~saddle.escape.run_escape` (``run_options`` are its keyword arguments: ``threads``,
    ``progress``, ``backend``, ``announce``, ``user_objective``, ``start``), which it calls, except that
    a folder holding this configuration with fewer trials per batch size or fewer batch sizes is
    extended instead of refused: the stored trials are read back, only the missing ones run (see the
    module docstring for why they are the very trials of a fresh run).

    Raises
    ------
    ConfigError
        Before anything is written, for a folder holding more trials than ``config.trials``, a batch size
        that ``config.m`` leaves out, or any other option that differs; and as ``run_escape`` does.
    saddle.escape.Interrupted
        On Ctrl-C: ``kept`` lists the batch sizes whose trials are stored (while their missing trials
        run: all of those stored before, each with its trials so far).
    """
    if not isinstance(config, EscapeConfig):
        raise ConfigError(f"config must be an EscapeConfig, got {type(config).__name__}")
    path = ResultsFolder.checked_path(out)
    announce = run_options.get("announce")
    complete_stored(
        config,
        path,
        backend=run_options.get("backend"),
        threads=run_options.get("threads"),
        user_objective=run_options.get("user_objective"),
        start=run_options.get("start"),
        announce=announce if callable(announce) else None,
    )
    return run_escape(config, out=path, **run_options)


def complete_stored(
    config: EscapeConfig,
    out: str | Path,
    *,
    backend: str | None = None,
    threads: int | None = None,
    user_objective: Any = None,
    start: Any = None,
    announce: Callable[[str], None] | None = None,
) -> Extension | None:
    """Prepare the folder ``out`` for ``config``: where it holds this configuration with fewer trials or
    batch sizes, rewrite its config.json for ``config`` and run the missing trials of every stored batch
    size (each stored, with its checksums, as it finishes).  The batch sizes it does not hold are left to
    :func:`~saddle.escape.run_escape`.

    Returns the :class:`Extension` (``announce(line)`` receives its description before any trial runs,
    and a line after each batch size), or None where there is nothing to extend: a new or empty folder,
    one of another kind, or one holding ``config`` in full (run_escape resumes or refuses those as ever).
    Raises as :func:`extend_escape` does.
    """
    path = Path(out)
    try:
        if folder_kind(path) != "escape":
            return None
    except ConfigError:  # refused by run_escape, in its own order (the configuration first)
        return None
    check_backend_options(config, backend)
    backend = resolve_backend(backend)
    folder = ResultsFolder.open(path, config, backend=backend, extend=True)
    stored: dict[int, MResult] = {}
    try:
        stored = folder.load_stored()
        old = folder.stored_options()
        short = [m for m in config.m if m in stored and stored[m].steps.size < config.trials]
        added = tuple(m for m in config.m if m not in old.get("m", ()))
        if not short and not added and old.get("trials") == config.trials:
            return None  # (the folder holds this configuration: run_escape resumes it)
        extension = Extension(path, config.trials, {m: int(stored[m].steps.size) for m in short}, added)
        work = _prepare(config, short, threads, user_objective, start) if short else None
        folder.extend_marker()  # (everything that can refuse the configuration came before)
        if announce is not None:
            announce(extension.describe())
        if work is not None:
            _run_short(config, folder, stored, short, *work, backend, announce)
    except KeyboardInterrupt:  # every batch size keeps its stored trials, whole or the first of them
        raise Interrupted([m for m in config.m if m in stored], folder.path) from None
    finally:
        folder.close()
    return extension


def _prepare(
    config: EscapeConfig, short: list[int], threads: int | None, user_objective: Any, start: Any
) -> tuple[Objective, dict[int, np.ndarray], TheoryColumns]:
    """The objective, each batch size's start (refused as run_escape refuses them) and the theory columns."""
    if threads is not None:
        numba.set_num_threads(integer("threads", threads, 1, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    objective, u0 = _objective_and_start(config, user_objective, start)
    starts = {m: _checked_start(config, objective, m, u0 if m == config.m[0] else None) for m in short}
    return objective, starts, _RememberedTheory(config, saddle_theory(config, objective), objective)


class _RememberedTheory(TheoryColumns):
    """The theory columns, each batch size's computed once (they do not depend on the trials; the spike's
    heat-path model takes a few tenths of a second), as the statistics are redone after each batch size."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._rows: dict[int, dict[str, Any]] = {}

    def row(self, m: int) -> dict[str, Any]:
        if m not in self._rows:
            self._rows[m] = super().row(m)
        return dict(self._rows[m])


def _run_short(
    config: EscapeConfig,
    folder: ResultsFolder,
    stored: dict[int, MResult],
    short: list[int],
    objective: Objective,
    starts: dict[int, np.ndarray],
    theory: TheoryColumns,
    backend: str,
    announce: Callable[[str], None] | None,
) -> None:
    """Run the missing trials of each batch size of ``short``; store every batch size after each (those not
    extended yet with the trials stored and their statistics)."""
    rows = {m: summary_row(config, r, theory) for m, r in stored.items()}
    for m in short:
        had = stored[m].steps.size
        stored[m] = _more_trials(config, objective, starts[m], stored[m], backend)
        rows[m], failed = summary_row_or_failure(config, stored[m], theory)
        done = [k for k in config.m if k in stored]
        folder.save([stored[k] for k in done], [rows[k] for k in done])  # (Ctrl-C waits for the files)
        if failed is not None:
            raise StatisticsError(
                f"computing the statistics of m = {m} failed ({failed}); its trials are stored in {folder.path} "
                "(summary.csv leaves its statistics empty; running the same command again recomputes them)",
                reason=failed,
            )
        if announce is not None:
            r = rows[m]
            median = f"> {config.max_steps}" if r["median_is_lower_bound"] else f"{r['median_steps']:g}"
            announce(
                f"m = {m}: {config.trials - had} trials added, {r['escaped']} of {config.trials} escaped, "
                f"median {median} steps ({stored[m].wall_seconds:.1f} s in all)"
            )


def _more_trials(config: EscapeConfig, objective: Objective, u0: np.ndarray, stored: MResult, backend: str) -> MResult:
    """``stored`` (the trials 0 ... k-1 of its batch size) with the trials k ... trials-1 run and appended,
    as :func:`saddle.escape.run_escape` runs them: the same kernel options, the same recorded trajectories
    (those of the first ``record_trials`` trials, for the ones not stored yet)."""
    m, first = stored.m, stored.steps.size
    n = config.trials - first
    n_rec = min(config.record_trials, config.trials)
    recorder = Recorder.empty(n_rec, config.record_points)
    steps = np.empty(n, np.int64)
    status = np.empty(n, np.int8)
    final_f = np.empty(n)
    drop_steps = np.zeros(n, np.int64)
    switch_steps = np.zeros(n, np.int64)
    options = _trial_options(config, m, backend)
    run_trials(objective, u0, **{**options, "trial_start": 0, "n_trials": 0})  # compile now: not timed
    t0 = time.perf_counter()
    for lo, _, block in trials_in_calls(objective, u0, options, backend, first, config.trials, recorder):
        put_block(block, lo - first, steps, status, final_f, drop_steps, switch_steps)
    wall = time.perf_counter() - t0
    all_steps = np.concatenate([stored.steps, steps])
    all_final = np.concatenate([stored.final_f, final_f])
    traj = list(stored.trajectories[: min(first, n_rec)])
    traj += recorded_trajectories(recorder, all_steps, all_final, len(traj), n_rec)
    switch = config.schedule_plan.batch
    after = config.samples_per_step(switch.m) if switch is not None else None
    switched = switch is not None and switch.trigger.kind != "drop"

    def joined(old: np.ndarray | None, new: np.ndarray) -> np.ndarray:
        return np.concatenate([old if old is not None else np.zeros(first, np.int64), new])

    return MResult(
        m,
        config.eta_for(m),
        all_steps,
        np.concatenate([stored.status, status]),
        all_final,
        stored.wall_seconds + wall,
        traj,
        config.samples_per_step(m),
        joined(stored.drop_steps, drop_steps),
        after,
        joined(stored.switch_steps, switch_steps) if switched else None,
        config.schedule_plan.budget,
    )
