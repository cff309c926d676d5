"""The records of an escape run: each batch size's trials (:class:`MResult`) and the whole run's
result (:class:`EscapeResult`), in memory.  :mod:`saddle.store.escape` stores them in a folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from saddle.kernels import STATUS_NAMES

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


@dataclass
class MResult:
    """The trials of one batch size m."""

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
        """This batch size's trials as a pandas DataFrame (trials.csv's columns, status as names)."""
        pd = _pandas()
        return pd.DataFrame(trials_columns([self]))

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
    """Per-trial arrays, the summary table and the configuration of an experiment."""

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
        trials = pd.DataFrame(self.trials_table())
        trials["status"] = pd.Categorical(trials["status"], categories=list(STATUS_NAMES.values()))
        summary = pd.DataFrame(self.summary)
        return trials, summary
