"""A sweep's results folder: each cell's files, the tidy tables of all cells, on the shared results folder.

The folder (docs/sweeps.md)::

    sweep.json              the sweep (seed, grid, fixed, plot), the cells' keys, seeds and parameters
    cells/<key>/trials.csv  the cell's trials   (the escape command's columns)
    cells/<key>/summary.csv the cell's summary  (the escape command's columns)
    cells/<key>/cell.json   the cell's configuration, seed and the SHA-256 of its two tables: written
                            last, it marks the cell as stored
    trials.csv, summary.csv the tidy tables of all stored cells: cell, one column per swept parameter,
                            then the escape columns (the step size used is ``eta_m``)
    checksums.json          the SHA-256 of sweep.json and of the tidy tables (and of cells stored before
                            checksums)
    .saddle.lock            the lock a running sweep holds
    sweep-heatmap.*, sweep-lines.*   the figures

Every file is written atomically, never through a link, and every table is checked against its
checksum when read (:mod:`saddle.store.folder`); a cell's ``cell.json`` is checked against the sweep
(its key, seed and options), which ``sweep.json``'s checksum covers.  Rerunning the same sweep skips
the stored cells; a different sweep (seed, grid or fixed options) is refused.  :class:`SweepResult`
is a sweep's folder as ``run_sweep`` returns it and :func:`load_sweep` reads it back.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from saddle import rng
from saddle.options import ConfigError
from saddle.records import TRIAL_COLUMNS, MResult, _pandas, escape_table, summary_html, trials_columns, trials_frame
from saddle.store.folder import (
    MANIFEST_NAME,
    MARKERS,
    Manifest,
    ResultsStore,
    StoreError,
    atomic_write_text,
    csv_text,
    differences,
    interrupts_deferred,
    make_folders,
    read_bytes,
    read_marker,
    sha256,
    verify_marker,
    versions,
    writes_checksums,
)
from saddle.sweep.config import KEY_ALWAYS, KEY_DIGITS, KEY_EXCLUDED, Cell, SweepConfig, _text, cell_options

__all__ = ["CELL_TABLES", "RENAMED", "SweepFolder", "SweepResult", "cell_files", "load_sweep", "read_table"]

CELL_TABLES = ("trials.csv", "summary.csv")
RENAMED = {"eta": "eta_m"}  # escape columns renamed in the tidy tables (eta is the step size used there)


def cell_files(cell: Cell, mres: MResult, row: Mapping[str, Any]) -> tuple[str, str]:
    """The texts of a cell's trials.csv and summary.csv (the escape command's columns and formats)."""
    cols = trials_columns([mres])
    trials = csv_text(TRIAL_COLUMNS, zip(*(cols[c].tolist() for c in TRIAL_COLUMNS)))
    keys = list(row)
    return trials, csv_text(keys, [[row[k] for k in keys]])


class _Tidy:
    """The tidy tables, built from the cells' own CSV texts (so fresh and resumed runs agree byte for byte).

    A swept parameter's column replaces the escape column of the same name (``m``, ``trials``), except
    ``eta``: the escape files' ``eta`` is the step size used, kept as ``eta_m`` beside the swept ``eta``
    (the configured step size at m = 1).  Cells stored by another version of saddle may have other
    escape columns (later versions add columns): a table's header is then the union of the cells'
    columns, in order of first appearance, and a cell leaves the columns it lacks empty.
    """

    def __init__(self, swept: list[str]) -> None:
        self.swept = swept
        self.chunks: dict[int, dict[str, tuple[list[str], str]]] = {}  # cell index -> {table: (columns, body)}

    def add(self, cell: Cell, texts: Mapping[str, str]) -> None:
        chunk = {}
        for table, text in texts.items():
            rows = list(csv.reader(io.StringIO(text)))
            head, body = rows[0], rows[1:]
            keep = [i for i, c in enumerate(head) if c not in self.swept or c in RENAMED]
            columns = ["cell", *self.swept, *(RENAMED.get(head[i], head[i]) for i in keep)]
            prefix = [cell.key, *(_text(cell.params[k]) for k in self.swept)]
            chunk[table] = (columns, csv_text(None, ([*prefix, *(r[i] for i in keep)] for r in body)))
        self.chunks[cell.index] = chunk

    def text(self, table: str) -> str:
        parts = [self.chunks[i][table] for i in sorted(self.chunks)]
        header: list[str] = []
        for columns, _ in parts:
            header += [c for c in columns if c not in header]
        out = [csv_text(header, [])]
        for columns, text in parts:
            if columns == header:
                out.append(text)
            else:  # a cell of another version: its values under the union header, blanks elsewhere
                where = [columns.index(c) if c in columns else None for c in header]
                rows = ([r[j] if j is not None else "" for j in where] for r in csv.reader(io.StringIO(text)))
                out.append(csv_text(None, rows))
        return "".join(out)


class SweepFolder(ResultsStore):
    """The results folder of one sweep (layout: the module docstring and docs/sweeps.md)."""

    kind = "sweep"
    tables: ClassVar[tuple[str, ...]] = ("trials.csv", "summary.csv")
    also_written = ("cells", *(f"sweep-{f}.{e}" for f in ("heatmap", "lines") for e in ("pdf", "png")))
    temporaries = (".*.tmp", "cells/*/.*.tmp")

    def __init__(self, path: str | Path, sweep: SweepConfig) -> None:
        super().__init__(path)
        self.sweep = sweep
        self.tidy = _Tidy(sweep.swept())
        self._trials_cost = 0.0
        self._trials_at = -math.inf
        self._legacy: list[str] = []  # tables of cells stored before checksums, to record in the manifest
        self._writes: bool | None = None  # the marker says saddle wrote the folder with checksums

    @classmethod
    def open(cls, path: str | Path, sweep: SweepConfig, *, create: bool = True) -> SweepFolder:
        """Open the folder of ``sweep``, holding its lock until :meth:`close`; with ``create`` False, only to read.

        Refuses (ConfigError, one line, before anything is written) a folder that another run is
        writing, that holds files that are not saddle results or an escape run's results, or the
        results of a different sweep; and, without ``create``, a folder that holds no sweep.
        """
        self = cls(cls.checked_path(path), sweep)
        self._open(create=create)
        return self

    def identity_differences(self, meta: Mapping[str, Any]) -> list[str]:
        try:
            old = {"seed": meta["sweep"]["seed"], "grid": meta["grid"], "fixed": meta["fixed"]}
            if not isinstance(old["fixed"], dict):
                raise TypeError
        except (KeyError, TypeError):
            raise ConfigError(f"{self.path / 'sweep.json'} is not a saddle sweep.json; choose another --out") from None
        new = json.loads(json.dumps(self.sweep.identity()))
        differ = ["seed"] if old["seed"] != new["seed"] else []
        for table in ("grid", "fixed"):
            differ += differences(old[table], new[table], prefix=table, ordered=True)
        return differ

    def holds_results(self) -> bool:
        cells = self.path / "cells"
        return super().holds_results() or (cells.is_dir() and any(cells.iterdir()))

    def legacy_tables(self) -> list[str]:
        return []  # the tidy tables are rebuilt from the cells at every run; cells are handled by load()

    def marker(self) -> dict[str, Any]:
        return {
            "command": "sweep",
            **self.sweep.to_json(),
            "cell_key": "sha256 of the canonical JSON (sorted keys, no spaces) of the cell's options: "
            f"EscapeConfig.to_dict() without {', '.join(KEY_EXCLUDED)}, keeping {', '.join(KEY_ALWAYS)} "
            f"and every other option that differs from its default; first {KEY_DIGITS} hex digits",
            "cell_seed": "SeedSequence(seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16)))"
            ".generate_state(1, uint64)[0]",
            "random_streams": f"per cell, seed = the cell seed: {rng.STREAM_LAYOUT}",
            "cells": [{"key": c.key, "seed": c.seed, "params": c.params} for c in self.sweep.cells()],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
        }

    def cell_dir(self, cell: Cell) -> Path:
        return self.path / "cells" / cell.key

    def load(self, cell: Cell) -> bool:
        """Read back a stored cell into the tidy tables; False when the cell is not stored.

        Its tables are checked against the checksums in its cell.json (a cell stored before checksums:
        against checksums.json, where its checksums are recorded on first reading).  ConfigError (one
        line naming the file) when a table does not match or the cell is damaged otherwise.
        """
        folder = self.cell_dir(cell)
        rel = f"cells/{cell.key}"
        try:
            try:  # never through a link: cells/, cells/<key>/ and the files in it
                meta_bytes = read_bytes(folder / "cell.json", below=self.path)
            except (FileNotFoundError, NotADirectoryError):
                return False
            meta = json.loads(meta_bytes)
            raw = {t: read_bytes(folder / t, below=self.path) for t in CELL_TABLES}
            sums = meta.get("sha256")
            if isinstance(sums, dict):
                for name, data in raw.items():
                    if sums.get(name) != sha256(data):
                        raise ConfigError(
                            f"{folder / name} does not match its checksum in {folder / 'cell.json'}: "
                            "it was changed after saddle wrote it; restore it, or delete "
                            f"{folder} to recompute the cell"
                        )
            elif any(self.manifest.accepted(f"{rel}/{name}") for name in raw):
                for name, data in raw.items():
                    self.manifest.check(f"{rel}/{name}", data)
            elif self._marker_writes_checksums():  # a folder this saddle's format wrote: a cell without its
                raise ConfigError(  # checksums is a cell.json edited after saddle wrote it
                    f"{folder / 'cell.json'} has no checksums, though {MARKERS[self.kind]} says saddle wrote this "
                    f"folder with them: it was changed after saddle wrote it; delete {folder} to recompute the cell"
                )
            else:  # stored before checksums
                self._legacy += [f"{rel}/{name}" for name in raw]
            texts = {t.removesuffix(".csv"): data.decode("utf-8") for t, data in raw.items()}
            if (
                meta["key"] != cell.key
                or meta["seed"] != cell.seed
                or meta["options"] != json.loads(json.dumps(cell_options(cell.config)))
            ):
                raise ValueError("its cell.json holds another configuration")
            n_trials = texts["trials"].count("\n") - 1
            if n_trials != cell.config.trials or texts["summary"].count("\n") != 2:
                raise ValueError(f"{n_trials} trials stored, {cell.config.trials} expected")
        except ConfigError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(
                f"the stored cell {folder} is damaged ({reason}); delete that folder to recompute the cell"
            ) from None
        self.loaded(cell, texts)
        return True

    def _marker_writes_checksums(self) -> bool:
        """Whether the folder's marker says that saddle wrote it with checksums (every cell.json then has them)."""
        if self._writes is None:
            meta = read_marker(self.path, self.kind)
            self._writes = meta is not None and writes_checksums(meta)
        return self._writes

    def loaded(self, cell: Cell, texts: Mapping[str, str]) -> None:
        """A stored or just-stored cell's texts (``{"trials": ..., "summary": ...}``) join the tidy tables."""
        self.tidy.add(cell, texts)

    def cell_texts(self, cell: Cell, mres: MResult, row: Mapping[str, Any]) -> tuple[str, str]:
        """The texts of a cell's trials.csv and summary.csv (:func:`cell_files`)."""
        return cell_files(cell, mres, row)

    def record_legacy(self) -> None:
        """Record the checksums of the cells stored before checksums (one line says so), when writable."""
        if not self._legacy:
            return
        n_cells = len(self._legacy) // len(CELL_TABLES)
        if self.read_only:
            self._note(
                f"note: {n_cells} cell{'s' * (n_cells != 1)} in {self.path} were stored before saddle "
                "recorded checksums; read as they are (the folder is not writable here)"
            )
        else:
            self.manifest.record(self._legacy)
            self._note(
                f"note: {n_cells} cell{'s' * (n_cells != 1)} in {self.path} were stored before saddle "
                f"recorded checksums; recorded them in {MANIFEST_NAME} as they are now"
            )
        self._legacy = []

    def store(self, cell: Cell, mres: MResult, row: Mapping[str, Any]) -> None:
        """Store a finished cell: its files (cell.json, with their checksums, last), then the tidy tables.

        Ctrl-C is held meanwhile.  Raises :class:`StoreError` (one line: the file, the reason, what
        stays stored) when the machine refuses a write.
        """
        self.require_writable("cells are still to be run")
        trials, summary = self.cell_texts(cell, mres, row)
        folder = self.cell_dir(cell)
        with interrupts_deferred():
            try:
                try:
                    make_folders(folder, self.path)
                except OSError as err:
                    raise StoreError(f"cannot create {folder}: {err.strerror or err}", err.errno) from None
                atomic_write_text(folder / "trials.csv", trials, below=self.path)
                atomic_write_text(folder / "summary.csv", summary, below=self.path)
                meta = {
                    "key": cell.key,
                    "seed": cell.seed,
                    "params": cell.params,
                    "options": cell_options(cell.config),
                    "config": cell.config.to_dict(),
                    "stored": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "sha256": {
                        "trials.csv": sha256(trials.encode("utf-8")),
                        "summary.csv": sha256(summary.encode("utf-8")),
                    },
                }
                atomic_write_text(folder / "cell.json", json.dumps(meta, indent=2) + "\n", below=self.path)
            except StoreError as err:
                n = len(self.tidy.chunks)
                raise StoreError(
                    f"{err}; the cell {cell.label()} is not stored, the {n} cell{'s' * (n != 1)} "
                    f"stored before stay{'s' * (n == 1)} in {self.path}",
                    err.errno_,
                ) from None
            self.stored = True
            self.loaded(cell, {"trials": trials, "summary": summary})
            self.write_tables(all_trials=False)

    def write_tables(self, all_trials: bool = True) -> None:
        """Rewrite summary.csv, and trials.csv when ``all_trials`` or when that is cheap (with their checksums).

        trials.csv grows with every cell; rewriting it after each one would cost
        time quadratic in the number of cells, so between cells it is rewritten
        only when at least ten times its last write time has passed.  It is
        always rewritten when a run ends (also on Ctrl-C) and at the start of a run.
        """
        if not self.tidy.chunks or self.read_only:
            return
        with interrupts_deferred():
            now = time.perf_counter()
            tables = {"summary.csv": self.tidy.text("summary").encode("utf-8")}
            if all_trials or now - self._trials_at >= 10 * self._trials_cost:
                tables["trials.csv"] = self.tidy.text("trials").encode("utf-8")
            try:
                self.manifest.write_tables(tables)
            except StoreError as err:
                raise StoreError(
                    f"{err}; every stored cell ({len(self.tidy.chunks)}) stays in {self.path / 'cells'}, "
                    "and the next run rebuilds the tables",
                    err.errno_,
                ) from None
            self.stored = True
            if "trials.csv" in tables:
                self._trials_at = time.perf_counter()
                self._trials_cost = self._trials_at - now


