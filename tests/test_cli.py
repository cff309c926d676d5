"""The command line as a user runs it: ``python -m saddle.experiments ...``.

Idea under test
---------------
The CLI is the product a user meets first, so it is exercised here exactly as
a user runs it: in a fresh interpreter (``subprocess``), in a scratch working
directory, with only ``PYTHONPATH`` pointing at this checkout.  The tests check
the contract of the results folder (config.json, trials.csv, summary.csv and
the figure), that the numbers depend on the seed and on nothing else (not on
the thread count, not on being rerun), that an existing folder is resumed
rather than recomputed or silently mixed with another configuration, and that
Ctrl-C leaves only whole batch sizes behind, which a rerun completes into
exactly the files an uninterrupted run writes.

Every run is tiny: each subprocess pays about 2 s of imports, the numerical
work is a fraction of that.
"""

import csv
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TRIAL_HEADER = "m,eta,trial,steps,samples,status,final_f"
SUMMARY_COLUMNS = (
    "m",
    "eta",
    "trials",
    "escaped",
    "censored",
    "diverged",
    "median_steps",
    "median_steps_lo",
    "median_steps_hi",
    "mean_steps",
    "median_samples",
    "wall_seconds",
)
STATUSES = {"escaped", "censored", "diverged"}

# A run whose m = 2 block mixes escaped and censored trials (median ~120 steps
# against a horizon of 150), so that the censoring rules are really exercised.
M_VALUES = (2, 8)
TRIALS = 40
MAX_STEPS = 150
SMALL = ["--m", *map(str, M_VALUES), "--trials", str(TRIALS), "--max-steps", str(MAX_STEPS), "--d", "6"]


# ----------------------------------------------------------------------------- helpers


