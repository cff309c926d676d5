"""Bad input fails early, in one line, with exit status 2 -- never a traceback.

Idea under test
---------------
A user who mistypes an option must learn what is wrong from a single line on
stderr and get exit status 2, before any kernel runs and without a results
folder left behind.  The same rules hold in the Python API: ``EscapeConfig``
raises ``ConfigError`` (a ValueError) with a one-line message, and accepts
NumPy integers and integral floats where integers are asked for.

Most CLI cases call ``saddle.experiments.cli.main`` in-process (validation
happens before any kernel runs, so this is fast); a handful go through the
real entry point, ``python -m saddle.experiments``, in a subprocess, to prove
that what reaches the user's terminal is the same single line and status 2.
"""

import json
import math
import numbers
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.experiments.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ["--m", "2", "--trials", "2", "--max-steps", "5", "--d", "4", "--no-plot", "--quiet"]


# ----------------------------------------------------------------------------- helpers


def normalized(text):
    """Lower case with '_' as '-', so 'max_steps' and '--max-steps' read alike."""
    return text.lower().replace("_", "-")


def assert_one_clear_line(rc, stderr, fragments=()):
    """Exit status 2 and exactly one stderr line, no traceback, mentioning every regex in fragments."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert rc == 2, f"exit status {rc}, stderr: {stderr}"
    line = normalized(lines[0])
    assert "error" in line, line
    for pattern in fragments:
        assert re.search(pattern, line), f"{pattern!r} not in {lines[0]!r}"
    return lines[0]


def run_main(argv, capsys):
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in argv])
    except Exception as err:  # the real entry point would print a traceback
        pytest.fail(f"main raised {type(err).__name__}: {err} -- the CLI would print a traceback")
    out, err = capsys.readouterr()
    return rc, out, err


def run_entry_point(argv, cwd, timeout=120):
    """Run ``python -m saddle.experiments ARGV`` as a user would."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "saddle.experiments", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_config_error(kwargs):
    with pytest.raises(ConfigError) as info:
        EscapeConfig(**kwargs)
    message = str(info.value)
    assert message and "\n" not in message, repr(message)
    return message


# ----------------------------------------------------------------------------- the CLI, in-process

E = "escape"
BAD_ARGS = {
    # batch sizes
    "m-zero": ([E, "--m", "0"], [r"\bm\b"]),
    "m-negative": ([E, "--m", "-3"], [r"\bm\b", "-3"]),
    "m-fraction": ([E, "--m", "1.5"], [r"--m", r"1\.5"]),
    "m-word": ([E, "--m", "x"], [r"--m", r"'x'"]),
    "m-missing": ([E, "--m"], [r"--m"]),
    "m-twice": ([E, "--m", "2", "2"], [r"\bm\b"]),
    "m-too-large": ([E, "--m", str(2**30 + 1)], [r"\bm\b"]),
    # step size and escape criteria
    "eta-zero": ([E, "--eta", "0"], [r"\beta\b"]),
    "eta-negative": ([E, "--eta", "-1"], [r"\beta\b"]),
    "eta-nan": ([E, "--eta", "nan"], [r"\beta\b"]),
    "eta-inf": ([E, "--eta", "inf"], [r"\beta\b"]),
    "eta-word": ([E, "--eta", "fast"], [r"\beta\b"]),
    "eta-scaled-overflow": ([E, "--eta", "1e300", "--lr-scaling", "linear", "--m", str(2**30)], [str(2**30)]),
    "delta-zero": ([E, "--delta", "0"], [r"\bdelta\b"]),
    "delta-negative": ([E, "--delta", "-0.1"], [r"\bdelta\b"]),
    "delta-nan": ([E, "--delta", "nan"], [r"\bdelta\b"]),
    "radius-zero": ([E, "--radius", "0"], [r"\bradius\b"]),
    "radius-inf": ([E, "--radius", "inf"], [r"\bradius\b"]),
    # geometry
    "s-one": ([E, "--s", "1"], [r"\bs\b"]),
    "s-above-d": ([E, "--s", "11", "--d", "10"], [r"\b11\b", r"\b10\b"]),
    "d-one": ([E, "--d", "1"], [r"\bd\b"]),
    # sizes and seeds
    "trials-zero": ([E, "--trials", "0"], [r"trials"]),
    "trials-too-many-for-memory": ([E, "--trials", str(10**9)], [r"trials", r"memory"]),
    "trials-beyond-the-streams": ([E, "--trials", str(10**13)], [r"trials must be <= 4294967296"]),
    "max-steps-zero": ([E, "--max-steps", "0"], [r"max-steps"]),
    "max-steps-huge": ([E, "--max-steps", str(2**41)], [r"max-steps"]),
    "max-steps-beyond-the-streams": ([E, "--max-steps", str(2**32)], [r"max-steps", str(2**32 - 1)]),
    "seed-negative": ([E, "--seed", "-1"], [r"seed"]),
    "seed-above-64-bit": ([E, "--seed", str(2**64)], [r"seed"]),
    "rotation-seed-negative": ([E, "--rotation-seed", "-1"], [r"rotation-seed"]),
    # choices
    "dist-gaussian": ([E, "--dist", "gaussian"], [r"gaussian", r"kappa"]),
    "dist-unknown": ([E, "--dist", "foo"], [r"'foo'", r"uniform"]),
    "optimizer-unknown": ([E, "--optimizer", "adam"], [r"'adam'", r"sgd"]),
    "lr-scaling-unknown": ([E, "--lr-scaling", "cubic"], [r"'cubic'", r"sqrt"]),
    "noisy-sgd-without-sigma": ([E, "--optimizer", "noisy-sgd"], [r"sigma-iso"]),
    "sigma-negative": ([E, "--optimizer", "noisy-sgd", "--sigma-iso", "-1"], [r"sigma-iso"]),
    "sigma-nan": ([E, "--optimizer", "noisy-sgd", "--sigma-iso", "nan"], [r"sigma-iso"]),
    "sigma-with-sgd": ([E, "--sigma-iso", "0.1"], [r"sigma-iso", r"noisy-sgd"]),
    # machine
    "threads-zero": ([E, "--threads", "0"], [r"threads"]),
    "threads-too-many": ([E, "--threads", "100000"], [r"threads"]),
    # the octopus's constants
    "octopus-L-zero": ([E, "--objective", "octopus", "--L", "0"], [r"\bl\b"]),
    "octopus-tau-negative": ([E, "--objective", "octopus", "--tau", "-1"], [r"\btau\b"]),
    "octopus-gamma-nan": ([E, "--objective", "octopus", "--gamma", "nan"], [r"gamma"]),
    "octopus-noise-var-count": ([E, "--objective", "octopus", "--d", "4", "--noise-var", "1", "2"], [r"noise-var"]),
    "tau-with-spike": ([E, "--tau", "2"], [r"\btau\b", r"octopus"]),
    "random-start-quadratic": ([E, "--objective", "quadratic", "--random-start"], [r"random-start"]),
    # the command line itself
    "unknown-command": (["bogus"], [r"bogus"]),
    "unknown-option": ([E, "--bogus", "1"], [r"--bogus"]),
    "info-unknown-option": (["info", "--bogus"], [r"--bogus"]),
}