# ----------------------------------------------------------------------------- reading the tidy tables


def _typed(values: list[str]) -> np.ndarray:
    """A CSV column as int, float or bool array when every value parses, else as strings."""
    for convert, dtype in ((int, np.int64), (float, np.float64)):
        try:
            return np.array([convert(v) for v in values], dtype=dtype)
        except ValueError:
            pass
    if values and all(v in ("True", "False") for v in values):
        return np.array([v == "True" for v in values])
    return np.array(values, dtype=object)


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """A tidy table (trials.csv or summary.csv of a sweep) as {column: typed array}.

    When the table's folder has a checksums.json (every folder saddle writes), the table is checked
    against it first: ConfigError (one line naming the file) when it does not match, or when the
    folder's sweep.json says saddle recorded checksums there and the manifest is missing or does not
    match.  The table is never read through a link.
    """
    path = Path(path)
    manifest = Manifest.load(path.parent)
    meta = read_marker(path.parent, "sweep")
    if meta is not None:
        verify_marker(path.parent, "sweep", manifest, meta)
    data = manifest.read(path.name) if manifest.present else None
    if data is None:
        try:
            data = read_bytes(path)
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        raise ConfigError(f"{path} is empty")
    head, body = rows[0], rows[1:]
    return {c: _typed([r[i] for r in body]) for i, c in enumerate(head)}


