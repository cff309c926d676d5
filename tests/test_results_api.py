"""Results in a notebook: a short repr, an HTML summary table, DataFrames that show censoring, runs stacked.

Idea under test
---------------
docs/api.md, "Results": ``repr`` of an escape run, a batch size's trials, a sweep and a frontier is a line
(objective, batch sizes, trials, folder), not their arrays; ``_repr_html_`` is the command line's table
(per batch size the median steps with its 95% interval), every text escaped; ``to_pandas`` gives trials
with a boolean ``censored`` column equal to ``status == 'censored'``; ``saddle.stack`` puts several runs
one below the other with a ``run`` column.  And "Running an experiment": ``run_escape`` announces a slow
compile and shows its progress where someone watches (a terminal, a Jupyter kernel), and is silent elsewhere
or with ``progress=False``.

The results are built from synthetic trials (no kernel runs), with censored and diverged trials placed on
purpose, and stored through the stores that ``run_escape`` and ``run_sweep`` use; the run_escape tests use
the cheapest kernel (spike, sgd, d = 6), which other test modules compile.
"""

from __future__ import annotations

import re
import sys
import time
import types
from html.parser import HTMLParser

import numpy as np
import pytest

import saddle
from saddle import escape
from saddle.config import EscapeConfig
from saddle.frontier.config import FrontierConfig
from saddle.frontier.result import FrontierResult
from saddle.kernels import CENSORED, DIVERGED, ESCAPED
from saddle.records import EscapeResult, MResult
from saddle.store.escape import ResultsFolder
from saddle.store.sweep import SweepFolder, load_sweep
from saddle.sweep import SweepConfig

pd = pytest.importorskip("pandas")

SMALL = dict(m=[2, 8], d=6, trials=40, max_steps=2000, seed=0)
CENSORED_AT = {2: 3, 8: 25}  # censored trials per m: m = 8's median is a lower bound (over half censored)
DIVERGED_AT = {2: 1, 8: 0}


def synthetic(m: int, eta: float = 0.01, trials: int = 40, max_steps: int = 2000, seed: int = 0) -> MResult:
    """A batch size's trials: escapes at random steps, the first ones censored or diverged on purpose."""
    rng = np.random.default_rng(seed + m)
    steps = rng.integers(20, 400, trials).astype(np.int64)
    status = np.full(trials, ESCAPED, np.int8)
    n_cens, n_div = CENSORED_AT[m], DIVERGED_AT[m]
    status[:n_cens], steps[:n_cens] = CENSORED, max_steps
    status[n_cens : n_cens + n_div] = DIVERGED
    final_f = np.where(status == ESCAPED, -0.6, -0.5)
    return MResult(m, eta, steps, status, final_f, 0.01)


def result(config: EscapeConfig, out=None) -> EscapeResult:
    by_m = {m: synthetic(m, config.eta_for(m)) for m in config.m}
    rows = [escape.summary_row(config, r) for r in by_m.values()]
    return EscapeResult(config, by_m, rows, out, -0.5)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """An escape run and a sweep (m = 2, 8), each stored in its folder; the escape folder's name needs escaping."""
    base = tmp_path_factory.mktemp("results")
    config = EscapeConfig(**SMALL)
    run = result(config)
    store = ResultsFolder.open(base / "run<a>&b", config)
    try:
        store.save(list(run.by_m.values()), run.summary)
    finally:
        store.close()
    sweep = SweepConfig.from_dict(
        {
            "sweep": {"name": "tiny", "seed": 0, "trials": 40, "max_steps": 2000},
            "grid": {"m": [2, 8]},
            "fixed": {"d": 6},
        }
    )
    folder = SweepFolder.open(base / "sweep", sweep)
    try:
        for cell in sweep.cells():
            mres = synthetic(cell.config.m[0])
            folder.store(cell, mres, escape.summary_row(cell.config, mres))
        folder.write_tables()
    finally:
        folder.close()
    return {"escape": saddle.load(base / "run<a>&b"), "sweep": load_sweep(base / "sweep")}


