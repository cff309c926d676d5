"""What every results folder shares: escape folders (:mod:`saddle.store.escape`) and sweep folders
(:mod:`saddle.store.sweep`) alike.

A results folder protects itself (docs/escape.md, "The results folder"; docs/sweeps.md):

- **one kind, one configuration**: a folder is used only if it is missing, empty, or holds results of
  the same kind (its marker: ``config.json`` with ``"command": "escape"``, or ``sweep.json`` with
  ``"command": "sweep"``) and the same configuration.  A folder holding anything else (a user's own
  ``trials.csv``, a sweep when an escape run is asked for) is refused before anything is written;
- **one writer**: a run holds ``fcntl.flock`` on the lock file ``.saddle.lock`` in the folder for as
  long as it runs; the file holds the holder's pid, host, start time and command line, a second run
  is refused at once with one line naming it, and the holder removes the file when it is done;
- **checksums**: the marker and every stored table are listed with their SHA-256 in ``checksums.json``
  (the manifest; sweep cells list their tables in their own ``cell.json``), written atomically after
  them, and checked on every read, by a resumed run and by a reader alike: a file that does not match,
  or has no checksum, is refused with one line naming it, never used.  A folder whose marker records
  ``"store_format": 2`` (:data:`STORE_FORMAT`) must have its manifest; only a folder whose marker
  predates that is adopted as it is (its checksums recorded, when writable, with one line saying so);
- **no links**: nothing is read or written through a symbolic link.  A folder whose lock file, marker,
  manifest, tables or figures (or a sweep's ``cells`` folders and files) are links is refused with one
  line before anything is written; the links' targets are never opened;
- **atomic writes**: every file goes to a temporary name in the same folder, created new
  (``O_EXCL | O_NOFOLLOW``, relative to the folder's descriptor), and is renamed into place; a killed
  run's temporaries (``.NAME.*.tmp``) are removed by the next run that holds the lock;
- **I/O failures** (disk full, permissions) while writing raise :class:`StoreError` (an ``OSError``),
  whose message is one line naming the file and what was kept.

Nothing here knows what an escape run or a sweep is beyond the name of its marker file; the two folder
classes say which tables they hold.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import logging
import os
import platform
import secrets
import shlex
import signal
import socket
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from saddle._version import __version__
from saddle.options import ConfigError

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "STORE_FORMAT",
    "LinkError",
    "Manifest",
    "ResultsStore",
    "StoreError",
    "atomic_write_bytes",
    "atomic_write_text",
    "csv_text",
    "differences",
    "folder_kind",
    "interrupts_deferred",
    "read_bytes",
    "read_marker",
    "sha256",
    "verify_marker",
    "versions",
    "writes_checksums",
]

LOCK_NAME = ".saddle.lock"
"""The lock file of a results folder (flock; holds the holder's pid, host, start and command line)."""
MANIFEST_NAME = "checksums.json"
"""The manifest: ``{"format": 1, "algorithm": "sha256", "files": {NAME: HEX}, "pending": {NAME: HEX}}``."""
STORE_FORMAT = 2
"""The marker's ``"store_format"``: 2 says that ``checksums.json`` lists the marker itself and every table.

A marker without it was written by a saddle from before: with a ``checksums.json`` listing the tables
only, or (earlier still) with none.  Only such a folder is adopted without checksums.
"""
MARKERS = {"escape": "config.json", "sweep": "sweep.json", "frontier": "frontier.json"}
"""The file that says what a folder holds (its ``"command"`` names the kind)."""
KIND_WORDS = {"escape": "an escape run", "sweep": "a sweep", "frontier": "a batch-size frontier"}
MARKER_TABLE = {"escape": "config", "sweep": "grid", "frontier": "frontier"}
"""The dict every marker of a kind holds (what makes it saddle's)."""
LOG = logging.getLogger("saddle")


class StoreError(OSError):
    """Writing (or reading) a results folder failed for a reason of the machine: disk full, permissions.

    Its message is one line meant for the user: the file, the reason, and what was kept.  The command
    line turns it into that line and exit status 1.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno_ = errno_

    def __str__(self) -> str:
        return self.message


class LinkError(ConfigError):
    """A file a results folder holds (or a folder below it) is a symbolic link: refused, never followed.

    A :class:`~saddle.options.ConfigError`: the command line prints its one line and exits with status 2.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            f"{path} is a symbolic link: saddle neither reads nor writes results through a link (the link "
            "and its target are left as they are); remove the link or choose another folder"
        )


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def versions() -> dict[str, str | None]:
    """Versions of Python and of the libraries that shape the numbers (a folder's marker records them)."""
    from importlib.metadata import PackageNotFoundError, version

    import numba
    import numpy
    import scipy

    try:  # matplotlib's version without importing it (a run with --no-plot never needs it)
        matplotlib_version = version("matplotlib")
    except PackageNotFoundError:
        matplotlib_version = None

    return {
        "saddle": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib_version,
        "platform": platform.platform(),
    }


