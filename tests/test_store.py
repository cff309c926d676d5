"""Results folders protect themselves: one writer, one kind, one configuration, checksummed tables.

Idea under test
---------------
An escape folder and a sweep folder share one store (saddle/store/folder.py).  Whatever a user or a fault
does to a folder, no earlier result is changed or lost, and every refusal is one line with exit
status 2 (1 for a machine's I/O failure), written before anything else is (issue 12, items 1-3, 5,
11, 12, 14, 16, 17):

- a run holds a lock on its folder; a second run, in this process or another, is refused at once
  with a line naming the holder (pid and command line);
- a folder is used only when it is new, empty, or holds results of the same kind and configuration:
  a user's own files, a sweep's folder for ``escape`` (and the reverse) and ``--out ''`` are refused,
  and nothing is written into them;
- every stored table is checked against the SHA-256 recorded when it was written: an edited table is
  refused, naming it, and neither used nor recomputed; a folder from before checksums is accepted
  once, with one line, and its checksums recorded;
- a disk that fills up while results are saved ends in one line naming the file and what was kept,
  exit 1; the stored results stay whole and the next run resumes from them;
- a complete folder that cannot be written is read (resume with nothing to do); a killed run's
  temporary files are removed by the next run; a failed run in a new folder leaves no folder.

Every escape run here is tiny (d = 4, a few trials, in-process: the kernel comes from Numba's disk
cache), so the module takes a few seconds.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import saddle.store.folder
from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.experiments.cli import main
from saddle.store.escape import ResultsFolder
from saddle.store.folder import LOCK_NAME, MANIFEST_NAME, FolderLock, StoreError, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN = ["--m", "2", "8", "--trials", "16", "--max-steps", "200", "--d", "4", "--no-plot", "--quiet"]
SWEEP = """\
[sweep]
name = "tiny"
seed = 3
trials = 12
max_steps = 200

[grid]
m = [2, 8]

[fixed]
d = 4
"""


def run_main(argv, capsys):
    """The CLI in-process: (exit status, stdout, stderr); an exception would be a traceback for the user."""
    try:
        rc = main([str(a) for a in argv])
    except BaseException as err:  # noqa: BLE001
        pytest.fail(f"main raised {type(err).__name__}: {err} -- the CLI would print a traceback")
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(rc, err, status, *patterns):
    """``status`` and exactly one stderr line (no traceback) matching every regex of ``patterns``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert rc == status, f"exit {rc}: {err}"
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    return lines[0]


