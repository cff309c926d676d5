"""The results folder of an escape experiment: written atomically, checksummed, read back to resume.

The folder holds (a contract that later versions extend, never break):

- ``config.json``: every option, the seed, package and library versions, threads, ``"store_format"``
  (the folder's marker: ``"command": "escape"``);
- ``trials.csv``: one row per trial, ``m,eta,trial,steps,samples,status,final_f`` (and
  ``drop_steps`` with a batch-size schedule: each trial's first f-drop step);
- ``summary.csv``: one row per batch size (see saddle.escape.summary_row);
- ``trajectories.npz``: f(u_t) of the recorded trials, for the figure;
- ``checksums.json``: the SHA-256 of config.json and of the three tables, checked on every read (a
  reader's too);
- ``.saddle.lock``: the lock a run holds while it writes (its pid, host and command line);
- ``escape.pdf`` / ``escape.png``: the figure (written by the CLI).

Every file is written to a temporary name in the same folder and moved into place with os.replace,
so a partial file never stands under its final name.  After each batch size finishes, the three data
files are rewritten with all batch sizes finished so far.  What the folder refuses (another run
holding it, foreign files, a sweep's folder, another configuration, an edited table) and how is
:mod:`saddle.store.folder`'s, shared with sweep folders.  :func:`load_escape` reads a folder back as the
:class:`~saddle.records.EscapeResult` that ``run_escape`` returned.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from saddle import rng
from saddle.config import EscapeConfig
from saddle.kernels import STATUS_NAMES
from saddle.options import ConfigError
from saddle.records import TRIAL_COLUMNS, EscapeResult, MResult, trials_columns
from saddle.store.folder import (
    ResultsStore,
    StoreError,
    csv_text,
    differences,
    interrupts_deferred,
    read_bytes,
    versions,
)
from saddle.theory.columns import saddle_theory

__all__ = ["ResultsFolder", "load_escape", "read_summary", "stored_config"]

_STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
TABLES = ("trials.csv", "summary.csv", "trajectories.npz")


class ResultsFolder(ResultsStore):
    """The results folder of one escape configuration (see the module docstring)."""

    kind = "escape"
    tables = TABLES
    also_written = ("escape.pdf", "escape.png")

    def __init__(self, path: str | Path, config: EscapeConfig, backend: str = "cpu") -> None:
        super().__init__(path)
        self.config = config
        self.backend = backend
        self._stored_m: list[int] = []  # the batch sizes stored in the folder, as far as this run knows

    @classmethod
    def open(cls, path: str | Path, config: EscapeConfig, backend: str = "cpu") -> ResultsFolder:
        """Create (or reopen, for the same configuration) a results folder, holding its lock until :meth:`close`.

        Raises ConfigError with a one-line message, before anything is written, when the folder is being
        written by another run, holds files that are not saddle results or a sweep's results, or holds
        results of a different configuration; and when it cannot be written (a complete folder that
        cannot be written is opened read-only instead).
        """
        self = cls(cls.checked_path(path), config, backend)
        self._open()
        return self

    def identity_differences(self, meta: Any) -> list[str]:
        old = meta["config"]
        return differences(old, self.config.to_dict(), defaults=self.config.defaults())

    def marker(self) -> dict[str, Any]:
        import numba

        return {
            "command": "escape",
            "config": self.config.to_dict(),
            "seed": self.config.seed,
            "threads": numba.get_num_threads(),
            "backend": self.backend,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "random_streams": rng.STREAM_LAYOUT,
            "versions": versions(),
        }

    def save(self, mresults: Sequence[MResult], summary_rows: Sequence[dict[str, Any]]) -> None:
        """Store all finished batch sizes: trials.csv, summary.csv, trajectories.npz, then their checksums.

        Ctrl-C is held while the files are written, so they always agree.  Raises :class:`StoreError`
        (one line: the file, the reason, and the batch sizes still stored) when the machine refuses a write.
        """
        self.require_writable("batch sizes are still to be stored")
        with interrupts_deferred():
            try:
                self.manifest.write_tables(self._tables(mresults, summary_rows))
            except StoreError as err:
                kept = self._kept_text()
                raise StoreError(f"{err}; {kept}", err.errno_) from None
            self.stored = True
            self._stored_m = [r.m for r in mresults]

    def _kept_text(self) -> str:
        stored = self._stored_m
        if not stored:
            return f"no batch size is stored in {self.path} yet"
        return f"the trials of m = {', '.join(map(str, stored))} stay stored in {self.path}"

    @staticmethod
    def _tables(mresults: Sequence[MResult], summary_rows: Sequence[dict[str, Any]]) -> dict[str, bytes]:
        cols = trials_columns(mresults)
        columns = TRIAL_COLUMNS + tuple(c for c in ("drop_steps", "switch_steps") if c in cols)
        rows = zip(*(cols[c].tolist() for c in columns))
        keys = list(summary_rows[0])
        arrays = {}
        for r in mresults:
            for i, (t, f) in enumerate(r.trajectories):
                arrays[f"m{r.m}_trial{i}_steps"] = t
                arrays[f"m{r.m}_trial{i}_f"] = f
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return {
            "trials.csv": csv_text(columns, rows).encode("utf-8"),
            "summary.csv": csv_text(keys, ([r[k] for k in keys] for r in summary_rows)).encode("utf-8"),
            "trajectories.npz": buf.getvalue(),
        }

    def load_finished(self) -> list[tuple[int, MResult]]:
        """(m, MResult) for every batch size of the configuration already stored in full.

        Every table is checked against its checksum first.  Raises ConfigError (one line) when a stored
        table does not match its checksum or cannot be read back, and when the folder was opened
        read-only and some batch size is not stored yet.  On an error the folder's lock is released.
        """
        try:
            finished = list(self._load_finished())
            done = [m for m, _ in finished]
            if self.read_only and len(done) < len(self.config.m):
                missing = [m for m in self.config.m if m not in done]
                self.require_writable(
                    f"m = {', '.join(map(str, missing))} {'is' if len(missing) == 1 else 'are'} not stored yet"
                )
        except ConfigError:
            self.close()
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            self.close()
            raise ConfigError(
                f"the results in {self.path} are damaged and cannot be resumed "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}); "
                "choose another --out"
            ) from None
        self._stored_m = done
        return finished

    def _load_finished(self) -> Iterator[tuple[int, MResult]]:
        texts = {name: self.manifest.read(name) for name in TABLES}  # verified (or None: not stored)
        trials_bytes, summary_bytes = texts["trials.csv"], texts["summary.csv"]
        if trials_bytes is None or summary_bytes is None:
            return
        wall = {
            int(row["m"]): float(row["wall_seconds"])
            for row in csv.DictReader(io.StringIO(summary_bytes.decode("utf-8")))
        }
        rows = list(csv.DictReader(io.StringIO(trials_bytes.decode("utf-8"))))
        traj = {}
        if texts["trajectories.npz"] is not None:
            with np.load(io.BytesIO(texts["trajectories.npz"]), allow_pickle=False) as z:
                traj = {k: z[k] for k in z.files}
        switch = self.config.schedule_plan.batch
        for m in self.config.m:
            mine = [r for r in rows if int(r["m"]) == m]
            if len(mine) != self.config.trials or m not in wall:
                continue
            mine.sort(key=lambda r: int(r["trial"]))
            recorded = []
            for i in range(min(self.config.record_trials, self.config.trials)):
                key = f"m{m}_trial{i}"
                if f"{key}_steps" in traj:
                    recorded.append((traj[f"{key}_steps"], traj[f"{key}_f"]))
            yield (
                m,
                MResult(
                    m=m,
                    eta=float(mine[0]["eta"]),
                    steps=np.array([int(r["steps"]) for r in mine], np.int64),
                    status=np.array([_STATUS_CODES[r["status"]] for r in mine], np.int8),
                    final_f=np.array([float(r["final_f"]) for r in mine]),
                    wall_seconds=wall[m],
                    trajectories=recorded,
                    samples_per_step=self.config.samples_per_step(m),
                    drop_steps=(
                        np.array([int(r["drop_steps"]) for r in mine], np.int64) if "drop_steps" in mine[0] else None
                    ),
                    samples_per_step_after=(self.config.samples_per_step(switch.m) if switch is not None else None),
                    budget=self.config.schedule_plan.budget,
                    switch_steps=(
                        np.array([int(r["switch_steps"]) for r in mine], np.int64)
                        if "switch_steps" in mine[0]
                        else None
                    ),
                ),
            )


# ----------------------------------------------------------------------------- reading a folder back


def _cell(text: str) -> Any:
    """A summary.csv value as run_escape's row holds it: int, float (nan included), bool, or the text."""
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_summary(data: bytes) -> list[dict[str, Any]]:
    """The rows of a stored summary.csv, typed as :func:`saddle.escape.summary_row` made them."""
    return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(data.decode("utf-8")))]


