"""Runs that can be named, listed and extended, and the command line's conveniences (docs/experiments.md,
"Naming, listing and extending runs").

Idea under test
---------------
- **Extending** a run: the trials of batch size m are keyed by (seed, trial, m) alone, so a folder of N
  trials extended to 2N, or given another batch size, holds exactly what a fresh run of the larger
  configuration writes (trials.csv byte for byte, the recorded trajectories array for array), with fresh
  checksums; only the missing trials run.  Fewer trials, a stored batch size left out or reordered, any
  other option, or an edited config.json is refused in one line and the folder is left as it was; an
  extension stopped by Ctrl-C keeps what it completed and the same command resumes it, running only what
  is missing.
- **Naming**: ``--name``, ``--tag``, ``--note`` go to run.json, never into config.json (a named folder is
  the same configuration); naming again replaces what is given and keeps the rest.
- **Listing**: ``list DIR`` finds escape runs and sweeps at any depth, names the folders it cannot read with
  a reason, says so for an empty folder, and refuses a missing one in one line (status 2).
- **The command line**: the ``saddle`` console script and ``--version``; ``--batch-size`` is ``--m`` and
  makes no abbreviation ambiguous; fixed sets of names shown as ``{a,b,c}`` while validation stays the
  configuration's; ``--quiet`` prints the one line saying where the results are; several ``--eta`` values
  run the sweep that the equivalent TOML file runs.

Every run is tiny (the spike with sgd at d = 6, m = 2 and 8, at most 40 trials of at most 1500 steps,
in-process: its kernel comes from Numba's disk cache); one subprocess runs the console script.
"""

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import saddle
import saddle.extend
from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.experiments.cli import build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE = ["--d", "6", "--max-steps", "1500", "--no-plot"]


def escape(*argv):
    return ["escape", *BASE, *map(str, argv)]


def run_main(argv, capsys):
    """The CLI in-process: (exit status, stdout, stderr); an exception would be a traceback for the user."""
    try:
        rc = main([str(a) for a in argv])
    except BaseException as err:  # noqa: BLE001
        pytest.fail(f"main raised {type(err).__name__}: {err} -- the CLI would print a traceback")
    out, err = capsys.readouterr()
    return rc, out, err


def ok(argv, capsys):
    rc, out, err = run_main(argv, capsys)
    assert rc == 0 and "Traceback" not in err, f"exit {rc}\n{out}\n{err}"
    return out, err


def refused(argv, capsys, *patterns):
    """Exit status 2 and one line on stderr matching every pattern."""
    rc, out, err = run_main(argv, capsys)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, f"exit {rc}\n{err}"
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    return lines[0]


def contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def rows(folder, name="summary.csv"):
    return list(csv.DictReader(io.StringIO((folder / name).read_text())))


def assert_fresh_checksums(folder):
    manifest = json.loads((folder / "checksums.json").read_text())
    assert not manifest.get("pending"), manifest
    for name in ("config.json", "trials.csv", "summary.csv", "trajectories.npz"):
        assert manifest["files"][name] == hashlib.sha256((folder / name).read_bytes()).hexdigest(), name


