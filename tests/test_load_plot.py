"""Saved runs are first-class (issue 13): ``saddle.load`` gives back what ``run_escape`` returned, the
``plot`` command redraws and overlays stored folders without simulating, ``to_pandas`` gives the tables,
and the figures say what they show (title, theory where trusted, readable ticks)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import saddle
from saddle.escape import run_escape
from saddle.experiments.cli import main
from saddle.options import ConfigError
from saddle.plotting.common import tex_problem

SMALL = dict(m=[1, 8], d=6, trials=24, max_steps=400, seed=3, record_trials=3, record_points=32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny stored runs that differ in the data distribution only."""
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for dist in ("uniform", "laplace"):
        out[dist] = run_escape(**SMALL, dist=dist, out=base / dist)
    return out


def same_rows(a, b):
    assert [list(r) for r in a] == [list(r) for r in b]
    for ra, rb in zip(a, b):
        for k in ra:
            va, vb = ra[k], rb[k]
            assert type(va) is type(vb) or {type(va), type(vb)} <= {int, float}, (k, va, vb)
            assert va == vb or (isinstance(va, float) and math.isnan(va) and math.isnan(vb)), (k, va, vb)


# ----------------------------------------------------------------------------- saddle.load


def test_load_gives_back_what_run_escape_returned(runs):
    result = runs["uniform"]
    loaded = saddle.load(result.out)
    assert loaded.config == result.config
    assert list(loaded.by_m) == list(result.by_m)
    for m, r in result.by_m.items():
        back = loaded.by_m[m]
        for name in ("steps", "status", "final_f"):
            np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
        np.testing.assert_array_equal(back.samples, r.samples)
        assert back.eta == r.eta and back.samples_per_step == r.samples_per_step
        assert len(back.trajectories) == len(r.trajectories) == 3
        for (t1, f1), (t2, f2) in zip(back.trajectories, r.trajectories):
            np.testing.assert_array_equal(t1, t2)
            np.testing.assert_array_equal(f1, f2)
    same_rows(loaded.summary, result.summary)
    assert loaded.f0 == result.f0
    assert loaded.theory is not None and loaded.theory.gamma == result.theory.gamma
    assert loaded.out == result.out


def test_load_refuses_a_damaged_folder_in_one_line(runs, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(runs["uniform"].out, folder)
    text = (folder / "trials.csv").read_text().replace("escaped", "censored", 1)
    (folder / "trials.csv").write_text(text)
    with pytest.raises(ConfigError, match="does not match its checksum") as err:
        saddle.load(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "no such folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no saddle results"),
        (lambda p: (p / "mine").mkdir() or (p / "mine" / "notes.txt").write_text("x") and p / "mine", "not saddle"),
    ],
)
def test_load_refuses_what_is_not_a_results_folder(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message):
        saddle.load(make(tmp_path))


