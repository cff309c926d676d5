"""The batch-size frontier: the step-size search, the model's fit, and a frontier run as a user runs it.

Idea under test
---------------
docs/frontier.md: for every batch size the search finds the step size with the fewest median steps to the
target among those meeting the success rule (checked on synthetic S(eta) curves with a known optimum,
without simulating); McCandlish et al.'s S = S_min (1 + B_crit / m) fitted to data drawn from it gives
back its parameters; a real frontier on the spike stores every cell once, resumes without running a
stored cell again, keeps its cells when interrupted, reads back through ``saddle.load``, and refuses bad
input in one line before writing anything.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saddle
from saddle.config import EscapeConfig
from saddle.frontier.config import FrontierConfig
from saddle.frontier.model import bootstrap_fit, fit_frontier, misfits, model_steps, regime
from saddle.frontier.run import FrontierInterrupted, run_frontier
from saddle.frontier.search import Evaluation, search_step_size
from saddle.options import ConfigError

# ----------------------------------------------------------------------------- the search


def synthetic(optimum: int, fail_above: int, fail_below: int, calls: list[int]):
    """S(k) = 100 + (k - optimum)^2 (a parabola in log eta), failing the success rule outside
    [fail_below, fail_above] (the floor above, max_steps below)."""

    def evaluate(ks):
        out = []
        for k in ks:
            calls.append(k)
            ok = fail_below <= k <= fail_above
            out.append(Evaluation(k, 100.0 + (k - optimum) ** 2 if ok else math.inf, 1.0 if ok else 0.3, ok))
        return out

    return evaluate


@settings(max_examples=60, deadline=None)
@given(optimum=st.integers(-30, 30), start=st.integers(-30, 30), width=st.integers(0, 12))
def test_search_finds_the_optimum_of_a_parabola(optimum, start, width):
    """Wherever it starts, the search ends at the grid point with the fewest steps among those meeting the
    rule, bracketed by tried points, and never evaluates a grid point twice."""
    calls: list[int] = []
    hi = optimum + width  # the rule may fail just above the optimum (the noise floor)
    out = search_step_size(synthetic(optimum, hi, -40, calls), start, -60, 60)
    assert len(calls) == len(set(calls))
    assert out.best == optimum
    below, above = out.bracket()
    assert below is not None and above is not None and below < optimum < above
    assert out.edge == ""


def test_search_crosses_a_valley_of_failures():
    """The spike at m = 1: large steps reach the tight target now and then by a fluctuation (0.2% of
    trials), a wide band reaches it never, and only small steps meet the rule; the search, started in the
    valley, still finds the optimum far below."""

    def evaluate(ks):
        out = []
        for k in ks:
            if k <= -12:
                out.append(Evaluation(k, 2000.0 + 50 * (k + 15) ** 2, 1.0, True))
            else:
                out.append(Evaluation(k, math.inf, 0.002 if 4 <= k <= 8 else 0.0, False))
        return out

    out = search_step_size(evaluate, 0, -40, 40)
    assert out.best == -15


def test_search_stops_at_a_bound_and_says_so():
    """An optimum beyond the upper bound: eta* is the bound, and the outcome names the edge."""
    calls: list[int] = []
    out = search_step_size(synthetic(50, 99, -99, calls), 0, -10, 10)
    assert out.best == 10 and out.edge == "upper"
    assert max(calls) == 10


def test_search_without_success_names_the_closest():
    """No grid point meets the rule: best is None, and the closest is the one where most trials reached."""

    def evaluate(ks):
        return [Evaluation(k, math.inf, max(0.0, 0.5 - abs(k + 9) / 40), False) for k in ks]

    out = search_step_size(evaluate, 0, -20, 20, max_cells=30)
    assert out.best is None
    assert out.closest is not None and abs(out.closest + 9) <= 2
    with pytest.raises(ValueError):
        search_step_size(evaluate, 0, 5, -5)


# ----------------------------------------------------------------------------- the model


@settings(max_examples=40, deadline=None)
@given(s_min=st.floats(2, 500), b_crit=st.floats(1, 3000))
def test_fit_recovers_the_model_from_exact_data(s_min, b_crit):
    """S = S_min (1 + B/m) at m = 1 .. 4096 gives back S_min and B to 1e-6 (relative)."""
    m = 2.0 ** np.arange(13)
    fit = fit_frontier(m, model_steps(m, s_min, b_crit))
    assert fit.s_min == pytest.approx(s_min, rel=1e-6)
    assert fit.b_crit == pytest.approx(b_crit, rel=1e-6)
    assert fit.e_min == pytest.approx(s_min * b_crit, rel=1e-6)


def test_bootstrap_interval_covers_the_truth():
    """Trials drawn with lognormal spread around the model (sigma 0.3, 400 per m, seed 1): the 95% bootstrap
    intervals of S_min and B_crit contain the true values, and the model fits (no misfit)."""
    gen = np.random.default_rng(1)
    m = 2.0 ** np.arange(0, 13, 2)
    s_min, b_crit = 20.0, 150.0
    truth = model_steps(m, s_min, b_crit)
    trials = [t * np.exp(0.3 * gen.standard_normal(400)) for t in truth]
    medians = np.array([np.median(t) for t in trials])
    fit = fit_frontier(m, medians)
    ci = bootstrap_fit(m, trials, n_resamples=300, seed=2)
    assert ci["S_min"][0] <= s_min <= ci["S_min"][1]
    assert ci["B_crit"][0] <= b_crit <= ci["B_crit"][1]
    assert misfits(m, medians, medians * 0.95, medians * 1.05, fit) == []
    assert regime(1, b_crit) == "perfect scaling"
    assert regime(4096, b_crit) == "maximal data parallelism"
    assert regime(b_crit, b_crit) == "diminishing returns"


# ----------------------------------------------------------------------------- a run


SMALL = dict(m=(4, 64), trials=100, max_steps=5000)


def test_frontier_run_resume_and_load(tmp_path):
    """A small spike frontier: eta* grows with m, S falls, E = m S; a rerun reads every cell back (no cell
    runs again); saddle.load returns the same tables."""
    out = tmp_path / "f"
    first = run_frontier(FrontierConfig(EscapeConfig(**SMALL)), out=out, noise=False, theory=False, n_bootstrap=50)
    t = first.frontier
    assert list(t["m"]) == [4, 64]
    assert t["eta_star"][1] > t["eta_star"][0]
    assert t["S"][1] < t["S"][0]
    assert np.allclose(t["E"], t["m"] * t["S"])
    assert np.all(t["reached"] >= 0.95)
    tuned = first.tuning
    assert len(set(tuned["cell"])) == len(tuned["cell"])
    assert np.all(np.isfinite(first.frontier["escape_steps"]))
    assert np.all(t["escape_steps"] < t["S"])
    stored = sorted(p.name for p in (out / "cells").iterdir())
    assert len(stored) == len(tuned["cell"])

    lines: list[str] = []
    again = run_frontier(
        FrontierConfig(EscapeConfig(**SMALL)), out=out, noise=False, theory=False, n_bootstrap=50, progress=lines.append
    )
    assert np.array_equal(again.frontier["S"], t["S"])
    cell_lines = [line for line in lines if "reached the target" in line]
    assert cell_lines and all(line.endswith("(stored)") for line in cell_lines)

    loaded = saddle.load(out)
    assert isinstance(loaded, saddle.FrontierResult)
    assert np.array_equal(loaded.frontier["S"], t["S"])
    assert loaded.fit["B_crit"] == pytest.approx(first.fit["B_crit"])


def test_interrupted_frontier_keeps_its_cells(tmp_path):
    """Ctrl-C after the third cell: the three cells stay stored, and a rerun runs only the rest."""
    out = tmp_path / "f"
    seen: list[str] = []

    def stop_after_three(line: str) -> None:
        seen.append(line)
        if sum("reached the target" in s for s in seen) == 3:
            raise KeyboardInterrupt

    config = FrontierConfig(EscapeConfig(**SMALL))
    with pytest.raises(FrontierInterrupted) as info:
        run_frontier(config, out=out, noise=False, theory=False, progress=stop_after_three)
    assert info.value.kept == 3
    assert len(list((out / "cells").iterdir())) == 3
    lines: list[str] = []
    run_frontier(config, out=out, noise=False, theory=False, n_bootstrap=20, progress=lines.append)
    assert sum(line.endswith("(stored)") for line in lines if "reached the target" in line) == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(target=-1.5), "minimum"),
        (dict(target=-0.45), "not past the saddle"),
        (dict(m=(4, 2)), "increasing"),
        (dict(m=(4, 4)), "increasing|twice"),
        (dict(eta_min=0.1, eta_max=0.01), "empty or inverted"),
        (dict(eta_min=0.1, eta_max=0.1), "empty or inverted"),
        (dict(success=0.0), "--success"),
        (dict(lr_scaling="sqrt"), "tunes eta"),
        (dict(optimizer="pgd"), "does not draw"),
        (dict(target=-0.9, target_fraction=0.5), "once"),
    ],
)
def test_bad_input_is_refused_in_one_line(options, message):
    own = {k: options.pop(k) for k in ("eta_min", "eta_max", "success", "target_fraction") if k in options}
    with pytest.raises(ConfigError, match=message):
        FrontierConfig(EscapeConfig(**{**SMALL, **options}), **own)


def test_cli_refusal_writes_nothing(tmp_path):
    """The command line: an unreachable target is one line on stderr, exit 2, and no folder."""
    out = tmp_path / "f"
    proc = subprocess.run(
        [sys.executable, "-m", "saddle.experiments", "frontier", "--target", "-2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "minimum" in proc.stderr
    assert not out.exists()


def test_frontier_json_names_the_search(tmp_path):
    """The marker records the target, the bounds and the success rule; a different rule is refused."""
    out = tmp_path / "f"
    run_frontier(FrontierConfig(EscapeConfig(m=(64,), trials=50)), out=out, noise=False, theory=False)
    meta = json.loads((out / "frontier.json").read_text())
    assert meta["frontier"]["success"] == 0.95 and meta["frontier"]["target"] == pytest.approx(-0.95)
    with pytest.raises(ConfigError, match="different"):
        run_frontier(FrontierConfig(EscapeConfig(m=(64,), trials=50), success=0.9), out=out, noise=False)


def test_a_search_that_finds_nothing_says_so(tmp_path):
    """max_steps far too small for the target: no step size meets the rule at any m; one line names the
    closest step size tried (exit 2 on the command line), and the cells tried stay stored."""
    out = tmp_path / "f"
    proc = subprocess.run(
        [sys.executable, "-m", "saddle.experiments", "frontier", "--m", "1", "--trials", "20", "--max-steps", "30"]
        + ["--max-cells", "6", "--out", str(out), "--quiet", "--no-noise"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "meets the success rule" in lines[0] and "closest" in lines[0]
    assert len(list((out / "cells").iterdir())) == 6


def test_a_local_cluster_gives_the_same_frontier(tmp_path):
    """Cells run on a Dask LocalCluster of two workers: the same cells, trial for trial, as in-process."""
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'saddle[cluster]')")
    config = FrontierConfig(EscapeConfig(m=(64,), trials=50))
    here = run_frontier(config, out=tmp_path / "here", noise=False, theory=False, n_bootstrap=20)
    there = run_frontier(config, out=tmp_path / "dask", workers=2, noise=False, theory=False, n_bootstrap=20)
    assert list(here.tuning["cell"]) == list(there.tuning["cell"])
    assert (tmp_path / "here" / "trials.csv").read_bytes() == (tmp_path / "dask" / "trials.csv").read_bytes()


def test_workers_below_one_are_refused_before_anything_is_written(tmp_path):
    """--workers 0 (or threads 0) is one line, and no folder (a LocalCluster of no workers would wait forever)."""
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        run_frontier(FrontierConfig(EscapeConfig(m=(64,), trials=20)), out=tmp_path / "w", workers=0)
    assert not (tmp_path / "w").exists()


def test_load_verifies_every_cell(tmp_path):
    """saddle.load checks each cell's files against its cell.json, as a rerun does: a truncated cell table
    is refused in one line naming it."""
    out = tmp_path / "f"
    run_frontier(FrontierConfig(EscapeConfig(m=(64,), trials=30)), out=out, noise=False, theory=False)
    cell = sorted((out / "cells").iterdir())[0]
    (cell / "trials.csv").write_text((cell / "trials.csv").read_text()[:100])
    with pytest.raises(ConfigError, match="does not match its checksum"):
        saddle.load(out)


def test_ctrl_c_during_the_fit_keeps_every_cell(tmp_path, monkeypatch):
    """Ctrl-C after the last cell (during the fit): FrontierInterrupted counts every stored cell, and a rerun
    runs none."""
    from saddle.frontier import run as frontier_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    config = FrontierConfig(EscapeConfig(m=(16, 64), trials=30))
    monkeypatch.setattr(frontier_run, "bootstrap_fit", interrupted)
    with pytest.raises(FrontierInterrupted) as info:
        run_frontier(config, out=tmp_path / "f", noise=False, theory=False)
    stored = len(list((tmp_path / "f" / "cells").iterdir()))
    assert info.value.kept == stored > 0
    monkeypatch.undo()
    lines: list[str] = []
    run_frontier(config, out=tmp_path / "f", noise=False, theory=False, n_bootstrap=20, progress=lines.append)
    assert all(line.endswith("(stored)") for line in lines if "reached the target" in line)
