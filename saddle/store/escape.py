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
- ``escape.pdf`` / ``escape.png``: the figure (written by the CLI);
- ``run.json``: the run's name, tags and note, where it was given them (:mod:`saddle.store.runs`; no number
  depends on it, and it carries no checksum).

Every file is written to a temporary name in the same folder and moved into place with os.replace,
so a partial file never stands under its final name.  After each batch size finishes, the three data
files are rewritten with all batch sizes finished so far.  What the folder refuses (another run
holding it, foreign files, a sweep's folder, another configuration, an edited table) and how is
:mod:`saddle.store.folder`'s, shared with sweep folders.  :func:`load_escape` reads a folder back as the
:class:`~saddle.records.EscapeResult` that ``run_escape`` returned.

A folder may be *extended* (:mod:`saddle.extend`): asked for the same configuration with more trials per
batch size, more batch sizes, or both (:data:`EXTENDABLE`), a folder opened with ``extend=True``
accepts it, :meth:`ResultsFolder.extend_marker` rewrites config.json for the larger configuration (with
its checksum, and a line of its history under ``"extended"``), and :meth:`ResultsFolder.load_stored`
reads back the trials stored so far, the first k of a batch size whose remaining ones are still to run.
Fewer trials, a stored batch size left out, or any other option that differs is refused in one line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
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
    MARKERS,
    Manifest,
    ResultsStore,
    StoreError,
    csv_text,
    differences,
    interrupts_deferred,
    read_bytes,
    verify_marker,
    versions,
)
from saddle.store.runs import RUN_INFO
from saddle.theory.columns import saddle_theory

__all__ = ["EXTENDABLE", "ResultsFolder", "extension_refusal", "load_escape", "read_summary", "stored_config"]

_STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
TABLES = ("trials.csv", "summary.csv", "trajectories.npz")
EXTENDABLE = ("m", "trials")
"""The options in which a stored run may be smaller than the one asked for: it is then extended, not
refused (more batch sizes, more trials per batch size; :mod:`saddle.extend`)."""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def extension_refusal(stored: Mapping[str, Any], config: EscapeConfig) -> str | None:
    """Why a run stored with the options ``stored`` (config.json's ``"config"``) cannot be extended to
    ``config``, where the two differ in :data:`EXTENDABLE` only; None when it can (``config`` asks for at
    least the stored trials, and for every stored batch size).  The reason completes "FOLDER ...".
    """
    defaults = EscapeConfig.defaults()
    trials = stored.get("trials", defaults["trials"])
    ms = _as_list(stored.get("m", defaults["m"]))
    left_out = [m for m in ms if m not in config.m]
    if config.trials < trials:
        return (
            f"holds {trials} trials per batch size, more than the {config.trials} asked for: a stored run "
            f"is extended, never cut; ask for --trials {trials} or more"
        )
    if left_out:
        return (
            f"holds m = {', '.join(map(str, ms))}, and --m leaves out {', '.join(map(str, left_out))}: a "
            "stored run is extended, never cut; list every stored batch size (and any new ones)"
        )
    if config.trials == trials and set(config.m) == set(ms):  # the same run, its batch sizes reordered
        return f"holds m = {', '.join(map(str, ms))} in that order: give them in it (a reordered run adds nothing)"
    return None