def test_load_reads_a_sweep_folder(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text(
        '[sweep]\nname = "s"\nseed = 1\ntrials = 8\nmax_steps = 200\n\n[grid]\nm = [1, 4]\n'
        'dist = ["uniform", "laplace"]\n\n[fixed]\nd = 5\n'
    )
    assert main(["sweep", str(config), "--out", str(tmp_path / "sw"), "--no-plot", "--quiet"]) == 0
    result = saddle.load(tmp_path / "sw")
    assert len(result.reused) == 4 and result.computed == []
    assert sorted(set(result.summary["dist"])) == ["laplace", "uniform"]
    # and the plot command redraws its figures (the title names no single distribution)
    assert main(["plot", str(tmp_path / "sw"), "--out", str(tmp_path / "fig" / "sweep"), "--quiet"]) == 2
    (tmp_path / "fig").mkdir()
    assert main(["plot", str(tmp_path / "sw"), "--out", str(tmp_path / "fig" / "sweep"), "--format", "png"]) == 0
    assert {p.name for p in (tmp_path / "fig").iterdir()} == {"sweep-heatmap.png", "sweep-lines.png"}


# ----------------------------------------------------------------------------- to_pandas


def test_to_pandas_gives_trials_and_summary_with_status_names(runs):
    pd = pytest.importorskip("pandas")
    result = runs["uniform"]
    trials, summary = result.to_pandas()
    assert isinstance(trials, pd.DataFrame) and len(trials) == 2 * SMALL["trials"]
    assert set(trials["status"].astype(str)) <= {"escaped", "censored", "diverged", "frozen"}
    np.testing.assert_array_equal(trials["steps"].to_numpy(), np.concatenate([r.steps for r in result.by_m.values()]))
    assert list(summary.columns) == list(result.summary[0]) and list(summary["m"]) == SMALL["m"]
    assert len(result.by_m[1].to_pandas()) == SMALL["trials"]


def test_to_pandas_without_pandas_names_the_extra(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError) as err:
        runs["uniform"].to_pandas()
    assert str(err.value) == "to_pandas() needs pandas: pip install 'saddle[pandas]'"


# ----------------------------------------------------------------------------- the plot command


def test_plot_redraws_one_folder_in_the_formats_asked(runs, tmp_path, capsys):
    folder = runs["uniform"].out
    stem = tmp_path / "one"
    rc = main(["plot", str(folder), "--out", str(stem), "--both", "--style", "paper", "--format", "png", "svg"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "one.png").stat().st_size > 0 and (tmp_path / "one.svg").stat().st_size > 0
    assert not (tmp_path / "one.pdf").exists()


def test_pdfs_embed_truetype_fonts_in_every_style(runs, tmp_path, capsys):
    """Journals refuse Type 3 fonts: the PDF of every style embeds TrueType (Type 42) fonts."""
    for style in ("default", "paper", "talk"):
        stem = tmp_path / style
        assert main(["plot", str(runs["uniform"].out), "--out", str(stem), "--style", style, "--quiet"]) == 0
        pdf = (tmp_path / f"{style}.pdf").read_bytes()
        assert b"/Subtype /Type3" not in pdf and b"/FontFile2" in pdf, style


@pytest.mark.skipif(tex_problem() is None, reason="TeX works here: its absence cannot be tested")
def test_the_tex_style_without_tex_is_refused_in_one_line(runs, tmp_path, capsys):
    """--style paper-tex sets every text with LaTeX: without a working TeX (latex and dvipng on PATH, and
    the packages matplotlib asks for), one line says what fails and names the style that needs none, exit
    2, and nothing is drawn."""
    rc = main(["plot", str(runs["uniform"].out), "--out", str(tmp_path / "tex"), "--style", "paper-tex"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "TeX install" in err[0] and "'paper'" in err[0], err
    assert not list(tmp_path.glob("tex*"))


@pytest.mark.skipif(tex_problem() is not None, reason=f"no working TeX install ({tex_problem()})")
def test_the_tex_style_embeds_type1_fonts(runs, tmp_path):
    """With TeX, --style paper-tex draws a PDF whose fonts are TeX's Type 1 (never Type 3) and a PNG."""
    stem = tmp_path / "tex"
    assert main(["plot", str(runs["uniform"].out), "--out", str(stem), "--style", "paper-tex", "--both"]) == 0
    pdf = (tmp_path / "tex.pdf").read_bytes()
    assert b"/Subtype /Type3" not in pdf and b"/FontFile" in pdf
    assert (tmp_path / "tex.png").stat().st_size > 0


def test_plot_overlays_folders_labelled_by_what_differs(runs, tmp_path):
    from saddle.plotting.escape import escape_figure, run_labels

    loaded = [saddle.load(runs[d].out) for d in ("uniform", "laplace")]
    assert run_labels(loaded) == ["dist = uniform", "dist = laplace"]
    fig = escape_figure(loaded)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "dist = uniform" in texts and "dist = laplace" in texts
    assert "uniform" not in fig.get_suptitle() and "laplace" not in fig.get_suptitle()
    rc = main(["plot", str(runs["uniform"].out), str(runs["laplace"].out), "--out", str(tmp_path / "both")])
    assert rc == 0
    assert (tmp_path / "both.pdf").exists() and (tmp_path / "both.png").exists()


def test_lr_scaling_labels():
    from types import SimpleNamespace

    from saddle.config import EscapeConfig
    from saddle.plotting.escape import run_labels

    runs = [SimpleNamespace(config=EscapeConfig(lr_scaling=s)) for s in ("none", "linear")]
    assert run_labels(runs) == ["lr_scaling = none", "lr_scaling = linear"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "{tmp}/missing"], "no such folder"),
        (["plot", "{tmp}"], "not saddle results"),
        (["plot", "{uniform}", "--width", "wide"], "--width"),
        (["plot", "{uniform}", "--out", "{tmp}/no/such/stem"], "no such folder"),
    ],
)
def test_plot_refusals_are_one_line_exit_2(runs, tmp_path, capsys, argv, message):
    (tmp_path / "notes.txt").write_text("mine")
    argv = [a.format(tmp=tmp_path, uniform=runs["uniform"].out) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_plot_refuses_mixed_kinds(runs, tmp_path, capsys):
    sweep = tmp_path / "sw"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(
        json.dumps({"command": "sweep", "sweep": {"name": "s", "seed": 0}, "grid": {"m": [1, 2]}, "fixed": {}})
    )
    assert main(["plot", str(runs["uniform"].out), str(sweep)]) == 2
    assert "not several kinds" in capsys.readouterr().err


def test_plot_compiles_and_imports_no_kernel(runs, tmp_path):
    """Redrawing reads tables only: no Numba function is compiled or loaded from the cache (``numba:compile``
    fires for both), so no kernel runs.  (saddle.stats imports the kernels' status codes, so the kernel
    module is imported, but nothing in it is compiled.)"""
    code = (
        "from numba.core.event import install_recorder\n"
        "from saddle.experiments.cli import main\n"
        "with install_recorder('numba:compile') as rec:\n"
        f"    rc = main(['plot', {str(runs['uniform'].out)!r}, '--out', {str(tmp_path / 'x')!r}, '--quiet'])\n"
        "print(rc, len(rec.buffer))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "0"], out.stdout + out.stderr


# ----------------------------------------------------------------------------- the figure


def test_the_figure_says_trials_and_delta_and_marks_the_theory(runs):
    from saddle.plotting import BATCH_COLOURS, MODEL_COLOUR, THEORY_COLOUR
    from saddle.plotting.escape import escape_figure

    result = runs["uniform"]
    fig = escape_figure(result, cost="both")
    title = fig.get_suptitle()
    assert f"{SMALL['trials']} trials per m" in title and r"$\delta$ = 0.1" in title and r"$\eta$" in title
    assert len(fig.axes) == 4
    assert fig.axes[2].get_ylabel() == "median escape samples"
    assert THEORY_COLOUR not in BATCH_COLOURS and MODEL_COLOUR not in BATCH_COLOURS
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    if not all(row["theory_trusted"] for row in result.summary) and any(r["theory_trusted"] for r in result.summary):
        assert any("where trusted" in t for t in legend)
    for ax in fig.axes[1:3]:  # readable log ticks: at least three labelled, none of the '6x10^2' kind
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert not any("times" in t or "^" in t for t in labels)
    one = escape_figure(result, "one", style="paper")
    assert one.get_size_inches()[0] == pytest.approx(3.5)


def test_each_panel_draws_alone(runs):
    from matplotlib.figure import Figure

    from saddle.plotting import batch_size_panel, survival_panel, trajectory_panel

    fig = Figure()
    a, b, c = fig.subplots(1, 3)
    survival_panel(a, runs["uniform"])
    batch_size_panel(b, runs["uniform"], "samples")
    trajectory_panel(c, runs["uniform"])
    assert a.get_legend() is not None and b.get_legend() is not None
    assert [t.get_text() for t in c.texts] == ["$f(u_0)$", r"$f(u_0) - \delta$"]
    with pytest.raises(ValueError, match="cost"):
        batch_size_panel(b, runs["uniform"], "seconds")


def test_mathtext_spells_the_papers_symbols():
    from saddle.plotting.escape import mathtext

    assert mathtext("octopus d=4, L=2.718, gamma=1, tau=2.718") == r"octopus d=4, L=2.718, $\gamma$=1, $\tau$=2.718"
    assert mathtext("sigma_iso=0.1, eta=0.01") == r"$\sigma_{\mathrm{iso}}$=0.1, $\eta$=0.01"
    assert mathtext("theta=1, beta_x") == "theta=1, beta_x"


# ----------------------------------------------------------------------------- the sweep figure's title


def test_the_sweep_title_names_no_value_of_a_swept_parameter():
    from saddle.plotting.sweep import figure_title
    from saddle.sweep import SweepConfig

    sweep = SweepConfig.from_dict(
        {"sweep": {"name": "x", "trials": 10}, "grid": {"m": [1, 4], "dist": ["uniform", "laplace"]}, "fixed": {"d": 6}}
    )
    title = figure_title(sweep, sweep.plot_spec()["where"])
    assert "uniform" not in title and "laplace" not in title
    assert title.startswith("spike d=6, s=2; sgd")
    sweep = SweepConfig.from_dict({"sweep": {"name": "x", "trials": 10}, "grid": {"m": [1, 4], "d": [5, 6]}})
    assert "d=5" not in figure_title(sweep) and figure_title(sweep).startswith("spike s=2, uniform")
