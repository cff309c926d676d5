"""Failure modes, second round: work that scales badly, accepted nonsense, messages that mislead.

Idea under test
---------------
A configuration is refused whole, in one line, before anything is written or any slow setup runs: a
plateau start too large for its solver is refused at once (not after minutes in Python), a batch size
whose start or theory fails leaves no results folder, a target the start already meets, a start of the
wrong length, contradicting start flags, a size option the objective does not have are refused.  The
messages name what the user gave (the objective's own size options, not a ``d`` it does not have; no
target nobody gave), and numerical noise (numpy warnings) does not precede a refusal.  A closed or full
stdout or stderr never costs the results of a finished run, and never a traceback.

Each test injects one fault; most work in-process on ``EscapeConfig`` / ``run_escape`` (validation runs
before any kernel), and the few about the terminal's streams run the real entry point in a subprocess.
"""

import math
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import saddle.escape as escape_module
from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.manifolds import Euclidean
from saddle.objectives.base import KernelHooks, Objective, register, unregister
from saddle.objectives.teacher_student.objective import MAX_PLATEAU_K, MAX_THEORY_K
from tests.test_failure_modes import REPO_ROOT, assert_one_clear_line, normalized, run_main

TS = dict(objective="teacher-student")
SPIKE = dict(d=5, m=(1, 4), trials=4, max_steps=20)