# ----------------------------------------------------------------------------- reading a folder back


@dataclass
class SweepResult:
    """What a sweep run did: its folder, its cells, which were computed now and which read back.

    ``repr`` gives one line (name, grid, objective, trials per cell, folder); a notebook shows the summary
    table, one row per stored cell (its swept parameters, the median steps with their 95% interval).
    """

    sweep: SweepConfig
    out: Path
    computed: list[str]  # keys of the cells run by this call, in the order they finished
    reused: list[str]  # keys of the cells read back from the folder

    @property
    def summary(self) -> dict[str, np.ndarray]:
        """The tidy summary table (columns as typed arrays), checked against its checksum."""
        return read_table(self.out / "summary.csv")

    def trials(self) -> dict[str, np.ndarray]:
        """The tidy trials table (columns as typed arrays)."""
        return read_table(self.out / "trials.csv")

    def to_pandas(self) -> tuple[Any, Any]:
        """(trials, summary) as pandas DataFrames: the tidy tables (``cell``, one column per swept
        parameter, then the escape columns, the step size used as ``eta_m``), one row per trial and one
        per cell.  In ``trials``, ``status`` holds names ('escaped', 'censored', 'diverged', 'frozen') and
        ``censored`` is True where a trial had not escaped after max_steps (its ``steps`` is then a lower
        bound, not an escape time).  Both are checked against their checksums first.

        Needs pandas (``pip install 'saddle[pandas]'``); without it an ImportError says so in one line.
        """
        pd = _pandas()
        return trials_frame(self.trials()), pd.DataFrame(self.summary)

    def __repr__(self) -> str:
        cells = self.sweep.cells()
        grid = " x ".join(f"{k} ({len(v)})" for k, v in self.sweep.grid.items()) or "a single cell"
        objectives = ", ".join(sorted({c.config.objective for c in cells}))
        trials = sorted({c.config.trials for c in cells})
        per_cell = f"{trials[0]} trials per cell" if len(trials) == 1 else "trials swept"
        return (
            f"SweepResult({self.sweep.name!r}: {len(cells)} cells, {grid}; {objectives}; {per_cell}; "
            f"{len(self.computed)} run now, {len(self.reused)} read back; in {self.out})"
        )

    def _repr_html_(self) -> str:
        caption = f"sweep {self.sweep.name!r}, stored in {self.out}"
        try:
            table = self.summary
        except (ConfigError, OSError) as err:  # (a folder moved or edited since: say so, in the table's place)
            return summary_html(caption, [], [], [str(err)])
        n = len(next(iter(table.values()), []))
        rows = [{k: v[i] for k, v in table.items()} for i in range(n)]
        lead = [k for k in self.sweep.swept() if k != "m"]
        draws = all(c.config.optimizer_class.minibatch for c in self.sweep.cells())
        footnotes = {c.config.objective_class.theory_footnote for c in self.sweep.cells()}
        head, body, notes = escape_table(rows, draws, footnotes.pop() if len(footnotes) == 1 else "", lead=lead)
        return summary_html(f"{caption}; one row per stored cell", head, body, notes)


