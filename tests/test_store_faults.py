"""Faults planted in a results folder: links where saddle writes, and provenance edited after the fact.

Idea under test
---------------
docs/escape.md, "The results folder", says what a user can rely on after a folder was tampered with:

- **no link is followed**: a symbolic link planted where saddle writes or reads (the lock file, the
  marker, the manifest, a table, a figure, a sweep's cells) refuses the folder with one line naming it
  and exit status 2, before anything is written; the link's target is never opened, let alone
  rewritten.  An atomic write creates its temporary file new (``O_EXCL | O_NOFOLLOW``) and renames it
  onto the final name, so a link at either name is never written through;
- **the provenance is checksummed too**: ``config.json`` (``sweep.json``) is listed in
  ``checksums.json`` beside the tables; an edited option, a deleted manifest or a removed entry is
  refused by a resumed run, by ``saddle.load`` and by the ``plot`` command alike, naming the file.
  Only a folder whose marker predates ``"store_format"`` (written by a saddle from before checksums
  covered the marker) is adopted as it is, with one line saying so.

Every run is tiny (d = 5, 20 trials, m = 4 and 8, the default spike objective and SGD, whose kernel is
compiled anyway); the finished folders are made once per module and copied.
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import saddle
import saddle.store.folder
from saddle.escape import ConfigError, run_escape
from saddle.experiments.cli import main
from saddle.store.folder import LOCK_NAME, MANIFEST_NAME, LinkError, atomic_write_bytes, sha256

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN = ["--m", "4", "8", "--d", "5", "--trials", "20", "--max-steps", "2000", "--seed", "0", "--no-plot", "--quiet"]
SWEEP = """\
[sweep]
name = "tiny"
seed = 3
trials = 20
max_steps = 2000

[grid]
m = [4, 8]

[fixed]
d = 5
"""
CELL_FILES = ("trials.csv", "summary.csv", "cell.json")
PRECIOUS = b"the user's own file: not saddle's to touch\n"


def run_main(argv, capsys):
    """The CLI in-process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except BaseException as err:  # noqa: BLE001
        pytest.fail(f"main raised {type(err).__name__}: {err} -- the CLI would print a traceback")
    return rc, capsys.readouterr().err