def contents(folder):
    """Every file under ``folder`` (the lock file aside) with its bytes."""
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.fixture(scope="module")
def escape_folder(tmp_path_factory):
    """A finished escape folder of RUN."""
    folder = tmp_path_factory.mktemp("escape") / "run"
    assert main(["escape", *RUN, "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    """A finished sweep folder of SWEEP: (config path, folder)."""
    base = tmp_path_factory.mktemp("sweep")
    config = base / "tiny.toml"
    config.write_text(SWEEP)
    assert main(["sweep", str(config), "--out", str(base / "out"), "--quiet", "--no-plot"]) == 0
    return config, base / "out"


@pytest.fixture
def copy(tmp_path):
    def make(folder, name="copy"):
        return Path(shutil.copytree(folder, tmp_path / name))

    return make


# ----------------------------------------------------------------------------- the layout


def test_a_finished_folder_lists_a_checksum_for_every_table(escape_folder, sweep_folder):
    manifest = json.loads((escape_folder / MANIFEST_NAME).read_text())
    assert manifest["algorithm"] == "sha256" and "pending" not in manifest
    assert set(manifest["files"]) == {"config.json", "trials.csv", "summary.csv", "trajectories.npz"}
    assert json.loads((escape_folder / "config.json").read_text())["store_format"] == 2
    for name, digest in manifest["files"].items():
        assert saddle.store.folder.sha256((escape_folder / name).read_bytes()) == digest
    assert not (escape_folder / LOCK_NAME).exists(), "a finished run removes its lock file"
    _, folder = sweep_folder
    assert set(json.loads((folder / MANIFEST_NAME).read_text())["files"]) == {"sweep.json", "trials.csv", "summary.csv"}
    for cell in (folder / "cells").iterdir():
        sums = json.loads((cell / "cell.json").read_text())["sha256"]
        assert sums == {n: saddle.store.folder.sha256((cell / n).read_bytes()) for n in ("trials.csv", "summary.csv")}


# ----------------------------------------------------------------------------- one writer


def test_a_run_into_a_folder_another_process_holds_is_refused_naming_the_holder(escape_folder, copy, capsys):
    folder = copy(escape_folder)
    before = contents(folder)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from saddle.store.folder import FolderLock
            lock = FolderLock.take(Path({str(folder)!r}))
            print("locked", flush=True)
            sys.stdin.read()
        """),
            "holder-marker",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
        one_line(rc, err, 2, "in use by another run", rf"pid {holder.pid}\b", "holder-marker")
        # the same through the sweep command and the Python API
        with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
            run_escape(m=[2, 8], trials=16, max_steps=200, d=4, out=folder)
    finally:
        holder.communicate("", timeout=30)
    assert contents(folder) == before
    # released when its holder ends: the same command now resumes (nothing recomputed)
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0 and err == "", err
    assert contents(folder) == before


def test_the_lock_is_held_for_the_whole_run_and_released_on_error(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "run"
    seen = []

    def first_batch_size_then_check(*args, **kwargs):
        # while trials run, the folder is locked: a second run into it is refused
        with pytest.raises(ConfigError, match="in use by another run"):
            ResultsFolder.open(folder, EscapeConfig(m=[2, 8], trials=16, max_steps=200, d=4))
        seen.append(True)
        raise RuntimeError("kernel failure")

    import saddle.escape

    monkeypatch.setattr(saddle.escape, "_run_batch_size", first_batch_size_then_check)
    with pytest.raises(RuntimeError, match="kernel failure"):
        run_escape(m=[2, 8], trials=16, max_steps=200, d=4, out=folder)
    assert seen == [True]
    # the failed run stored nothing in the new folder it made: no folder is left
    assert not folder.exists()
    monkeypatch.undo()
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0 and err == ""


def test_a_run_that_fails_before_storing_anything_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """As a bad NUMBA_THREADING_LAYER does: the kernel cannot start after the folder was opened."""
    import saddle.escape

    def no_kernel(*args, **kwargs):
        raise ConfigError("the threading layer 'bogus' is not available")

    monkeypatch.setattr(saddle.escape, "run_trials", no_kernel)
    folder = tmp_path / "new" / "run"
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    one_line(rc, err, 2, "threading layer")
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the folders the run made are left"
    (tmp_path / "empty").mkdir()  # an empty folder the user made stays, empty
    rc, _, err = run_main(["escape", *RUN, "--out", tmp_path / "empty"], capsys)
    assert rc == 2 and list((tmp_path / "empty").iterdir()) == []


# ----------------------------------------------------------------------------- one kind, one configuration


def test_a_folder_of_the_users_own_files_is_refused_before_anything_is_written(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "trials.csv").write_text("my,own\n1,2\n")
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    one_line(rc, err, 2, "not saddle results", r"trials\.csv")
    config = tmp_path / "s.toml"
    config.write_text(SWEEP)
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet"], capsys)
    one_line(rc, err, 2, "not saddle results")
    assert sorted(p.name for p in folder.iterdir()) == ["trials.csv"], "a refused folder was written to"
    assert (folder / "trials.csv").read_text() == "my,own\n1,2\n"


def test_escape_and_sweep_refuse_each_others_folders(escape_folder, sweep_folder, copy, capsys):
    config, sweep_out = sweep_folder
    sweep_copy, escape_copy = copy(sweep_out, "sweep"), copy(escape_folder, "escape")
    before = contents(sweep_copy), contents(escape_copy)
    rc, _, err = run_main(["escape", *RUN, "--out", sweep_copy], capsys)
    one_line(rc, err, 2, "results of a sweep", r"sweep\.json")
    rc, _, err = run_main(["sweep", config, "--out", escape_copy, "--quiet"], capsys)
    one_line(rc, err, 2, "results of an escape run", r"config\.json")
    rc, _, err = run_main(["sweep", config, "--out", escape_copy, "--plot-only"], capsys)
    one_line(rc, err, 2, "results of an escape run")
    assert (contents(sweep_copy), contents(escape_copy)) == before


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "s.toml"
    config.write_text(SWEEP)
    for argv in (
        ["escape", *RUN, "--out", ""],
        ["sweep", config, "--out", "", "--quiet"],
        ["sweep", config, "--out", " ", "--plot-only"],
    ):
        rc, _, err = run_main(argv, capsys)
        one_line(rc, err, 2, "empty path")
    with pytest.raises(ConfigError, match="empty path"):
        run_escape(m=[2], trials=2, max_steps=5, d=4, out="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


# ----------------------------------------------------------------------------- checksums


def _edit_escape(folder, how):
    if how == "status-word":
        text = (folder / "trials.csv").read_text()
        (folder / "trials.csv").write_text(text.replace(",escaped,", ",zzz,", 1))
        return "trials.csv"
    if how == "steps":
        lines = (folder / "trials.csv").read_text().splitlines(keepends=True)
        cells = lines[1].split(",")
        cells[3] = str(int(cells[3]) + 1)
        lines[1] = ",".join(cells)
        (folder / "trials.csv").write_text("".join(lines))
        return "trials.csv"
    if how == "median":
        lines = (folder / "summary.csv").read_text().splitlines(keepends=True)
        head = lines[0].split(",")
        cells = lines[1].split(",")
        j = head.index("median_steps")
        cells[j] = str(float(cells[j]) + 1)
        lines[1] = ",".join(cells)
        (folder / "summary.csv").write_text("".join(lines))
        return "summary.csv"
    if how == "trajectories":
        data = bytearray((folder / "trajectories.npz").read_bytes())
        data[len(data) // 2] ^= 1  # one bit of one recorded f value
        (folder / "trajectories.npz").write_bytes(bytes(data))
        return "trajectories.npz"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["status-word", "steps", "median", "trajectories"])
def test_an_edited_escape_table_is_refused_naming_it_and_not_recomputed(how, escape_folder, copy, capsys):
    folder = copy(escape_folder)
    name = _edit_escape(folder, how)
    before = contents(folder)
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    one_line(rc, err, 2, re.escape(str(folder / name)), "checksum")
    assert contents(folder) == before, "the edited folder was rewritten"


def test_an_edited_sweep_cell_or_tidy_table_is_refused_naming_it(sweep_folder, copy, capsys):
    config, out = sweep_folder
    folder = copy(out)
    cell = sorted((folder / "cells").iterdir())[0]
    text = (cell / "trials.csv").read_text()
    (cell / "trials.csv").write_text(text.replace(",escaped,", ",zzz,", 1))
    before = contents(folder)
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
    one_line(rc, err, 2, re.escape(str(cell / "trials.csv")), "checksum")
    assert contents(folder) == before

    folder = copy(out, "tidy")
    lines = (folder / "summary.csv").read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",12,", ",13,", 1)
    (folder / "summary.csv").write_text("".join(lines))
    before = contents(folder)
    for argv in (
        ["sweep", config, "--out", folder, "--quiet", "--no-plot"],
        ["sweep", config, "--out", folder, "--plot-only"],
    ):
        rc, _, err = run_main(argv, capsys)
        one_line(rc, err, 2, re.escape(str(folder / "summary.csv")), "checksum")
    assert contents(folder) == before
    from saddle.sweep import read_table

    with pytest.raises(ConfigError, match="checksum"):
        read_table(folder / "summary.csv")


def _as_before_checksums(folder, marker="config.json"):
    """``folder`` as a saddle from before checksums wrote it: no checksums.json, no store_format in the marker."""
    (folder / MANIFEST_NAME).unlink()
    meta = json.loads((folder / marker).read_text())
    del meta["store_format"]
    (folder / marker).write_text(json.dumps(meta, indent=2) + "\n")


def test_a_folder_from_before_checksums_is_accepted_once_with_one_line(escape_folder, copy, capsys, caplog):
    folder = copy(escape_folder)
    _as_before_checksums(folder)
    before = contents(folder)
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0
    notes = [r.getMessage() for r in caplog.records if r.name == "saddle"]
    assert len(notes) == 1 and "before saddle recorded checksums" in notes[0], notes
    assert {k: v for k, v in contents(folder).items() if k.name != MANIFEST_NAME} == before, "recomputed"
    recorded = json.loads((folder / MANIFEST_NAME).read_text())["files"]
    assert {k: v for k, v in recorded.items() if k != "config.json"} == {
        k: v for k, v in json.loads((escape_folder / MANIFEST_NAME).read_text())["files"].items() if k != "config.json"
    }
    assert recorded["config.json"] == saddle.store.folder.sha256((folder / "config.json").read_bytes())
    _edit_escape(folder, "steps")  # from now on, checked
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    one_line(rc, err, 2, "checksum")


def test_a_sweep_from_before_checksums_is_recognised_complete_and_its_cells_recorded(
    sweep_folder, copy, capsys, caplog
):
    config, out = sweep_folder
    folder = copy(out)
    _as_before_checksums(folder, "sweep.json")
    for cell in (folder / "cells").iterdir():  # cell.json as saddle wrote it before checksums
        meta = json.loads((cell / "cell.json").read_text())
        del meta["sha256"]
        (cell / "cell.json").write_text(json.dumps(meta, indent=2) + "\n")
    cells_before = {k: v for k, v in contents(folder).items() if k.parts[0] == "cells"}
    rc, stdout, err = run_main(["sweep", config, "--out", folder, "--no-plot"], capsys)
    assert rc == 0 and "0 cells run, 2 read back" in stdout, err
    notes = [r.getMessage() for r in caplog.records if r.name == "saddle"]
    assert notes == [
        f"note: 2 cells in {folder} were stored before saddle recorded checksums; recorded them in "
        f"{MANIFEST_NAME} as they are now"
    ]
    assert {k: v for k, v in contents(folder).items() if k.parts[0] == "cells"} == cells_before
    recorded = json.loads((folder / MANIFEST_NAME).read_text())["files"]
    assert len([k for k in recorded if k.startswith("cells/")]) == 4
    cell = sorted((folder / "cells").iterdir())[1]
    (cell / "summary.csv").write_text((cell / "summary.csv").read_text().replace(",12,", ",11,", 1))
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
    one_line(rc, err, 2, re.escape(f"{cell.name}/summary.csv does not match its checksum in {MANIFEST_NAME}"))


# ----------------------------------------------------------------------------- faults while writing


def _enospc_on(monkeypatch, name, after=0, under=""):
    """Make fsync fail with ENOSPC ("disk full") when the file being written is ``name`` (in a folder whose
    path holds ``under``), after ``after`` good writes."""
    real = os.fsync
    count = {"n": 0}

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if Path(target).name.startswith(f".{name}.") and under in str(Path(target).parent):
            count["n"] += 1
            if count["n"] > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(saddle.store.folder.os, "fsync", fsync)


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")


@needs_proc
def test_a_full_disk_while_saving_escape_results_ends_in_one_line_keeping_what_was_stored(
    tmp_path, capsys, monkeypatch, escape_folder
):
    folder = tmp_path / "run"
    _enospc_on(monkeypatch, "trials.csv", after=1)  # m = 2 is saved; saving m = 8 finds the disk full
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    one_line(
        rc, err, 1, re.escape(str(folder / "trials.csv")), "No space left on device", r"the trials of m = 2 stay stored"
    )
    assert not list(folder.glob(".*.tmp"))
    monkeypatch.undo()
    stored = (folder / "trials.csv").read_text()
    assert {line.split(",")[0] for line in stored.splitlines()[1:]} == {"2"}
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)  # resumes: m = 2 read back, m = 8 run
    assert rc == 0 and err == "", err
    assert (folder / "trials.csv").read_bytes() == (escape_folder / "trials.csv").read_bytes()


@needs_proc
def test_a_full_disk_while_storing_a_sweep_cell_or_its_figure_ends_in_one_line(
    tmp_path, capsys, monkeypatch, sweep_folder
):
    config, complete = sweep_folder
    folder = tmp_path / "out"
    _enospc_on(monkeypatch, "trials.csv", after=1, under="/cells/")  # the first cell is stored, the second is not
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
    one_line(
        rc,
        err,
        1,
        r"cells/\w+/trials\.csv",
        "No space left on device",
        "is not stored",
        "the 1 cell stored before stays",
    )
    monkeypatch.undo()
    assert len(list(folder.glob("cells/*/cell.json"))) == 1
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
    assert rc == 0 and err == ""
    assert (folder / "trials.csv").read_bytes() == (complete / "trials.csv").read_bytes()
    _enospc_on(monkeypatch, "sweep-lines.png")
    rc, _, err = run_main(["sweep", config, "--out", folder, "--plot-only"], capsys)
    one_line(rc, err, 1, r"sweep-lines\.png", "No space left on device")
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet"], capsys)
    one_line(rc, err, 1, r"sweep-lines\.png", "every cell is stored")


def test_atomic_writes_name_the_file_and_keep_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    monkeypatch.setattr(
        saddle.store.folder.os,
        "replace",
        lambda *a, **k: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")),
    )
    with pytest.raises(StoreError) as info:
        atomic_write_text(target, "new\n")
    assert isinstance(info.value, OSError) and "\n" not in str(info.value)
    assert str(target) in str(info.value) and "unchanged" in str(info.value)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


# ----------------------------------------------------------------------------- leftovers and read-only folders


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(escape_folder, sweep_folder, copy, capsys):
    folder = copy(escape_folder)
    (folder / ".trials.csv.k1ll3d.tmp").write_text("half a table")
    rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0 and err == "" and not list(folder.glob(".*.tmp"))
    config, out = sweep_folder
    folder = copy(out, "sweep")
    cell = sorted((folder / "cells").iterdir())[0]
    (cell / ".trials.csv.k1ll3d.tmp").write_text("half a table")
    (folder / ".summary.csv.k1ll3d.tmp").write_text("half a table")
    rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
    assert rc == 0 and err == "" and not list(folder.rglob(".*.tmp"))


@contextlib.contextmanager
def read_only(folder, monkeypatch):
    """Make ``folder`` unwritable: chmod when not root (root writes anyway), else refuse writes below it."""
    folder = Path(folder).resolve()
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and Path(path).resolve().is_relative_to(folder):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    try:
        yield
    finally:
        monkeypatch.setattr(os, "open", real_open)


def test_a_complete_read_only_folder_is_read_and_an_incomplete_one_refused(
    escape_folder, sweep_folder, copy, capsys, monkeypatch
):
    folder = copy(escape_folder)
    before = contents(folder)
    with read_only(folder, monkeypatch):
        rc, _, err = run_main(["escape", *RUN, "--out", folder], capsys)
        assert rc == 0 and err == "", err
    assert contents(folder) == before
    # an incomplete folder: m = 2 stored, the run stopped (Ctrl-C) before m = 8
    import saddle.escape

    partial, real = copy(escape_folder, "partial"), saddle.escape._run_batch_size
    shutil.rmtree(partial)

    def stop_at_8(config, objective, u0, m, *args):
        if m == 8:
            raise KeyboardInterrupt
        return real(config, objective, u0, m, *args)

    with monkeypatch.context() as patch:
        patch.setattr(saddle.escape, "_run_batch_size", stop_at_8)
        assert run_main(["escape", *RUN, "--out", partial], capsys)[0] == 130
    before = contents(partial)
    with read_only(partial, monkeypatch):
        rc, _, err = run_main(["escape", *RUN, "--out", partial], capsys)
        one_line(rc, err, 2, "not writable", "m = 8 is not stored")
    assert contents(partial) == before
    config, out = sweep_folder
    folder = copy(out, "sweep")
    before = contents(folder)
    with read_only(folder, monkeypatch):
        rc, out, err = run_main(["sweep", config, "--out", folder, "--no-plot"], capsys)
        assert rc == 0 and err == "" and "0 cells run, 2 read back" in out, err
    assert contents(folder) == before
    (folder / "cells" / sorted(p.name for p in (folder / "cells").iterdir())[0] / "cell.json").unlink()
    before = contents(folder)
    with read_only(folder, monkeypatch):
        rc, _, err = run_main(["sweep", config, "--out", folder, "--quiet", "--no-plot"], capsys)
        one_line(rc, err, 2, "not writable", "1 of its 2 cells are not stored")
    assert contents(folder) == before


def test_holders_are_described_in_the_lock_file_while_they_run(tmp_path):
    lock = FolderLock.take(tmp_path)
    try:
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] and info["command"]
        with pytest.raises(ConfigError, match=f"pid {os.getpid()} on "):
            FolderLock.take(tmp_path)
    finally:
        lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    # a lock file left by a killed holder (its flock died with it) is taken over
    (tmp_path / LOCK_NAME).write_text('{"pid": 1, "host": "gone", "command": "killed"}')
    lock = FolderLock.take(tmp_path)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