# ----------------------------------------------------------------------------- writing files


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, so that a group of files is written whole.

    Outside the main thread (where signal handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted under a table's name must not hang a reader


def _refuse_if_link(path: Path) -> None:
    if os.path.islink(path):
        raise LinkError(path)


@contextlib.contextmanager
def _folder_fd(folder: Path, below: Path | None) -> Iterator[int]:
    """A descriptor of ``folder``; the parts of it below ``below`` are opened without following links.

    ``below`` (the results folder) itself is opened as named: the path a user gives may pass through
    links.  Raises :class:`LinkError` for a link below it, OSError (FileNotFoundError, ...) otherwise.
    """
    top = folder if below is None else below
    parts = () if below is None else folder.relative_to(below).parts
    fd = os.open(top, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        here = top
        for part in parts:
            here = here / part
            try:
                inner = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            except OSError:
                _refuse_if_link(here)
                raise
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def make_folders(folder: Path, below: Path) -> None:
    """Create ``folder`` and its missing parents below ``below``, following no link (LinkError for one)."""
    here = below
    for part in folder.relative_to(below).parts:
        with _folder_fd(here, below) as fd:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
        here = here / part
    with _folder_fd(folder, below):
        pass  # a link where a folder should be: LinkError


def read_bytes(path: str | os.PathLike[str], *, below: str | os.PathLike[str] | None = None) -> bytes:
    """The bytes of the regular file ``path``, never through a link.

    Neither ``path`` nor a folder between ``below`` and it may be a link (:class:`LinkError`, a
    ConfigError); something other than a regular file is refused with a ConfigError.  FileNotFoundError
    and other OSErrors pass through.
    """
    path = Path(path)
    with _folder_fd(path.parent, None if below is None else Path(below)) as dfd:
        try:
            fd = os.open(path.name, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dfd)
        except OSError:
            _refuse_if_link(path)
            raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ConfigError(f"{path} is not a regular file saddle wrote; remove it or choose another folder")
        return fh.read()


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, below: str | os.PathLike[str] | None = None
) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The data go to a new temporary file beside ``path`` (created with ``O_EXCL | O_NOFOLLOW``: never an
    existing file, never through a link), which is then renamed onto ``path`` (a link standing there is
    replaced, its target untouched).  The folders between ``below`` (the results folder) and ``path`` are
    opened without following links (:class:`LinkError` for one).

    Raises :class:`StoreError` (one line naming the file; the old file, if any, is unchanged) when the
    machine refuses the write (disk full, permissions, a read-only file system).
    """
    path = Path(path)
    try:
        with _folder_fd(path.parent, None if below is None else Path(below)) as dfd:
            _write_at(dfd, path.name, data)
    except OSError as err:
        if isinstance(err, StoreError):
            raise
        kept = "the earlier file there is unchanged" if os.path.lexists(path) else "nothing was written there"
        raise StoreError(f"cannot write {path}: {_reason(err)} ({kept})", err.errno) from None


def _write_at(dfd: int, name: str, data: bytes) -> None:
    """Write ``data`` to a new temporary in the folder ``dfd``, then rename it onto ``name``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
    for _ in range(100):
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666, dir_fd=dfd)  # the umask applies, as for any file
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover (a hundred names taken)
        raise FileExistsError(errno.EEXIST, "no free temporary name", name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, below: str | os.PathLike[str] | None = None) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), below=below)