def one_line(rc, err, *patterns):
    """Exit status 2 and exactly one stderr line (no traceback) matching every regex of ``patterns``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert rc == 2, f"exit {rc}: {err}"
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"


def contents(folder):
    """Every entry under ``folder``: a file's bytes, a link's target (links are not followed)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_symlink():
            out[p.relative_to(folder)] = ("link", os.readlink(p))
        elif p.is_file():
            out[p.relative_to(folder)] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Finished folders made once: an escape run, an interrupted escape run (m = 4 stored), a sweep."""
    import saddle.escape

    base = tmp_path_factory.mktemp("faults")
    assert main(["escape", *RUN, "--out", str(base / "escape")]) == 0
    real = saddle.escape._run_batch_size

    def stop_at_8(config, objective, u0, m, *args):
        if m == 8:
            raise KeyboardInterrupt
        return real(config, objective, u0, m, *args)

    saddle.escape._run_batch_size = stop_at_8
    try:
        assert main(["escape", *RUN, "--out", str(base / "interrupted")]) == 130
    finally:
        saddle.escape._run_batch_size = real
    (base / "tiny.toml").write_text(SWEEP)
    assert main(["sweep", str(base / "tiny.toml"), "--out", str(base / "sweep"), "--quiet", "--no-plot"]) == 0
    return base


@pytest.fixture
def copy(folders, tmp_path):
    def make(name):
        return Path(shutil.copytree(folders / name, tmp_path / name, symlinks=True))

    return make


def argv_for(kind, folders, folder):
    if kind == "sweep":
        return ["sweep", folders / "tiny.toml", "--out", folder, "--quiet", "--no-plot"]
    return ["escape", *RUN, "--out", folder]


def plant_link(path, tmp_path, same_content=True):
    """Replace ``path`` by a link to a file of the user's (with the same bytes, so that a reader following
    it would see nothing wrong); returns that file."""
    target = tmp_path / f"precious-{path.name}"
    target.write_bytes(path.read_bytes() if same_content and path.exists() else PRECIOUS)
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)
    return target


# ----------------------------------------------------------------------------- 1. links


@pytest.mark.parametrize("kind", ["new", "escape", "interrupted", "sweep"])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(kind, folders, copy, tmp_path, capsys):
    """The fault: ``ln -s ~/precious RUN/.saddle.lock`` (the lock's holder text would overwrite it)."""
    if kind == "new":
        folder = tmp_path / "new"
        folder.mkdir()
    else:
        folder = copy(kind)
    precious = tmp_path / "precious"
    precious.write_bytes(PRECIOUS)
    (folder / LOCK_NAME).symlink_to(precious)
    before = contents(folder)
    rc, err = run_main(argv_for("sweep" if kind == "sweep" else "escape", folders, folder), capsys)
    one_line(rc, err, re.escape(str(folder / LOCK_NAME)), "symbolic link")
    assert precious.read_bytes() == PRECIOUS, "the lock's target was written"
    assert contents(folder) == before, "something was written into the refused folder"
    if kind != "new":
        with pytest.raises(LinkError, match=re.escape(LOCK_NAME)):
            saddle.load(folder)
    # the Python API refuses the same way (LinkError is a ConfigError: one line)
    if kind in ("new", "escape"):
        with pytest.raises(ConfigError, match="symbolic link"):
            run_escape(m=(4, 8), d=5, trials=20, max_steps=2000, seed=0, out=folder)
    assert precious.read_bytes() == PRECIOUS


def test_a_lock_file_with_another_name_is_refused_and_left_alone(folders, copy, tmp_path, capsys):
    """The fault: a hard link (``ln ~/precious RUN/.saddle.lock``): no link to refuse, the same file."""
    folder = copy("escape")
    precious = tmp_path / "precious"
    precious.write_bytes(PRECIOUS)
    os.link(precious, folder / LOCK_NAME)
    rc, err = run_main(argv_for("escape", folders, folder), capsys)
    one_line(rc, err, re.escape(str(folder / LOCK_NAME)), "hard link")
    assert precious.read_bytes() == PRECIOUS and (folder / LOCK_NAME).read_bytes() == PRECIOUS


ESCAPE_NAMES = ["config.json", "trials.csv", "summary.csv", "trajectories.npz", MANIFEST_NAME, "escape.png"]


@pytest.mark.parametrize("kind", ["escape", "interrupted"])
@pytest.mark.parametrize("name", ESCAPE_NAMES)
def test_a_stored_file_that_is_a_link_is_refused_by_resume_and_load(kind, name, folders, copy, tmp_path, capsys):
    """The fault: a file saddle writes replaced by a link to a copy of itself (elsewhere, the user's)."""
    folder = copy(kind)
    target = plant_link(folder / name, tmp_path)
    kept = target.read_bytes()
    before = contents(folder)
    rc, err = run_main(argv_for("escape", folders, folder), capsys)
    one_line(rc, err, re.escape(str(folder / name)), "symbolic link")
    assert contents(folder) == before and target.read_bytes() == kept
    with pytest.raises(ConfigError, match=re.escape(name) + ".*symbolic link"):
        saddle.load(folder)
    rc, err = run_main(["plot", folder, "--quiet"], capsys)
    one_line(rc, err, re.escape(name), "symbolic link")
    assert contents(folder) == before and target.read_bytes() == kept


def test_links_in_a_sweep_folder_are_refused(folders, tmp_path, capsys):
    """The faults: a sweep table, sweep.json, a cell's file, a cell's folder and ``cells`` itself as links."""
    sweep = folders / "sweep"
    cell = sorted(p.name for p in (sweep / "cells").iterdir())[0]
    names = ["summary.csv", "trials.csv", "sweep.json", MANIFEST_NAME, *(f"cells/{cell}/{n}" for n in CELL_FILES)]
    for i, rel in enumerate(names):
        folder = Path(shutil.copytree(sweep, tmp_path / f"s{i}"))
        target = plant_link(folder / rel, tmp_path)
        kept = target.read_bytes()
        before = contents(folder)
        rc, err = run_main(argv_for("sweep", folders, folder), capsys)
        one_line(rc, err, re.escape(rel), "symbolic link")
        with pytest.raises(ConfigError, match="symbolic link"):
            saddle.load(folder)
        assert contents(folder) == before and target.read_bytes() == kept, rel
    for rel in (f"cells/{cell}", "cells"):  # a folder of the sweep as a link to a copy elsewhere
        folder = tmp_path / f"dir-{rel.replace('/', '-')}"
        shutil.copytree(sweep, folder)
        outside = tmp_path / f"outside-{rel.replace('/', '-')}"
        shutil.move(folder / rel, outside)
        (folder / rel).symlink_to(outside, target_is_directory=True)
        kept, before = contents(outside), contents(folder)
        rc, err = run_main(argv_for("sweep", folders, folder), capsys)
        one_line(rc, err, re.escape(str(folder / rel)), "symbolic link")
        with pytest.raises(ConfigError, match="symbolic link"):
            saddle.load(folder)
        assert contents(folder) == before and contents(outside) == kept


def test_an_atomic_write_never_writes_through_a_link_at_the_temporary_or_final_name(tmp_path, monkeypatch):
    """The faults: a link planted at the temporary name the write will pick, and at the final name."""
    precious = tmp_path / "precious"
    precious.write_bytes(PRECIOUS)
    folder = tmp_path / "run"
    folder.mkdir()
    names = iter(["deadbeef", "cafef00d"])
    monkeypatch.setattr(saddle.store.folder.secrets, "token_hex", lambda n: next(names))
    (folder / ".table.csv.deadbeef.tmp").symlink_to(precious)  # the first name it tries
    (folder / "table.csv").symlink_to(precious)
    atomic_write_bytes(folder / "table.csv", b"new\n")
    assert precious.read_bytes() == PRECIOUS
    assert not (folder / "table.csv").is_symlink() and (folder / "table.csv").read_bytes() == b"new\n"
    assert os.readlink(folder / ".table.csv.deadbeef.tmp") == str(precious)  # passed over, not followed
    # a folder below the results folder that is a link is not written into
    (folder / "cells").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(LinkError, match="cells"):
        atomic_write_bytes(folder / "cells" / "precious", b"x", below=folder)
    assert precious.read_bytes() == PRECIOUS


# ----------------------------------------------------------------------------- 3. provenance


def edit_marker(folder, change, name="config.json"):
    meta = json.loads((folder / name).read_text())
    change(meta)
    (folder / name).write_text(json.dumps(meta, indent=2) + "\n")


def test_config_json_is_listed_in_the_checksums(folders):
    for kind, marker in (("escape", "config.json"), ("interrupted", "config.json"), ("sweep", "sweep.json")):
        files = json.loads((folders / kind / MANIFEST_NAME).read_text())["files"]
        assert files[marker] == sha256((folders / kind / marker).read_bytes()), kind
        assert json.loads((folders / kind / marker).read_text())["store_format"] == 2


@pytest.mark.parametrize("kind", ["escape", "interrupted"])
def test_an_edited_option_in_config_json_is_refused_by_resume_load_and_plot(kind, folders, copy, capsys):
    """The fault: ``delta`` edited in config.json; resuming with the edited option must not reuse the trials."""
    folder = copy(kind)
    old = json.loads((folder / "config.json").read_text())["config"]["delta"]
    edit_marker(folder, lambda meta: meta["config"].update(delta=old * 2))
    before = contents(folder)
    rc, err = run_main(["escape", *RUN, "--delta", old * 2, "--out", folder], capsys)
    one_line(rc, err, re.escape(str(folder / "config.json")), "does not match its checksum")
    with pytest.raises(ConfigError, match=re.escape(str(folder / "config.json")) + ".*checksum"):
        saddle.load(folder)
    rc, err = run_main(["plot", folder, "--quiet"], capsys)
    one_line(rc, err, "config.json", "checksum")
    assert contents(folder) == before


def test_an_edited_trials_count_is_refused_by_load(copy):
    """The fault: ``trials`` edited in config.json (load used to return a result without a batch size)."""
    folder = copy("escape")
    edit_marker(folder, lambda meta: meta["config"].update(trials=21))
    with pytest.raises(ConfigError, match="config.json does not match its checksum"):
        saddle.load(folder)


@pytest.mark.parametrize("how", ["manifest-deleted", "entry-removed", "manifest-deleted-and-config-edited"])
@pytest.mark.parametrize("kind", ["escape", "interrupted", "sweep"])
def test_a_folder_without_its_checksums_is_refused_not_adopted(how, kind, folders, copy, capsys):
    """The fault: checksums.json deleted (or config.json's entry removed) from a folder whose marker says
    saddle wrote it with checksums; a resume must not record fresh checksums for whatever is there."""
    folder = copy(kind)
    marker = "sweep.json" if kind == "sweep" else "config.json"
    if how == "entry-removed":
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        del manifest["files"][marker]
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        named = re.escape(str(folder / marker)) + ".*has no checksum"
    else:
        (folder / MANIFEST_NAME).unlink()
        named = re.escape(str(folder / MANIFEST_NAME)) + ".*is missing"
    if how.endswith("config-edited"):
        if kind == "sweep":
            edit_marker(folder, lambda meta: meta["sweep"].update(description="forged"), marker)
        else:
            edit_marker(folder, lambda meta: meta["config"].update(trials=21))
    before = contents(folder)
    if not how.endswith("config-edited"):  # the run asks for the stored configuration
        rc, err = run_main(argv_for(kind if kind == "sweep" else "escape", folders, folder), capsys)
        one_line(rc, err, named, "cannot be verified")
    with pytest.raises(ConfigError, match=named):
        saddle.load(folder)
    rc, err = run_main(["plot", folder, "--quiet"], capsys)
    one_line(rc, err, named)
    assert contents(folder) == before, "a refused folder was written to (fresh checksums recorded?)"
    if kind == "sweep":
        from saddle.sweep import read_table

        with pytest.raises(ConfigError, match=named):
            read_table(folder / "summary.csv")


def test_a_folder_from_before_the_marker_checksum_is_adopted_with_one_line_then_checked(folders, copy, capsys, caplog):
    """A folder whose checksums.json lists its tables but not config.json, and whose config.json has no
    store_format (as saddle wrote folders before the marker was checksummed): read, and recorded once."""
    folder = copy("escape")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    del manifest["files"]["config.json"]
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    edit_marker(folder, lambda meta: meta.pop("store_format"))
    tables = {k: v for k, v in contents(folder).items() if k.name != MANIFEST_NAME}
    caplog.clear()
    assert sorted(saddle.load(folder).by_m) == [4, 8]
    notes = [r.getMessage() for r in caplog.records if r.name == "saddle"]
    assert len(notes) == 1 and "before saddle recorded the checksum of its config.json" in notes[0], notes
    assert "config.json" not in json.loads((folder / MANIFEST_NAME).read_text())["files"], "a reader wrote"
    rc, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0 and err == "", err
    assert {k: v for k, v in contents(folder).items() if k.name != MANIFEST_NAME} == tables, "recomputed"
    files = json.loads((folder / MANIFEST_NAME).read_text())["files"]
    assert files["config.json"] == sha256((folder / "config.json").read_bytes())
    edit_marker(folder, lambda meta: meta["config"].update(trials=21))  # from now on, checked
    with pytest.raises(ConfigError, match="config.json does not match its checksum"):
        saddle.load(folder)


def test_a_run_killed_between_its_marker_and_its_checksum_resumes(folders, tmp_path, capsys):
    """A new folder holding only config.json (store_format 2), no checksums.json and no table: nothing was
    stored to protect, so the next run records the marker's checksum and runs."""
    folder = tmp_path / "killed"
    folder.mkdir()
    shutil.copy(folders / "escape" / "config.json", folder / "config.json")
    rc, err = run_main(["escape", *RUN, "--out", folder], capsys)
    assert rc == 0 and err == "", err
    assert (folder / "trials.csv").read_bytes() == (folders / "escape" / "trials.csv").read_bytes()
    assert json.loads((folder / MANIFEST_NAME).read_text())["files"]["config.json"] == sha256(
        (folder / "config.json").read_bytes()
    )


def test_the_committed_results_load_with_their_marker_checked(caplog, capsys):
    """docs/results/default and sweep-seed-question: their checksums.json lists the marker (the tables'
    entries unchanged), so they load without a note, and an edit of their marker would be refused."""
    for name, marker in (("default", "config.json"), ("sweep-seed-question", "sweep.json")):
        folder = REPO_ROOT / "docs" / "results" / name
        files = json.loads((folder / MANIFEST_NAME).read_text())["files"]
        assert files[marker] == sha256((folder / marker).read_bytes())
        caplog.clear()
        saddle.load(folder)
        assert [r.getMessage() for r in caplog.records if r.name == "saddle"] == []