def stored_config(path: str | Path) -> EscapeConfig:
    """The :class:`~saddle.config.EscapeConfig` stored in an escape folder's ``config.json``.

    Raises ConfigError (one line) when the folder holds no escape run or its configuration cannot be
    rebuilt (an option of an objective not registered here: ``--load FILE`` it first).
    """
    folder = Path(path)
    try:
        raw = read_bytes(folder / "config.json")  # never through a link
    except OSError:
        raise ConfigError(f"{folder} holds no escape results (no config.json)") from None
    try:
        meta = json.loads(raw)
        options = meta["config"]
        if meta.get("command", "escape") != "escape" or not isinstance(options, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{folder / 'config.json'} is not a saddle config.json") from None
    try:
        return EscapeConfig(**options)
    except (ConfigError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"the configuration in {folder / 'config.json'} cannot be rebuilt here: {first}") from None


def load_escape(path: str | Path) -> EscapeResult:
    """An escape folder read back as the :class:`~saddle.records.EscapeResult` that ``run_escape`` returned.

    Read-only: no lock is taken and nothing is written.  Every table is checked against its checksum
    first.  ``by_m`` holds the batch sizes stored in full (an interrupted run's finished ones), with
    their recorded trajectories; ``summary`` their rows as stored (typed as ``run_escape`` makes them);
    ``config`` the stored configuration; ``f0`` is f(u_0), recomputed from the configuration (None for
    an objective that a configuration alone cannot build, such as ``user``); ``theory`` the saddle
    quantities where the objective has them (None otherwise, as for ``run_escape``).

    Raises ConfigError (one line) for a folder that holds no escape run, a table that does not match
    its checksum, or tables that cannot be read.
    """
    folder_path = Path(path)
    config = stored_config(folder_path)
    folder = ResultsFolder(folder_path, config)
    folder._open(create=False)  # a reader: refuses other kinds and configurations, loads the checksums
    try:
        folder.verify_tables()
        finished = dict(folder._load_finished())
        summary_bytes = folder.manifest.read("summary.csv")
        rows = {int(row["m"]): row for row in read_summary(summary_bytes or b"")}
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        reason = str(err).splitlines()[0] if str(err) else "unreadable"
        raise ConfigError(f"the results in {folder_path} are damaged ({type(err).__name__}: {reason})") from None
    done = [m for m in config.m if m in finished and m in rows]
    f0, theory = _start_quantities(config)
    return EscapeResult(
        config, {m: finished[m] for m in done}, [rows[m] for m in done], folder_path, f0=f0, theory=theory
    )


def _start_quantities(config: EscapeConfig) -> tuple[float | None, Any]:
    """f(u_0) and the saddle quantities of the theory, from the configuration alone (no kernel runs)."""
    if not config.objective_class.runs_from_config:
        return None, None
    objective = config.build_objective()
    u0 = np.asarray(config.start_point(objective), dtype=np.float64)
    return float(objective.f(u0)), saddle_theory(config, objective)
