"""Sweeps: a grid of escape configurations, stored cell by cell, resumable, the same on any number of workers.

Idea under test
---------------
A sweep's numbers are a pure function of the sweep seed and each cell's own
configuration (SPEC 6): the same cell gives the same trials alone, inside any
sweep, in-process or on a Dask cluster of worker processes.  The results folder
keeps every finished cell (Ctrl-C or a kill loses at most the cell running),
a rerun completes it without recomputing a stored cell and ends with exactly
the tables an uninterrupted run writes, and a changed sweep is refused rather
than mixed in.  Invalid configs end with one line and exit status 2.

The grids are tiny (d = 6, 50 trials, m in {2, 8}): the cost is the Numba
kernel loading once per process and, for the Dask test, two worker processes
starting (a few seconds).
"""

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.experiments.cli import main
from saddle.sweep import (
    SweepConfig,
    SweepFolder,
    SweepInterrupted,
    cell_key,
    cell_options,
    cell_seed,
    plot_sweep,
    read_table,
    run_sweep,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL = """\
[sweep]
name = "small"
seed = 7
trials = 50
max_steps = 2000

[grid]
m = [2, 8]
lr_scaling = ["none", "sqrt"]

[fixed]
d = 6
"""
SWEPT = ["m", "lr_scaling"]
CELL_FILES = ("trials.csv", "summary.csv", "cell.json")


def write(path, text):
    path.write_text(text)
    return path


def without_wall(text):
    """A summary CSV without its wall_seconds column (the one number that is not reproducible)."""
    rows = list(csv.reader(io.StringIO(text)))
    j = rows[0].index("wall_seconds")
    return [r[:j] + r[j + 1 :] for r in rows]


def cell_bytes(folder):
    return {(p.parent.name, p.name): p.read_bytes() for p in sorted((Path(folder) / "cells").glob("*/*"))}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small sweep run once in-process: (config path, results folder, SweepResult)."""
    base = tmp_path_factory.mktemp("sweep")
    config = write(base / "small.toml", SMALL)
    result = run_sweep(SweepConfig.from_toml(config), out=base / "inprocess")
    return config, base / "inprocess", result


# ----------------------------------------------------------------------------- keys and seeds


def test_cell_key_and_seed_follow_the_documented_recipe():
    config = EscapeConfig(m=(8,), d=6, trials=50, max_steps=2000, record_trials=0)
    # the named options: always m, objective, d, eta, lr_scaling, optimizer, sigma_iso, delta, trials and
    # max_steps, and any other option away from its default (here s and dist, which default to None)
    options = {
        "m": [8],
        "objective": "spike",
        "d": 6,
        "s": 2,
        "dist": "uniform",
        "eta": 0.01,
        "lr_scaling": "none",
        "optimizer": "sgd",
        "sigma_iso": 0.0,
        "delta": 0.1,
        "trials": 50,
        "max_steps": 2000,
    }
    assert cell_options(config) == options
    text = json.dumps(options, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert cell_key(config) == key
    expected = np.random.SeedSequence(7, spawn_key=(int(key[:8], 16), int(key[8:16], 16))).generate_state(1, np.uint64)
    assert cell_seed(7, key) == int(expected[0])
    # the key names the configuration, not the seed or what is recorded; equal spellings give equal keys
    assert cell_key(EscapeConfig(m=(8,), d=6.0, trials=50, max_steps=2000, eta=1e-2, seed=99)) == key
    assert cell_key(EscapeConfig(m=(8,), d=6, trials=50, max_steps=2000, eta=0.02)) != key
    assert cell_key(EscapeConfig(m=(8,), d=6, trials=50, max_steps=2000, radius=0.3)) != key
    # an option at its default is not named: options added to saddle later keep every stored key
    assert cell_key(EscapeConfig(m=(8,), d=6, trials=50, max_steps=2000, rotation_seed=None, radius=None)) == key
    assert cell_seed(8, key) != cell_seed(7, key)


def test_cells_are_the_grid_product_each_validated_with_its_own_seed(small):
    config, _, _ = small
    sweep = SweepConfig.from_toml(config)
    cells = sweep.cells()
    assert [c.params for c in cells] == [
        {"m": 2, "lr_scaling": "none"},
        {"m": 2, "lr_scaling": "sqrt"},
        {"m": 8, "lr_scaling": "none"},
        {"m": 8, "lr_scaling": "sqrt"},
    ]
    for c in cells:
        assert c.config.m == (c.params["m"],) and c.config.d == 6 and c.config.trials == 50
        assert c.key == cell_key(c.config) and c.seed == cell_seed(7, c.key)
    assert len({c.seed for c in cells}) == len(cells)


# ----------------------------------------------------------------------------- the results folder


def test_folder_holds_each_cell_and_tidy_tables_of_all(small):
    config, folder, result = small
    sweep = SweepConfig.from_toml(config)
    cells = sweep.cells()
    assert sorted(result.computed) == sorted(c.key for c in cells) and result.reused == []
    meta = json.loads((folder / "sweep.json").read_text())
    assert meta["command"] == "sweep" and meta["sweep"]["seed"] == 7 and meta["grid"] == sweep.grid
    assert [c["key"] for c in meta["cells"]] == [c.key for c in cells]
    assert not [p.name for p in folder.rglob(".*.tmp")], "leftover temporary files"

    trials = read_table(folder / "trials.csv")
    assert list(trials)[:4] == ["cell", "m", "lr_scaling", "eta_m"]
    assert list(trials)[4:] == ["trial", "steps", "samples", "status", "final_f"]
    assert len(trials["cell"]) == 4 * 50
    summary = read_table(folder / "summary.csv")
    assert list(summary["cell"]) == [c.key for c in cells]  # grid order
    for i, c in enumerate(cells):
        cell_trials = read_table(folder / "cells" / c.key / "trials.csv")
        assert list(cell_trials) == ["m", "eta", "trial", "steps", "samples", "status", "final_f"]
        mine = trials["cell"] == c.key
        assert set(trials["lr_scaling"][mine]) == {c.params["lr_scaling"]}
        np.testing.assert_array_equal(trials["steps"][mine], cell_trials["steps"])
        np.testing.assert_array_equal(trials["eta_m"][mine], cell_trials["eta"])
        np.testing.assert_array_equal(trials["final_f"][mine], cell_trials["final_f"])
        with open(folder / "cells" / c.key / "summary.csv", newline="") as fh:
            (cell_summary,) = csv.DictReader(fh)
        with open(folder / "summary.csv", newline="") as fh:
            tidy_row = list(csv.DictReader(fh))[i]
        assert {("eta_m" if k == "eta" else k): v for k, v in cell_summary.items()} == {
            k: v for k, v in tidy_row.items() if k not in ("cell", "lr_scaling")
        }
        assert summary["eta_m"][i] == pytest.approx(
            0.01 * (np.sqrt(c.params["m"]) if c.params["lr_scaling"] == "sqrt" else 1), rel=1e-12
        )


def test_a_cell_alone_gives_the_same_trials_as_in_the_sweep(small, tmp_path):
    config, folder, _ = small
    cell = SweepConfig.from_toml(config).cells()[3]
    # alone, through the escape API with the cell's configuration and seed (and the default recording)
    alone = run_escape(
        EscapeConfig(**{**cell.config.to_dict(), "m": cell.config.m, "record_trials": 8}), out=tmp_path / "alone"
    )
    assert (tmp_path / "alone" / "trials.csv").read_bytes() == (folder / "cells" / cell.key / "trials.csv").read_bytes()
    assert alone.summary[0]["median_steps"] == read_table(folder / "summary.csv")["median_steps"][3]
    # and inside another sweep whose grid holds it among other cells, in another position
    other = write(tmp_path / "other.toml", SMALL.replace("m = [2, 8]", "m = [8, 4]").replace('"none", ', ""))
    res = run_sweep(SweepConfig.from_toml(other), out=tmp_path / "other")
    assert cell.key in res.computed
    assert (tmp_path / "other" / "cells" / cell.key / "trials.csv").read_bytes() == (
        folder / "cells" / cell.key / "trials.csv"
    ).read_bytes()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pip install 'saddle[cluster]')",
)
def test_local_cluster_of_two_workers_gives_identical_trials(small, tmp_path):
    config, folder, _ = small
    res = run_sweep(SweepConfig.from_toml(config), out=tmp_path / "dask", workers=2)
    assert len(res.computed) == 4
    assert (tmp_path / "dask" / "trials.csv").read_bytes() == (folder / "trials.csv").read_bytes()
    assert without_wall((tmp_path / "dask" / "summary.csv").read_text()) == without_wall(
        (folder / "summary.csv").read_text()
    )
    for key in res.computed:
        assert (tmp_path / "dask" / "cells" / key / "trials.csv").read_bytes() == (
            folder / "cells" / key / "trials.csv"
        ).read_bytes()


# ----------------------------------------------------------------------------- interrupting and resuming


def test_interrupted_sweep_resumes_to_the_uninterrupted_tables_recomputing_no_stored_cell(small, tmp_path):
    config, fresh, _ = small
    sweep = SweepConfig.from_toml(config)
    folder = tmp_path / "interrupted"
    seen = []

    def stop_after_two(cell, row):
        seen.append(cell.key)
        if len(seen) == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, right after the second cell was stored

    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(sweep, out=folder, on_cell=stop_after_two)
    assert (stop.value.kept, stop.value.total, stop.value.computed) == (2, 4, seen)
    assert sorted(p.name for p in (folder / "cells").iterdir()) == sorted(seen)
    assert list(read_table(folder / "summary.csv")["cell"]) == seen  # the tables hold the kept cells
    assert len(read_table(folder / "trials.csv")["cell"]) == 2 * 50
    kept = cell_bytes(folder)

    res = run_sweep(SweepConfig.from_toml(config), out=folder)
    assert res.reused == seen and len(res.computed) == 2 and not set(res.computed) & set(seen)
    after = cell_bytes(folder)
    assert {k: after[k] for k in kept} == kept, "a stored cell was rewritten"
    assert (folder / "trials.csv").read_bytes() == (fresh / "trials.csv").read_bytes()
    assert without_wall((folder / "summary.csv").read_text()) == without_wall((fresh / "summary.csv").read_text())

    again = run_sweep(SweepConfig.from_toml(config), out=folder)
    assert again.computed == [] and len(again.reused) == 4
    assert cell_bytes(folder) == after


SLOW = """\
[sweep]
name = "slow"
seed = 3
trials = 200
max_steps = 2000

[grid]
m = [2, 256, 512, 1024]

[fixed]
d = 6
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_stopped_sweep_keeps_whole_cells_and_a_rerun_completes_them(sig, tmp_path):
    """SIGINT (exit 130, one line) or SIGKILL to the command line: stored cells kept, a rerun completes them."""
    config = write(tmp_path / "slow.toml", SLOW)
    folder = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [
        sys.executable,
        "-m",
        "saddle.experiments",
        "sweep",
        "--config",
        str(config),
        "--out",
        str(folder),
        "--quiet",
        "--no-plot",
    ]
    # (a shell that starts pytest in the background ignores SIGINT, and children inherit that: undo it)
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob("cells/*/cell.json")):
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended (exit {proc.returncode}) before a cell was stored: {proc.communicate()}")
            assert time.monotonic() < deadline, "no cell was stored within 60 s"
            time.sleep(0.01)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    kept = {k: v for k, v in cell_bytes(folder).items() if (folder / "cells" / k[0] / "cell.json").exists()}
    n_kept = len({k[0] for k in kept})
    assert 1 <= n_kept < 4, f"{n_kept} cells stored"
    assert all((folder / "cells" / key / name).exists() for key, _ in kept for name in CELL_FILES)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, f"exit {proc.returncode} (0: the sweep ended before SIGINT)\n{err}"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("interrupted: kept") and str(folder) in lines[0], err
        assert f"kept {n_kept} of 4" in lines[0]
        assert len(read_table(folder / "summary.csv")["cell"]) == n_kept
        assert not [p.name for p in folder.rglob(".*.tmp")], "leftover temporary files"
    else:
        assert proc.returncode == -signal.SIGKILL

    done = subprocess.run(cmd, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    after = cell_bytes(folder)
    assert {k: after[k] for k in kept} == kept, "a stored cell was recomputed"
    assert not [p.name for p in folder.rglob(".*.tmp")], "leftover temporary files"
    fresh = run_sweep(SweepConfig.from_toml(config), out=tmp_path / "fresh")
    assert (folder / "trials.csv").read_bytes() == (fresh.out / "trials.csv").read_bytes()
    assert without_wall((folder / "summary.csv").read_text()) == without_wall((fresh.out / "summary.csv").read_text())


def test_cells_stored_by_another_version_with_other_summary_columns_still_resume(small, tmp_path):
    config, fresh, _ = small
    folder = tmp_path / "mixed"
    with pytest.raises(SweepInterrupted):
        run_sweep(SweepConfig.from_toml(config), out=folder, on_cell=lambda cell, row: _stop())
    (stored,) = (folder / "cells").iterdir()
    text = (stored / "summary.csv").read_text().splitlines()
    # as if an older saddle had written it: without the last column, without checksums in its cell.json,
    # the folder's sweep.json without "store_format" and no checksums.json
    (stored / "summary.csv").write_text("\n".join(line.rsplit(",", 1)[0] for line in text) + "\n")
    meta = json.loads((stored / "cell.json").read_text())
    del meta["sha256"]
    (stored / "cell.json").write_text(json.dumps(meta))
    marker = json.loads((folder / "sweep.json").read_text())
    del marker["store_format"]
    (folder / "sweep.json").write_text(json.dumps(marker, indent=2) + "\n")
    (folder / "checksums.json").unlink()
    run_sweep(SweepConfig.from_toml(config), out=folder)
    assert (folder / "trials.csv").read_bytes() == (fresh / "trials.csv").read_bytes()
    with open(folder / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    last = list(rows[0])[-1]
    assert rows[0]["cell"] == stored.name and rows[0][last] == "" and all(r[last] != "" for r in rows[1:])


def _stop():
    raise KeyboardInterrupt


def test_a_cell_without_checksums_in_a_folder_written_with_them_is_refused(small, tmp_path):
    """A cell.json stripped of its checksums in a folder whose sweep.json says saddle wrote it with them is
    an edit after the fact: refused in one line naming the file, never adopted as a cell from before
    checksums (whose tables would then be recorded as they are, forged or not)."""
    config, _, _ = small
    folder = tmp_path / "forged"
    with pytest.raises(SweepInterrupted):
        run_sweep(SweepConfig.from_toml(config), out=folder, on_cell=lambda cell, row: _stop())
    (stored,) = (folder / "cells").iterdir()
    meta = json.loads((stored / "cell.json").read_text())
    del meta["sha256"]
    (stored / "cell.json").write_text(json.dumps(meta))
    (stored / "trials.csv").write_text((stored / "trials.csv").read_text().replace(",escaped,", ",censored,", 1))
    with pytest.raises(ConfigError, match="cell.json has no checksums"):
        run_sweep(SweepConfig.from_toml(config), out=folder)


# ----------------------------------------------------------------------------- refusing what does not fit


def test_a_changed_sweep_is_refused_in_one_line(small, tmp_path, capsys):
    config, folder, _ = small
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    changed = write(tmp_path / "changed.toml", SMALL.replace("d = 6", "d = 6\neta = 0.02"))
    assert main(["sweep", "--config", str(changed), "--out", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different sweep" in err[0] and "fixed.eta" in err[0], err
    reseeded = write(tmp_path / "reseeded.toml", SMALL.replace("seed = 7", "seed = 8"))
    with pytest.raises(ConfigError, match="differs in seed"):
        run_sweep(SweepConfig.from_toml(reseeded), out=folder)
    grown = write(tmp_path / "grown.toml", SMALL.replace("m = [2, 8]", "m = [2, 8, 32]"))
    with pytest.raises(ConfigError, match=r"grid\.m"):
        run_sweep(SweepConfig.from_toml(grown), out=folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    # a folder of escape results is not taken over either
    (tmp_path / "escape").mkdir()
    (tmp_path / "escape" / "trials.csv").write_text("m\n")
    with pytest.raises(ConfigError, match="not saddle results"):
        run_sweep(SweepConfig.from_toml(config), out=tmp_path / "escape")


def test_an_edited_sweep_json_is_tampering_not_another_sweep(small, tmp_path):
    """sweep.json edited after the run (its seed) is named as a file that does not match its
    checksum, whether the sweep run against it is the original or the edited one."""
    config, stored, _ = small
    folder = tmp_path / "edited"
    shutil.copytree(stored, folder)
    marker = folder / "sweep.json"
    marker.write_text(marker.read_text().replace('"seed": 7', '"seed": 8', 1))
    for toml in (config, write(tmp_path / "reseeded.toml", SMALL.replace("seed = 7", "seed = 8"))):
        with pytest.raises(ConfigError, match=r"sweep\.json does not match its checksum"):
            run_sweep(SweepConfig.from_toml(toml), out=folder)


def test_two_sweeps_never_write_one_folder_at_once(small):
    config, folder, _ = small
    sweep = SweepConfig.from_toml(config)
    first = SweepFolder.open(folder, sweep)
    try:
        with pytest.raises(ConfigError, match="in use by another run"):
            SweepFolder.open(folder, sweep)
    finally:
        first.close()
    SweepFolder.open(folder, sweep).close()


BAD = {
    "missing file": (None, "cannot read sweep config"),
    "not TOML": ("[sweep\nname = 1", "is not valid TOML"),
    "unknown table": (SMALL + "\n[grids]\nm = [1]\n", "unknown table"),
    "unknown parameter": (SMALL.replace("d = 6", "dd = 6"), "unknown parameter 'dd' in [fixed]"),
    "unknown sweep key": (SMALL.replace('name = "small"', 'name = "small"\nworkers = 2'), "unknown key 'workers'"),
    "seed in grid": (SMALL.replace("[grid]", "[grid]\nseed = [1, 2]"), "seed cannot be set in [grid]"),
    "empty list": (SMALL.replace("m = [2, 8]", "m = []"), "[grid] m is an empty list"),
    "not a list": (SMALL.replace("m = [2, 8]", "m = 2"), "must be a list"),
    "twice": (SMALL.replace("d = 6", "d = 6\nm = 4"), "both in [grid] and in [fixed]"),
    "repeated value": (SMALL.replace("m = [2, 8]", "m = [2, 2]"), "lists 2 twice"),
    "no m": (SMALL.replace("m = [2, 8]\n", ""), "give the batch sizes m"),
    "bad value": (SMALL.replace("d = 6", "d = 6\neta = -1.0"), "cell m=2, lr_scaling=none: eta must be > 0"),
    "bad cell": (
        SMALL.replace("d = 6", "s = 3").replace("m = [2, 8]", "m = [2, 8]\nd = [6, 2]"),
        "cell m=2, d=2, lr_scaling=none: s must be <= d",
    ),
    "unknown name": (SMALL.replace('"sqrt"', '"cubic"'), "unknown lr scaling 'cubic'"),
    "bad seed": (SMALL.replace("seed = 7", "seed = -1"), "seed must be an integer"),
    "bad plot": (SMALL + '\n[plot]\nx = "eta"\n', "[plot] x = 'eta' is not a [grid] parameter"),
    "no dask workers": (SMALL, "workers must be an integer >= 1"),
    # issue 12 (10): a grid above the limit is refused before it is expanded (this one has 10^8 cells)
    "huge grid": (
        SMALL.replace("m = [2, 8]\n", "".join(f"{k} = {list(range(1, 101))}\n" for k in ("m", "d", "trials")))
        .replace('lr_scaling = ["none", "sqrt"]', f"max_steps = {list(range(1, 101))}")
        .replace("max_steps = 2000\n", "")
        .replace("trials = 50\n", "")
        .replace("d = 6\n", ""),
        "the grid has 100,000,000 cells (100 x 100 x 100 x 100), more than a sweep takes (10,000)",
    ),
    # issue 12 (13): TOML spells booleans true and false; 1, 0 and strings are refused
    "number as boolean": (
        SMALL.replace("d = 6", "d = 6\nrandom_start = 1"),
        "[fixed] random_start must be true or false, got 1",
    ),
    "string as boolean": (
        SMALL.replace('lr_scaling = ["none", "sqrt"]', 'random_start = [true, "no"]'),
        "[grid] random_start must be true or false, got 'no'",
    ),
    "empty out": (SMALL.replace('name = "small"', 'name = "small"\nout = ""'), "[sweep] out must be a folder name"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_configs_end_with_one_line_and_exit_2(case, tmp_path, capsys):
    text, message = BAD[case]
    path = tmp_path / "sweep.toml"
    if text is not None:
        write(path, text)
    extra = ["--workers", "0"] if case == "no dask workers" else []
    started = time.monotonic()
    rc = main(["sweep", "--config", str(path), "--out", str(tmp_path / "out"), "--quiet", *extra])
    assert time.monotonic() - started < 10, "a refusal took longer than validating a small grid"
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists(), "nothing may be written before every cell is valid"


def test_without_dask_the_cluster_options_say_how_to_install_it(small, tmp_path, capsys, monkeypatch):
    config, _, _ = small
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask.distributed were not installed
    rc = main(["sweep", "--config", str(config), "--out", str(tmp_path / "out"), "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pip install 'saddle[cluster]'" in err[0], err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- figures from the stored tables


def test_plot_only_redraws_the_figures_from_the_tables_without_running(small, tmp_path, capsys):
    config, folder, _ = small
    before = cell_bytes(folder)
    for p in folder.glob("sweep-*"):
        p.unlink()
    assert main(["sweep", "--config", str(config), "--out", str(folder), "--plot-only"]) == 0
    names = {p.name for p in folder.glob("sweep-*")}
    assert names == {"sweep-heatmap.pdf", "sweep-heatmap.png", "sweep-lines.pdf", "sweep-lines.png"}
    assert cell_bytes(folder) == before
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "none"), "--plot-only"]) == 2
    assert "run the sweep first" in capsys.readouterr().err


def test_figure_functions_take_the_summary_table(small):
    from saddle.plotting.sweep import sweep_heatmap, sweep_lines

    _, folder, _ = small
    table = read_table(folder / "summary.csv")
    fig = sweep_heatmap(table, "m", "lr_scaling", ["median_steps", "median_samples"])
    assert len(fig.axes) == 4  # two panels, two colour bars
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"{table['median_steps'][0]:.0f}" in texts
    fig = sweep_lines(table, "m", "lr_scaling", "median_steps")
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_legend().texts) == 2
    # rows as dicts work too; a value known only as a lower bound is marked
    rows = [{k: v[i] for k, v in table.items()} for i in range(len(table["cell"]))]
    rows[0]["median_is_lower_bound"] = True
    fig = sweep_heatmap(rows, "m", "lr_scaling")
    assert any(t.get_text().startswith(">") for t in fig.axes[0].texts)
    with pytest.raises(ValueError, match="where"):
        sweep_lines(table, "m", None, "median_steps")  # two cells per m: lr_scaling must be held fixed
    sweep_lines(table, "m", None, "median_steps", where={"lr_scaling": "sqrt"})


def test_the_seed_question_config_is_valid():
    sweep = SweepConfig.from_toml(REPO_ROOT / "experiments" / "sweep_seed_question.toml")
    assert sweep.grid["m"] == [2**k for k in range(11)]
    assert sweep.grid["lr_scaling"] == ["none", "linear", "sqrt"]
    assert len(sweep.cells()) == 33
    assert sweep.out is None  # the README's command writes the user's own folder, never docs/results (issue 13)
    spec = sweep.plot_spec()
    assert (spec["x"], spec["y"]) == ("m", "lr_scaling")
    assert plot_sweep  # the figures in docs/ are drawn by plot_sweep from the stored tables


# ----------------------------------------------------------------------------- issue 13: eta swept


ETA_SWEPT = """\
[sweep]
name = "eta"
seed = 1
trials = 10
max_steps = 300

[grid]
m = [4, 16]
eta = [0.005, 0.01]
lr_scaling = ["sqrt"]

[fixed]
d = 6
"""


def test_a_swept_eta_keeps_the_step_size_used_as_eta_m(tmp_path, capsys):
    """With eta in [grid] the tidy tables hold eta (at m = 1) and eta_m (used), and the command prints both."""
    config = write(tmp_path / "eta.toml", ETA_SWEPT)
    rc = main(["sweep", str(config), "--out", str(tmp_path / "out"), "--no-plot"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    summary = read_table(tmp_path / "out" / "summary.csv")
    assert list(summary)[:5] == ["cell", "m", "eta", "lr_scaling", "eta_m"]
    np.testing.assert_allclose(summary["eta_m"], summary["eta"] * np.sqrt(summary["m"]), rtol=1e-12)
    trials = read_table(tmp_path / "out" / "trials.csv")
    assert list(trials)[:5] == ["cell", "m", "eta", "lr_scaling", "eta_m"]
    header = out.splitlines()[0].split()
    assert header[:4] == ["m", "eta", "lr_scaling", "eta_m"]
    rows = [line.split()[:4] for line in out.splitlines()[1:5]]  # grid order: m slowest
    assert rows == [
        ["4", "0.005", "sqrt", "0.01"],
        ["4", "0.01", "sqrt", "0.02"],
        ["16", "0.005", "sqrt", "0.02"],
        ["16", "0.01", "sqrt", "0.04"],
    ]


# ----------------------------------------------------------------------------- interrupting the figures


def test_ctrl_c_while_the_figures_are_drawn_says_every_cell_is_stored(small, tmp_path, capsys, monkeypatch):
    import saddle.plotting.sweep

    config, folder, _ = small
    before = cell_bytes(folder)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saddle.plotting.sweep, "plot_sweep", interrupted)
    rc = main(["sweep", str(config), "--out", str(folder), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 130 and len(err) == 1, err
    assert "every cell is stored" in err[0] and "nothing was stored" not in err[0]
    assert cell_bytes(folder) == before


# ----------------------------------------------------------------------------- a scheduler that is not one


@contextlib.contextmanager
def listener(answer=None):
    """A TCP server on 127.0.0.1 that accepts connections and sends ``answer`` (None: never anything)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held, stop = [], threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            if answer is not None:
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pip install 'saddle[cluster]')",
)
@pytest.mark.parametrize("answer", [None, b"SSH-2.0-OpenSSH_9.6\r\n", b"\xff" * 64], ids=["silent", "ssh", "garbage"])
def test_a_scheduler_address_that_is_not_a_scheduler_is_refused_within_the_timeout(
    answer, small, tmp_path, capsys, monkeypatch
):
    import saddle.sweep.run

    monkeypatch.setattr(saddle.sweep.run, "CONNECT_TIMEOUT", 1.0)  # documented default: 10 s
    config, _, _ = small
    with listener(answer) as address:
        started = time.monotonic()
        rc = main(["sweep", str(config), "--out", str(tmp_path / "out"), "--scheduler", address, "--quiet"])
        elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert address in err[0]
    assert ("within 1 s" if answer is None else "not a Dask scheduler") in err[0], err[0]
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert not (tmp_path / "out").exists(), "a refused scheduler left a results folder"
    with socket.socket() as probe:  # nothing listens here at all
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError, match="cannot connect"):
        run_sweep(SweepConfig.from_toml(config), out=tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}")
    assert not (tmp_path / "out").exists()


def test_a_cell_whose_statistics_fail_keeps_its_trials_and_the_sweep_says_so(monkeypatch, tmp_path):
    """A MemoryError injected into one cell's statistics (the third of four): every cell's trials are
    stored (the failing one with empty statistics), the sweep ends in one line naming the cell and the
    folder, and the sweep read back holds all four cells, the failing one's trials equal to its own run's."""
    import math

    import saddle.escape as escape_module
    from saddle.options import StatisticsError

    real, calls = escape_module.summarize, []

    def failing(steps, status, max_steps, seed=0):
        calls.append(seed)
        if len(calls) == 3:
            raise MemoryError("Unable to allocate 149. GiB")
        return real(steps, status, max_steps, seed=seed)

    monkeypatch.setattr(escape_module, "summarize", failing)
    sweep = SweepConfig.from_toml(write(tmp_path / "small.toml", SMALL.replace("trials = 50", "trials = 20")))
    out = tmp_path / "out"
    with pytest.raises(StatisticsError) as info:
        run_sweep(sweep, out=out)
    message = str(info.value)
    assert "\n" not in message and "MemoryError" in message and str(out) in message and "1 cell(s)" in message
    monkeypatch.setattr(escape_module, "summarize", real)
    back = run_sweep(sweep, out=out)  # every cell stored: nothing runs again
    assert back.computed == [] and len(back.reused) == 4
    medians = [float(v) for v in read_table(out / "summary.csv")["median_steps"]]
    assert sum(math.isnan(v) for v in medians) == 1
    cell = next(c for c in sweep.cells() if c.key in message)
    alone = run_escape(cell.config).by_m[cell.config.m[0]]
    with open(out / "cells" / cell.key / "trials.csv") as fh:
        stored = [int(r["steps"]) for r in csv.DictReader(fh)]
    np.testing.assert_array_equal(stored, alone.steps)
