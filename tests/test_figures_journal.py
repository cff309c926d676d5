"""Figures a journal takes, as the ``plot`` command draws them from stored runs (docs/figures.md).

Idea under test
---------------
- ``plot --panels survival,median`` draws the panels named, in order; an unknown name is refused in one line
  naming the valid ones (exit 2); ``--width one`` lays the panels out two to a row, at most two rows, at a
  journal's proportions (never a 3.5 in column of four panels).
- Trajectories start at step 0, drawn at the left edge of a log step axis (symmetric log, said on the axis
  label), thinned log-uniformly in the step, as a median and 10-90% band per batch size.
- ``plot FOLDER`` writes beside the run's own figure (``escape-replot.*``), never over it, and says where.
- Overlays of runs with different m lists and objectives: one fixed colour per batch size in every figure,
  legends that list every m and fit in the figure, labels that name only what differs (shortened),
  ``--label`` overriding them, no layout warning.
- ``--export-csv`` writes what the figure draws as tidy CSV (run, m, step, survival, lo, hi, ...).

Small runs (16-24 trials, a few hundred steps) keep every test cheap; figures are drawn with Agg.
"""

from __future__ import annotations

import csv
import shutil
import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import saddle  # noqa: E402
from saddle.config import EscapeConfig  # noqa: E402
from saddle.escape import run_escape  # noqa: E402
from saddle.experiments.cli import main  # noqa: E402
from saddle.plotting import MODEL_COLOUR, THEORY_COLOUR, batch_colour, log_uniform_indices  # noqa: E402
from saddle.plotting.escape import escape_figure, run_labels, trajectory_panel  # noqa: E402
from saddle.plotting.escape_data import (  # noqa: E402
    TRAJECTORY_POINTS,
    median_points,
    survival_with_interval,
    theory_curves,
    trajectory_band,
)