def refusal(**kwargs):
    """The one-line message of the ConfigError that EscapeConfig(**kwargs) raises."""
    with pytest.raises(ConfigError) as info:
        EscapeConfig(**kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------ 5: work that scales badly, writes too early


def test_a_plateau_start_beyond_the_solvers_reach_is_refused_at_once():
    """K = M = 64 on the plateau used to spend hours in the plateau solver (K^6 work in Python)."""
    start = time.perf_counter()
    message = refusal(**TS, N=200, K=64, M=64)
    assert time.perf_counter() - start < 0.5
    assert f"K = M <= {MAX_PLATEAU_K}" in message and "--start random" in message
    EscapeConfig(**TS, N=200, K=MAX_PLATEAU_K, M=MAX_PLATEAU_K)  # the largest allowed
    EscapeConfig(**TS, N=200, K=64, M=64, random_start=True)  # a random start needs no plateau


def test_the_theory_column_is_skipped_beyond_its_limit_with_the_reason():
    """predict_exit costs minutes a batch size at K = 10: the column says why it is empty instead."""
    K = MAX_THEORY_K + 1
    config = EscapeConfig(**TS, N=4 * K, K=K, M=K, random_start=True, m=1)
    start = time.perf_counter()
    row = config.build_objective().theory_prediction(config, 1)
    assert time.perf_counter() - start < 0.5
    assert math.isnan(row["theory_median_steps"]) and not row["theory_trusted"]
    assert f"K > {MAX_THEORY_K}" in row["theory_note"]


@pytest.mark.parametrize("fault", ["start of the second batch size", "theory"])
def test_a_refusal_after_the_first_batch_size_leaves_no_folder(fault, monkeypatch, tmp_path):
    """The per-m starts and the theory used to be computed after config.json and the lock were written."""

    def refuse(*args, **kwargs):
        raise ConfigError("injected refusal")

    if fault == "theory":
        monkeypatch.setattr(escape_module, "saddle_theory", refuse)
    else:
        cls = EscapeConfig(**SPIKE).objective_class
        plain = cls.start_point_for
        monkeypatch.setattr(
            cls, "start_point_for", lambda self, config, m: refuse() if m == 4 else plain(self, config, m)
        )
    with pytest.raises(ConfigError, match="injected refusal"):
        run_escape(EscapeConfig(**SPIKE), out=tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ 6: accepted nonsense


@pytest.mark.parametrize(
    "kwargs", [dict(**SPIKE, target=0.0), dict(**TS, m=(1,), trials=4, target=10.0)], ids=["spike", "teacher-student"]
)
def test_a_target_the_start_already_meets_is_refused(kwargs, tmp_path):
    """Every trial used to 'escape' at step 1 (f(u_0) = -0.5 for the spike, about 0.02 on the plateau)."""
    with pytest.raises(ConfigError, match=r"not below f\(u_0\)") as info:
        run_escape(EscapeConfig(**kwargs), out=tmp_path / "x")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_random_start_contradicting_the_plateau_start_is_refused():
    """--random-start --start plateau used to run a random start silently."""
    assert "contradicts start = 'plateau'" in refusal(**TS, random_start=True, start="plateau")
    assert EscapeConfig(**TS, random_start=True).start == "random"
    assert EscapeConfig(**TS, start="random").random_start is True


def test_d_is_refused_for_an_objective_whose_size_is_its_own(capsys, tmp_path):
    """--d 10 (the default's value) used to be accepted and recorded for teacher-student."""
    rc, _, err = run_main(["escape", "--objective", "teacher-student", "--d", "10", "--out", tmp_path / "x"], capsys)
    assert_one_clear_line(rc, err, [r"--d does not apply to the teacher-student", "--n, --k, --m"])
    assert list(tmp_path.iterdir()) == []


def test_d_is_refused_for_the_teacher_student_from_python_and_sweep_files_too():
    """d = 10 (the default's value) asked for through run_escape's options or a sweep's table was accepted
    and recorded for teacher-student, whose size is N, K, M; an EscapeConfig built without d still runs."""
    from saddle.sweep import SweepConfig

    with pytest.raises(ConfigError, match=r"^d does not apply to the teacher-student objective \(its size: N, K, M\)"):
        run_escape(objective="teacher-student", d=10, trials=2)
    for table in ("fixed", "grid"):
        data = {"sweep": {"seed": 1, "trials": 5}, "grid": {"m": [1, 2]}, "fixed": {"objective": "teacher-student"}}
        data[table]["d"] = 10 if table == "fixed" else [10, 20]
        with pytest.raises(ConfigError, match=r"^x\.toml: d does not apply to the teacher-student"):
            SweepConfig.from_dict(data, source="x.toml")
    grid = {"sweep": {"seed": 1, "trials": 5}, "grid": {"m": [1, 2], "objective": ["spike", "teacher-student"]}}
    SweepConfig.from_dict(grid, source="x.toml")  # no d given: both objectives on their own sizes


def test_a_sigma0_that_overflows_is_refused():
    """sigma0 = 1e200 passed validation, then sigma0**2 overflowed in kernel_params (a traceback)."""
    assert "sigma0 must be <= 1e+06" in refusal(**TS, start="random", sigma0=1e200)


class _WrongLength(Objective):
    """An objective whose start_point does not fit its manifold (length d + 3 on R^d)."""

    name = "test-wrong-length"
    kernel = KernelHooks(lambda *a: 0.0, lambda *a: None, name="test_wrong_length")  # never compiled

    def __init__(self, d):
        self.manifold = Euclidean(d)

    @classmethod
    def from_config(cls, config):
        return cls(config.d)

    def start_point(self, config):
        return np.zeros(config.d + 3)

    def f(self, u):
        return 0.0


def test_a_start_point_of_the_wrong_length_is_refused(tmp_path):
    """It used to run on a state of length d + 3 and store the results as d = 3."""
    register(_WrongLength)
    try:
        with pytest.raises(ConfigError, match=r"length 3 \(its manifold.s\), got shape \(6,\)"):
            run_escape(EscapeConfig(objective=_WrongLength.name, d=3, trials=2), out=tmp_path / "x")
    finally:
        unregister(_WrongLength.name)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 8: messages that mislead


def test_the_memory_refusal_names_the_objectives_own_size():
    """It used to speak of 'd = 10' (a d teacher-student does not have) and suggest a smaller d."""
    message = refusal(**TS, N=10**9)
    assert "N = 1000000000, K = 2, M = 2" in message and "smaller N or K or M" in message
    assert "d =" not in message and "smaller d" not in message


def test_no_plateau_is_said_without_blaming_a_target_nobody_gave():
    """K = M = 1 used to complain that the default target (about -1.8e-17) was below f_min."""
    message = refusal(**TS, N=2, K=1, M=1)
    assert "K = M = 1 has no plateau" in message and "below" not in message
    assert "has no plateau, so no default escape target" in refusal(**TS, N=2, K=1, M=1, start="random")


def test_a_refusal_is_not_preceded_by_numpy_warnings(tmp_path):
    """--output-noise 1e10 printed RuntimeWarnings (divide by zero in the solver) before its refusal."""
    config = EscapeConfig(**TS, output_noise=1e10, m=(1,), trials=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="no plateau") as info:
            run_escape(config, out=tmp_path / "x")
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "redirect, rc",
    [(">&-", 1), (">/dev/full", 1), ("2>&-", 0), ("2>/dev/full", 0)],
    ids=["stdout closed", "stdout full", "stderr closed", "stderr full"],
)
def test_a_closed_or_full_stream_keeps_the_results_and_a_meaningful_status(redirect, rc, tmp_path):
    """Each used to end a finished run in a traceback (or, with stderr closed, exit 1 before running)."""
    command = (
        f"'{sys.executable}' -m saddle.experiments escape --m 4 --trials 20 --d 5 --max-steps 200 --no-plot "
        f"--out x {redirect}"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == rc, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert (tmp_path / "x" / "trials.csv").is_file() and (tmp_path / "x" / "summary.csv").is_file()
    if rc:
        assert "error: " in proc.stderr and "every trial is stored in x" in proc.stderr
    else:
        assert "results in x/" in proc.stdout


# ------------------------------------------------------------ 7: the errors of a user's own code (--load)

USER_OBJECTIVE = """
import math

import numba
import numpy as np

from saddle.manifolds import Euclidean
from saddle.objectives.base import KernelHooks, Objective, register


@numba.njit
def value(objective, u, pf, pa, pi, work):
    return np.sum(np.cos(u))


@numba.njit
def gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g):
    for k in range(u.shape[0]):
        g[k] = -math.sin(u[k])  # GRADIENT


@register
class Broken(Objective):
    name = "NAME"
    title = "a user's objective with a fault"
    kernel = KernelHooks(value, gradient)

    def __init__(self, d):
        self.d, self.manifold = d, Euclidean(d)

    @classmethod
    def from_config(cls, config):
        return cls(config.d)

    def start_point(self, config):
        return np.zeros(self.d)

    def f(self, u):
        return float(np.sum(np.cos(u)))  # F

    def kernel_params(self):
        return np.zeros(1), np.zeros((1, 1)), np.zeros(1, dtype=np.int64)  # PARAMS
"""

USER_FAULTS = {
    # name: (the line replaced, its faulty version, what the one line must say)
    "f": (
        "return float(np.sum(np.cos(u)))  # F",
        "raise RuntimeError('f failed here')",
        [r"line \d+, in f", "f failed here"],
    ),
    "params": (
        "return np.zeros(1), np.zeros((1, 1)), np.zeros(1, dtype=np.int64)  # PARAMS",
        "return None",
        [r"kernel.params\(\) must return three numpy arrays", "none"],
    ),
    "typing": (
        "g[k] = -math.sin(u[k])  # GRADIENT",
        "g[k] = -math.sin(u[k]) + len('a' + 1)",
        [r"line \d+", "numba cannot compile it", "add"],
    ),
}


@pytest.mark.parametrize("fault", sorted(USER_FAULTS))
def test_an_error_in_a_loaded_objective_names_its_place_in_one_line(fault, capsys, tmp_path):
    """A --load objective whose f raises, whose kernel_params returns None, or whose gradient Numba cannot
    type: one line naming the user's file and line (or what their method must return), exit 2, no
    traceback (the 47-line TypingError and the tracebacks of the first round)."""
    name = f"broken-{fault}"
    old, new, fragments = USER_FAULTS[fault]
    source = USER_OBJECTIVE.replace('"NAME"', repr(name)).replace(old, new)
    file = tmp_path / f"broken_{fault}.py"
    file.write_text(source)
    try:
        argv = ["--load", file, "escape", "--objective", name, "--d", 2, "--m", 1, "--trials", 2]
        rc, _, err = run_main([*argv, "--max-steps", 5, "--no-plot", "--quiet", "--out", tmp_path / "run"], capsys)
    finally:
        unregister(name)
    line = assert_one_clear_line(rc, err, fragments)
    if fault != "params":
        assert file.name.replace("_", "-") in normalized(line)


# ------------------------------------------------------------ 4: interrupts reach a running kernel


def test_ctrl_c_stops_a_running_kernel_at_once_and_keeps_what_finished(tmp_path):
    """SIGINT while m = 1024's 64 trials of 40,000 steps run (about 20 s of kernel on two cores): the
    kernel polls a stop flag every step, so the run ends within seconds (it waited for the whole chunk
    before), with exit 130, one line, and m = 2's trials kept for a resume."""
    import signal

    argv = ["escape", "--d", 5, "--m", 2, 1024, "--trials", 64, "--max-steps", 40_000, "--delta", 0.45]
    argv += ["--eta", 1e-6, "--no-plot", "--out", tmp_path / "run"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "saddle.experiments", *map(str, argv)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell that runs the tests in the background has SIGINT ignored, which the child
        # would inherit (and Python then installs no KeyboardInterrupt handler)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for line in proc.stderr:  # (the compile announcement, then m = 2's line when its trials are stored; on a
            if line.startswith("m = 2:") and "escaped" in line:  # loaded machine its worst case may come first)
                break
        time.sleep(0.5)  # m = 1024's kernel is running
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        rc = proc.wait(timeout=60)
        waited = time.perf_counter() - sent
    finally:
        proc.kill()
    assert rc == 130, rest
    assert "Traceback" not in rest
    lines = rest.strip().splitlines()  # (m = 1024's worst case is announced first where a step is slow enough)
    assert lines[-1].startswith("interrupted: kept the trials of m = 2 in"), rest
    assert all(line.startswith("m = 1024: up to ") for line in lines[:-1]), rest
    assert waited < 10.0, f"the run went on {waited:.1f} s after Ctrl-C"


# ------------------------------------------------------------ 2: a statistic that fails keeps the trials


def test_a_failing_statistic_keeps_the_trials_stored_loadable_and_says_so(monkeypatch, tmp_path):
    """The statistics of m = 4 fail (a MemoryError injected into the summary): its trials are stored all
    the same, summary.csv leaves its statistics empty, saddle.load reads the folder, the error says so in
    one line, and the same run again recomputes the statistics from the stored trials."""
    from saddle import load
    from saddle.options import StatisticsError

    real = escape_module.summarize

    def failing(steps, status, max_steps, seed=0):
        if seed == 4:  # config.seed (0) + m
            raise MemoryError("Unable to allocate 149. GiB")
        return real(steps, status, max_steps, seed=seed)

    monkeypatch.setattr(escape_module, "summarize", failing)
    out = tmp_path / "run"
    with pytest.raises(StatisticsError) as info:
        run_escape(**SPIKE, out=out)
    message = str(info.value)
    assert "\n" not in message and "m = 4" in message and "MemoryError" in message and str(out) in message
    stored = load(out)
    assert sorted(stored.by_m) == [1, 4] and len(stored.by_m[4].steps) == SPIKE["trials"]
    row4 = [r for r in stored.summary if r["m"] == 4][0]
    assert math.isnan(row4["median_steps"]) and row4["trials"] == SPIKE["trials"]
    monkeypatch.setattr(escape_module, "summarize", real)
    again = run_escape(**SPIKE, out=out)  # resumed: nothing simulated again, the statistics recomputed
    assert not math.isnan([r for r in again.summary if r["m"] == 4][0]["median_steps"])
    np.testing.assert_array_equal(again.by_m[4].steps, stored.by_m[4].steps)


def test_a_folder_whose_statistics_all_failed_still_draws(monkeypatch, tmp_path):
    """Every statistic fails (summary.csv without medians): the figure still draws (survival from the
    trials, the median panel saying no medians are stored), it does not fail on a log axis with no data."""
    import io

    from saddle import load
    from saddle.options import StatisticsError
    from saddle.plotting import escape_figure

    def failing(steps, status, max_steps, seed=0):
        raise MemoryError("Unable to allocate 149. GiB")

    monkeypatch.setattr(escape_module, "summarize", failing)
    with pytest.raises(StatisticsError):
        run_escape(m=(2,), d=5, trials=10, max_steps=300, out=tmp_path / "run")
    fig = escape_figure(load(tmp_path / "run"))
    fig.savefig(io.BytesIO(), format="png")
    assert any("no medians stored" in t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", [["--help"], ["escape", "--help"]])
def test_help_into_a_full_stdout_is_an_error(argv, tmp_path):
    """argparse ignores a failed write of its help and exits 0; the text never arrived, so: one line, exit 1."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "saddle.experiments", *argv], stdout=full, stderr=subprocess.PIPE, text=True,
            cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write to stdout" in lines[0], done.stderr


def test_a_run_that_could_take_hours_says_so_before_its_first_trial():
    """m = 4096 with max-steps 10^7: one timed probe of a trial gives the worst case (every trial to
    max-steps: hours) before any trial runs; the trials themselves escape in about 120 steps."""
    lines: list[str] = []
    res = run_escape(m=(4096,), trials=2, max_steps=10_000_000, announce=lines.append)
    worst = [line for line in lines if "up to" in line and "max-steps" in line]
    assert len(worst) == 1 and worst[0].startswith("m = 4096") and "Ctrl-C" in worst[0]
    assert lines.index(worst[0]) < next(i for i, line in enumerate(lines) if "trials escaped" in line)
    assert res.summary[0]["escaped"] == 2