def csv_text(columns: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    """A CSV table as text: the header ``columns`` (none if None), then ``rows``; ``\\n`` line ends.

    The one CSV writer of saddle's results (escape tables, sweep cells, tidy tables): the bytes it
    writes are part of the results' contract.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if columns is not None:
        writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def remove_stale_temporaries(folder: Path, patterns: Sequence[str] = (".*.tmp",)) -> None:
    """Delete the temporary files a killed run left (atomic writes that never reached their rename).

    Call it only while holding the folder's lock: without it another run may be writing them.
    """
    for pattern in patterns:
        for tmp in folder.glob(pattern):
            with contextlib.suppress(OSError):
                tmp.unlink()


# ----------------------------------------------------------------------------- comparing configurations


def differences(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    prefix: str = "",
    ordered: bool = False,
) -> list[str]:
    """The keys whose values differ between a stored configuration ``old`` and the requested ``new``.

    With ``defaults``, a key that ``old`` lacks counts as its default (an option added to saddle after
    the folder was written, at its default, changes nothing) and a key that only ``old`` has is ignored
    (an option since removed).  Without, a key missing on one side differs.  With ``ordered``, equal
    keys in another order are reported as ``the order of [prefix]``.  Keys are named ``prefix.key``.
    """
    name = (lambda k: f"{prefix}.{k}") if prefix else (lambda k: k)  # noqa: E731
    if defaults is not None:
        return sorted(name(k) for k in set(old) | set(new) if k in new and old.get(k, defaults.get(k)) != new.get(k))
    missing = object()
    differ = [name(k) for k in [*old, *(k for k in new if k not in old)] if old.get(k, missing) != new.get(k, missing)]
    if not differ and ordered and list(old) != list(new):
        differ.append(f"the order of [{prefix}]")
    return differ


def read_marker(folder: Path, kind: str) -> dict[str, Any] | None:
    """The marker file of ``kind`` in ``folder`` as a dict (None when absent); ConfigError when not saddle's."""
    path = folder / MARKERS[kind]
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {_reason(err)}") from None
    return _parse_marker(path, kind, raw)


def _parse_marker(path: Path, kind: str, raw: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict) or not isinstance(meta.get(MARKER_TABLE[kind]), dict):
            raise TypeError
        if meta.get("command", "escape" if kind == "escape" else None) != kind:
            raise TypeError
    except (ValueError, TypeError):
        raise ConfigError(f"{path} is not a saddle {MARKERS[kind]}; choose another --out") from None
    return meta


def writes_checksums(meta: Mapping[str, Any]) -> bool:
    """Whether a marker says that the saddle which wrote it recorded the checksums of the marker and tables."""
    fmt = meta.get("store_format")
    return isinstance(fmt, int) and not isinstance(fmt, bool) and fmt >= STORE_FORMAT


def verify_marker(
    folder: Path, kind: str, manifest: Manifest, meta: Mapping[str, Any], *, holds_results: bool = True
) -> bool:
    """Check a folder's marker (parsed: ``meta``) against its checksum in ``manifest``.

    True when it matches.  False when it has no checksum and may be adopted: the marker predates
    ``"store_format"`` (written before saddle recorded its checksum), or nothing is stored beside it
    (``holds_results`` False: a run killed between writing the marker and its checksum).  ConfigError,
    one line naming the file, when it does not match, or when a marker that says saddle recorded its
    checksum has none (the manifest deleted, or the entry removed), or when it changed while being read.
    """
    name = MARKERS[kind]
    path = folder / name
    if manifest.accepted(name):
        try:
            raw = read_bytes(path, below=folder)
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {_reason(err)}") from None
        manifest.check(name, raw)
        if _parse_marker(path, kind, raw) != meta:
            raise ConfigError(f"{path} changed while saddle read it; try again")
        return True
    if not writes_checksums(meta) or not (holds_results or manifest.present):
        return False
    if manifest.present:
        raise ConfigError(
            f"{path} has no checksum in {MANIFEST_NAME}, though it says saddle wrote this folder with one: "
            f"one of them was changed after saddle wrote it, and the results in {folder} cannot be verified; "
            "restore them, or delete the folder to recompute"
        )
    raise ConfigError(
        f"{folder / MANIFEST_NAME} is missing, though {name} says saddle wrote this folder with checksums: "
        f"the results in {folder} cannot be verified; restore it, or delete the folder to recompute"
    )


def folder_kind(folder: Path) -> str | None:
    """What a folder holds: ``'escape'``, ``'sweep'``, or None when it is missing or empty.

    Raises ConfigError (one line) for a path that is not a folder, and for a folder holding files that
    are not saddle results (nothing saddle writes is counted: the lock file and killed runs' temporaries).
    """
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        if folder.is_file():
            raise ConfigError(f"{folder} is a file, not a folder; choose another --out") from None
        raise ConfigError(
            f"cannot write results to {str(folder)!r}: part of that path is a file, not a folder"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read the folder {str(folder)!r}: {_reason(err)}") from None
    _refuse_if_link(folder / LOCK_NAME)
    names = [n for n in names if n != LOCK_NAME and not (n.startswith(".") and n.endswith(".tmp"))]
    if not names:
        return None
    kinds = [kind for kind in MARKERS if read_marker(folder, kind) is not None]
    if len(kinds) == 1:
        return kinds[0]
    if kinds:
        raise ConfigError(f"{folder} holds {' and '.join(MARKERS[k] for k in kinds)}; choose another --out")
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise ConfigError(
        f"{folder} holds files that are not saddle results ({shown}); choose another --out (an empty or new folder)"
    )


# ----------------------------------------------------------------------------- the lock


def _holder_text() -> str:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    command = shlex.join(sys.argv) if sys.argv and sys.argv[0] else "python"
    return (
        json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started, "command": command[:500]})
        + "\n"
    )