SMALL = dict(d=6, trials=24, max_steps=400, seed=5, record_trials=6, record_points=16)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny stored runs: the spike at m = 1, 4 (uniform data) and 1, 4, 32 (Laplace data), and the
    quadratic at m = 2, 8: different m lists and objectives."""
    base = tmp_path_factory.mktemp("journal")
    return {
        "uniform": run_escape(**SMALL, m=[1, 4], out=base / "uniform"),
        "laplace": run_escape(**SMALL, m=[1, 4, 32], dist="laplace", out=base / "laplace"),
        "quadratic": run_escape(**SMALL, m=[2, 8], objective="quadratic", out=base / "quadratic"),
    }


def drawn(fig):
    """Draw ``fig`` with Agg (no warning allowed: a constrained-layout warning fails the test); its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(50)  # (the layout is in inches and points: the same at any dpi)
    canvas = FigureCanvasAgg(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        canvas.draw()
    return canvas.get_renderer()


def inside(fig, what, renderer, slack=1.0):
    """Whether an artist (or a box, in pixels) lies within the figure's sides and above its bottom."""
    box, page = (what.get_window_extent(renderer) if hasattr(what, "get_window_extent") else what), fig.bbox
    return box.x0 >= page.x0 - slack and box.x1 <= page.x1 + slack and box.y0 >= page.y0 - slack


# ----------------------------------------------------------------------------- panels and widths


def test_panels_are_chosen_by_name_in_order(runs, tmp_path, capsys):
    folder = str(runs["uniform"].out)
    fig = escape_figure(runs["uniform"], panels="median,survival")
    assert [ax.get_label() for ax in fig.axes] == ["median", "survival"]
    assert [ax.get_label() for ax in escape_figure(runs["uniform"], panels=["trajectories"]).axes] == ["trajectories"]
    argv = ["--panels", "survival,median", "--out", str(tmp_path / "two"), "--format", "png", "--dpi", "30"]
    rc = main(["plot", folder, *argv])
    assert rc == 0 and (tmp_path / "two.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["plot", folder, "--panels", "survival,medians", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'medians'" in err[0] and "survival, median, trajectories" in err[0], err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "overlay, argv, message",
    [
        (False, ["--panels", ","], "name at least one"),
        (False, ["--panels", "survival,survival"], "more than once"),
        (True, ["--panels", "trajectories"], "draws one run"),
        (True, ["--label", "only one"], "one per folder"),
    ],
)
def test_panel_and_label_refusals_are_one_line_exit_2(runs, tmp_path, capsys, overlay, argv, message):
    folders = [str(runs["uniform"].out)] + ([str(runs["laplace"].out)] if overlay else [])
    assert main(["plot", *folders, *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("cost, panels, rows", [("steps", "survival,median", 1), ("both", None, 2), ("steps", None, 2)])
def test_one_column_is_laid_out_at_journal_proportions(runs, cost, panels, rows):
    """One column (3.5 in): two panels side by side, three or four in two rows; never taller than about 3.5 in
    a row, and everything (titles, axis labels, the legend) inside the figure."""
    fig = escape_figure(runs["uniform"], "one", cost=cost, panels=panels, style="paper")
    renderer = drawn(fig)
    width, height = fig.get_size_inches()
    assert width == pytest.approx(3.5) and height <= 3.5 * rows + 0.2, (width, height)
    tops = sorted({round(ax.get_position().y1, 2) for ax in fig.axes})
    assert len(tops) == rows
    for ax in fig.axes:
        assert inside(fig, ax.get_tightbbox(renderer), renderer), ax.get_label()
    assert inside(fig, fig.legends[0], renderer)


# ----------------------------------------------------------------------------- trajectories


def test_log_uniform_indices_keep_the_first_steps_and_thin_the_late_ones():
    t = np.arange(0, 10_001, 8)
    keep = log_uniform_indices(t, 60)
    assert keep[0] == 0 and keep[-1] == t.size - 1 and len(keep) <= 62
    assert np.all(np.diff(keep) > 0)
    counts = np.histogram(t[keep][1:], bins=[8, 80, 800, 10_001])[0]  # per decade: all nine of the first,
    assert counts[0] == 9 and 10 <= counts[1] <= counts[2] <= 2 * counts[1], counts  # about as many later
    assert np.array_equal(log_uniform_indices(t[:30], 60), np.arange(30))


def test_the_band_is_taken_where_every_running_trial_was_recorded():
    """Trials at strides 1 and 2; one stops at step 5 (then counts with its last value): the steps are those
    where every running trial has a value, no value is interpolated, step 0 comes first."""
    a = (np.arange(0, 9), np.linspace(0.0, -0.8, 9))  # stride 1, runs to step 8
    b = (np.array([0, 2, 4, 5]), np.array([0.0, 1.0, 2.0, 3.0]))  # stride 2, stops at 5
    c = (np.array([0, 2, 4, 6, 8]), np.array([0.0, -1.0, -2.0, -3.0, -4.0]))
    band = trajectory_band([a, b, c], quantiles=(0.0, 0.5, 1.0))
    np.testing.assert_array_equal(band.steps, [0, 2, 4, 6, 8])
    at6 = [a[1][6], 3.0, -3.0]  # b holds its last value
    assert band.lo[3] == min(at6) and band.hi[3] == max(at6) and band.median[3] == np.median(at6)
    assert band.trials == 3 and band.median[0] == 0.0


def test_trajectories_start_at_step_zero_on_the_left_edge(runs):
    from matplotlib.figure import Figure

    res = runs["laplace"]
    ax = Figure().subplots()
    trajectory_panel(ax, res, show="both", per_m=2)
    assert ax.get_xscale() == "symlog" and ax.get_xlim()[0] == 0
    assert "0, then log" in ax.get_xlabel()
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]  # not the levels' lines
    assert len(lines) == 3 * (1 + 2)  # per m: the median, two trials
    for line in lines:
        x = np.asarray(line.get_xdata())
        assert x[0] == 0 and len(x) <= TRAJECTORY_POINTS + 2
    assert len(ax.collections) == 3  # one band per batch size
    for line, m in zip(lines[::3], res.by_m):
        assert matplotlib.colors.same_color(line.get_color(), batch_colour(m))


# ----------------------------------------------------------------------------- the run's own figure


def test_plot_writes_beside_the_runs_own_figure_and_says_where(runs, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(runs["uniform"].out, folder)
    (folder / "escape.png").write_bytes(b"the run's own figure")
    assert main(["plot", str(folder), "--format", "png", "--dpi", "30"]) == 0
    out = capsys.readouterr().out
    assert (folder / "escape.png").read_bytes() == b"the run's own figure"
    assert (folder / "escape-replot.png").stat().st_size > 0
    assert str(folder / "escape-replot.png") in out and "beside" in out
    assert (
        main(["plot", str(folder), "--format", "png", "--dpi", "30", "--out", str(tmp_path / "mine"), "--quiet"]) == 0
    )
    assert (tmp_path / "mine.png").exists() and capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- overlays


def test_a_batch_size_keeps_its_colour_whatever_runs_are_beside_it(runs):
    ms = [2**k for k in range(16)] + [3, 5, 6, 10, 12, 20, 24, 48, 100, 1000, 10_000]
    colours = [batch_colour(m) for m in ms]
    assert len(set(colours)) == len(ms) and THEORY_COLOUR not in colours and MODEL_COLOUR not in colours
    alone = escape_figure(runs["uniform"], panels="survival").axes[0].get_lines()
    both = escape_figure([runs["uniform"], runs["laplace"]], panels="survival").axes[0].get_lines()
    assert [line.get_color() for line in alone] == [batch_colour(m) for m in (1, 4)]
    assert [line.get_color() for line in both] == [batch_colour(m) for m in (1, 4, 1, 4, 32)]


@pytest.mark.parametrize("width", ["one", "two"])
def test_an_overlay_of_different_m_lists_and_objectives_names_every_m_and_fits(runs, width):
    results = [runs["uniform"], runs["laplace"], runs["quadratic"]]
    fig = escape_figure(results, width)
    renderer = drawn(fig)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {f"m = {m}" for m in (1, 2, 4, 8, 32)} <= set(texts)
    assert inside(fig, fig.legends[0], renderer)
    names = run_labels(results)
    assert names == ["spike, dist = uniform", "spike, dist = laplace", "quadratic"]
    shown = texts + [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert all(any(name in text.replace("\n", " ") for text in shown) for name in names)
    for ax in fig.axes:
        assert inside(fig, ax.get_tightbbox(renderer), renderer)


def test_overlay_labels_name_only_what_differs_shortened():
    def labels(*configs):
        return run_labels([SimpleNamespace(config=c) for c in configs])

    many = dict(eta=0.02, lr_scaling="sqrt", delta=0.2, trials=50, max_steps=900, seed=3)
    assert labels(EscapeConfig(), EscapeConfig(**many)) == [
        r"$\eta$ = 0.01, lr_scaling = none, $\delta$ = 0.1, +3 more",
        r"$\eta$ = 0.02, lr_scaling = sqrt, $\delta$ = 0.2, +3 more",
    ]
    assert labels(EscapeConfig(m=(1, 2)), EscapeConfig(m=(1, 2, 4, 8, 16, 32))) == ["m = 1,2", "m = 1..32 (6)"]
    assert labels(EscapeConfig(), EscapeConfig(objective="quadratic", eta=0.02)) == [
        r"spike, $\eta$ = 0.01",
        r"quadratic, $\eta$ = 0.02",
    ]
    assert labels(EscapeConfig(), EscapeConfig()) == ["run 1", "run 2"]


def test_label_overrides_the_names_of_the_runs(runs, tmp_path):
    argv = ["plot", str(runs["uniform"].out), str(runs["quadratic"].out), "--label", "A", "--label", "B"]
    assert (
        main([*argv, "--out", str(tmp_path / "ab"), "--format", "png", "--dpi", "30", "--export-csv", "--quiet"]) == 0
    )
    with open(tmp_path / "ab-medians.csv", newline="") as f:
        assert {row["run"] for row in csv.DictReader(f)} == {"A", "B"}
    fig = escape_figure([runs["uniform"], runs["quadratic"]], labels=["A", "B"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["A", "B"]


# ----------------------------------------------------------------------------- the numbers behind the figure


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_export_csv_writes_what_the_figure_draws(runs, tmp_path, capsys):
    res = runs["laplace"]
    stem = tmp_path / "fig"
    argv = ["plot", str(res.out), "--out", str(stem), "--format", "png", "--dpi", "30", "--both", "--export-csv"]
    assert main(argv) == 0
    names = ["survival", "medians", "theory", "trajectories"]
    out = capsys.readouterr().out
    assert all(f"{stem}-{name}.csv" in out for name in names), out
    survival = read(f"{stem}-survival.csv")
    assert list(survival[0]) == ["run", "m", "step", "survival", "lo", "hi"] and survival[0]["run"] == "laplace"
    for m, r in res.by_m.items():
        rows = [row for row in survival if int(row["m"]) == m]
        t, s, lo, hi = survival_with_interval(r.steps, r.status, res.config.max_steps)
        np.testing.assert_array_equal([int(row["step"]) for row in rows], t)
        np.testing.assert_array_equal([float(row["survival"]) for row in rows], s)
        assert rows[0]["step"] == "0" and float(rows[0]["survival"]) == 1.0
        assert all(float(row["lo"]) <= float(row["survival"]) <= float(row["hi"]) for row in rows)
    medians = read(f"{stem}-medians.csv")
    for cost in ("steps", "samples"):
        points = median_points(res, cost)
        mine = [row for row in medians if row["cost"] == cost]
        np.testing.assert_array_equal([float(row["median"]) for row in mine], points.median)
    theory = [row for row in read(f"{stem}-theory.csv") if row["cost"] == "steps"]
    curves = theory_curves(res, "steps")
    linear = [row for row in theory if row["curve"] == "linear theory"]
    np.testing.assert_allclose([float(row["median"]) for row in linear], curves.linear_median)
    bands = read(f"{stem}-trajectories.csv")
    assert list(bands[0]) == ["run", "m", "step", "median", "lo", "hi", "trials"]
    assert {int(row["m"]) for row in bands} == set(res.by_m) and bands[0]["step"] == "0"
    assert all(float(row["lo"]) <= float(row["median"]) <= float(row["hi"]) for row in bands)
    argv = ["plot", str(res.out), "--out", str(tmp_path / "s"), "--format", "png", "--dpi", "30", "--panels", "median"]
    assert main(argv) == 0
    assert not list(tmp_path.glob("s-*.csv"))  # none without --export-csv


def test_options_of_the_escape_figure_are_refused_for_a_sweep(tmp_path, capsys):
    sweep = tmp_path / "sw"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(
        '{"command": "sweep", "sweep": {"name": "s", "seed": 0}, "grid": {"m": [1, 2]}, "fixed": {}}'
    )
    for option in (["--panels", "survival"], ["--export-csv"], ["--trajectories", "curves"]):
        assert main(["plot", str(sweep), *option]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "for escape folders" in err[0], err
    assert saddle.load(sweep) is not None
