"""What run_escape gives a researcher beyond the numbers: status names, tidy stored numbers, and one line
per finished batch size (and before a first compile) for a log that is not a terminal (issue 13)."""

import math

import numpy as np

from saddle.escape import run_escape


def test_status_names_tidy_numbers_and_a_line_per_batch_size():
    lines = []
    res = run_escape(m=(1, 4), trials=60, max_steps=400, seed=2, announce=lines.append)
    mres = res.by_m[1]
    assert set(mres.status_names) <= {"escaped", "censored", "diverged", "frozen"}
    np.testing.assert_array_equal(mres.status_names == "escaped", mres.status == 0)
    assert [line.split(":")[0] for line in lines if line.startswith("m = ")] == ["m = 1", "m = 4"]
    for row in res.summary:
        for key, value in row.items():
            if isinstance(value, float) and math.isfinite(value):
                assert value == float(f"{value:.12g}"), key  # no 1181.450000000001


def test_a_first_compile_of_over_a_second_is_announced_before_the_first_trial():
    """An objective compiled afresh (a new one, never cached) takes seconds: the line comes first."""
    from saddle.config import EscapeConfig
    from saddle.objectives.base import register, unregister
    from tests.test_registry import Cosine

    class Fresh(Cosine):  # its own hooks object: a kernel this process has not compiled yet
        name = "test-fresh"

    Fresh.kernel = type(Cosine.kernel)(Cosine.kernel.value, Cosine.kernel.gradient, name="test_fresh")
    register(Fresh)
    try:
        lines = []
        run_escape(
            EscapeConfig(objective="test-fresh", d=2, m=(2,), eta=0.1, delta=0.2, trials=4), announce=lines.append
        )
        assert lines[0].startswith("compiling the test-fresh kernel"), lines
        assert "for this run only: the kernel of a loaded objective is not cached on disk" in lines[0]  # true
        assert lines[1].startswith("m = 2:")
    finally:
        unregister("test-fresh")


def test_the_benchmark_writes_no_tracked_file_unless_told(monkeypatch):
    """benchmarks/escape_bench.py's default output is ./escape_bench.json (ignored), not the recorded run."""
    import importlib.util
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(root / "benchmarks"))  # (its yardstick module lives beside it)
    spec = importlib.util.spec_from_file_location("escape_bench", root / "benchmarks" / "escape_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.DEFAULT_JSON == Path("escape_bench.json")
    tracked = subprocess.run(["git", "ls-files", "escape_bench.json"], capture_output=True, text=True, cwd=root)
    ignored = subprocess.run(["git", "check-ignore", "escape_bench.json"], capture_output=True, text=True, cwd=root)
    assert tracked.stdout.strip() == "" and ignored.returncode == 0
