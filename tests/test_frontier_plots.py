"""The batch-size frontier's figures (SPEC 7) draw what a FrontierResult holds, never re-running a search.

Idea under test
---------------
Each panel of :mod:`saddle.plotting.frontier` draws the result's numbers: the model line is
S_min (1 + B_crit / m), the hyperbola is (S/S_min - 1)(E/E_min - 1) = 1, the scaling rules go through
eta*(smallest m), there is one error bar per batch size, every batch size keeps its colour, and
``frontier_figure`` writes a PDF (Type 42 fonts, no Type 3) and a PNG.  Missing values (NaN, inf) and a
configuration that is a plain object do not break a panel.  The result is synthetic: S = 100 (1 + 64/m),
m = 1 ... 4096, seven step sizes per m.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from saddle.config import EscapeConfig  # noqa: E402
from saddle.frontier.result import FrontierResult  # noqa: E402
from saddle.plotting.frontier import (  # noqa: E402
    batch_colours,
    eta_panel,
    frontier_figure,
    frontier_panels,
    frontier_title,
    samples_steps_panel,
    seconds_panel,
    steps_panel,
    tuning_panel,
)

S_MIN, B_CRIT = 100.0, 64.0
MS = 2 ** np.arange(13)  # 1 ... 4096
KS = np.arange(-6, 7, 2)  # eta = eta* 2^(k/4): seven step sizes per m


def model(m):
    return S_MIN * (1 + B_CRIT / np.asarray(m, dtype=float))


def synthetic(config=None) -> FrontierResult:
    """A FrontierResult whose frontier is the model S = 100 (1 + 64/m) exactly."""
    eta_star = 0.01 * MS / (1 + MS / 64)
    step_seconds = 1e-4 * (1 + MS / 256)  # best wall time at m = sqrt(64 * 256) = 128
    rows: dict[str, list] = {k: [] for k in ("m", "eta", "k", "median_steps", "steps_lo", "steps_hi", "success")}
    for m, e in zip(MS, eta_star):
        for k in KS:
            s = model(m) * (1 + 0.08 * (k / 2) ** 2)
            success = k < 4
            if k == 6:
                s = math.inf  # the median trial never reached the target
            rows["m"].append(m)
            rows["eta"].append(e * 2 ** (k / 4))
            rows["k"].append(k)
            rows["median_steps"].append(s)
            rows["steps_lo"].append(0.9 * s)
            rows["steps_hi"].append(1.1 * s)
            rows["success"].append(success)
    tuning = {k: np.array(v) for k, v in rows.items()}
    S = model(MS)
    frontier = {
        "m": MS.copy(),
        "eta_star": eta_star,
        "eta_lo": eta_star * 2**-0.5,
        "eta_hi": eta_star * 2**0.5,
        "edge": np.array([""] * 12 + ["upper"], dtype=object),
        "S": S,
        "S_lo": 0.92 * S,
        "S_hi": 1.08 * S,
        "E": MS * S,
        "E_lo": 0.92 * MS * S,
        "E_hi": 1.08 * MS * S,
        "seconds": S * step_seconds,
        "seconds_lo": 0.9 * S * step_seconds,
        "seconds_hi": 1.1 * S * step_seconds,
        "step_seconds": step_seconds,
        "model_S": S,
    }
    fit = {
        "S_min": S_MIN,
        "S_min_lo": 95.0,
        "S_min_hi": 105.0,
        "E_min": S_MIN * B_CRIT,
        "E_min_lo": 5600.0,
        "E_min_hi": 7200.0,
        "B_crit": B_CRIT,
        "B_crit_lo": 52.0,
        "B_crit_hi": 78.0,
        "fits": True,
        "misfit": [],
        "best_m_steps": 4096,
        "best_m_samples": 1,
        "best_m_seconds": 128,
    }
    noise = {"f": np.linspace(-0.1, -0.9, 5), "B_simple": np.full(5, 30.0), "B_noise": np.full(5, 110.0)}
    noise.update(B_simple_mean=30.0, B_noise_mean=110.0, method="exact")
    theory_m = np.geomspace(1, 4096, 40)
    theory = {"m": theory_m, "eta_star": 0.011 * theory_m / (1 + theory_m / 80), "S": 95 * (1 + 80 / theory_m)}
    config = config or EscapeConfig(objective="spike", d=10, target=-0.45, trials=200, max_steps=20000)
    return FrontierResult(config=config, tuning=tuning, frontier=frontier, fit=fit, noise=noise, theory=theory)


@pytest.fixture(scope="module")
def result():
    return synthetic()


def by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"no artist {gid!r}"
    return found[0]


def test_steps_panel_draws_the_model_the_guide_and_one_error_bar_per_m(result):
    ax = steps_panel(result)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == len(MS)
    line = by_gid(ax, "model")
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, model(x), rtol=1e-12)
    assert x.min() == 1 and x.max() == 4096
    guide = by_gid(ax, "perfect-scaling")
    np.testing.assert_allclose(guide.get_ydata(), model(1) / guide.get_xdata(), rtol=1e-12)  # S(1) / m
    assert by_gid(ax, "B_crit").get_xdata()[0] == B_CRIT
    assert by_gid(ax, "B_noise").get_xdata()[0] == 110.0 and by_gid(ax, "B_simple").get_xdata()[0] == 30.0
    np.testing.assert_allclose(by_gid(ax, "theory").get_ydata(), result.theory["S"])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "steps" in ax.get_ylabel() and "m" in ax.get_xlabel()
    texts = [t.get_text() for t in ax.figure.legends[0].get_texts()]  # its own figure: the key below the Axes
    assert any("B_{\\mathrm{crit}}" in t and "[52, 78]" in t for t in texts)
    colours = batch_colours(result)
    for bar, m in zip(bars, MS):  # one colour per batch size: the batch palette's
        assert matplotlib.colors.same_color(bar.lines[0].get_color(), colours[int(m)])


def test_samples_steps_panel_draws_the_hyperbola_and_its_asymptotes(result):
    ax = samples_steps_panel(result)
    line = by_gid(ax, "model")
    S, E = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose((S / S_MIN - 1) * (E / (S_MIN * B_CRIT) - 1), 1.0, rtol=1e-9)
    assert by_gid(ax, "S_min").get_xdata()[0] == S_MIN
    assert by_gid(ax, "E_min").get_ydata()[0] == S_MIN * B_CRIT
    star = by_gid(ax, "B_crit")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (2 * S_MIN, 2 * S_MIN * B_CRIT)
    labels = {t.get_text() for t in ax.texts}
    assert labels == {"1", "4", "16", "64", "256", "1024", "4096"}  # 13 points: every other named by its m
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == len(MS)
    assert "samples" in ax.get_ylabel() and "steps" in ax.get_xlabel()


def test_eta_panel_draws_the_bracket_and_the_two_rules(result):
    ax = eta_panel(result)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == len(MS)
    e0 = result.frontier["eta_star"][0]
    lin, sq = by_gid(ax, "linear"), by_gid(ax, "sqrt")
    np.testing.assert_allclose(lin.get_ydata(), e0 * lin.get_xdata(), rtol=1e-12)
    np.testing.assert_allclose(sq.get_ydata(), e0 * np.sqrt(sq.get_xdata()), rtol=1e-12)
    # the bracket: the error bar of m = 8 spans eta_lo ... eta_hi
    segments = bars[3].lines[2][0].get_segments()
    ys = np.array(segments[0])[:, 1]
    np.testing.assert_allclose(sorted(ys), [result.frontier["eta_lo"][3], result.frontier["eta_hi"][3]])
    assert bars[-1].lines[0].get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0))  # on a search bound


def test_tuning_panel_marks_success_failure_and_eta_star(result):
    ax = tuning_panel(result)
    colours = batch_colours(result)
    curves = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(curves) == len(MS)
    for line, m in zip(curves, MS):
        assert matplotlib.colors.same_color(line.get_color(), colours[int(m)])
    open_markers = [
        line for line in ax.get_lines() if line.get_marker() in ("o", "^") and line.get_markerfacecolor() == "white"
    ]
    assert len(open_markers) == 2 * len(MS)  # per m: the failing cell at its S, the unreached one at the top
    stars = by_gid(ax, "eta_star")
    np.testing.assert_allclose(stars.get_xdata(), result.frontier["eta_star"])
    assert len(ax.figure.legends[0].get_texts()) == 4 + len(MS)  # filled, open, open triangle, ring; the m


def test_seconds_panel_marks_the_best_m(result):
    ax = seconds_panel(result)
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == len(MS)
    assert by_gid(ax, "best_m").get_xdata()[0] == 128
    assert any(t.get_text() == "best $m$ = 128" for t in ax.texts)
    assert ax.get_ylabel() == "seconds to target (s)"


def test_panels_draw_on_a_given_axes(result):
    fig = Figure()
    ax = fig.add_subplot()
    assert steps_panel(result, ax) is ax
    assert len(fig.axes) == 1
    assert ax.get_legend() is not None and not fig.legends  # the key inside the given Axes


def test_frontier_figure_writes_a_pdf_with_type42_fonts_and_a_png(result, tmp_path):
    paths = frontier_figure(result, tmp_path / "frontier")
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    pdf = paths[0].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Type3" not in pdf and b"/FontFile2" in pdf
    assert paths[1].read_bytes().startswith(b"\x89PNG")


def test_frontier_figure_names_its_files(result, tmp_path, monkeypatch):
    """A folder gets frontier.pdf and .png; no out= takes the result's folder; neither is an error."""
    import saddle.plotting.frontier as frontier

    monkeypatch.setattr(frontier, "frontier_panels", lambda *args, **kw: Figure())
    monkeypatch.setattr(frontier, "save_figure", lambda fig, stem, dpi=None: (stem.with_suffix(".pdf"),))
    assert frontier_figure(result, tmp_path) == (tmp_path / "frontier.pdf",)
    assert frontier_figure(result, tmp_path / "fig")[0] == tmp_path / "fig.pdf"
    with pytest.raises(ValueError, match="out="):
        frontier_figure(result)
    stored = synthetic()
    stored.out = tmp_path
    assert frontier_figure(stored) == (tmp_path / "frontier.pdf",)


