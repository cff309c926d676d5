"""How an escape experiment runs: for each batch size m, its trials, their summary, their storage.

A trial starts at the objective's saddle u_0 (or at its own perturbed or random start), escapes at
the first t >= 1 with f(u_t) <= f(u_0) - delta (or ||u_t - u_0|| >= radius, or f(u_t) <= target),
is censored if it has not escaped after max_steps, and diverged if its iterate became non-finite
(docs/escape.md).  ``run_escape`` is the Python API; ``python -m saddle.experiments escape`` is a
thin layer over it.  The configuration is :class:`saddle.config.EscapeConfig`, the records
:mod:`saddle.records`, the results folder :mod:`saddle.store.escape`; the first two are re-exported here.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numba
import numpy as np

from saddle import optimizers
from saddle._numba import cache_enabled
from saddle.config import LR_SCALINGS, EscapeConfig, refuse_unused_d, scaled_eta
from saddle.kernels import BACKENDS, LANES_MIN_WORK, Recorder, gpu, run_trials
from saddle.objectives.base import Objective
from saddle.options import ConfigError, StatisticsError, integer
from saddle.records import EscapeResult, MResult
from saddle.stats import EscapeSummary, counts_only, lower_median, median_with_interval, summarize
from saddle.store.escape import ResultsFolder
from saddle.theory.columns import TheoryColumns, saddle_theory, theory_applies

__all__ = [
    "ConfigError",
    "EscapeConfig",
    "EscapeResult",
    "Interrupted",
    "LR_SCALINGS",
    "MResult",
    "run_escape",
    "saddle_theory",
    "scaled_eta",
    "summary_row",
    "theory_applies",
]

CHUNK_TRIALS = {"cpu": 128, "cupy": 1 << 17}
"""Trials of a batch size's first kernel call: small on the CPU (the time estimate and the progress bar
act between calls; Ctrl-C acts within a step), large on a GPU (one thread per trial: a call needs tens
of thousands of trials to fill the device).  On the CPU later calls grow (:func:`next_chunk`)."""
CALL_SECONDS = 0.5
"""What a CPU kernel call after the first aims at: every call ends in a wait for its slowest thread, so
calls of 128 trials cost 15-20% more than one call of the same 2000 trials (the default spike at
m = 1 to 32; benchmarks/yardstick.py times one call), while half a second still moves a progress bar."""


def trials_in_calls(
    objective: Objective, u0: np.ndarray, options: dict[str, Any], backend: str, first: int, last: int, recorder: Any
) -> Iterator[tuple[int, int, Any]]:
    """Trials first ... last - 1 in kernel calls of CHUNK_TRIALS trials, then of :func:`next_chunk`'s
    (on the CPU): yields (the call's first trial, its number of trials, its TrialBlock) after each call."""
    chunk = CHUNK_TRIALS[backend]
    lo = first
    while lo < last:
        n = min(chunk, last - lo)
        called = time.perf_counter()
        block = run_trials(objective, u0, trial_start=lo, n_trials=n, recorder=recorder, **options)
        if backend == "cpu":
            chunk = next_chunk(chunk, n, time.perf_counter() - called)
        yield lo, n, block
        lo += n


def put_block(block: Any, i: int, *columns: np.ndarray) -> None:
    """A call's TrialBlock into rows i ... of the columns steps, status, final_f, drop_steps, switch_steps
    (the last two only where the block has them)."""
    steps, status, final_f, drop_steps, switch_steps = columns
    n = block.steps.size
    steps[i : i + n] = block.steps
    status[i : i + n] = block.status
    final_f[i : i + n] = block.final_f
    if block.drop_steps is not None:
        drop_steps[i : i + n] = block.drop_steps
    if block.switch_steps is not None:
        switch_steps[i : i + n] = block.switch_steps


def recorded_trajectories(
    recorder: Any, steps: np.ndarray, final_f: np.ndarray, first: int, last: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The recorded (t, f(u_t)) of trials first ... last - 1, each closed at its last step (steps[r],
    final_f[r]) where the recorder's stride skipped it."""
    traj = []
    for r in range(first, last):
        t, f = recorder.trajectory(r)
        if t[-1] != steps[r]:
            t, f = np.append(t, steps[r]), np.append(f, final_f[r])
        traj.append((t, f))
    return traj


def next_chunk(chunk: int, n: int, seconds: float) -> int:
    """The trials of the next CPU kernel call after one of ``n`` trials took ``seconds``: about
    :data:`CALL_SECONDS` of work, never fewer than ``chunk``, at most eight times as many (a first call
    that was fast by chance does not make the next one run for minutes).  Which trials run in which
    call changes no number: every trial draws from its own streams."""
    if seconds <= 0.0:
        return 8 * chunk
    return int(min(8 * chunk, max(chunk, n * CALL_SECONDS / seconds)))


BACKEND_ENV = "SADDLE_BACKEND"


def resolve_backend(backend: str | None = None) -> str:
    """The backend to use: the argument, else the SADDLE_BACKEND environment variable, else 'cpu'.

    Checks that it can run (for cupy: CuPy and a usable GPU), raising a one-line ValueError if not.
    """
    name = backend or os.environ.get(BACKEND_ENV) or "cpu"
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown backend {name!r} (from {'--backend' if backend else BACKEND_ENV}); "
            f"choose one of {', '.join(BACKENDS)}"
        )
    if name == "cupy":
        gpu.cupy_device()  # BackendUnavailable (a ValueError, one line) without CuPy or a usable GPU
    return name


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; ``kept`` lists the batch sizes whose trials were stored."""

    def __init__(self, kept: list[int], out: Any) -> None:
        super().__init__()
        self.kept = kept
        self.out = out


def _median_samples(mres: MResult, s: Any) -> dict[str, float]:
    """median_samples with its interval: samples per step x the steps' median and interval, or, with a
    batch-size schedule (samples not proportional to steps), the median of the trials' samples
    (non-escaped ranked last) without an interval."""
    if mres.samples_per_step_after is None:
        return {
            "median_samples": mres.samples_per_step * s.median_steps,
            "median_samples_lo": mres.samples_per_step * s.median_steps_lo,
            "median_samples_hi": mres.samples_per_step * s.median_steps_hi,
        }
    ranked = np.where(mres.status == 0, mres.samples, np.inf).astype(float)
    median = float(lower_median(ranked))
    return {"median_samples": median, "median_samples_lo": float("nan"), "median_samples_hi": float("nan")}


def _budget_columns(config: EscapeConfig, mres: MResult) -> dict[str, Any]:
    """With a schedule's sample budget: the trials that made the f-drop (and so spent it), the median of
    their final f with its 95% interval (order statistics), and the noise floor at the step size and
    batch size the schedule ends with: the median and the mean of f at stationarity of the linearised
    dynamics (NaN with a step-size rule, which has no stationary law, or where the objective has no
    floor).  Nothing without a budget."""
    plan = config.schedule_plan
    if plan.budget is None:
        return {}
    spent = (mres.drop_steps > 0) & (mres.status == 1) if mres.drop_steps is not None else np.zeros(0, bool)
    median, lo, hi = median_with_interval(mres.final_f[spent])
    floor = floor_median = math.nan
    if plan.step is None:
        from saddle.theory.floor import noise_floor

        m_end = plan.batch.m if plan.batch is not None else mres.m
        try:  # (a theory that fails is no reason to lose a run: the column is then NaN)
            fl = noise_floor(config, mres.eta, m_end)
            floor, floor_median = fl.mean_f, fl.f_min + fl.quantiles[0.5]
        except Exception:
            floor = floor_median = math.nan
    return {
        "spent_budget": int(spent.sum()),
        "median_final_f": median,
        "median_final_f_lo": lo,
        "median_final_f_hi": hi,
        "floor_median_f": floor_median,
        "floor_mean_f": floor,
    }


def summary_row(
    config: EscapeConfig, mres: MResult, theory: TheoryColumns | None = None, summary: EscapeSummary | None = None
) -> dict[str, Any]:
    """One row of summary.csv for a batch size (the theory columns from ``theory``, NaN without; the
    statistics from ``summary``, computed here without)."""
    s = summary
    if s is None:
        s = summarize(mres.steps, mres.status, config.max_steps, seed=config.seed + mres.m)
    row = {
        "m": mres.m,
        "eta": mres.eta,
        "trials": s.trials,
        "escaped": s.escaped,
        "censored": s.censored,
        "diverged": s.diverged,
        "frozen": s.frozen,
        "median_steps": s.median_steps,
        "median_steps_lo": s.median_steps_lo,
        "median_steps_hi": s.median_steps_hi,
        "median_is_lower_bound": s.median_is_lower_bound,
        "mean_steps": s.mean_steps,
        "mean_is_lower_bound": s.mean_is_lower_bound,
        **_median_samples(mres, s),
        "wall_seconds": mres.wall_seconds,
        **(theory or TheoryColumns(config, None)).row(mres.m),
        **_budget_columns(config, mres),
    }
    row = {**row, **config.objective_class.summary_extras(config, row)}
    return {k: _tidy(v) for k, v in row.items()}


def summary_row_or_failure(config: EscapeConfig, mres: MResult, theory: Any) -> tuple[dict[str, Any], str | None]:
    """The summary row of one batch size and None; where its statistics fail, a row with the counts only
    (the trials are stored all the same, with empty statistics) and the failure in one line."""
    try:
        return summary_row(config, mres, theory), None
    except Exception as err:
        failed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
        empty = counts_only(mres.steps, mres.status, config.max_steps)
        return summary_row(config, mres, theory, summary=empty), failed


def _tidy(value: Any) -> Any:
    """Floats to 12 significant digits (1181.45, not the bootstrap's 1181.450000000001); others as they are."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    return value


def check_backend_options(config: EscapeConfig, backend: str | None) -> None:
    """Refuse (ConfigError, one line) the options the requested backend (``backend``, else $SADDLE_BACKEND,
    else cpu) cannot run, before CuPy is looked for: the Gaussian batch noise runs on the cpu only."""
    requested = backend or os.environ.get(BACKEND_ENV) or "cpu"
    if config.batch_noise != "exact" and requested != "cpu":
        raise ConfigError(
            f"batch_noise {config.batch_noise!r} is not supported on {requested} (escape.cu has no such mode); "
            "use the cpu backend"
        )


def run_escape(
    config: EscapeConfig | None = None,
    *,
    out: Any = None,
    threads: int | None = None,
    progress: bool | None = None,
    backend: str | None = None,
    user_objective: Any = None,
    start: Any = None,
    announce: Callable[[str], None] | Literal["auto"] | None = "auto",
    **options: Any,
) -> EscapeResult:
    """Run an escape experiment and return its :class:`EscapeResult`.

    Parameters
    ----------
    config : EscapeConfig, optional
        The experiment; built from ``options`` (the fields of EscapeConfig) if omitted.
    out : str or path, optional
        Results folder.  Each batch size's trials are stored there as soon as
        they finish (config.json, trials.csv, summary.csv, trajectories.npz);
        a folder holding an earlier run of the same configuration is resumed:
        its finished batch sizes are read back, not recomputed.
    threads : int, optional
        Numba threads (results do not depend on it).
    progress : bool, optional
        Show a progress bar per batch size (tqdm.auto: a text bar on stderr, or in a notebook a widget
        where ipywidgets is installed), its time left that batch size's own (their costs differ by orders
        of magnitude).  Default (None): shown when someone is likely watching, that is when stderr is a
        terminal or the code runs in a Jupyter kernel; not shown otherwise (a script whose stderr goes to
        a file, a test).  ``progress=False`` turns the bars and the ``"auto"`` lines off.
    announce : callable, "auto" or None
        Where the run's lines go: one when the kernel takes over a second to compile (or load) before
        the first trial, one before a batch size whose trials could take over a minute, and one after
        each batch size finishes.  ``"auto"`` (the default): on stderr, above the bars, when the progress
        bars are shown, nowhere otherwise; a callable: ``announce(line)`` receives each line whatever
        ``progress`` is (the command line prints them on stderr when it shows no progress bar); None: no
        lines.
    backend : str, optional
        'cpu' (Numba) or 'cupy' (GPU, saddle[gpu]); default: the SADDLE_BACKEND
        environment variable, else 'cpu'.  The same seed draws the same random
        numbers on both (docs/gpu.md).
    user_objective, start : optional
        With ``config.objective == "user"``: the user's objective (see
        docs/objectives.md) and its start point u_0 (a flat array of length d).

    Raises
    ------
    ConfigError
        Before anything is written (no results folder, no lock): for an invalid configuration, a start
        point that does not fit the objective's state, a batch size without a start (a plateau of its
        eta/m), or a target that a fixed start already meets (f(u_0) <= target: every trial would escape
        at its first step).

    Examples
    --------
    >>> res = run_escape(m=[4, 32], trials=200)          # doctest: +SKIP
    >>> [row["median_steps"] for row in res.summary]     # doctest: +SKIP
    """
    if config is None:
        refuse_unused_d(options.get("objective", EscapeConfig.objective), options)
        config = EscapeConfig(**options)
    elif options:
        raise ConfigError("pass either an EscapeConfig or keyword options, not both")
    elif not isinstance(config, EscapeConfig):
        raise ConfigError(
            f"config must be an EscapeConfig, got {type(config).__name__}; "
            "or pass the options as keywords: run_escape(m=[1, 4], trials=100)"
        )
    import numba

    check_backend_options(config, backend)  # (said before cupy is looked for)
    backend = resolve_backend(backend)
    if progress is None:
        progress = _watched()
    if progress:
        _tqdm()  # (imported here, not first by the compile announcement's thread)
    if announce == "auto":
        announce = _stderr_line if progress else None
    elif announce is not None and not callable(announce):
        raise ConfigError(f"announce must be a callable, 'auto' or None, got {announce!r}")
    if threads is not None:
        threads = integer("threads", threads, 1, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
        numba.set_num_threads(threads)
    objective, u0 = _objective_and_start(config, user_objective, start)
    f0 = float(objective.f(u0))
    # everything that can refuse the configuration comes before the results folder is made: each batch
    # size's start (a plateau of its own eta/m), the target against f there, the theory columns
    starts = {m: _checked_start(config, objective, m, u0 if m == config.m[0] else None) for m in config.m}
    quantities = saddle_theory(config, objective)
    theory = TheoryColumns(config, quantities, objective)

    store = ResultsFolder.open(out, config, backend=backend) if out is not None else None
    try:  # (on a failure before the first batch size, release the folder: a new one that holds nothing is removed)
        by_m = dict(store.load_finished()) if store is not None else {}
        todo = [m for m in config.m if m not in by_m]
        if todo and backend == "cpu":  # compile (or load from the disk cache) now, so wall_seconds times trials only
            classes = (type(objective), optimizers.get(config.optimizer))
            own = [c for c in classes if not c.__module__.startswith("saddle.")]
            if user_objective is not None:  # (an object with kernel_functions: its kernel is never cached)
                how = "for this run only: the kernel of an object with kernel_functions is not cached on disk"
            elif own:  # a loaded objective's or optimiser's kernel is compiled in memory, for this process only
                what = "objective" if own[0] is classes[0] else "optimiser"
                how = f"for this run only: the kernel of a loaded {what} is not cached on disk"
            elif cache_enabled():
                how = "once: Numba keeps it on disk for later runs"
            else:
                how = "no disk cache here"
            line = f"compiling the {config.objective} kernel ({how}) ..."
            timer = threading.Timer(1.0, announce, (line,)) if announce is not None else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                run_trials(
                    objective, u0, **{**_trial_options(config, todo[0], backend), "trial_start": 0, "n_trials": 0}
                )
            finally:
                if timer is not None:
                    timer.cancel()
    except BaseException:
        if store is not None:
            store.close()
        raise

    bar = None
    rows = {m: summary_row(config, r, theory) for m, r in by_m.items()}
    kept = list(by_m)  # the batch sizes whose trials are stored (or, without a folder, computed)
    try:
        for i, m in enumerate(todo):
            if progress:  # one bar per batch size: the batch sizes' costs differ by orders of magnitude
                bar = _tqdm()(total=config.trials, unit="trial", desc=f"m = {m} ({i + 1}/{len(todo)})", leave=False)
            by_m[m] = _run_batch_size(config, objective, starts[m], m, backend, bar, announce)
            if bar is not None:
                bar.close()
                bar = None
            rows[m], failed = summary_row_or_failure(config, by_m[m], theory)
            if announce is not None and "spent_budget" in rows[m]:
                announce(
                    f"m = {m}: {rows[m]['spent_budget']} of {config.trials} trials made the f-drop and spent the "
                    f"budget, median final f {rows[m]['median_final_f']:.5g} ({by_m[m].wall_seconds:.1f} s)"
                )
            elif announce is not None:
                median = rows[m]["median_steps"]
                median_text = f"> {config.max_steps}" if rows[m]["median_is_lower_bound"] else f"{median:g}"
                announce(
                    f"m = {m}: {rows[m]['escaped']} of {config.trials} trials escaped, median "
                    f"{median_text} steps ({by_m[m].wall_seconds:.1f} s)"
                )
            if store is not None:
                done = [k for k in config.m if k in by_m]
                try:
                    store.save([by_m[k] for k in done], [rows[k] for k in done])
                except KeyboardInterrupt:  # held until the files were written whole: m is stored
                    kept.append(m)
                    raise
            kept.append(m)
            if failed is not None:
                where = (
                    f"its trials are stored in {store.path} (summary.csv leaves its statistics empty; saddle.load "
                    "reads them, and running the same command again recomputes them)"
                    if store is not None
                    else "no results folder was given: the trials are in this error's .partial, statistics empty"
                )
                done = [k for k in config.m if k in by_m]
                partial = None
                if store is None:
                    partial = EscapeResult(
                        config, {k: by_m[k] for k in done}, [rows[k] for k in done], None, f0, theory=quantities
                    )
                raise StatisticsError(
                    f"computing the statistics of m = {m} failed ({failed}); {where}", reason=failed, partial=partial
                )
    except KeyboardInterrupt:
        raise Interrupted([k for k in config.m if k in kept], None if store is None else store.path) from None
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.close()  # releases the folder's lock
    ordered = {m: by_m[m] for m in config.m}
    return EscapeResult(
        config, ordered, [rows[m] for m in config.m], None if store is None else store.path, f0, theory=quantities
    )


def _watched() -> bool:
    """Whether someone is likely watching the run: stderr is a terminal, or this is a Jupyter kernel (a
    notebook, JupyterLab, VS Code's notebooks).  ``run_escape``'s progress is shown by default then."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if shell is not None and getattr(shell, "kernel", None) is not None:  # (a terminal IPython has no kernel)
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a stream without isatty, or a closed one
        return False


def _tqdm() -> Any:
    """tqdm.auto's bar class: a widget in a notebook where ipywidgets is installed, a text bar on stderr
    otherwise (without tqdm's warning that the widget is missing: the text bar works in a notebook too)."""
    if "tqdm.auto" in sys.modules:  # (the warnings filters are changed once, by the first import)
        return sys.modules["tqdm.auto"].tqdm
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
    return tqdm


def _stderr_line(line: str) -> None:
    """One line on stderr, above any progress bar; a closed or full stderr loses the line, never the run."""
    if sys.stderr is None:
        return
    try:
        _tqdm().write(line, file=sys.stderr)
    except (OSError, ValueError):  # ValueError: a closed file object
        pass


def _objective_and_start(config: EscapeConfig, user_objective: Any, start: Any) -> tuple[Objective, np.ndarray]:
    """The objective and u_0: built from the configuration, or, for an objective that needs Python objects
    (``user``: ``runs_from_config`` False), wrapped around the given ones."""
    cls = config.objective_class
    if not cls.runs_from_config:
        if user_objective is None or start is None:
            raise ConfigError(f"objective {cls.name!r} needs run_escape(config, user_objective=..., start=...)")
        objective: Objective = cls(user_objective, start)  # type: ignore[call-arg]
    elif user_objective is not None or start is not None:
        raise ConfigError("user_objective= and start= go with EscapeConfig(objective='user') only")
    else:
        objective = config.build_objective()
    return objective, _flat_start(objective, config.start_point(objective))


def _flat_start(objective: Objective, start: Any) -> np.ndarray:
    """The start as a flat float64 array, checked against the objective's state: its length (the
    manifold's, :meth:`~saddle.objectives.base.Objective.state_length`) and finite entries."""
    u0 = np.asarray(start, dtype=np.float64)
    n = objective.state_length()
    if u0.ndim != 1 or (n is not None and u0.shape[0] != n) or not np.all(np.isfinite(u0)):
        length = "" if n is None else f" of length {n} (its manifold's)"
        raise ConfigError(
            f"the {objective.name} objective's start_point must be a finite flat array{length}, got shape {u0.shape}"
        )
    return u0


def _checked_start(config: EscapeConfig, objective: Objective, m: int, u0: np.ndarray | None) -> np.ndarray:
    """u_0 for batch size m (``objective.start_point_for``; ``u0`` where it is known already), refused where
    the target escape is no escape: a fixed start with f(u_0) <= target escapes at its first step."""
    start = u0 if u0 is not None else _flat_start(objective, objective.start_point_for(config, m))
    if config.target is not None and not config.random_start and config.start_perturbation is None:
        f0 = float(objective.f(start))
        if not config.target < f0:
            raise ConfigError(
                f"target = {config.target:g} is not below f(u_0) = {f0:.6g} (m = {m}): every trial would "
                "escape at its first step; give a target below f(u_0)"
            )
    return start


def _trial_options(config: EscapeConfig, m: int, backend: str) -> dict[str, Any]:
    """The keyword arguments of :func:`saddle.kernels.run_trials` for batch size m (without the trial range)."""
    return dict(
        optimizer=config.optimizer,
        batch_size=m,
        eta=config.eta_for(m),
        sigma_iso=config.sigma_iso,
        delta=config.delta,
        radius=config.radius,
        max_steps=config.max_steps,
        seed=config.seed,
        backend=backend,
        params=config.optimizer_params(),
        target=config.target,
        random_start=config.random_start,
        start_perturbation=config.start_perturbation or 0.0,
        lanes=config.trials * config.max_steps >= LANES_MIN_WORK,  # the whole run's work, not a chunk's
        batch_noise=config.batch_noise,
        schedule=config.schedule_plan,
        samples_per_m=config.samples_per_m,
    )


ESTIMATE_AFTER_S = 60.0
"""A batch size whose trials are expected to take longer than this says so after its first chunk."""


PROBE_STEPS = 64
"""Steps of the one trial timed before a batch size runs (:func:`_announce_worst_case`)."""


def _announce_worst_case(
    config: EscapeConfig, objective: Objective, u0: np.ndarray, m: int, options: dict[str, Any], say: Any
) -> None:
    """Before a batch size whose trials could take long: time one trial of PROBE_STEPS steps (its result
    is discarded: the trials' streams do not depend on it) and, where every trial running to max-steps
    would take over ESTIMATE_AFTER_S, say how long that worst case is, before the first trial (a run of
    hours must not start silently).  The first chunk's estimate follows, once it is known."""
    probe = {**options, "max_steps": min(PROBE_STEPS, config.max_steps), "lanes": False}
    one = {**probe, "max_steps": 1}
    run_trials(objective, u0, trial_start=0, n_trials=1, **one)  # (compiles, if need be)
    t0 = time.perf_counter()
    run_trials(objective, u0, trial_start=0, n_trials=1, **one)  # a call's own cost (about a millisecond)
    t1 = time.perf_counter()
    block = run_trials(objective, u0, trial_start=0, n_trials=1, **probe)
    # the probe's steps after the first, without the call's cost, which would make a step of the default
    # run look 70 times slower than it is
    per_step = max(0.0, (time.perf_counter() - t1) - (t1 - t0)) / max(1, int(block.steps[0]) - 1)
    threads = max(1, numba.get_num_threads())
    worst = per_step * config.max_steps * config.trials / min(threads, config.trials)
    if worst > ESTIMATE_AFTER_S:
        say(
            f"m = {m}: up to {_duration(worst)} if its {config.trials} trials all run to max-steps "
            f"({per_step:.2g} s a step here); Ctrl-C stops the run and keeps the batch sizes finished"
        )


def _duration(seconds: float) -> str:
    """'40 s', '12 min', '3.2 h', '5.1 days'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _run_batch_size(
    config: EscapeConfig,
    objective: Objective,
    u0: np.ndarray,
    m: int,
    backend: str,
    bar: Any,
    announce: Callable[[str], None] | None = None,
) -> MResult:
    eta_m = config.eta_for(m)
    n_rec = min(config.record_trials, config.trials)
    recorder = Recorder.empty(n_rec, config.record_points)
    steps = np.empty(config.trials, np.int64)
    status = np.empty(config.trials, np.int8)
    final_f = np.empty(config.trials)
    drop_steps = np.zeros(config.trials, np.int64)
    switch_steps = np.zeros(config.trials, np.int64)
    options = _trial_options(config, m, backend)
    say = announce if announce is not None else (bar.write if bar is not None else None)
    if say is not None and backend == "cpu":
        _announce_worst_case(config, objective, u0, m, options, say)
    start = time.perf_counter()
    for lo, n, block in trials_in_calls(objective, u0, options, backend, 0, config.trials, recorder):
        put_block(block, lo, steps, status, final_f, drop_steps, switch_steps)
        if bar is not None:
            bar.update(n)
        if lo == 0 and announce is not None and n < config.trials:
            expected = (time.perf_counter() - start) * config.trials / n
            if expected > ESTIMATE_AFTER_S:
                announce(
                    f"m = {m}: about {expected / 60:.0f} min for its {config.trials} trials (from the first {n}; "
                    "Ctrl-C stops the run and keeps the batch sizes finished)"
                )
    wall = time.perf_counter() - start
    traj = recorded_trajectories(recorder, steps, final_f, 0, n_rec)
    switch = config.schedule_plan.batch
    after = config.samples_per_step(switch.m) if switch is not None else None
    switched = switch_steps if switch is not None and switch.trigger.kind != "drop" else None
    return MResult(
        m,
        eta_m,
        steps,
        status,
        final_f,
        wall,
        traj,
        config.samples_per_step(m),
        drop_steps,
        after,
        switched,
        config.schedule_plan.budget,
    )