def cli_env(**extra):
    """The environment of a user's shell with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def cli_command(*args):
    return [sys.executable, "-m", "saddle.experiments", *map(str, args)]


def run_cli(*args, cwd, timeout=120, **env):
    """Run ``python -m saddle.experiments ARGS`` in ``cwd``; return the CompletedProcess."""
    return subprocess.run(
        cli_command(*args), cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=timeout
    )


def run_ok(*args, cwd, **env):
    """Run the CLI and insist that it succeeded quietly on stderr (no warnings, no traceback)."""
    proc = run_cli(*args, cwd=cwd, **env)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def read_trials(folder):
    """trials.csv as (header line, list of row dicts)."""
    text = (Path(folder) / "trials.csv").read_text()
    header = text.splitlines()[0]
    return header, list(csv.DictReader(io.StringIO(text)))


def read_summary(folder):
    with open(Path(folder) / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def hidden_files(folder):
    """Leftover temporary files (the atomic writer's temp names start with '.')."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def assert_complete_blocks(rows, m_values, trials):
    """Rows form whole batch sizes, in the order of m_values, each with trials 0..trials-1."""
    ms = [int(r["m"]) for r in rows]
    order = list(dict.fromkeys(ms))
    assert order == list(m_values[: len(order)]), f"batch sizes {order} are not a prefix of {list(m_values)}"
    for m in order:
        assert sorted(int(r["trial"]) for r in rows if int(r["m"]) == m) == list(range(trials)), m
    return order


def table_rows(stdout):
    """The data rows of the stdout table: lines after the header (starting with 'm') that start with a number."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    head = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["m", "eta"])
    rows = []
    for ln in lines[head + 1 :]:
        if not ln.split()[0].isdigit():  # the footnote and 'results in ...'
            break
        rows.append(ln.split())
    return rows


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One plotted run of the small configuration: (folder, CompletedProcess)."""
    cwd = tmp_path_factory.mktemp("small")
    proc = run_ok("escape", *SMALL, "--out", "run", cwd=cwd)
    return cwd / "run", proc


# ----------------------------------------------------------------------------- commands


def test_bare_command_lists_the_commands(tmp_path):
    proc = run_cli(cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for command in ("escape", "info"):
        assert re.search(rf"^\s+{command}\s+\S", proc.stdout, re.M), f"{command!r} not listed:\n{proc.stdout}"
    assert list(tmp_path.iterdir()) == []


def test_info_reports_versions_threading_and_gpu(tmp_path):
    from importlib.metadata import version

    import numba
    import numpy
    import scipy

    proc = run_ok("info", cwd=tmp_path)
    fields = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    assert fields["numpy"] == numpy.__version__
    assert fields["numba"] == numba.__version__
    assert fields["scipy"] == scipy.__version__ and fields["matplotlib"] == version("matplotlib")  # issue 13
    assert fields["threading"].split()[0] in {"omp", "tbb", "workqueue"}, fields["threading"]
    assert int(fields["threads"].split()[0]) >= 1
    assert "cupy" in fields and fields["cupy"]


# ----------------------------------------------------------------------------- the results folder


def test_escape_writes_config_json(small_run):
    import numba
    import numpy

    folder, _ = small_run
    meta = json.loads((folder / "config.json").read_text())
    config = meta["config"]
    assert config["m"] == list(M_VALUES)
    assert (config["trials"], config["max_steps"], config["d"]) == (TRIALS, MAX_STEPS, 6)
    assert meta["seed"] == config["seed"] == 0
    assert meta["versions"]["numpy"] == numpy.__version__
    assert meta["versions"]["numba"] == numba.__version__
    assert isinstance(meta["threads"], int) and meta["threads"] >= 1


def test_escape_writes_one_row_per_trial(small_run):
    folder, _ = small_run
    header, rows = read_trials(folder)
    assert header == TRIAL_HEADER
    assert len(rows) == TRIALS * len(M_VALUES)
    assert assert_complete_blocks(rows, M_VALUES, TRIALS) == list(M_VALUES)
    for r in rows:
        m, steps, status = int(r["m"]), int(r["steps"]), r["status"]
        assert status in STATUSES, r
        assert int(r["samples"]) == m * steps, r
        assert 1 <= steps <= MAX_STEPS, r
        if status == "censored":
            assert steps == MAX_STEPS, r
        assert float(r["eta"]) == 0.01
        if status != "diverged":
            assert math.isfinite(float(r["final_f"])), r
    seen = {r["status"] for r in rows}
    assert {"escaped", "censored"} <= seen, f"the run should mix escaped and censored trials, saw {seen}"


def test_escape_writes_summary_matching_the_trials(small_run):
    folder, _ = small_run
    summary = read_summary(folder)
    assert set(SUMMARY_COLUMNS) <= set(summary[0]), set(SUMMARY_COLUMNS) - set(summary[0])
    assert [int(r["m"]) for r in summary] == list(M_VALUES)
    _, trials = read_trials(folder)
    for row in summary:
        m = int(row["m"])
        mine = [t for t in trials if int(t["m"]) == m]
        assert int(row["trials"]) == len(mine) == TRIALS
        for status in STATUSES:
            assert int(row[status]) == sum(t["status"] == status for t in mine), (m, status)
        lo, med, hi = (float(row[k]) for k in ("median_steps_lo", "median_steps", "median_steps_hi"))
        assert lo <= med <= hi, row
        assert float(row["median_samples"]) == pytest.approx(m * med)
        assert float(row["wall_seconds"]) >= 0


def test_escape_draws_the_figure(small_run):
    folder, _ = small_run
    pdf, png = (folder / "escape.pdf").read_bytes(), (folder / "escape.png").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert hidden_files(folder) == []


def test_escape_prints_one_table_row_per_m(small_run):
    folder, proc = small_run
    rows = table_rows(proc.stdout)
    assert [int(r[0]) for r in rows] == list(M_VALUES)
    summary = {int(r["m"]): r for r in read_summary(folder)}
    for r in rows:
        escaped, censored, diverged = (int(x) for x in r[-4:-1])
        s = summary[int(r[0])]
        assert (escaped, censored, diverged) == (int(s["escaped"]), int(s["censored"]), int(s["diverged"]))
    assert "run" in proc.stdout.splitlines()[-1]


def test_same_seed_same_trials_and_quiet_no_plot(small_run, tmp_path):
    folder, _ = small_run
    again = run_ok("escape", *SMALL, "--no-plot", "--quiet", "--out", "again", cwd=tmp_path)
    assert again.stdout == "results in again/ (config.json, trials.csv, summary.csv)\n"  # where, and nothing else
    assert not (tmp_path / "again" / "escape.pdf").exists()
    assert not (tmp_path / "again" / "escape.png").exists()
    assert (tmp_path / "again" / "trials.csv").read_bytes() == (folder / "trials.csv").read_bytes()

    run_ok("escape", *SMALL, "--seed", "1", "--no-plot", "--quiet", "--out", "other", cwd=tmp_path)
    _, rows0 = read_trials(folder)
    _, rows1 = read_trials(tmp_path / "other")
    assert [r["steps"] for r in rows0] != [r["steps"] for r in rows1], "the seed changed nothing"


def test_thread_count_does_not_change_the_trials(tmp_path):
    for threads in (1, 2):
        run_ok(
            "escape",
            *SMALL,
            "--threads",
            threads,
            "--no-plot",
            "--quiet",
            "--out",
            f"t{threads}",
            cwd=tmp_path,
            NUMBA_NUM_THREADS="2",
        )
        assert json.loads((tmp_path / f"t{threads}" / "config.json").read_text())["threads"] == threads
    assert (tmp_path / "t1" / "trials.csv").read_bytes() == (tmp_path / "t2" / "trials.csv").read_bytes()


def test_default_out_is_a_dated_folder_under_saddle_results(tmp_path):
    before = datetime.now().strftime("%Y%m%d")
    proc = run_ok("escape", *SMALL, "--no-plot", cwd=tmp_path)
    after = datetime.now().strftime("%Y%m%d")
    assert [p.name for p in tmp_path.iterdir()] == ["saddle-results"]
    (folder,) = (tmp_path / "saddle-results").iterdir()
    match = re.fullmatch(r"escape-(\d{8})-(\d{6})(-\d+)?", folder.name)
    assert match, folder.name
    assert match.group(1) in {before, after}
    assert (folder / "trials.csv").is_file() and (folder / "config.json").is_file()
    assert folder.name in proc.stdout


# ----------------------------------------------------------------------------- resuming


def test_rerun_into_the_same_folder_resumes_without_recomputing(small_run, tmp_path):
    done, _ = small_run
    folder = tmp_path / "resume"
    folder.mkdir()
    for name in ("config.json", "checksums.json", "trials.csv", "summary.csv", "trajectories.npz"):
        shutil.copy2(done / name, folder / name)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    proc = run_ok("escape", *SMALL, "--out", folder, cwd=tmp_path)
    for name, data in before.items():
        # summary.csv holds the wall time of each m: byte-identical means read back, not recomputed.
        assert (folder / name).read_bytes() == data, f"{name} changed on resume"
    assert [int(r[0]) for r in table_rows(proc.stdout)] == list(M_VALUES)
    assert (folder / "escape.pdf").stat().st_size > 0
    assert hidden_files(folder) == []


def test_rerun_with_a_different_option_is_refused(small_run, tmp_path):
    done, _ = small_run
    folder = tmp_path / "taken"
    shutil.copytree(done, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    proc = run_cli("escape", *SMALL, "--eta", "0.02", "--out", folder, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(r"\beta\b", lines[0]), lines[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# ----------------------------------------------------------------------------- Ctrl-C

# m = 2 and 4 finish in a fraction of a second; 512 and 1024 then take a few
# seconds, the window in which SIGINT is sent.
SLOW_M = (2, 4, 512, 1024)
SLOW = [
    "escape",
    "--m",
    *map(str, SLOW_M),
    "--trials",
    "1000",
    "--d",
    "10",
    "--max-steps",
    "3000",
    "--quiet",
    "--no-plot",
]


def interrupt_when_first_m_is_stored(folder, cwd, timeout=60):
    """Start the slow run, send SIGINT as soon as trials.csv appears; return (rc, stdout, stderr)."""
    # A shell may start the test run (and so this child) with SIGINT ignored, as in a background job;
    # restore the default so that the child turns SIGINT into KeyboardInterrupt, as in a terminal.
    proc = subprocess.Popen(
        cli_command(*SLOW, "--out", folder),
        cwd=cwd,
        env=cli_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + timeout
        while not (folder / "trials.csv").exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the run ended (exit {proc.returncode}) before trials.csv appeared:\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"trials.csv did not appear within {timeout} s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_ctrl_c_keeps_whole_batch_sizes_and_a_rerun_completes_them(tmp_path):
    folder = tmp_path / "interrupted"
    rc, out, err = interrupt_when_first_m_is_stored(folder, tmp_path)
    assert rc == 130, f"exit {rc} (0 means the run finished before SIGINT)\nstderr:\n{err}"
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("interrupted") and "kept" in line, line
    assert str(folder) in line, line

    header, rows = read_trials(folder)
    assert header == TRIAL_HEADER
    for r in rows:
        assert set(r) == set(TRIAL_HEADER.split(",")) and None not in r.values(), r
        int(r["steps"]), float(r["final_f"])
    kept = assert_complete_blocks(rows, SLOW_M, 1000)
    assert 1 <= len(kept) < len(SLOW_M), kept
    assert {str(m) for m in kept} <= set(re.findall(r"\d+", line.split("kept", 1)[1])), line
    kept_wall = {r["m"]: r["wall_seconds"] for r in read_summary(folder)}
    assert [int(m) for m in kept_wall] == kept
    assert hidden_files(folder) == []

    run_ok(*SLOW, "--out", folder, cwd=tmp_path)
    resumed_wall = {r["m"]: r["wall_seconds"] for r in read_summary(folder)}
    assert {m: resumed_wall[m] for m in kept_wall} == kept_wall, "kept batch sizes were recomputed"
    run_ok(*SLOW, "--out", tmp_path / "fresh", cwd=tmp_path)
    assert (folder / "trials.csv").read_bytes() == (tmp_path / "fresh" / "trials.csv").read_bytes()
    resumed, fresh = read_summary(folder), read_summary(tmp_path / "fresh")
    for a, b in zip(resumed, fresh, strict=True):
        a.pop("wall_seconds"), b.pop("wall_seconds")
        assert a == b
    assert hidden_files(folder) == []