def _describe_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8", "replace"))
        command = " ".join(str(info.get("command", "?")).split())
        return f"pid {int(info['pid'])} on {info.get('host', '?')}, since {info.get('started', '?')}: {command}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


class FolderLock:
    """``fcntl.flock`` on the lock file of a folder, taken without waiting.

    ``exclusive`` for a run that writes: the file is created if needed, the holder's pid, host, start
    and command line are written into it, and :meth:`release` removes it (a finished folder holds no
    lock file).  Shared, for a reader of a folder it cannot write: an existing lock file is only read.
    The operating system releases the lock when the process ends, however it ends; a file left by a
    killed run is taken over by the next.
    """

    def __init__(self, fd: int | None, path: Path | None = None, exclusive: bool = True) -> None:
        self.fd = fd
        self.path = path
        self.exclusive = exclusive

    @classmethod
    def take(cls, folder: Path, *, exclusive: bool = True) -> FolderLock:
        """Take the lock of ``folder``; ConfigError (one line naming the holder) when another run holds it.

        Raises OSError when the lock file cannot be created or opened (the caller decides what that means).
        Without fcntl (not POSIX) no lock is taken.
        """
        try:
            import fcntl
        except ModuleNotFoundError:  # pragma: no cover (not POSIX)
            return cls(None)
        path = folder / LOCK_NAME
        for _ in range(10):
            fd = _open_lock_file(path, exclusive)
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe_holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"{folder} is in use by another run ({holder}); wait for it to finish or choose another --out"
                ) from None
            except OSError:
                os.close(fd)
                raise
            if _same_file(fd, path):
                break
            os.close(fd)  # the holder removed the file as we opened it: take the one now there
        else:  # pragma: no cover (ten races in a row)
            raise ConfigError(f"{folder} is in use by other runs; wait for them to finish or choose another --out")
        if exclusive:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, _holder_text().encode("utf-8"), 0)
        return cls(fd, path, exclusive)

    def release(self) -> None:
        """Let go of the lock; an exclusive holder removes the lock file first."""
        if self.fd is None:
            return
        if self.exclusive and self.path is not None and _same_file(self.fd, self.path):
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None


def _open_lock_file(path: Path, exclusive: bool) -> int:
    """The lock file's descriptor, never through a link; ConfigError for anything but saddle's own file.

    A link (:class:`LinkError`), a hard link (a file with another name, whose contents the holder's
    description would overwrite) or something other than a regular file is refused and left as it is.
    """
    flags = (os.O_RDWR | os.O_CREAT) if exclusive else os.O_RDONLY
    try:
        fd = os.open(path, flags | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o666)
    except OSError:
        _refuse_if_link(path)
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (exclusive and info.st_nlink != 1):
        os.close(fd)
        what = "has other names (hard links)" if stat.S_ISREG(info.st_mode) else "is not a regular file"
        raise ConfigError(
            f"{path} {what}: it is not the lock file saddle makes, and is left as it is; "
            "remove it or choose another folder"
        )
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# ----------------------------------------------------------------------------- checksums


