"""A frontier's results folder: every cell the search ran, its tables and figures (docs/frontier.md).

The folder::

    frontier.json           the frontier (escape options, target, search, success rule, seed)
    cells/<key>/...         each cell (m, eta) as a sweep stores it (trials.csv with each trial's step of
                            the f-drop, ``drop_steps``, beside its step of the target, ``steps``)
    trials.csv, summary.csv the tidy tables of all cells (cell, m, eta, then the escape columns)
    tuning.csv              one row per cell: the tuning curves
    frontier.csv            one row per batch size at its tuned step size
    fit.json                the fitted model, its intervals, the best batch sizes, the noise scale
    checksums.json          the SHA-256 of the marker and of every table
    frontier.*              the figures

Cells are stored as they finish, named by their configuration (a key, as a sweep's): a rerun of the same
frontier, or of one with more batch sizes, reads back every stored cell instead of running it again, so
an interrupted search resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from saddle import rng
from saddle.frontier.config import FrontierConfig
from saddle.frontier.result import FrontierResult
from saddle.options import ConfigError
from saddle.records import TRIAL_COLUMNS, MResult, trials_columns
from saddle.store.folder import (
    Manifest,
    ResultsStore,
    csv_text,
    differences,
    interrupts_deferred,
    read_bytes,
    versions,
)
from saddle.store.sweep import SweepFolder, _Tidy, read_table
from saddle.sweep.config import Cell

__all__ = ["FRONTIER_TABLES", "CellRecord", "FrontierFolder", "load_frontier", "read_frontier_tables"]

FRONTIER_TABLES = ("tuning.csv", "frontier.csv", "fit.json")
FRONTIER_TRIAL_COLUMNS = (*TRIAL_COLUMNS, "drop_steps")


@dataclass
class CellRecord:
    """One cell's trials as the frontier uses them (fresh or read back)."""

    steps: np.ndarray
    status: np.ndarray  # names: 'escaped' (reached the target), 'censored', 'diverged', 'frozen'
    drop_steps: np.ndarray
    samples: np.ndarray
    row: dict[str, str]  # the summary row as stored (text)


def _record(texts: Mapping[str, str]) -> CellRecord:
    rows = list(csv.DictReader(io.StringIO(texts["trials"])))
    summary = next(csv.DictReader(io.StringIO(texts["summary"])))
    return CellRecord(
        steps=np.array([int(r["steps"]) for r in rows], np.int64),
        status=np.array([r["status"] for r in rows]),
        drop_steps=np.array([int(r.get("drop_steps") or 0) for r in rows], np.int64),
        samples=np.array([int(r["samples"]) for r in rows], np.int64),
        row=dict(summary),
    )


def _without_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    """Escape options less those at their default: an option that a later saddle adds (at its default,
    changing no number) leaves a stored frontier's identity as it was, as it leaves a sweep's cell keys."""
    from saddle.config import EscapeConfig

    defaults = json.loads(json.dumps(EscapeConfig.defaults()))
    return {k: v for k, v in options.items() if k not in defaults or v != defaults[k]}


class FrontierFolder(SweepFolder):
    """The results folder of one frontier (layout: the module docstring)."""

    kind = "frontier"
    tables = ("trials.csv", "summary.csv", *FRONTIER_TABLES)
    also_written = ("cells", *(f"frontier.{e}" for e in ("pdf", "png")))

    def __init__(self, path: str | Path, frontier: FrontierConfig) -> None:  # noqa: D107
        ResultsStore.__init__(self, path)  # not SweepFolder's: a frontier has no SweepConfig
        self.frontier = frontier
        self.tidy = _Tidy(["m", "eta"])
        self._trials_cost = 0.0
        self._trials_at = -float("inf")
        self._legacy: list[str] = []
        self._writes: bool | None = None
        self.records: dict[str, CellRecord] = {}
        self.extra_tables: dict[str, bytes] = {}

    @classmethod
    def open_frontier(cls, path: str | Path, frontier: FrontierConfig, *, create: bool = True) -> FrontierFolder:
        """Open the folder of ``frontier`` (holding its lock until :meth:`close`); refuses, in one line and
        before anything is written, a folder another run holds, one of another kind or another frontier."""
        self = cls(cls.checked_path(path), frontier)
        self._open(create=create)
        return self

    def identity_differences(self, meta: Mapping[str, Any]) -> list[str]:
        try:
            old = meta["frontier"]
            if not isinstance(old, dict):
                raise TypeError
        except (KeyError, TypeError):
            raise ConfigError(
                f"{self.path / 'frontier.json'} is not a saddle frontier.json; choose another --out"
            ) from None
        new = json.loads(json.dumps(self.frontier.identity()))
        if isinstance(old.get("escape"), dict) and isinstance(new.get("escape"), dict):
            old = {**old, "escape": _without_defaults(old["escape"])}
            new = {**new, "escape": _without_defaults(new["escape"])}
        return differences(old, new, prefix="frontier")

    def marker(self) -> dict[str, Any]:
        return {
            "command": "frontier",
            "frontier": self.frontier.identity(),
            "m": list(self.frontier.ms),
            "f0": self.frontier.f0,
            "f_min": self.frontier.f_min,
            "cell_seed": "SeedSequence(seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16)))"
            ".generate_state(1, uint64)[0], key as a sweep's cell key",
            "random_streams": f"per cell, seed = the cell seed: {rng.STREAM_LAYOUT}",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
        }

    def holds_results(self) -> bool:
        return SweepFolder.holds_results(self)

    def loaded(self, cell: Cell, texts: Mapping[str, str]) -> None:
        super().loaded(cell, texts)
        try:
            self.records[cell.key] = _record(texts)
        except (KeyError, ValueError, StopIteration) as err:
            raise ConfigError(
                f"the stored cell {self.cell_dir(cell)} is damaged ({err or type(err).__name__}); "
                "delete that folder to recompute the cell"
            ) from None

    def cell_texts(self, cell: Cell, mres: MResult, row: Mapping[str, Any]) -> tuple[str, str]:
        cols = trials_columns([mres])
        cols["drop_steps"] = mres.drop_steps if mres.drop_steps is not None else np.zeros(mres.steps.size, np.int64)
        trials = csv_text(FRONTIER_TRIAL_COLUMNS, zip(*(np.asarray(cols[c]).tolist() for c in FRONTIER_TRIAL_COLUMNS)))
        keys = list(row)
        return trials, csv_text(keys, [[row[k] for k in keys]])

    def set_results(self, tables: Mapping[str, bytes]) -> None:
        """The frontier's own tables (tuning.csv, frontier.csv, fit.json), written with the tidy tables."""
        self.extra_tables = dict(tables)

    def write_tables(self, all_trials: bool = True) -> None:
        super().write_tables(all_trials)
        if self.extra_tables and not self.read_only:
            with interrupts_deferred():
                self.manifest.write_tables(self.extra_tables)
            self.stored = True