@pytest.mark.parametrize("argv, fragments", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_option_gives_one_line_and_status_2(argv, fragments, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(argv, capsys)
    assert_one_clear_line(rc, err, fragments)
    assert out == ""
    assert list(tmp_path.iterdir()) == [], "a rejected run left files behind"


def test_out_under_a_regular_file_is_refused(capsys, tmp_path):
    (tmp_path / "file.txt").write_text("not a folder\n")
    out_dir = tmp_path / "file.txt" / "sub"
    rc, _, err = run_main([E, *TINY, "--out", out_dir], capsys)
    assert_one_clear_line(rc, err, [re.escape(normalized(str(out_dir)))])
    assert (tmp_path / "file.txt").read_text() == "not a folder\n"


def test_out_that_is_a_regular_file_is_refused(capsys, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me\n")
    rc, _, err = run_main([E, *TINY, "--out", target], capsys)
    assert_one_clear_line(rc, err, [r"file\.txt"])
    assert target.read_text() == "keep me\n"


FOREIGN_CONFIGS = {
    "garbage": "not json at all",
    "empty-object": "{}",
    "list": "[1]",
    "config-int": '{"config": 1}',
    "config-list": '{"config": []}',
}


@pytest.mark.parametrize("content", FOREIGN_CONFIGS.values(), ids=FOREIGN_CONFIGS.keys())
def test_out_holding_a_foreign_config_json_is_refused(content, capsys, tmp_path):
    (tmp_path / "config.json").write_text(content)
    rc, _, err = run_main([E, *TINY, "--out", tmp_path], capsys)
    assert_one_clear_line(rc, err, [r"config\.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    assert (tmp_path / "config.json").read_text() == content


def _damage(folder, how):
    """Damage one file of a finished results folder, as a crash or a careless edit might."""
    if how == "summary-without-wall-seconds":
        text = (folder / "summary.csv").read_text()
        (folder / "summary.csv").write_text(text.replace("wall_seconds", "wall"))
    elif how == "unknown-status":
        text = (folder / "trials.csv").read_text()
        (folder / "trials.csv").write_text(text.replace(",escaped,", ",weird,", 1))
    elif how == "trials-truncated":
        text = (folder / "trials.csv").read_text()
        (folder / "trials.csv").write_text(text[: len(text) * 3 // 4])
    elif how == "trials-not-csv":
        (folder / "trials.csv").write_text("hello\n")
    elif how == "trajectories-not-npz":
        (folder / "trajectories.npz").write_bytes(b"junk")
    else:
        raise AssertionError(how)


DAMAGE_RUN = ["--m", "2", "8", "--trials", "20", "--max-steps", "150", "--d", "6", "--no-plot", "--quiet"]
DAMAGES = (
    "summary-without-wall-seconds",
    "unknown-status",
    "trials-truncated",
    "trials-not-csv",
    "trajectories-not-npz",
)


@pytest.fixture(scope="module")
def finished_folder(tmp_path_factory):
    """A finished results folder of the DAMAGE_RUN configuration (written in-process)."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    assert main([E, *DAMAGE_RUN, "--out", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_results_folder_is_recomputed_or_refused_cleanly(how, finished_folder, capsys, tmp_path):
    """A resumed folder whose files were damaged: recompute what is missing, or say so in one line."""
    folder = tmp_path / "run"
    shutil.copytree(finished_folder, folder)
    _damage(folder, how)
    capsys.readouterr()
    rc, _, err = run_main([E, *DAMAGE_RUN, "--out", folder], capsys)
    if rc == 0:
        assert (folder / "trials.csv").read_bytes() == (finished_folder / "trials.csv").read_bytes()
    else:
        assert_one_clear_line(rc, err)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write a read-only folder")
def test_read_only_out_is_refused(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = run_main([E, *TINY, "--out", ro / "sub"], capsys)
    finally:
        ro.chmod(0o755)
    assert_one_clear_line(rc, err, [r"ro"])


# ----------------------------------------------------------------------------- the real entry point

ENTRY_POINT_CASES = {
    "argparse-error": ([E, "--m", "x"], [r"--m"]),
    "config-error": ([E, "--dist", "gaussian"], [r"kappa"]),
    "memory-error": ([E, "--trials", str(10**9)], [r"memory"]),
    "unknown-command": (["bogus"], [r"bogus"]),
    "unknown-option": ([E, "--bogus"], [r"--bogus"]),
}


@pytest.mark.parametrize("argv, fragments", ENTRY_POINT_CASES.values(), ids=ENTRY_POINT_CASES.keys())
def test_entry_point_exits_2_with_one_line(argv, fragments, tmp_path):
    proc = run_entry_point(argv, tmp_path)
    assert_one_clear_line(proc.returncode, proc.stderr, fragments)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_entry_point_refuses_an_unwritable_out(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    proc = run_entry_point([E, *TINY, "--out", tmp_path / "file.txt" / "sub"], tmp_path)
    assert_one_clear_line(proc.returncode, proc.stderr, [r"file\.txt/sub"])
    assert proc.stdout == ""


def test_largest_accepted_dimension_runs_or_is_refused_cleanly(tmp_path):
    """--d up to 100000 passes validation; such a run must then work, or end in one line (status 2)."""
    proc = run_entry_point([E, *TINY, "--d", "100000", "--out", "big"], tmp_path, timeout=300)
    if proc.returncode == 0:
        assert (tmp_path / "big" / "trials.csv").is_file()
    else:
        assert_one_clear_line(proc.returncode, proc.stderr, [r"\bd\b|memory"])


# ----------------------------------------------------------------------------- the Python API

BAD_CONFIGS = {
    "m-zero": dict(m=0),
    "m-negative": dict(m=(2, -3)),
    "m-fraction": dict(m=1.5),
    "m-nan": dict(m=float("nan")),
    "m-inf": dict(m=float("inf")),
    "m-bool": dict(m=True),
    "m-string": dict(m="4"),
    "m-empty": dict(m=()),
    "m-twice": dict(m=(4, 4)),
    "m-too-large": dict(m=2**30 + 1),
    "eta-zero": dict(eta=0),
    "eta-negative": dict(eta=-1.0),
    "eta-nan": dict(eta=float("nan")),
    "eta-inf": dict(eta=float("inf")),
    "eta-numpy-nan": dict(eta=np.float64("nan")),
    "eta-none": dict(eta=None),
    "eta-word": dict(eta="fast"),
    "eta-scaled-overflow": dict(eta=1e300, lr_scaling="linear", m=2**30),
    "delta-zero": dict(delta=0.0),
    "delta-nan": dict(delta=float("nan")),
    "radius-zero": dict(radius=0.0),
    "radius-inf": dict(radius=float("inf")),
    "radius-nan": dict(radius=float("nan")),
    "s-one": dict(s=1),
    "s-above-d": dict(s=11, d=10),
    "d-one": dict(d=1),
    "d-nan": dict(d=float("nan")),
    "trials-zero": dict(trials=0),
    "trials-nan": dict(trials=float("nan")),
    "trials-too-many-for-memory": dict(trials=10**9),
    "max-steps-zero": dict(max_steps=0),
    "max-steps-nan": dict(max_steps=float("nan")),
    "max-steps-beyond-the-streams": dict(max_steps=2**32),
    "seed-negative": dict(seed=-1),
    "seed-above-64-bit": dict(seed=2**64),
    "seed-nan": dict(seed=float("nan")),
    "rotation-seed-negative": dict(rotation_seed=-1),
    "dist-gaussian": dict(dist="gaussian"),
    "dist-unknown": dict(dist="foo"),
    "optimizer-unknown": dict(optimizer="adam"),
    "lr-scaling-unknown": dict(lr_scaling="cubic"),
    "noisy-sgd-without-sigma": dict(optimizer="noisy-sgd"),
    "sigma-negative": dict(optimizer="noisy-sgd", sigma_iso=-1.0),
    "sigma-nan": dict(optimizer="noisy-sgd", sigma_iso=float("nan")),
    "sigma-with-sgd": dict(sigma_iso=0.1),
    "record-points-odd": dict(record_points=3),
}


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("kwargs", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_raises_one_line_config_error(kwargs):
    assert_one_line_config_error(kwargs)


def test_gaussian_message_explains_kappa():
    assert "kappa" in assert_one_line_config_error(dict(dist="gaussian"))


def test_nan_message_names_the_option():
    assert "eta" in assert_one_line_config_error(dict(eta=float("nan")))
    assert "trials" in assert_one_line_config_error(dict(trials=float("nan")))


GOOD_CONFIGS = {
    "numpy-int-m": (dict(m=np.int64(4)), dict(m=(4,))),
    "numpy-int-tuple": (dict(m=(np.int32(2), np.int64(8))), dict(m=(2, 8))),
    "numpy-array-m": (dict(m=np.array([2, 8])), dict(m=(2, 8))),
    "integral-float-m": (dict(m=4.0), dict(m=(4,))),
    "scalar-m": (dict(m=4), dict(m=(4,))),
    "numpy-sizes": (
        dict(d=np.int64(6), s=np.int16(3), trials=np.int64(7), max_steps=np.uint32(50)),
        dict(d=6, s=3, trials=7, max_steps=50),
    ),
    "largest-seed": (dict(seed=np.uint64(2**64 - 1)), dict(seed=2**64 - 1)),
    "numpy-floats": (dict(eta=np.float32(0.5), delta=np.float64(0.2)), dict(eta=0.5, delta=pytest.approx(0.2))),
    "dist-case": (dict(dist="Rademacher"), dict(dist="rademacher")),
}


@pytest.mark.parametrize("kwargs, expected", GOOD_CONFIGS.values(), ids=GOOD_CONFIGS.keys())
def test_numpy_scalars_and_integral_floats_are_accepted(kwargs, expected):
    config = EscapeConfig(**kwargs)
    for key, value in expected.items():
        got = getattr(config, key)
        assert got == value, (key, got)
        for v in got if isinstance(got, tuple) else (got,):
            if isinstance(v, numbers.Integral):
                assert type(v) is int, (key, type(v))  # NumPy integers become Python ints
            elif isinstance(v, numbers.Real):
                assert type(v) is float and math.isfinite(v), (key, type(v))
    json.dumps(config.to_dict())  # a config must always be storable in config.json


def test_run_escape_validates_before_running(tmp_path):
    with pytest.raises(ConfigError):
        run_escape(m=[0], trials=2, out=tmp_path / "a")
    with pytest.raises(ConfigError):
        run_escape(EscapeConfig(m=(2,), trials=2, max_steps=5, d=4), threads=0, out=tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the backend


@pytest.mark.parametrize(
    "argv, env, fragment",
    [
        (["--backend", "tpu"], None, "unknown backend"),
        ([], "gpu", "SADDLE_BACKEND"),
    ],
)
def test_unknown_backend_is_refused_in_one_line(argv, env, fragment, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if env is None:
        monkeypatch.delenv("SADDLE_BACKEND", raising=False)
    else:
        monkeypatch.setenv("SADDLE_BACKEND", env)
    rc, out, err = run_main(["escape", *TINY, "--out", "run", *argv], capsys)
    assert_one_clear_line(rc, err, [fragment.lower().replace("_", "-")])
    assert not (tmp_path / "run").exists()


def test_cupy_backend_without_a_gpu_is_refused_before_any_folder_is_made(capsys, monkeypatch, tmp_path):
    from saddle.kernels import gpu

    ok, _ = gpu.availability()
    if ok:
        pytest.skip("a usable GPU is present: the cupy backend runs here (tests/test_gpu.py)")
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(["escape", *TINY, "--out", "run", "--backend", "cupy"], capsys)
    assert_one_clear_line(rc, err, ["cupy", r"pip install"])
    assert not (tmp_path / "run").exists()
