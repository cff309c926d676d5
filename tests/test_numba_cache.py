"""Numba's environment (issue 12, items 4 and 8): without a writable cache saddle compiles without it and says
so in one line; a bad NUMBA_NUM_THREADS is refused in one line with exit status 2, before Numba reads it.

The cache test runs the CLI on a copy of the package where no cache folder can be written: NUMBA_CACHE_DIR
and HOME point into /proc (which nobody, root included, can write), and every ``__pycache__`` of the copy is
a plain file, so Numba's in-tree locator cannot create the folder either.  The two commands run side by side
(each compiles its kernel, ~12 s).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import saddle
from saddle._numba import check_environment

PACKAGE = Path(saddle.__file__).resolve().parent
CLI = [sys.executable, "-m", "saddle.experiments"]


def unwritable_copy(tmp_path):
    """A copy of the package whose __pycache__ folders cannot be created, and an environment without any
    writable Numba cache."""
    root = tmp_path / "site"
    shutil.copytree(PACKAGE, root / "saddle", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in [root / "saddle", *(p for p in (root / "saddle").rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env.update(
        PYTHONPATH=str(root),
        NUMBA_CACHE_DIR="/proc/saddle-no-cache",
        HOME="/proc/saddle-no-home",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def test_no_writable_cache_compiles_without_it_with_one_warning_line(tmp_path):
    env = unwritable_copy(tmp_path)
    runs = {
        "escape": subprocess.Popen(
            [
                *CLI,
                "escape",
                "--objective",  # the quadratic: its kernel compiles faster than the spike's, and any will do
                "quadratic",
                "--d",
                "1",
                "--m",
                "4",
                "--trials",
                "4",
                "--max-steps",
                "50",
                "--no-plot",
                "--out",
                str(tmp_path / "out"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        "info": subprocess.Popen(
            [*CLI, "info"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ),
    }
    for name, run in runs.items():
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, (name, err)
        warned = [line for line in err.splitlines() if "warning" in line.lower()]  # beside escape's progress lines
        assert len(warned) == 1 and "warning: no writable Numba cache" in warned[0], (name, err)
        assert "Traceback" not in err, (name, err)
        if name == "info":
            assert "cache       off" in out
    assert (tmp_path / "out" / "trials.csv").exists()
    assert not list((tmp_path / "site").rglob("*.nbi"))  # nothing was cached anywhere in the copy


@pytest.mark.parametrize("value", ["abc", "0", "-3", "", "2.5"])
def test_bad_thread_counts_are_refused_in_one_line(value):
    with pytest.raises(ValueError, match=f"NUMBA_NUM_THREADS must be a positive integer, got '{value}'"):
        check_environment({"NUMBA_NUM_THREADS": value})


def test_good_settings_pass_and_bad_threading_layers_are_refused():
    check_environment({"NUMBA_NUM_THREADS": "4", "NUMBA_THREADING_LAYER": "OMP"})
    check_environment({})
    with pytest.raises(ValueError, match="NUMBA_THREADING_LAYER must be one of .*, got 'fast'"):
        check_environment({"NUMBA_THREADING_LAYER": "fast"})


@pytest.mark.parametrize("command", ["info", "escape"])
def test_cli_refuses_a_bad_thread_count_before_numba_reads_it(command, tmp_path):
    env = {**os.environ, "NUMBA_NUM_THREADS": "abc"}
    argv = [*CLI, command] + (
        ["--m", "4", "--trials", "4", "--no-plot", "--out", str(tmp_path / "out")] if command == "escape" else []
    )
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m saddle.experiments: error: NUMBA_NUM_THREADS must be a positive integer, got 'abc'"
    ]
    assert not (tmp_path / "out").exists()
