"""What a researcher calls a run, and the runs found under a folder: ``run.json`` and :func:`find_runs`.

``run.json`` sits beside a results folder's marker (``config.json``, ``sweep.json`` or ``frontier.json``)
when the run was given a name, tags or a note (``--name``, ``--tag``, ``--note``)::

    {"name": "first", "tags": ["pilot"], "note": "...", "created": "...", "updated": "...", "saddle": "0.1.0"}

It changes no number: it is not part of the configuration that a resumed run is compared with, and it
carries no checksum (it may be edited by hand; naming the run again rewrites it).  It is written
atomically, like every file of a folder (:func:`saddle.store.folder.atomic_write_text`), and read without
following a link.

:func:`find_runs` walks a folder for results folders (a folder holding one of the markers of
:data:`saddle.store.folder.MARKERS`) and describes each in a :class:`RunEntry`: what ``python -m
saddle.experiments list DIR`` prints.  It reads the markers and ``run.json`` only (reading a run back,
``saddle.load`` and ``plot`` check every checksum); a folder that cannot be read is described by a short
reason, never by an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from saddle._version import __version__
from saddle.options import ConfigError
from saddle.store.folder import MARKERS, atomic_write_text, folder_kind, read_bytes, read_marker

__all__ = ["RUN_INFO", "RunEntry", "RunInfo", "find_runs", "read_run_info", "write_run_info"]

RUN_INFO = "run.json"
"""The file that names a run (see the module docstring)."""
MAX_TEXT = 1000
"""The longest name, tag or note accepted (characters)."""


@dataclass(frozen=True)
class RunInfo:
    """A run's name, tags and note (``run.json``), with when they were first and last written (UTC)."""

    name: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    created: str | None = None
    updated: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tags": list(self.tags),
            "note": self.note,
            "created": self.created,
            "updated": self.updated,
            "saddle": __version__,
        }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _checked_text(what: str, value: str) -> str:
    text = value.strip()
    if not text:
        raise ConfigError(f"{what} must not be empty")
    if any(c in text for c in "\n\r\0"):
        raise ConfigError(f"{what} must be one line, got {value!r}")
    if len(text) > MAX_TEXT:
        raise ConfigError(f"{what} is {len(text)} characters long; at most {MAX_TEXT} are kept")
    return text


def check_run_text(name: str | None = None, tags: Sequence[str] | None = None, note: str | None = None) -> None:
    """Refuse (ConfigError, one line) an empty or multi-line name or tag, or a multi-line note, before a run
    starts: they are checked again when written."""
    if name is not None:
        _checked_text("--name", name)
    for tag in tags or ():
        _checked_text("--tag", tag)
    if note is not None:
        _checked_text("--note", note)


def read_run_info(folder: str | os.PathLike[str]) -> RunInfo | None:
    """The ``run.json`` of ``folder`` (None when it has none); ConfigError (one line) when it cannot be read."""
    path = Path(folder) / RUN_INFO
    try:
        raw = read_bytes(path, below=folder)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise TypeError
        texts = [data.get(k) for k in ("name", "note", "created", "updated")]
        if not all(t is None or isinstance(t, str) for t in texts):
            raise TypeError
    except (ValueError, TypeError):
        raise ConfigError(f"{path} is not a saddle run.json") from None
    name, note, created, updated = texts
    return RunInfo(name, tuple(tags), note, created, updated)


def write_run_info(
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    note: str | None = None,
) -> RunInfo:
    """Name, tag or annotate the run in ``folder``: each of ``name``, ``tags`` and ``note`` given replaces
    what ``run.json`` holds, those left None are kept (a ``run.json`` that cannot be read is replaced).

    The folder must hold results already (its marker): ConfigError otherwise, since a ``run.json`` alone
    would make it a folder of foreign files.  Raises :class:`~saddle.store.folder.StoreError` (one line)
    when the machine refuses the write.
    """
    path = Path(folder)
    if folder_kind(path) is None:
        raise ConfigError(f"{path} holds no saddle results to name")
    try:
        old = read_run_info(path) or RunInfo()
    except ConfigError:
        old = RunInfo()
    info = RunInfo(
        name=_checked_text("--name", name) if name is not None else old.name,
        tags=tuple(dict.fromkeys(_checked_text("--tag", t) for t in tags)) if tags is not None else old.tags,
        note=_checked_text("--note", note) if note is not None else old.note,
        created=old.created or _now(),
        updated=_now(),
    )
    atomic_write_text(path / RUN_INFO, json.dumps(info.to_json(), indent=2) + "\n", below=path)
    return info