class Manifest:
    """The checksums of a folder's marker and tables: ``checksums.json``, rewritten atomically after them.

    A write of several tables is a small transaction: the manifest first gains ``pending`` checksums
    (the new contents), then the tables are replaced one by one, then the pending checksums become the
    ``files`` ones.  A run killed in between leaves every table matching either its old or its new
    checksum, and both are accepted; any other content is refused.
    """

    def __init__(
        self,
        folder: Path,
        files: dict[str, str] | None = None,
        pending: dict[str, str] | None = None,
        present: bool = False,
    ) -> None:
        self.folder = folder
        self.files = dict(files or {})
        self.pending = dict(pending or {})
        self.present = present  # whether checksums.json exists (a folder written before checksums has none)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            raw = read_bytes(path)
        except FileNotFoundError:
            return cls(folder)
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {_reason(err)}") from None
        try:
            data = json.loads(raw)
            files, pending = data["files"], data.get("pending", {})
            if data.get("algorithm") != "sha256" or not all(
                isinstance(k, str) and isinstance(v, str) for d in (files, pending) for k, v in d.items()
            ):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ConfigError(
                f"{path} is damaged (not a saddle checksum manifest); the results in {folder} "
                "cannot be verified: choose another --out"
            ) from None
        return cls(folder, files, pending, present=True)

    def accepted(self, name: str) -> set[str]:
        return {h for h in (self.files.get(name), self.pending.get(name)) if h is not None}

    def check(self, name: str, data: bytes) -> None:
        """Refuse ``data`` read from ``name`` (ConfigError, one line naming it) unless its checksum is recorded."""
        accepted = self.accepted(name)
        if not accepted:
            raise ConfigError(
                f"{self.folder / name} has no recorded checksum in {MANIFEST_NAME} (it was not "
                "written by saddle); move it away or choose another --out"
            )
        if sha256(data) not in accepted:
            raise ConfigError(
                f"{self.folder / name} does not match its checksum in {MANIFEST_NAME}: it was "
                "changed after saddle wrote it; restore it, or delete the folder to recompute"
            )

    def read(self, name: str) -> bytes | None:
        """The verified bytes of table ``name`` (None when absent); unverified when the folder has no manifest."""
        try:
            data = read_bytes(self.folder / name, below=self.folder)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ConfigError(f"cannot read {self.folder / name}: {_reason(err)}") from None
        if self.present:
            self.check(name, data)
        return data

    def _write(self) -> None:
        data = {"format": 1, "algorithm": "sha256", "files": dict(sorted(self.files.items()))}
        if self.pending:
            data["pending"] = dict(sorted(self.pending.items()))
        atomic_write_text(self.folder / MANIFEST_NAME, json.dumps(data, indent=1) + "\n", below=self.folder)
        self.present = True

    def write_tables(self, tables: Mapping[str, bytes]) -> None:
        """Write ``tables`` (name relative to the folder -> bytes) atomically, with their checksums."""
        self.pending = {name: sha256(data) for name, data in tables.items()}
        self._write()
        for name, data in tables.items():
            atomic_write_bytes(self.folder / name, data, below=self.folder)
        self.files.update(self.pending)
        self.pending = {}
        self._write()

    def adopt(self, name: str) -> None:
        """Take the checksum of the existing file ``name`` as it is, to be written with the next tables."""
        self.files[name] = sha256(read_bytes(self.folder / name, below=self.folder))

    def record(self, names: Iterable[str]) -> list[str]:
        """Record the checksums of the existing tables ``names`` as they are (a folder from before checksums)."""
        recorded = []
        for name in names:
            try:
                self.files[name] = sha256(read_bytes(self.folder / name, below=self.folder))
                recorded.append(name)
            except FileNotFoundError:
                continue
        self._write()
        return recorded


# ----------------------------------------------------------------------------- the folder