def test_the_title_names_objective_and_target_even_for_a_plain_config():
    plain = SimpleNamespace(objective="quadratic", d=4, delta=0.1, target=-0.25, max_steps=5000, trials=64, eta=0.1)
    result = synthetic(config=plain)
    title = frontier_title(result)
    assert "quadratic d=4" in title and "-0.25" in title and "64 trials" in title
    assert "spike d=10" in frontier_title(synthetic()) and "-0.45" in frontier_title(synthetic())
    fig = frontier_panels(result, "one")
    assert len(fig.axes) == 5 and fig.get_suptitle()


def test_missing_values_do_not_break_a_panel():
    result = synthetic()
    f = result.frontier
    f["S"] = f["S"].copy()
    f["S"][[2, 5]] = [np.nan, np.inf]  # m = 4: not measured; m = 32: no eta reached the target
    f["S_lo"] = np.where(np.arange(13) == 7, np.nan, f["S_lo"])
    f["eta_star"] = np.where(np.arange(13) == 5, np.nan, f["eta_star"])
    f["eta_lo"] = np.full(13, np.nan)  # no bracket at all
    f["seconds"] = np.full(13, np.nan)
    result.tuning["median_steps"] = np.where(result.tuning["k"] == -6, np.nan, result.tuning["median_steps"])
    result.fit.update(B_crit_lo=np.nan, E_min=np.nan, best_m_seconds=np.nan)
    result.noise = None
    result.theory = None
    ax = steps_panel(result)
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 11
    never = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert [line.get_xdata()[0] for line in never] == [32]  # inf: on the top edge; NaN: left out
    samples_steps_panel(result)
    eta_panel(result)
    tuning_panel(result)
    seconds_panel(result)
    frontier_panels(result)
    result.fit = {k: np.nan for k in result.fit}
    frontier_panels(result)