class ResultsFolder(ResultsStore):
    """The results folder of one escape configuration (see the module docstring)."""

    kind = "escape"
    tables = TABLES
    also_written = ("escape.pdf", "escape.png", RUN_INFO)

    def __init__(self, path: str | Path, config: EscapeConfig, backend: str = "cpu", *, extend: bool = False) -> None:
        super().__init__(path)
        self.config = config
        self.backend = backend
        self.extend = extend  # a stored run with fewer trials or batch sizes is accepted (to be extended)
        self._stored_m: list[int] = []  # the batch sizes stored in the folder, as far as this run knows

    @classmethod
    def open(
        cls, path: str | Path, config: EscapeConfig, backend: str = "cpu", *, extend: bool = False
    ) -> ResultsFolder:
        """Create (or reopen, for the same configuration) a results folder, holding its lock until :meth:`close`.

        Raises ConfigError with a one-line message, before anything is written, when the folder is being
        written by another run, holds files that are not saddle results or a sweep's results, or holds
        results of a different configuration; and when it cannot be written (a complete folder that
        cannot be written is opened read-only instead).  With ``extend``, a folder holding this
        configuration with fewer trials or batch sizes is accepted (see :meth:`extend_marker`); without,
        it is refused, with a line saying how to extend it.
        """
        self = cls(cls.checked_path(path), config, backend, extend=extend)
        self._open()
        return self

    def identity_differences(self, meta: Any) -> list[str]:
        old = meta["config"]
        return differences(old, self.config.to_dict(), defaults=self.config.defaults())

    def _check_existing(self, meta: Mapping[str, Any]) -> None:
        differ = self.identity_differences(meta)
        if not differ or not set(differ) <= set(EXTENDABLE):
            super()._check_existing(meta)  # the same configuration, or another one (refused)
            return
        # An edited marker is tampering, not a smaller run: its checksum is checked first (as in the store).
        verify_marker(self.path, self.kind, Manifest.load(self.path), meta, holds_results=self.holds_results())
        refusal = extension_refusal(meta["config"], self.config)
        if refusal is not None:
            raise ConfigError(f"{self.path} {refusal}; or choose another --out")
        if not self.extend:
            raise ConfigError(
                f"{self.path} holds this configuration with fewer {' and '.join(differ)}: "
                "saddle.extend.extend_escape (or the command line's escape) extends it; or choose another --out"
            )

    def _stored_marker(self) -> dict[str, Any]:
        """config.json as stored, read again and checked against its checksum."""
        name = MARKERS[self.kind]
        raw = self.manifest.read(name)
        if raw is None:
            raise ConfigError(f"{self.path / name} disappeared while saddle held the folder")
        meta = json.loads(raw)
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ConfigError(f"{self.path / name} is not a saddle config.json; choose another --out")
        return meta

    def stored_options(self) -> dict[str, Any]:
        """The options of the run stored in the folder (config.json's ``"config"``), the generic defaults
        filled in where a folder from an earlier saddle lacks one."""
        return {**self.config.defaults(), **self._stored_marker()["config"]}

    def extend_marker(self) -> dict[str, Any] | None:
        """Rewrite config.json for this run's configuration where the stored one has fewer trials or batch
        sizes (a folder opened with ``extend``); the stored options are returned (None: nothing to rewrite).

        The marker keeps its creation time and versions, and gains a line of ``"extended"`` (when, from
        which trials and batch sizes, with which versions); it and its checksum are written as one of the
        manifest's transactions (a kill leaves the old marker or the new one, each with its checksum).
        From then on the folder holds the larger configuration, its new trials and batch sizes still to
        run, which a rerun resumes.  ConfigError when the folder is read-only.
        """
        name = MARKERS[self.kind]
        meta = self._stored_marker()
        old = meta["config"]
        if not differences(old, self.config.to_dict(), defaults=self.config.defaults()):
            return None
        self.require_writable("the run is to be extended")
        history: list[Any] = meta["extended"] if isinstance(meta.get("extended"), list) else []
        step = {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "from": {"m": old.get("m"), "trials": old.get("trials")},
            "to": {"m": list(self.config.m), "trials": self.config.trials},
            "versions": versions(),
        }
        marker = {**meta, "config": self.config.to_dict(), "extended": [*history, step]}
        with interrupts_deferred():
            try:
                self.manifest.write_tables({name: (json.dumps(marker, indent=2) + "\n").encode("utf-8")})
            except StoreError as err:
                raise StoreError(f"{err}; the stored trials are unchanged", err.errno_) from None
        return dict(old)

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
            raise self._damaged(err, "resumed") from None
        self._stored_m = done
        return finished

    def load_stored(self) -> dict[int, MResult]:
        """Every batch size of the configuration with trials stored, in full or in part: the first k < trials
        of a batch size whose run was extended and interrupted (its trials are those of 0 ... k-1, by
        construction of the random streams).  Tables are checked against their checksums first;
        ConfigError (one line) for a table that does not match or cannot be read, and for trials that are
        not the first k of their batch size.  On an error the folder's lock is released.
        """
        try:
            return dict(self._load_finished(complete=False))
        except ConfigError:
            self.close()
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            raise self._damaged(err, "extended") from None

    def _damaged(self, err: BaseException, what: str) -> ConfigError:
        """Release the lock; the one-line error for stored tables that cannot be read back (``what``:
        'resumed' or 'extended')."""
        self.close()
        return ConfigError(
            f"the results in {self.path} are damaged and cannot be {what} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}); "
            "choose another --out"
        )

    def _load_finished(self, complete: bool = True) -> Iterator[tuple[int, MResult]]:
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
            if not mine or m not in wall or (complete and len(mine) != self.config.trials):
                continue
            mine.sort(key=lambda r: int(r["trial"]))
            if [int(r["trial"]) for r in mine] != list(range(len(mine))) or len(mine) > self.config.trials:
                raise ValueError(f"the stored trials of m = {m} are not trials 0 to {len(mine) - 1}")
            recorded = []
            for i in range(min(self.config.record_trials, len(mine))):
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