class Tags(HTMLParser):
    """Checks that every tag opened is closed, in order; collects the table cells' texts."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.cells: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        if tag == "td":
            self.cells.append("")

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> closes nothing open")

    def handle_data(self, data):
        if self.open and self.open[-1] == "td":
            self.cells[-1] += data


def parsed(text: str) -> Tags:
    tags = Tags()
    tags.feed(text)
    tags.close()
    assert not tags.errors and not tags.open, (tags.errors, tags.open)
    return tags


# ----------------------------------------------------------------------------- repr


def test_reprs_are_a_line_naming_the_run_not_its_arrays(folders):
    run, sweep = folders["escape"], folders["sweep"]
    for obj in (run, run.by_m[2], sweep):
        text = repr(obj)
        assert len(text) < 1000 and "array(" not in text and "\n" not in text, text
    text = repr(run)
    assert "spike d=6" in text and "sgd" in text and "m = [2, 8]" in text and "40 trials" in text
    assert str(run.out) in text
    assert repr(run.by_m[8]) == "MResult(m = 8, eta = 0.01; 40 trials: 15 escaped, 25 censored, 0 diverged; 0.01 s)"
    assert "'tiny'" in repr(sweep) and "2 cells" in repr(sweep) and str(sweep.out) in repr(sweep)
    assert "not stored" in repr(result(EscapeConfig(**SMALL)))


def test_a_long_m_list_is_shortened_in_the_repr():
    config = EscapeConfig(**{**SMALL, "m": [2**k for k in range(12)]})
    run = EscapeResult(config, {m: synthetic(2) for m in config.m}, [], None)
    text = repr(run)
    assert len(text) < 1000 and "[1, 2, 4, 8, ..., 1024, 2048] (12 batch sizes)" in text


# ----------------------------------------------------------------------------- HTML


def test_html_is_the_command_lines_table_escaped(folders):
    run = folders["escape"]
    text = run._repr_html_()
    assert "<th>theory</th>" not in text  # (the synthetic rows carry no theory)
    cells = parsed(text).cells
    rows = [cells[i : i + 8] for i in range(0, len(cells), 8)]  # m, eta, median, samples, 3 counts, wall s
    assert [r[0] for r in rows] == ["2", "8"]
    for cells, row in zip(rows, run.summary):
        if row["median_is_lower_bound"]:
            assert cells[2] == f">{SMALL['max_steps']}"
        else:
            assert cells[2] == f"{row['median_steps']:.0f} [{row['median_steps_lo']:.0f}, {row['median_steps_hi']:.0f}]"
        assert cells[4:7] == [str(row["escaped"]), str(row["censored"]), str(row["diverged"])]
    assert [r[2].startswith(">") for r in rows] == [False, True]  # m = 8: 25 of 40 censored
    assert "run&lt;a&gt;&amp;b" in text and "run<a>" not in text  # the folder's name, escaped


def test_mresult_sweep_and_frontier_show_tables(folders):
    text = folders["escape"].by_m[2]._repr_html_()
    assert parsed(text).cells[:6] == ["2", "0.01", "40", "36", "3", "1"]  # m, eta, trials, escaped, censored, diverged
    sweep = folders["sweep"]
    text = sweep._repr_html_()
    cells = parsed(text).cells
    rows = [cells[i : i + 8] for i in range(0, len(cells), 8)]
    assert [r[0] for r in rows] == ["2", "8"]
    first = pd.DataFrame(sweep.summary).iloc[0]
    assert rows[0][2] == f"{first.median_steps:.0f} [{first.median_steps_lo:.0f}, {first.median_steps_hi:.0f}]"
    assert rows[1][2] == f">{SMALL['max_steps']}"  # m = 8's lower bound

    frontier = FrontierResult(
        FrontierConfig(EscapeConfig(**SMALL)),
        tuning={},
        frontier={
            "m": np.array([2, 8]),
            "eta_star": np.array([0.02, 0.04]),
            "eta_lo": np.array([0.017, 0.034]),
            "eta_hi": np.array([0.024, np.nan]),
            "edge": np.array(["", "upper"], dtype=object),
            "S": np.array([120.0, np.inf]),
            "S_lo": np.array([100.0, 300.0]),
            "S_hi": np.array([150.0, np.inf]),
            "E": np.array([240.0, np.inf]),
            "escape_steps": np.array([80.0, 40.0]),
            "reached": np.array([1.0, 0.4]),
            "seconds": np.array([0.1, np.inf]),
            "regime": np.array(["perfect scaling", ""], dtype=object),
        },
        fit={"best_m_steps": 2, "best_m_samples": 2, "best_m_seconds": 2},
        out=folders["escape"].out,
    )
    assert len(repr(frontier)) < 1000 and "m = [2, 8]" in repr(frontier) and "target f <=" in repr(frontier)
    cells = parsed(frontier._repr_html_()).cells
    assert cells[:4] == ["2", "0.02", "[0.017, 0.024]", "120 [100, 150]"]
    assert cells[9:13] == ["8", "0.04 (upper bound)", "[0.034, -]", ">max [300, >max]"]


def test_html_of_a_sweep_whose_folder_is_gone_says_so(folders, tmp_path):
    moved = type(folders["sweep"])(folders["sweep"].sweep, tmp_path / "gone", [], [])
    text = moved._repr_html_()
    parsed(text)
    assert "gone" in text and "<td>" not in text


# ----------------------------------------------------------------------------- DataFrames


def test_censored_column_agrees_with_status(folders):
    run, sweep = folders["escape"], folders["sweep"]
    frames = {"escape": run.to_pandas()[0], "mresult": run.by_m[8].to_pandas(), "sweep": sweep.to_pandas()[0]}
    for name, trials in frames.items():
        assert trials["censored"].dtype == bool, name
        assert list(trials.columns).index("censored") == list(trials.columns).index("steps") + 1, name
        np.testing.assert_array_equal(trials["censored"], trials["status"].astype(str) == "censored", err_msg=name)
        assert (trials.loc[trials["censored"], "steps"] == SMALL["max_steps"]).all(), name
    trials = frames["escape"]
    assert trials.groupby("m")["censored"].sum().to_dict() == CENSORED_AT
    assert [r["censored"] for r in run.summary] == [CENSORED_AT[2], CENSORED_AT[8]]


def test_sweep_to_pandas_gives_the_tidy_tables(folders):
    trials, summary = folders["sweep"].to_pandas()
    assert list(trials.columns[:4]) == ["cell", "m", "eta_m", "trial"] and len(trials) == 2 * SMALL["trials"]
    assert list(summary["m"]) == [2, 8] and "median_steps" in summary.columns
    assert isinstance(trials["status"].dtype, pd.CategoricalDtype)


# ----------------------------------------------------------------------------- stack


def test_stack_puts_runs_one_below_the_other_with_their_names(folders):
    run, sweep = folders["escape"], folders["sweep"]
    both = saddle.stack([run, sweep])
    assert list(both["run"].cat.categories) == ["run<a>&b", "sweep"]  # the folders' names
    assert both.columns[0] == "run" and len(both) == 4 * SMALL["trials"]
    assert (both["run"] == "sweep").sum() == 2 * SMALL["trials"]
    assert both.groupby("run", observed=True)["censored"].sum().to_dict() == {"run<a>&b": 28, "sweep": 28}
    assert both.loc[both["run"] == "sweep", "eta"].isna().all()  # the sweep's step size is eta_m

    summary = saddle.stack({"a": run, "b": run}, table="summary")
    assert list(summary["run"]) == ["a", "a", "b", "b"] and list(summary["m"]) == [2, 8, 2, 8]
    assert list(saddle.stack([result(EscapeConfig(**SMALL))] * 2)["run"].cat.categories) == ["run 1", "run 2"]


def test_stack_refuses_what_it_cannot_stack(folders):
    run = folders["escape"]
    with pytest.raises(ValueError, match="2 names for 1 runs"):
        saddle.stack([run], names=["a", "b"])
    with pytest.raises(ValueError, match="must differ"):
        saddle.stack([run, run], names=["a", "a"])
    with pytest.raises(ValueError, match="table must be"):
        saddle.stack([run], table="cells")
    frontier = FrontierResult(None, {}, {"m": np.array([2])}, {})
    assert repr(frontier) == "FrontierResult(1 batch sizes; not stored)"
    with pytest.raises(TypeError, match="got FrontierResult"):
        saddle.stack([run, frontier])


# ----------------------------------------------------------------------------- run_escape's progress


def test_watched_means_a_terminal_or_a_jupyter_kernel(monkeypatch):
    tty = types.SimpleNamespace(isatty=lambda: True)
    pipe = types.SimpleNamespace(isatty=lambda: False)
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setattr(sys, "stderr", tty)
    assert escape._watched()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert not escape._watched()
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert escape._watched()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: types.SimpleNamespace()))
    assert not escape._watched()  # a terminal IPython (no kernel) whose stderr is a pipe


def test_run_escape_shows_progress_where_watched_and_is_silent_elsewhere(monkeypatch, capsys):
    run_trials = escape.run_trials

    def slow_compile(*args, **kwargs):  # the compile step (no trials) takes over the announcement's second
        if kwargs.get("n_trials") == 0:
            time.sleep(1.3)
        return run_trials(*args, **kwargs)

    monkeypatch.setattr(escape, "run_trials", slow_compile)
    monkeypatch.setattr(escape, "_watched", lambda: True)
    escape.run_escape(**SMALL)
    err = capsys.readouterr().err
    assert "compiling the spike kernel" in err
    assert "m = 2 (1/2)" in err and "trial" in err  # the first batch size's bar
    assert re.search(r"m = 8: \d+ of 40 trials escaped, median \d+ steps", err)

    monkeypatch.setattr(escape, "run_trials", run_trials)
    escape.run_escape(**SMALL, progress=False)  # watched, but turned off
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(escape, "_watched", lambda: False)
    escape.run_escape(**SMALL)  # not watched (stderr a file, a test): silent by default
    assert capsys.readouterr().err == ""
    lines: list[str] = []
    escape.run_escape(**SMALL, announce=lines.append)  # the lines to a function, whatever progress is
    assert len(lines) == 2 and capsys.readouterr().err == ""