class ResultsStore:
    """A results folder of one kind (``kind``: 'escape' or 'sweep'), bound to one configuration.

    Subclasses say what identifies their configuration (:meth:`identity_differences`) and what their
    marker file holds (:meth:`marker`); :meth:`_open` does the rest: it refuses a foreign folder, one
    of another kind or configuration, takes the lock, writes the marker of a new folder, removes a
    killed run's temporaries and loads the checksums.  A complete folder that this process cannot
    write is opened read-only: with a shared lock when it has a lock file, no lock otherwise, nothing
    written.
    """

    kind: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()  # the tables of the top folder that carry checksums
    also_written: ClassVar[tuple[str, ...]] = ()  # other names written in the top folder (figures, folders)
    temporaries: ClassVar[tuple[str, ...]] = (".*.tmp",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock: FolderLock | None = None
        self.read_only = False
        self.created = False  # this run made the folder
        self._made: list[Path] = []  # the folders this run made (the results folder and missing parents)
        self.wrote_marker = False  # this run wrote the marker (and removes it again if it stores nothing)
        self.stored = False  # this run stored a table
        self.manifest = Manifest(self.path)
        self.notes: list[str] = []

    # -- what a subclass says
    def identity_differences(self, meta: Mapping[str, Any]) -> list[str]:
        """The parts of the configuration that differ from the stored marker ``meta``."""
        raise NotImplementedError

    def marker(self) -> dict[str, Any]:
        """The marker file's content for a new folder."""
        raise NotImplementedError

    def legacy_tables(self) -> list[str]:
        """The stored tables of a folder written before checksums (recorded as they are on first open)."""
        return [name for name in self.tables if (self.path / name).exists()]

    def holds_results(self) -> bool:
        """Whether anything beyond the marker is stored (a table, or a sweep's cell)."""
        return any(os.path.lexists(self.path / name) for name in self.tables)

    def written_names(self) -> tuple[str, ...]:
        """The names in the top folder that saddle writes: none of them may be a link."""
        return (LOCK_NAME, MARKERS[self.kind], MANIFEST_NAME, *self.tables, *self.also_written)

    # -- opening
    @staticmethod
    def checked_path(path: Any) -> Path:
        """``path`` as a Path; ConfigError for an empty one (``--out ''`` would mean the working directory)."""
        if path is None or not str(os.fspath(path)).strip():
            raise ConfigError("--out must name a folder, got an empty path")
        return Path(path)

    def _check_existing(self, meta: Mapping[str, Any]) -> None:
        differ = self.identity_differences(meta)
        if differ:
            # An edited marker is tampering, not another configuration: its checksum says which (one
            # line naming the file when it does not match; a folder from before checksums passes here).
            verify_marker(self.path, self.kind, Manifest.load(self.path), meta, holds_results=self.holds_results())
            raise ConfigError(
                f"{self.path} holds results of a different "
                f"{ {'escape': 'configuration'}.get(self.kind, self.kind) } "
                f"(differs in {', '.join(differ)}); choose another --out"
            )

    def _classify(self, *, create: bool) -> dict[str, Any] | None:
        """Refuse what cannot be used (nothing is written); the stored marker, or None for a new folder."""
        kind = folder_kind(self.path)
        for name in self.written_names():
            _refuse_if_link(self.path / name)
        if kind is not None and kind != self.kind:
            raise ConfigError(
                f"{self.path} holds the results of {KIND_WORDS[kind]} ({MARKERS[kind]}), not of "
                f"{KIND_WORDS[self.kind]}; choose another --out"
            )
        if kind is None:
            if not create:
                raise ConfigError(
                    f"{self.path} holds no {self.kind} results (no {MARKERS[self.kind]}); run the {self.kind} first"
                )
            return None
        meta = read_marker(self.path, self.kind)
        assert meta is not None
        self._check_existing(meta)
        return meta

    def _open(self, *, create: bool = True) -> ResultsStore:
        meta = self._classify(create=create)
        if not create:  # a reader (figures): no lock, nothing written
            self.read_only = True
            self.manifest = Manifest.load(self.path)
            assert meta is not None
            self.check_provenance(meta)
            return self
        made = [p for p in (self.path, *self.path.parents) if not p.exists()]  # the folders mkdir will make
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot write results to {str(self.path)!r}: {_reason(err)}") from None
        self.created = bool(made)
        self._made = made
        try:
            self.lock = FolderLock.take(self.path)
        except OSError as err:
            if meta is None or err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                self._undo_create()
                raise ConfigError(f"cannot write results to {str(self.path)!r}: {_reason(err)}") from None
            self._open_read_only()
            return self
        try:
            meta = self._classify(create=True)  # again, under the lock: another run may have made it meanwhile
            remove_stale_temporaries(self.path, self.temporaries)
            if meta is None:
                self.wrote_marker = True
                with interrupts_deferred():  # the marker, then its checksum (a kill between: see check_provenance)
                    marker = {**self.marker(), "store_format": STORE_FORMAT}
                    raw = (json.dumps(marker, indent=2) + "\n").encode("utf-8")
                    atomic_write_bytes(self.path / MARKERS[self.kind], raw, below=self.path)
                    self.manifest = Manifest(self.path)
                    self.manifest.record([MARKERS[self.kind]])
            else:
                self.manifest = Manifest.load(self.path)
                self.check_provenance(meta)
            self.verify_tables()
        except StoreError as err:
            self.close()
            raise ConfigError(f"cannot write results to {str(self.path)!r}: {err}") from None
        except BaseException:
            self.close()
            raise
        return self

    def _open_read_only(self) -> None:
        """A folder this process cannot write: read it (a shared lock if it has a lock file), write nothing."""
        self.read_only = True
        with contextlib.suppress(FileNotFoundError, PermissionError):
            self.lock = FolderLock.take(self.path, exclusive=False)
        try:
            meta = self._classify(create=False)
            assert meta is not None
            self.manifest = Manifest.load(self.path)
            self.check_provenance(meta)
            self.verify_tables()
        except BaseException:
            self.close()
            raise

    def check_provenance(self, meta: Mapping[str, Any]) -> None:
        """Check the marker against its checksum; adopt a folder from before checksums (and only such a one).

        - the manifest lists the marker: its bytes must match (ConfigError naming it otherwise);
        - the marker records ``"store_format"`` (this version wrote the folder) but the manifest is missing
          or does not list the marker: refused, naming the file, unless nothing is stored yet (a run
          killed between writing the marker and its checksum), when the marker's checksum is recorded;
        - the marker predates ``"store_format"``: the folder was written before saddle recorded the
          marker's checksum (and, without a manifest, before it recorded any): its checksums are recorded
          as the files are now, with one line saying so (read as it is, with that line, when read-only).

        ``meta`` is the marker as :meth:`_classify` parsed it; the bytes checked are read again and must
        parse to the same (ConfigError otherwise: the marker changed meanwhile).
        """
        name, manifest = MARKERS[self.kind], self.manifest
        if verify_marker(self.path, self.kind, manifest, meta, holds_results=self.holds_results()):
            return
        if writes_checksums(meta):  # nothing stored yet: a run killed between the marker and its checksum
            if not self.read_only:
                manifest.record([name])
            return
        had_manifest = manifest.present  # without one: written before saddle recorded any checksum
        legacy = [] if had_manifest else self.legacy_tables()
        what = f"the checksum of its {name}" if had_manifest else "checksums"
        if self.read_only:
            if had_manifest or legacy:
                self._note(
                    f"note: {self.path} was written before saddle recorded {what} and is read-only; read as it is"
                )
            return
        if had_manifest or legacy:
            manifest.record([name, *legacy])
        else:  # its checksum is written with the first tables (a sweep rebuilds its tables from its cells)
            manifest.adopt(name)
        if had_manifest:
            self._note(f"note: {self.path} was written before saddle recorded {what}; recorded it as it is now")
        elif legacy:
            self._note(
                f"note: {self.path} was written before saddle recorded checksums; recorded them "
                f"for its {len(legacy)} stored table{'s' * (len(legacy) != 1)} as they are now"
            )

    def verify_tables(self) -> None:
        """Check every stored table of the top folder against its checksum (ConfigError naming a mismatch)."""
        for name in self.tables:
            self.manifest.read(name)

    def _note(self, message: str) -> None:
        self.notes.append(message)
        LOG.warning(message)

    def require_writable(self, what: str) -> None:
        """ConfigError when the folder was opened read-only and ``what`` still needs storing."""
        if self.read_only:
            raise ConfigError(
                f"cannot write results to {str(self.path)!r} (not writable here), and {what}; "
                "make it writable or choose another --out"
            )

    def _undo_create(self) -> None:
        """Remove what this run wrote into a new folder if it stored nothing there (a refused or failed run
        leaves no trace): the marker, the lock file and the folder itself when this run made it."""
        if self.stored or not (self.created or self.wrote_marker):
            return
        names = (LOCK_NAME, MARKERS[self.kind], MANIFEST_NAME) if self.wrote_marker else (LOCK_NAME,)
        for name in names:
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        if self.created:
            with contextlib.suppress(OSError):
                for folder in self._made:  # innermost first; each only if empty
                    folder.rmdir()
        self.created = self.wrote_marker = False

    def close(self) -> None:
        """Release the lock; a folder this run created and stored nothing in is removed."""
        try:
            self._undo_create()
        finally:
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
