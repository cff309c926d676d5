"""Result files: written atomically, read back to resume an interrupted run.

The results folder of an escape experiment holds (a contract that later
versions extend, never break):

- ``config.json``: every option, the seed, package and library versions, threads;
- ``trials.csv``: one row per trial, ``m,eta,trial,steps,samples,status,final_f`` (and
  ``drop_steps`` with a batch-size schedule: each trial's first f-drop step);
- ``summary.csv``: one row per batch size (see saddle.escape.summary_row);
- ``trajectories.npz``: f(u_t) of the recorded trials, for the figure;
- ``escape.pdf`` / ``escape.png``: the figure (written by the CLI).

Every file is written to a temporary name in the same folder and moved into
place with os.replace, so a partial file never stands under its final name.
After each batch size finishes, the three data files are rewritten with all
batch sizes finished so far.
"""

import contextlib
import csv
import io
import json
import os
import platform
import signal
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from saddle.kernels import STATUS_NAMES
from saddle.options import ConfigError
from saddle.records import TRIAL_COLUMNS, MResult, trials_columns

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) until the block ends, so that a group of files is written whole.

    Outside the main thread (where signal handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def _csv_text(columns, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def versions():
    """Versions of Python and of the libraries that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    import numba
    import scipy

    import saddle

    try:  # matplotlib's version without importing it (a run with --no-plot never needs it)
        matplotlib_version = version("matplotlib")
    except PackageNotFoundError:
        matplotlib_version = None

    return {
        "saddle": saddle.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib_version,
        "platform": platform.platform(),
    }


class ResultsFolder:
    """A results folder bound to one configuration (see the module docstring)."""

    def __init__(self, path, config):
        self.path = Path(path)
        self.config = config

    @classmethod
    def open(cls, path, config, backend="cpu"):
        """Create (or reopen, for the same configuration) a results folder.

        Raises ConfigError with a one-line message when the folder cannot be
        written or holds results of a different configuration.
        """
        self = cls(path, config)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.path, prefix=".probe", delete=True)
            probe.close()
        except OSError as err:
            raise ConfigError(f"cannot write results to {str(path)!r}: {err.strerror or err}") from None
        cfg_path = self.path / "config.json"
        if cfg_path.exists():
            try:
                old = json.loads(cfg_path.read_text())["config"]
                if not isinstance(old, dict):
                    raise TypeError
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                raise ConfigError(f"{cfg_path} is not a saddle config.json; choose another --out") from None
            new = config.to_dict()
            # An option added after the folder was written counts as equal when it has its default value.
            defaults = config.defaults()
            differ = sorted(k for k in set(old) | set(new)
                            if old.get(k, defaults.get(k)) != new.get(k) and not (k not in new and k in old))
            if differ:
                raise ConfigError(
                    f"{self.path} holds results of a different configuration (differs in {', '.join(differ)}); "
                    "choose another --out"
                )
        else:
            import numba

            meta = {
                "command": "escape",
                "config": config.to_dict(),
                "seed": config.seed,
                "threads": numba.get_num_threads(),
                "backend": backend,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "random_streams": "Philox4x32-10, key (seed mod 2**32, seed // 2**32), counter (block + 1, trial, step, purpose * 2**30 + m - 1)",
                "versions": versions(),
            }
            atomic_write_text(cfg_path, json.dumps(meta, indent=2) + "\n")
        return self

    def save(self, mresults, summary_rows):
        """Store all finished batch sizes: trials.csv, summary.csv, trajectories.npz.

        Ctrl-C is held while the three files are written, so they always agree.
        """
        with interrupts_deferred():
            self._save(mresults, summary_rows)

    def _save(self, mresults, summary_rows):
        cols = trials_columns(mresults)
        columns = TRIAL_COLUMNS + (("drop_steps",) if "drop_steps" in cols else ())
        rows = zip(*(cols[c].tolist() for c in columns))
        atomic_write_text(self.path / "trials.csv", _csv_text(columns, rows))
        keys = list(summary_rows[0])
        atomic_write_text(self.path / "summary.csv", _csv_text(keys, ([r[k] for k in keys] for r in summary_rows)))
        arrays = {}
        for r in mresults:
            for i, (t, f) in enumerate(r.trajectories):
                arrays[f"m{r.m}_trial{i}_steps"] = t
                arrays[f"m{r.m}_trial{i}_f"] = f
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.path / "trajectories.npz", buf.getvalue())

    def load_finished(self):
        """(m, MResult) for every batch size of the configuration already stored in full.

        Raises ConfigError (one line) when the stored files cannot be read back.
        """
        try:
            return list(self._load_finished())
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            raise ConfigError(
                f"the results in {self.path} are damaged and cannot be resumed "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}); "
                "choose another --out"
            ) from None

    def _load_finished(self):
        trials_path, summary_path = self.path / "trials.csv", self.path / "summary.csv"
        if not (trials_path.exists() and summary_path.exists()):
            return
        with open(summary_path, newline="") as fh:
            wall = {int(row["m"]): float(row["wall_seconds"]) for row in csv.DictReader(fh)}
        with open(trials_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        traj = {}
        traj_path = self.path / "trajectories.npz"
        if traj_path.exists():
            with np.load(traj_path, allow_pickle=False) as z:
                traj = {k: z[k] for k in z.files}
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
            yield m, MResult(
                m=m,
                eta=float(mine[0]["eta"]),
                steps=np.array([int(r["steps"]) for r in mine], np.int64),
                status=np.array([_STATUS_CODES[r["status"]] for r in mine], np.int8),
                final_f=np.array([float(r["final_f"]) for r in mine]),
                wall_seconds=wall[m],
                trajectories=recorded,
                samples_per_step=self.config.samples_per_step(m),
                drop_steps=np.array([int(r["drop_steps"]) for r in mine], np.int64) if "drop_steps" in mine[0] else None,
                samples_per_step_after_drop=(self.config.samples_per_step(self.config.batch_after_drop)
                                             if self.config.batch_after_drop else None),
            )