def assert_same_run(extended, fresh):
    """The extended folder holds what the fresh run wrote: trials.csv byte for byte, summary.csv row for
    row but for the wall times, the recorded trajectories array for array; with checksums of what it holds."""
    assert (extended / "trials.csv").read_bytes() == (fresh / "trials.csv").read_bytes()
    for a, b in zip(rows(extended), rows(fresh), strict=True):
        assert {k: v for k, v in a.items() if k != "wall_seconds"} == {
            k: v for k, v in b.items() if k != "wall_seconds"
        }
    with np.load(extended / "trajectories.npz") as za, np.load(fresh / "trajectories.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for key in za.files:
            np.testing.assert_array_equal(za[key], zb[key], err_msg=key)
    assert_fresh_checksums(extended)
    assert saddle.load(extended).summary[-1]["trials"] == int(rows(fresh)[-1]["trials"])  # every checksum verified


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The reference: a fresh run of m = 2 and 8, 40 trials each."""
    folder = tmp_path_factory.mktemp("fresh") / "run"
    assert main(escape("--m", 2, 8, "--trials", 40, "--quiet", "--out", folder)) == 0
    return folder


@pytest.fixture
def count_trials(monkeypatch):
    """Every (batch size, first trial, number of trials) that the kernel runs."""
    ran = []
    real = saddle.extend.run_trials

    def counted(*args, **kwargs):
        ran.append((kwargs["batch_size"], kwargs["trial_start"], kwargs["n_trials"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(saddle.extend, "run_trials", counted)
    monkeypatch.setattr(saddle.escape, "run_trials", counted)
    return ran


# ----------------------------------------------------------------------------- extending


def test_twice_the_trials_are_those_of_a_fresh_run(fresh, tmp_path, capsys, count_trials):
    folder = tmp_path / "run"
    ok(escape("--m", 2, 8, "--trials", 20, "--quiet", "--out", folder), capsys)
    count_trials.clear()
    out, err = ok(escape("--m", 2, 8, "--trials", 40, "--out", folder), capsys)
    assert_same_run(folder, fresh)
    assert [r for r in count_trials if r[2]] == [(2, 20, 20), (8, 20, 20)], "only the new trials may run"
    assert "extending" in err and "m = 2 from 20, m = 8 from 20" in err
    history = json.loads((folder / "config.json").read_text())["extended"]
    assert [(h["from"]["trials"], h["to"]["trials"]) for h in history] == [(20, 40)]


def test_an_added_batch_size_is_that_of_a_fresh_run(fresh, tmp_path, capsys, count_trials):
    folder = tmp_path / "run"
    ok(escape("--m", 2, "--trials", 40, "--quiet", "--out", folder), capsys)
    count_trials.clear()
    ok(escape("--batch-size", 2, 8, "--trials", 40, "--quiet", "--out", folder), capsys)
    assert_same_run(folder, fresh)
    assert [r[0] for r in count_trials if r[2]] == [8], "m = 2 was stored: it may not run again"


def test_more_trials_and_a_batch_size_at_once_from_python(fresh, tmp_path):
    """Five stored trials (fewer than the eight recorded): the three trajectories still to record are those
    of a fresh run too; m = 8 is added in the same call."""
    folder = tmp_path / "run"
    small = dict(d=6, max_steps=1500)
    run_escape(EscapeConfig(m=(2,), trials=5, **small), out=folder)
    with pytest.raises(ConfigError, match="fewer m and trials.*extend_escape"):  # run_escape does not extend
        run_escape(EscapeConfig(m=(2, 8), trials=40, **small), out=folder)
    result = saddle.extend.extend_escape(EscapeConfig(m=(2, 8), trials=40, **small), out=folder)
    assert [r["trials"] for r in result.summary] == [40, 40]
    assert_same_run(folder, fresh)


@pytest.mark.parametrize(
    "argv, patterns",
    [
        (["--m", 2, 8, "--trials", 10], [r"holds 20 trials per batch size", r"--trials 20 or more"]),
        (["--m", 8, "--trials", 20], [r"holds m = 2, 8", r"leaves out 2"]),
        (["--m", 8, 2, "--trials", 20], [r"in that order"]),
        (["--m", 2, 8, "--trials", 40, "--eta", "0.02"], [r"different configuration", r"\beta\b"]),
    ],
    ids=["fewer-trials", "batch-size-left-out", "reordered", "another-eta"],
)
def test_what_is_not_an_extension_is_refused_in_one_line(argv, patterns, tmp_path, capsys):
    folder = tmp_path / "run"
    ok(escape("--m", 2, 8, "--trials", 20, "--quiet", "--out", folder), capsys)
    before = contents(folder)
    refused(escape(*argv, "--out", folder), capsys, re.escape(str(folder)), *patterns)
    assert contents(folder) == before


def test_an_edited_config_is_named_not_extended(tmp_path, capsys):
    """config.json edited to say fewer trials than asked for: tampering (its checksum), not a smaller run."""
    folder = tmp_path / "run"
    ok(escape("--m", 2, "--trials", 20, "--quiet", "--out", folder), capsys)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["trials"] = 10
    (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    before = contents(folder)
    refused(escape("--m", 2, "--trials", 20, "--out", folder), capsys, r"config\.json does not match its checksum")
    assert contents(folder) == before


def test_an_interrupted_extension_keeps_what_finished_and_resumes(fresh, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "run"
    ok(escape("--m", 2, 8, "--trials", 20, "--quiet", "--out", folder), capsys)
    real = saddle.extend._more_trials
    extended = []

    def stopped_at_m8(config, objective, u0, stored, backend):
        extended.append((stored.m, stored.steps.size))
        if stored.m == 8 and len(extended) == 2:
            raise KeyboardInterrupt  # Ctrl-C while m = 8's new trials run
        return real(config, objective, u0, stored, backend)

    monkeypatch.setattr(saddle.extend, "_more_trials", stopped_at_m8)
    rc, _, err = run_main(escape("--m", 2, 8, "--trials", 40, "--quiet", "--out", folder), capsys)
    assert rc == 130 and f"kept the trials of m = 2, 8 in {folder}; run the same command" in err, err
    assert json.loads((folder / "config.json").read_text())["config"]["trials"] == 40
    assert [int(r["trials"]) for r in rows(folder)] == [40, 20]  # m = 2 complete, m = 8 as it was stored
    assert_fresh_checksums(folder)
    assert list(saddle.load(folder).by_m) == [2]  # a reader sees the batch sizes stored in full

    ok(escape("--m", 2, 8, "--trials", 40, "--quiet", "--out", folder), capsys)  # the same command resumes
    assert extended == [(2, 20), (8, 20), (8, 20)], "the resumed run may run m = 8's missing trials only"
    assert_same_run(folder, fresh)


# ----------------------------------------------------------------------------- naming


def test_a_name_tags_and_a_note_go_to_run_json_not_config_json(tmp_path, capsys):
    folder = tmp_path / "run"
    out, _ = ok(
        escape("--m", 2, "--trials", 20, "--out", folder, "--name", "first", "--tag", "a", "--tag", "b")
        + ["--note", "a first look"],
        capsys,
    )
    assert out.splitlines()[-1] == f"results in {folder}/ (config.json, trials.csv, summary.csv, run.json)"
    info = json.loads((folder / "run.json").read_text())
    assert (info["name"], info["tags"], info["note"]) == ("first", ["a", "b"], "a first look")
    assert info["saddle"] == saddle.__version__
    config = json.loads((folder / "config.json").read_text())
    assert "first" not in json.dumps(config) and "name" not in config["config"]

    stored = (folder / "config.json").read_bytes(), (folder / "trials.csv").read_bytes()
    ok(escape("--m", 2, "--trials", 20, "--quiet", "--out", folder, "--name", "renamed"), capsys)
    again = json.loads((folder / "run.json").read_text())
    assert (again["name"], again["tags"], again["note"]) == ("renamed", ["a", "b"], "a first look")
    assert again["created"] == info["created"]
    assert ((folder / "config.json").read_bytes(), (folder / "trials.csv").read_bytes()) == stored


def test_an_empty_name_is_refused_before_anything_runs(tmp_path, capsys):
    refused(escape("--m", 2, "--trials", 20, "--out", tmp_path / "run", "--name", " "), capsys, r"--name")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- listing


def test_list_shows_runs_at_any_depth_and_the_folders_it_cannot_read(tmp_path, capsys):
    ok(
        escape("--m", 2, "--trials", 12, "--quiet", "--out", tmp_path / "a" / "named", "--name", "pilot")
        + ["--tag", "spike"],
        capsys,
    )
    ok(escape("--eta", "0.005", "0.01", "--m", 2, "--trials", 12, "--quiet", "--out", tmp_path / "grid"), capsys)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not a run")

    out, _ = ok(["list", tmp_path], capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["path", "name", "tags", "kind", "objective", "m", "trials", "created", "(UTC)"]
    by_path = {line.split()[0]: line for line in lines[1:]}
    assert set(by_path) == {str(tmp_path / p) for p in ("a/named", "broken", "grid")}
    assert by_path[str(tmp_path / "a/named")].split()[1:7] == ["pilot", "spike", "escape", "spike", "2", "12"]
    assert by_path[str(tmp_path / "grid")].split()[1:7] == ["-", "-", "sweep", "spike", "2", "12"]
    assert re.search(r"cannot be read: config\.json is not a saddle config\.json$", by_path[str(tmp_path / "broken")])

    out, _ = ok(["list", tmp_path, "--tag", "spike"], capsys)
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(tmp_path / "a/named")]


def test_list_of_an_empty_folder_says_so_and_a_missing_one_is_refused(tmp_path, capsys):
    out, _ = ok(["list", tmp_path], capsys)
    assert out.startswith(f"no saved runs under {tmp_path}") and len(out.splitlines()) == 1
    refused(["list", tmp_path / "missing"], capsys, r"no such folder", re.escape(str(tmp_path / "missing")))


# ----------------------------------------------------------------------------- the command line


def test_the_console_script_is_the_command_line_and_prints_the_version():
    scripts = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^\[project\.scripts\]\nsaddle = "saddle\.experiments:console"', scripts, re.M)
    installed = Path(sys.executable).with_name("saddle")  # (pip install . wrote it beside python)
    if installed.exists():
        command = [str(installed), "--version"]
    else:  # a checkout not installed: the entry point itself, as the script calls it
        command = [
            sys.executable,
            "-c",
            "import sys; sys.argv = ['saddle', '--version']; from saddle.experiments import console; console()",
        ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"saddle {saddle.__version__}\n", "")


def test_usage_and_error_lines_name_the_console_script(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/saddle", "escape", "--m", "x"])
    refused(["escape", "--m", "x"], capsys, r"^saddle escape: error: argument --m/--batch-size: invalid integer")
    refused(["list", tmp_path / "missing"], capsys, r"^saddle: error: no such folder")
    monkeypatch.setattr(sys, "argv", ["-c"])
    refused(["escape", "--m", "x"], capsys, r"^python -m saddle\.experiments escape: error:")


def _escape_parser(command="escape"):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command]


@pytest.mark.parametrize("command", ["escape", "theory", "frontier"])
def test_batch_size_is_m_and_makes_no_abbreviation_ambiguous(command):
    parser = _escape_parser(command)
    assert parser.parse_args(["--batch-size", "4", "16"]).m == parser.parse_args(["--m", "4", "16"]).m == [4, 16]
    assert parser.parse_args(["--batch-s", "8"]).m == [8]
    flags = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    others = [f for f in flags if f != "--batch-size"]
    broken = [
        (prefix, flag)
        for flag in others
        for prefix in (flag[:n] for n in range(3, len(flag) + 1))
        if [f for f in others if f.startswith(prefix)] == [flag]
        and [f for f in flags if f.startswith(prefix)] != [flag]
    ]
    assert broken == []


def test_fixed_sets_of_names_are_shown_and_validation_is_unchanged(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["escape", "--help"])
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    for shown in (
        "--dist {uniform,rademacher,laplace}",
        "--lr-scaling {none,linear,sqrt}",
        "--sampling {shared,per-column}",
        "--backend {cpu,cupy}",
        "--batch-noise {exact,gaussian}",
    ):
        assert shown in text, shown
    assert re.search(r"--objective \{spike,[a-z0-9,-]*teacher-student[a-z0-9,-]*\}", text)
    assert re.search(r"--optimizer \{sgd,[a-z,-]*pgd[a-z,-]*\}", text)
    # the names are a metavar, not argparse choices: an objective that --load FILE registers at run time is
    # not refused by the parser, and an unknown one is refused by the configuration, in its own line
    assert _escape_parser().parse_args(["--objective", "my-own"]).objective == "my-own"
    refused(["escape", "--objective", "my-own", "--trials", "2"], capsys, r"my-own")


def test_quiet_prints_the_one_line_saying_where_the_results_are(tmp_path, capsys):
    out, err = ok(escape("--m", 2, "--trials", 12, "--quiet", "--out", tmp_path / "q"), capsys)
    assert out == f"results in {tmp_path / 'q'}/ (config.json, trials.csv, summary.csv)\n" and err == ""


def test_several_etas_run_the_sweep_of_the_equivalent_toml_file(tmp_path, capsys):
    argv = ["--eta", "0.005", "0.01", "--m", 2, "--trials", 12, "--seed", 3]
    out, _ = ok(escape(*argv, "--out", tmp_path / "grid", "--name", "etas"), capsys)
    last = out.splitlines()[-1]
    assert last.startswith("ran as a sweep of 2 cells over eta (") and f"results in {tmp_path / 'grid'}/" in last
    assert json.loads((tmp_path / "grid" / "run.json").read_text())["name"] == "etas"
    toml = tmp_path / "grid.toml"
    toml.write_text(
        '[sweep]\nname = "grid"\nseed = 3\ntrials = 12\nmax_steps = 1500\n\n'
        "[grid]\neta = [0.005, 0.01]\n\n[fixed]\nd = 6\nm = 2\n"
    )
    ok(["sweep", toml, "--out", tmp_path / "toml", "--quiet", "--no-plot"], capsys)
    sweeps = [json.loads((tmp_path / name / "sweep.json").read_text()) for name in ("grid", "toml")]
    assert [(s["grid"], s["fixed"], s["cells"]) for s in sweeps[:1]] == [
        (s["grid"], s["fixed"], s["cells"]) for s in sweeps[1:]
    ]
    assert (tmp_path / "grid" / "trials.csv").read_bytes() == (tmp_path / "toml" / "trials.csv").read_bytes()
    assert len(rows(tmp_path / "grid")) == 2
    refused(escape(*argv, "--backend", "cupy", "--out", tmp_path / "gpu"), capsys, r"--eta", r"sweep", r"--backend")
    assert not (tmp_path / "gpu").exists()