# ----------------------------------------------------------------------------- finding runs


@dataclass(frozen=True)
class RunEntry:
    """One results folder found by :func:`find_runs`; ``problem`` says why it cannot be read (then the
    other fields are what could be read, or empty)."""

    path: Path
    kind: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()
    objective: str | None = None
    m: tuple[Any, ...] = ()
    trials: Any = None
    created: str | None = None
    problem: str | None = None
    note: str | None = None


def _short(err: BaseException, folder: Path) -> str:
    """A refusal's message as a short reason: its first clause, the folder's path left out."""
    text = str(err).split("; ")[0]
    return text.replace(f"{folder}{os.sep}", "").replace(str(folder), "the folder").strip()


def _values(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _default(name: str, objective: Any) -> Any:
    """An option's default for ``objective`` (a sweep's [fixed] leaves it out): the objective's own where
    it declares one (ge2015: 200 trials), else the generic one."""
    from saddle.config import EscapeConfig
    from saddle.objectives.base import registered

    cls = registered().get(objective) if isinstance(objective, str) else None
    if cls is not None and name in cls.generic_defaults:
        return cls.generic_defaults[name]
    return EscapeConfig.defaults()[name]


def _fields(kind: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """objective, m and trials of a marker of ``kind``."""
    if kind == "escape":
        config = meta["config"]
        return {
            "objective": config.get("objective", "spike"),
            "m": _values(config.get("m")),
            "trials": config.get("trials"),
        }
    if kind == "frontier":
        options = meta["frontier"]["escape"]
        return {
            "objective": options.get("objective", "spike"),
            "m": _values(meta.get("m")),
            "trials": options.get("trials"),
        }
    grid, fixed = meta.get("grid") or {}, meta.get("fixed") or {}

    def option(name: str) -> tuple[Any, ...]:
        return _values(grid[name]) if name in grid else _values(fixed[name]) if name in fixed else ()

    objectives = option("objective") or ("spike",)
    trials = option("trials") or (_default("trials", objectives[0]) if len(objectives) == 1 else None,)
    return {
        "objective": ", ".join(map(str, objectives)),
        "m": option("m"),
        "trials": " ".join(map(str, trials)) if None not in trials else "-",
    }


def describe_run(folder: str | os.PathLike[str]) -> RunEntry:
    """The :class:`RunEntry` of one results folder; a folder that cannot be read gets its ``problem``."""
    path = Path(folder)
    try:
        kind = folder_kind(path)
        if kind is None:
            return RunEntry(path, problem="empty")
        meta = read_marker(path, kind)
        assert meta is not None
        fields = _fields(kind, meta)
    except ConfigError as err:
        return RunEntry(path, problem=_short(err, path))
    except (KeyError, TypeError, AttributeError, AssertionError):
        return RunEntry(path, problem="its marker file lacks the fields saddle writes")
    created = meta.get("created")
    try:
        info = read_run_info(path) or RunInfo()
    except ConfigError:
        info = RunInfo(name="(run.json unreadable)")
    return RunEntry(
        path,
        kind,
        info.name,
        info.tags,
        fields["objective"],
        fields["m"],
        fields["trials"],
        created if isinstance(created, str) else None,
        note=info.note,
    )


def find_runs(top: str | os.PathLike[str]) -> list[RunEntry]:
    """Every results folder at or below ``top`` (recognised by its marker file), in path order.

    Folders whose names start with a dot are not searched, nor are the folders inside a results folder
    (a sweep's cells).  A folder below ``top`` that cannot be listed is returned with its reason.
    Raises ConfigError (one line) when ``top`` is missing or not a folder.
    """
    root = Path(top)
    if not root.exists():
        raise ConfigError(f"no such folder: {str(root)!r}")
    if not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder")
    found: list[RunEntry] = []
    unreadable: list[RunEntry] = []

    def failed(err: OSError) -> None:
        where = Path(err.filename) if err.filename else root
        unreadable.append(RunEntry(where, problem=f"cannot be listed: {err.strerror or err}"))

    markers = set(MARKERS.values())
    for here, dirs, files in os.walk(root, onerror=failed):
        if markers & set(files):
            found.append(describe_run(here))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted([*found, *unreadable], key=lambda e: e.path.parts)


def with_tags(entries: Iterable[RunEntry], tags: Sequence[str]) -> list[RunEntry]:
    """The entries that carry every tag of ``tags``."""
    return [e for e in entries if all(t in e.tags for t in tags)]