def load_sweep(path: str | Path) -> SweepResult:
    """A sweep's folder read back, read-only, as the :class:`SweepResult` of ``run_sweep``.

    The sweep is rebuilt from ``sweep.json`` (no TOML file needed); every stored cell and the tidy tables
    are checked against their checksums.  ``reused`` lists the stored cells, ``computed`` is empty.
    Raises ConfigError (one line) for a folder that holds no sweep or a damaged one.
    """
    folder_path = Path(path)
    marker = folder_path / "sweep.json"
    try:
        meta = json.loads(read_bytes(marker))
        tables = {name: meta[name] for name in ("sweep", "grid", "fixed") if name in meta}
        tables["sweep"] = {k: v for k, v in tables.get("sweep", {}).items() if k in ("name", "seed", "description")}
        tables["plot"] = meta.get("plot") or {}
    except FileNotFoundError:
        raise ConfigError(f"{folder_path} holds no sweep results (no sweep.json)") from None
    except (OSError, ValueError, TypeError, AttributeError):
        raise ConfigError(f"{marker} is not a saddle sweep.json") from None
    sweep = SweepConfig.from_dict(tables, source=str(marker))
    folder = SweepFolder.open(folder_path, sweep, create=False)
    folder.verify_tables()
    reused = [cell.key for cell in sweep.cells() if folder.load(cell)]
    return SweepResult(sweep, folder_path, computed=[], reused=reused)