def read_frontier_tables(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(tuning, frontier, fit) of a frontier's folder, each checked against its checksum."""
    path = Path(path)
    tuning = read_table(path / "tuning.csv")
    frontier = read_table(path / "frontier.csv")
    manifest = Manifest.load(path)
    raw = manifest.read("fit.json") if manifest.present else None
    if raw is None:
        raw = read_bytes(path / "fit.json")
    return tuning, frontier, json.loads(raw)


def load_frontier(path: str | Path) -> FrontierResult:
    """A frontier's folder read back, read-only, checksums verified (its tables and every cell's files and
    cell.json, as a rerun checks them), as the :class:`FrontierResult` of ``run_frontier`` (its tables, fit,
    noise scale and theory; the cells' trials stay in the folder).

    Raises ConfigError (one line) for a folder that holds no frontier, a damaged one, or one whose
    tables were not written yet (a search that was interrupted: rerun it to finish).
    """
    from saddle.config import EscapeConfig

    folder_path = Path(path)
    marker = folder_path / "frontier.json"
    try:
        meta = json.loads(read_bytes(marker))
        identity = meta["frontier"]
        escape = EscapeConfig(**{**identity["escape"], "m": tuple(meta["m"])})
        frontier = FrontierConfig(
            escape,
            target_fraction=identity["target_fraction"] if escape.target is None else None,
            eta_min=identity["eta_min"],
            eta_max=identity["eta_max"],
            success=identity["success"],
            max_cells=identity["max_cells"],
        )
    except FileNotFoundError:
        raise ConfigError(f"{folder_path} holds no frontier results (no frontier.json)") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise ConfigError(f"{marker} is not a saddle frontier.json") from None
    store = FrontierFolder.open_frontier(folder_path, frontier, create=False)
    try:
        if not all(store.manifest.accepted(name) for name in FRONTIER_TABLES):
            raise ConfigError(
                f"{folder_path} holds no finished frontier (no {', '.join(FRONTIER_TABLES)} yet): "
                "run the same frontier again to finish it"
            )
        store.verify_tables()
        tuning, table, fit = read_frontier_tables(folder_path)
        for m, k, key in zip(tuning["m"], tuning["k"], tuning["cell"]):  # every cell: its files, checksums, config
            cell = frontier.cell(int(m), int(k))
            if cell.key != str(key) or not store.load(cell):
                raise ConfigError(
                    f"the cell {store.cell_dir(cell)} (m = {int(m)}, eta = {cell.config.eta:.4g}) that tuning.csv "
                    "lists is missing or is another cell; rerun the frontier to recompute it"
                )
    finally:
        store.close()
    noise = fit.pop("noise", None)
    theory = fit.pop("theory", None)
    if noise is not None:
        noise = {k: (np.asarray(v, float) if isinstance(v, list) else v) for k, v in noise.items()}
    if theory is not None:
        theory = {k: np.asarray(v, float) for k, v in theory.items()}
    for name in ("edge", "regime"):
        if name in table and table[name].dtype != object:
            table[name] = table[name].astype(object)
    return FrontierResult(
        frontier, tuning, table, fit, noise=noise, theory=theory, out=folder_path, notes=fit.get("notes", [])
    )
