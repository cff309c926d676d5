"""The records of an escape run: each batch size's trials (:class:`MResult`) and the whole run's
result (:class:`EscapeResult`), in memory.  :mod:`saddle.store.escape` stores them in a folder.

Also here: what every result shows of itself (a one-line ``repr``, an HTML summary table in a notebook:
:func:`summary_html`), the trials as a pandas DataFrame (:func:`trials_frame`), and :func:`stack`, which
puts several runs' trials (or summaries) into one DataFrame with a column naming the run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from saddle.kernels import CENSORED, STATUS_NAMES

if TYPE_CHECKING:
    from saddle.config import EscapeConfig
    from saddle.theory import SaddleQuantities

PANDAS_MISSING = "to_pandas() needs pandas: pip install 'saddle[pandas]'"


def _pandas() -> Any:
    """pandas, or an ImportError whose one-line message names the extra that installs it."""
    try:
        import pandas
    except ImportError:
        raise ImportError(PANDAS_MISSING) from None
    return pandas


TRIAL_COLUMNS = ("m", "eta", "trial", "steps", "samples", "status", "final_f")
"""The columns of trials.csv (and ``drop_steps`` with a batch-size schedule or a budget, ``switch_steps``
too when the batch size's trigger is not the f-drop)."""


def trials_frame(columns: Mapping[str, Any]) -> Any:
    """Trials' columns (trials.csv's, or a sweep's tidy trials table) as a pandas DataFrame: ``status`` as
    a categorical of the four names, and a boolean ``censored`` column beside ``steps``.

    ``steps`` is an escape time only where ``status`` is 'escaped'.  ``censored`` is True where the trial
    had not escaped after max_steps (status 'censored'): its ``steps`` is max_steps, a lower bound on its
    escape time (right-censored), not an escape time.  Diverged and frozen trials never escape (their own
    statuses; docs/escape.md).  Needs pandas (:data:`PANDAS_MISSING` otherwise).
    """
    pd = _pandas()
    frame = pd.DataFrame(dict(columns))
    names = frame["status"].astype(str)
    frame["status"] = pd.Categorical(names, categories=list(STATUS_NAMES.values()))
    frame.insert(frame.columns.get_loc("steps") + 1, "censored", (names == STATUS_NAMES[CENSORED]).to_numpy())
    return frame


@dataclass
class MResult:
    """The trials of one batch size m (``repr``: one line of counts; in a notebook, a one-row table)."""

    m: int
    eta: float
    steps: np.ndarray
    status: np.ndarray
    final_f: np.ndarray
    wall_seconds: float
    trajectories: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (steps, f) of recorded trials
    samples_per_step: int | None = None  # m, or k m for ge2015's per-column sampling
    drop_steps: np.ndarray | None = None  # first step with f <= f(u_0) - delta (0: none); None where not recorded
    samples_per_step_after: int | None = None  # with a batch-size schedule: samples per step after the switch
    switch_steps: np.ndarray | None = None  # the step after which m switched (0: never); None: at the f-drop
    budget: int | None = None  # with a schedule's budget: the samples each trial draws after its f-drop

    def __post_init__(self) -> None:
        if self.samples_per_step is None:
            self.samples_per_step = self.m

    @property
    def status_names(self) -> np.ndarray:
        """The trials' statuses as names: 'escaped', 'censored', 'diverged' or 'frozen'."""
        return np.array([STATUS_NAMES[int(c)] for c in self.status])

    def to_pandas(self) -> Any:
        """This batch size's trials as a pandas DataFrame: trials.csv's columns, ``status`` as names, and
        ``censored`` (True where the trial had not escaped after max_steps: its ``steps`` is then a lower
        bound, not an escape time; :func:`trials_frame`)."""
        return trials_frame(trials_columns([self]))

    def counts(self) -> dict[str, int]:
        """How many trials ended in each status: {'trials': n, 'escaped': ..., 'censored': ..., ...}."""
        found = np.bincount(np.asarray(self.status, dtype=np.int64), minlength=len(STATUS_NAMES))
        return {"trials": int(self.status.size), **{name: int(found[c]) for c, name in STATUS_NAMES.items()}}

    def __repr__(self) -> str:
        counts = self.counts()
        ended = ", ".join(f"{counts[name]} {name}" for name in STATUS_NAMES.values() if name != "frozen")
        frozen = f", {counts['frozen']} frozen" if counts["frozen"] else ""
        return (
            f"MResult(m = {self.m}, eta = {self.eta:g}; {counts['trials']} trials: {ended}{frozen}; "
            f"{self.wall_seconds:.2f} s)"
        )

    def _repr_html_(self) -> str:
        counts = self.counts()
        frozen = counts["frozen"] > 0
        head = ["m", "eta", "trials", "escaped", "censored", "diverged", *(["frozen"] if frozen else []), "wall s"]
        row = [self.m, f"{self.eta:g}", *(counts[h] for h in head[2:-1]), f"{self.wall_seconds:.2f}"]
        return summary_html(
            f"the trials of batch size m = {self.m}",
            head,
            [row],
            ["the median escape steps with their 95% intervals: the run's summary (EscapeResult.summary)"],
        )

    @property
    def samples(self) -> np.ndarray:
        """Samples drawn until the trial ended (samples per step x steps; with a batch-size schedule,
        the steps before and after the switch, at the f-drop or at ``switch_steps``, at their own
        rates); gd draws none but is reported on the same scale."""
        per_step = self.m if self.samples_per_step is None else self.samples_per_step
        switch = self.switch_steps if self.switch_steps is not None else self.drop_steps
        if self.samples_per_step_after is None or switch is None:
            return per_step * self.steps
        before = np.where(switch > 0, np.minimum(switch, self.steps), self.steps)
        return per_step * before + self.samples_per_step_after * (self.steps - before)


def trials_columns(mresults: Any) -> dict[str, np.ndarray]:
    """Concatenate per-m results into the columns of trials.csv (status as names)."""
    mresults = list(mresults)
    cols = {
        "m": np.concatenate([np.full(r.steps.size, r.m, np.int64) for r in mresults]),
        "eta": np.concatenate([np.full(r.steps.size, r.eta) for r in mresults]),
        "trial": np.concatenate([np.arange(r.steps.size, dtype=np.int64) for r in mresults]),
        "steps": np.concatenate([r.steps for r in mresults]),
        "samples": np.concatenate([r.samples for r in mresults]),
        "status": np.concatenate([r.status_names for r in mresults]),
        "final_f": np.concatenate([r.final_f for r in mresults]),
    }
    if all(r.samples_per_step_after is not None or r.budget is not None for r in mresults):  # (a schedule's)
        cols["drop_steps"] = np.concatenate([r.drop_steps for r in mresults])
        if all(r.switch_steps is not None for r in mresults):  # (switching other than at the f-drop)
            cols["switch_steps"] = np.concatenate([r.switch_steps for r in mresults])
    return cols


@dataclass
class EscapeResult:
    """Per-trial arrays, the summary table and the configuration of an experiment.

    ``repr`` gives one line (objective, optimiser, batch sizes, trials, folder); a notebook shows the
    summary as the escape command's table (the median steps with their 95% intervals, per batch size).
    """

    config: EscapeConfig
    by_m: dict[int, MResult]  # in the order of config.m
    summary: list[dict[str, Any]]  # one dict per m: the rows of summary.csv
    out: Any = None  # the results folder (a Path), if any
    f0: float | None = None
    theory: SaddleQuantities | None = None  # at the start, where the theory applies

    def trials_table(self) -> dict[str, np.ndarray]:
        """All trials as a dict of column arrays (the columns of trials.csv)."""
        return trials_columns(self.by_m.values())

    def to_pandas(self) -> tuple[Any, Any]:
        """(trials, summary) as pandas DataFrames: one row per trial (trials.csv's columns, ``status``
        as names: 'escaped', 'censored', 'diverged', 'frozen') and one row per batch size (summary.csv's
        columns, objective-specific ones included).

        Needs pandas (``pip install 'saddle[pandas]'``); without it an ImportError says so in one line.
        """
        pd = _pandas()
        return trials_frame(self.trials_table()), pd.DataFrame(self.summary)

    def __repr__(self) -> str:
        c = self.config
        scaling = "" if c.lr_scaling == "none" else f" ({c.lr_scaling} in m)"
        where = f"in {self.out}" if self.out is not None else "not stored"
        return (
            f"EscapeResult({c.describe()}; {c.optimizer}, eta = {c.eta:g}{scaling}; m = {m_text(list(self.by_m))}; "
            f"{c.trials} trials per batch size, at most {c.max_steps} steps; {where})"
        )

    def _repr_html_(self) -> str:
        c = self.config
        cls = c.objective_class
        where = f"stored in {self.out}" if self.out is not None else "not stored"
        caption = f"{c.describe()}; {c.optimizer}; {c.trials} trials per batch size, at most {c.max_steps} steps"
        head, rows, notes = escape_table(self.summary, c.optimizer_class.minibatch, cls.theory_footnote)
        if cls.diverged_note and any(_number(r.get("diverged")) for r in self.summary):
            notes.append(f"diverged ({c.objective}): {cls.diverged_note}")
        return summary_html(f"{caption}; {where}", head, rows, notes)


# ----------------------------------------------------------------------------- how results show themselves


def m_text(ms: Sequence[Any]) -> str:
    """A list of batch sizes for a one-line repr: all of them, or the first and last few of a long one."""
    ms = [int(m) for m in ms]
    if len(ms) <= 10:
        return "[" + ", ".join(map(str, ms)) + "]"
    return f"[{', '.join(map(str, ms[:4]))}, ..., {', '.join(map(str, ms[-2:]))}] ({len(ms)} batch sizes)"


def _number(value: Any) -> float:
    """A table value as a float (NaN for an empty or non-numeric one: a cell whose statistics failed)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _steps(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) else ("inf" if value > 0 else "-")


def median_text(row: Mapping[str, Any]) -> str:
    """A summary row's median escape steps with its 95% interval, as the escape command's table prints it:
    '536 [491, 576]', '>10000' where fewer than half escaped (stored as max_steps + 1), '-' without one."""
    median = _number(row.get("median_steps"))
    if not math.isfinite(median):
        return "-"
    if str(row.get("median_is_lower_bound")) == "True":
        return f">{median - 1:.0f}"
    lo, hi = _number(row.get("median_steps_lo")), _number(row.get("median_steps_hi"))
    return f"{median:.0f} [{_steps(lo)}, {_steps(hi)}]"


def _samples_text(row: Mapping[str, Any], draws: bool) -> str:
    samples, median = _number(row.get("median_samples")), _number(row.get("median_steps"))
    if not draws or not math.isfinite(samples):
        return "-"
    if str(row.get("median_is_lower_bound")) == "True":
        return f">{samples / median * (median - 1):.0f}"
    return f"{samples:.0f}"


def _theory_text(row: Mapping[str, Any]) -> str:
    """The linear theory's median ('*' where it is not to be trusted) and the heat-path model's."""
    lin, model = _number(row.get("theory_median_steps")), _number(row.get("theory_model_median_steps"))
    if not math.isfinite(lin) and not math.isfinite(model):
        return "-"
    text = f"{lin:.0f}{'' if str(row.get('theory_trusted')) == 'True' else '*'}" if math.isfinite(lin) else "inf*"
    return text + (f" / {model:.0f}" if math.isfinite(model) else "")


def escape_table(
    rows: Sequence[Mapping[str, Any]], draws: bool = True, theory_footnote: str = "", lead: Sequence[str] = ()
) -> tuple[list[str], list[list[Any]], list[str]]:
    """The escape command's table of summary rows as (head, rows, notes): ``lead`` columns first (a sweep's
    parameters), then m, the step size used (``eta``, a sweep's ``eta_m``), the median steps with its 95%
    interval, the theory's median (where any row has one), the median samples, the trials' counts and the
    wall time."""
    eta = "eta_m" if any("eta_m" in r for r in rows) else "eta"
    theory = any(_theory_text(r) != "-" for r in rows)
    frozen = any(_number(r.get("frozen")) > 0 for r in rows)
    final_f = any(math.isfinite(_number(r.get("median_final_f"))) for r in rows)
    head = [
        *lead,
        "m",
        eta,
        "median steps [95% CI]",
        *(["theory"] if theory else []),
        "median samples",
        *(["median final f [95% CI]"] if final_f else []),
        "escaped",
        "censored",
        "diverged",
        *(["frozen"] if frozen else []),
        "wall s",
    ]
    table = []
    for r in rows:
        f, f_lo, f_hi = (_number(r.get(k)) for k in ("median_final_f", "median_final_f_lo", "median_final_f_hi"))
        table.append(
            [
                *(r.get(k) for k in lead),
                r.get("m"),
                f"{_number(r.get(eta)):g}",
                median_text(r),
                *([_theory_text(r)] if theory else []),
                _samples_text(r, draws),
                *([f"{f:.5g} [{f_lo:.5g}, {f_hi:.5g}]" if math.isfinite(f) else "-"] if final_f else []),
                r.get("escaped"),
                r.get("censored"),
                r.get("diverged"),
                *([r.get("frozen")] if frozen else []),
                f"{_number(r.get('wall_seconds')):.2f}",
            ]
        )
    notes = ["median steps: 95% bootstrap interval; >N: fewer than half of the trials escaped in N steps"]
    if theory and theory_footnote:
        notes.append(theory_footnote)
    return head, table, notes


def summary_html(caption: str, head: Sequence[str], rows: Iterable[Sequence[Any]], notes: Sequence[str] = ()) -> str:
    """An HTML table (every text escaped) with a caption above and notes below, for a notebook's display."""
    out = ['<div class="saddle-summary">', f'<p style="margin-bottom: 0.3em">{html.escape(caption)}</p>']
    out.append("<table>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    out.append("</tbody>")
    out.append("</table>")
    out += [f'<p style="margin-top: 0.2em"><small>{html.escape(n)}</small></p>' for n in notes]
    out.append("</div>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- several runs in one table


def stack(
    results: Iterable[Any] | Mapping[str, Any], names: Sequence[str] | None = None, *, table: str = "trials"
) -> Any:
    """Several runs' trials (or summaries) in one tidy pandas DataFrame, with a first column ``run``.

    Parameters
    ----------
    results : sequence of EscapeResult or SweepResult, or a mapping of names to them
        The runs, as ``run_escape`` / ``run_sweep`` return them or ``saddle.load`` reads them back.
    names : sequence of str, optional
        The ``run`` column's value for each run, distinct.  Default: a mapping's keys; else each run's
        folder name, where every run has a folder and their names differ; else 'run 1', 'run 2', ...
    table : {'trials', 'summary'}
        Which table: every trial (each run's ``to_pandas()[0]``: ``status`` and ``censored`` included), or
        one row per batch size (escape runs) or per cell (sweeps).

    Returns
    -------
    pandas.DataFrame
        The runs' tables one below the other, ``run`` first (a categorical, in the order given); a column
        that only some runs have is empty (NaN) for the others.  Each run keeps its own columns: an escape
        run names the step size used ``eta``, a sweep ``eta_m`` (its ``eta``, where swept, is the configured
        step size), as in their trials.csv.

    Examples
    --------
    >>> both = saddle.stack({"eta = 0.01": base, "eta = 0.02": hotter})          # doctest: +SKIP
    >>> escaped = both[both.status == "escaped"]                                  # doctest: +SKIP
    >>> escaped.groupby(["run", "m"], observed=True).steps.median()              # doctest: +SKIP
    """
    pd = _pandas()
    if table not in ("trials", "summary"):
        raise ValueError(f"table must be 'trials' or 'summary', got {table!r}")
    if isinstance(results, Mapping):
        names = list(results) if names is None else names
        results = list(results.values())
    runs = list(results)
    if not runs:
        raise ValueError("stack needs at least one run")
    labels = [str(n) for n in names] if names is not None else _run_names(runs)
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} names for {len(runs)} runs")
    if len(set(labels)) < len(labels):
        raise ValueError(f"the runs' names must differ, got {labels}")
    frames = []
    for label, run in zip(labels, runs):
        trials, summary = _tables(run)
        frame = trials if table == "trials" else summary
        frame.insert(0, "run", label)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["run"] = pd.Categorical(out["run"], categories=labels)
    return out


def _tables(run: Any) -> tuple[Any, Any]:
    """A run's (trials, summary) DataFrames; TypeError (one line) for anything but an escape run or a sweep."""
    to_pandas = getattr(run, "to_pandas", None)
    tables = to_pandas() if callable(to_pandas) else None
    if not (isinstance(tables, tuple) and len(tables) == 2 and {"steps", "status"} <= set(tables[0].columns)):
        raise TypeError(f"stack takes escape runs and sweeps (EscapeResult, SweepResult), got {type(run).__name__}")
    return tables


def _run_names(runs: Sequence[Any]) -> list[str]:
    """Each run's folder name where every run has one and they differ; else 'run 1', 'run 2', ..."""
    outs = [getattr(r, "out", None) for r in runs]
    folders = [str(getattr(o, "name", "")) for o in outs if o is not None]
    if len(folders) == len(runs) and all(folders) and len(set(folders)) == len(folders):
        return folders
    return [f"run {i + 1}" for i in range(len(runs))]
