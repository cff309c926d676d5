"""Results folders: written atomically, checksummed, locked while a run writes, read back.

One module per job, each below the code that runs experiments (none of them imports it):

- :mod:`saddle.store.folder` — what every folder shares: the lock, the checksum manifest, atomic
  writes that follow no link, what a folder holds (:func:`folder_kind`), :class:`StoreError` and
  :class:`LinkError`;
- :mod:`saddle.store.escape` — an escape run's folder (:class:`~saddle.store.escape.ResultsFolder`),
  read back as an :class:`~saddle.records.EscapeResult`;
- :mod:`saddle.store.sweep` — a sweep's folder (:class:`~saddle.store.sweep.SweepFolder`), its tidy
  tables and :class:`~saddle.store.sweep.SweepResult`;
- :mod:`saddle.store.load` — :func:`saddle.load`: a folder of either kind read back;
- :mod:`saddle.store.runs` — a run's name, tags and note (``run.json``) and the runs found under a
  folder (``list DIR``).

This file re-exports :mod:`saddle.store.folder` only, so that ``from saddle.store import StoreError``
stays as light as that module (no Numba, no SciPy).  docs/escape.md ("The results folder") and
docs/sweeps.md say what a folder guarantees.
"""

from saddle.store.folder import (
    LOCK_NAME,
    MANIFEST_NAME,
    STORE_FORMAT,
    FolderLock,
    LinkError,
    Manifest,
    ResultsStore,
    StoreError,
    atomic_write_bytes,
    atomic_write_text,
    csv_text,
    differences,
    folder_kind,
    interrupts_deferred,
    sha256,
    versions,
)

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "STORE_FORMAT",
    "FolderLock",
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
    "sha256",
    "versions",
]
