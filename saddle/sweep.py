"""Sweeps: a grid of escape configurations, run cell by cell into one resumable results folder.

A sweep is read from a TOML file (``python -m saddle.experiments sweep --config FILE``)::

    [sweep]
    name = "seed-question"     # the default folder is saddle-results/sweep-<name>
    seed = 0                   # the sweep seed: every cell's seed derives from it
    trials = 1000              # per cell
    max_steps = 10000
    out = "docs/results/sweep-seed-question"   # optional

    [grid]                     # EscapeConfig fields, each with a list of values
    m = [1, 2, 4, 8]
    lr_scaling = ["none", "linear", "sqrt"]

    [fixed]                    # EscapeConfig fields that are not swept
    eta = 0.01

    [plot]                     # optional: the figures drawn from the tables
    x = "m"
    y = "lr_scaling"
    values = ["median_steps", "median_samples"]

A *cell* is one point of the grid (the Cartesian product of the [grid] lists,
first key slowest): one :class:`~saddle.escape.EscapeConfig` with a single
batch size.  Its *key* is the first 16 hex digits of the SHA-256 of the
canonical JSON of the cell's configuration (``EscapeConfig.to_dict()`` without
``seed``, ``record_trials`` and ``record_points``; keys sorted, no spaces), and
its seed is

    int(numpy.random.SeedSequence(sweep_seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16)))
        .generate_state(1, numpy.uint64)[0])

so a cell's numbers depend on the sweep seed and on its own configuration
only: not on the other cells, their order, the number of workers or the
machine.  ``run_escape(cell.config)`` alone gives the same trials.

The results folder (see docs/sweeps.md)::

    sweep.json              the sweep (seed, grid, fixed, plot), the cells' keys, seeds and parameters
    cells/<key>/trials.csv  the cell's trials   (the escape command's columns)
    cells/<key>/summary.csv the cell's summary  (the escape command's columns)
    cells/<key>/cell.json   the cell's configuration and seed: written last, it marks the cell as stored
    trials.csv, summary.csv the tidy tables of all stored cells: cell, one column per swept parameter,
                            then the escape columns (the step size used is ``eta_m``)
    sweep-heatmap.*, sweep-lines.*   the figures

Every file is written atomically.  Rerunning the same sweep skips the stored
cells; a different sweep (seed, grid or fixed options) is refused.
"""

import contextlib
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from saddle import results as results_io
from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.objectives.base import get as get_objective

SWEEP_KEYS = ("name", "seed", "trials", "max_steps", "out", "description")
TABLES = ("sweep", "grid", "fixed", "plot")
PLOT_KEYS = ("x", "y", "values", "where")
# EscapeConfig fields a sweep does not take: the seed derives from the sweep seed, and the sweep
# records no trajectories.
NOT_PARAMETERS = {
    "seed": "each cell's seed derives from [sweep] seed",
    "record_trials": "a sweep records no trajectories",
    "record_points": "a sweep records no trajectories",
}


def parameters():
    """The options a sweep takes: EscapeConfig's generic ones (less NOT_PARAMETERS) and every registered
    objective's own."""
    return tuple(name for name in EscapeConfig.defaults() if name not in NOT_PARAMETERS)


KEY_EXCLUDED = tuple(NOT_PARAMETERS)  # options that change no number
# Options a cell key always names; any other option is named only when it differs from its default.
KEY_ALWAYS = ("m", "objective", "d", "eta", "lr_scaling", "optimizer", "sigma_iso", "delta", "trials", "max_steps")
PLOT_VALUES = ("median_steps", "median_samples", "mean_steps", "escaped", "censored", "diverged", "wall_seconds",
               "theory_median_steps", "theory_model_median_steps")
RENAMED = {"eta": "eta_m"}  # escape columns renamed in the tidy tables (eta is the step size used there)
KEY_DIGITS = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C: ``kept`` of ``total`` cells are stored in ``out``."""

    def __init__(self, kept, total, out, computed):
        super().__init__()
        self.kept = kept
        self.total = total
        self.out = out
        self.computed = computed


# ----------------------------------------------------------------------------- cells: keys and seeds


def cell_options(config):
    """The options that name a cell (what :func:`cell_key` hashes).

    EscapeConfig.to_dict() without the seed and the recording options (they
    change no number a sweep stores), keeping the options of KEY_ALWAYS and
    every other option whose value differs from its default.  An option at its
    default (off, or None) is not named, so a later saddle that adds an option
    keeps every key, and stored sweeps stay valid; changing an existing default
    is a breaking change that needs a new results folder.
    """
    defaults = EscapeConfig.defaults()
    return {k: v for k, v in config.to_dict().items()
            if k not in KEY_EXCLUDED and (k in KEY_ALWAYS or v != defaults.get(k))}


def cell_key(config):
    """The key of a cell: SHA-256 of the canonical JSON of :func:`cell_options`, first 16 hex digits."""
    text = json.dumps(cell_options(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_DIGITS]


def cell_seed(sweep_seed, key):
    """The seed of a cell: numpy SeedSequence(sweep_seed, spawn_key = the key's two 32-bit words)."""
    words = (int(key[:8], 16), int(key[8:16], 16))
    state = np.random.SeedSequence(int(sweep_seed), spawn_key=words).generate_state(1, np.uint64)
    return int(state[0])


def _text(value):
    """A parameter value as it stands in a CSV cell (tuples as JSON lists)."""
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value))
    return str(value)


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its position, swept parameters, configuration (with its seed) and key."""

    index: int
    params: dict  # swept parameter -> value, as the validated configuration holds it
    config: EscapeConfig
    key: str

    @property
    def seed(self):
        return self.config.seed

    def label(self):
        """``m=64, lr_scaling=sqrt``: the swept parameters in grid order."""
        return ", ".join(f"{k}={_text(v)}" for k, v in self.params.items()) or "(single cell)"


# ----------------------------------------------------------------------------- the sweep configuration


def _load_toml(path):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("reading a sweep config needs tomli on Python < 3.11: pip install tomli") from None
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read sweep config {str(path)!r}: {err.strerror or err}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {str(err).splitlines()[0]}") from None


def _jsonable(value):
    """TOML values as JSON values (dates are refused: no option takes one)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{value} is not a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"{value!r} ({type(value).__name__}) is not an option value")


def _option(value):
    """A TOML value as an EscapeConfig argument: lists become tuples (lam, noise_var)."""
    return tuple(value) if isinstance(value, list) else value


@dataclass
class SweepConfig:
    """A sweep: a grid of escape configurations with one seed.

    Parameters
    ----------
    grid : dict
        EscapeConfig field -> list of values; the cells are the Cartesian
        product (first key slowest).
    fixed : dict
        EscapeConfig fields that are not swept (``trials`` and ``max_steps`` included).
    seed : int
        The sweep seed (0 <= seed < 2**64); cell seeds derive from it and the cell keys.
    name : str
        A label; the default folder is ``saddle-results/sweep-<name>``.
    out : str, optional
        The results folder (relative to the working directory).
    plot : dict
        ``x``, ``y``, ``values``, ``where`` of the figures (defaults: see :meth:`plot_spec`).
    """

    grid: dict
    fixed: dict = field(default_factory=dict)
    seed: int = 0
    name: str = "sweep"
    out: str = None
    description: str = ""
    plot: dict = field(default_factory=dict)
    source: str = "the sweep"
    _cells: list = field(default=None, repr=False, compare=False)

    @classmethod
    def from_toml(cls, path):
        """Read and validate a sweep config file (every cell is checked; errors are one line)."""
        data = _load_toml(path)
        return cls.from_dict(data, source=str(path), default_name=Path(path).stem)

    @classmethod
    def from_dict(cls, data, *, source="the sweep", default_name="sweep"):
        """Build from the parsed TOML tables ({'sweep': ..., 'grid': ..., 'fixed': ..., 'plot': ...})."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a sweep config is a set of tables ([sweep], [grid], [fixed], [plot])")
        for name, value in data.items():
            if name not in TABLES:
                raise ConfigError(f"{source}: unknown table or key {name!r}; expected the tables "
                                  + ", ".join(f"[{t}]" for t in TABLES))
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name} must be a table ([{name}]), got {value!r}")
        try:
            data = _jsonable(data)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        head = data.get("sweep", {})
        for key in head:
            if key not in SWEEP_KEYS:
                raise ConfigError(f"{source}: unknown key {key!r} in [sweep]; expected {', '.join(SWEEP_KEYS)}"
                                  + ("" if key not in parameters() else f" (put {key} in [grid] or [fixed])"))
        grid = data.get("grid", {})
        fixed = dict(data.get("fixed", {}))
        for table, options in (("grid", grid), ("fixed", fixed)):
            for key in options:
                if key in NOT_PARAMETERS:
                    raise ConfigError(f"{source}: {key} cannot be set in [{table}]: {NOT_PARAMETERS[key]}")
                if key not in parameters():
                    raise ConfigError(f"{source}: unknown parameter {key!r} in [{table}]; "
                                      f"choose from {', '.join(parameters())}")
        for key in ("trials", "max_steps"):
            if key in head:
                if key in fixed or key in grid:
                    raise ConfigError(f"{source}: {key} is given both in [sweep] and in "
                                      f"[{'fixed' if key in fixed else 'grid'}]")
                fixed[key] = head[key]
        for key, values in grid.items():
            if key in fixed:
                raise ConfigError(f"{source}: {key} is given both in [grid] and in [fixed]")
            if not isinstance(values, list):
                raise ConfigError(f"{source}: [grid] {key} must be a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"{source}: [grid] {key} is an empty list")
            seen = []
            for v in values:
                if v in seen:
                    raise ConfigError(f"{source}: [grid] {key} lists {v!r} twice")
                seen.append(v)
        if "m" not in grid and "m" not in fixed:
            raise ConfigError(f"{source}: give the batch sizes m in [grid] (a list) or [fixed] (one integer)")
        if isinstance(fixed.get("m"), list):
            raise ConfigError(f"{source}: [fixed] m must be one batch size; put a list of them in [grid]")
        seed = head.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ConfigError(f"{source}: [sweep] seed must be an integer with 0 <= seed < 2**64, got {seed!r}")
        name = head.get("name", default_name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{source}: [sweep] name must be letters, digits, '.', '_' or '-', got {name!r}")
        out = head.get("out")
        if out is not None and (not isinstance(out, str) or not out.strip()):
            raise ConfigError(f"{source}: [sweep] out must be a folder name, got {out!r}")
        description = head.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{source}: [sweep] description must be a string")
        self = cls(grid=grid, fixed=fixed, seed=seed, name=name, out=out, description=description,
                   plot=data.get("plot", {}), source=source)
        self.cells()  # validate every cell now, before anything runs
        self.plot_spec()
        return self

    def cells(self):
        """Every cell of the grid, validated through EscapeConfig (one-line ConfigError otherwise)."""
        if self._cells is not None:
            return self._cells
        names = list(self.grid)
        cells, by_key = [], {}
        for index, values in enumerate(itertools.product(*(self.grid[k] for k in names))):
            swept = dict(zip(names, values))
            options = {k: _option(v) for k, v in {**self.fixed, **swept}.items()}
            label = ", ".join(f"{k}={_text(v)}" for k, v in swept.items())
            where = f"{self.source}: " + (f"cell {label}: " if label else "")
            if isinstance(options["m"], (tuple, list)):
                raise ConfigError(f"{where}m must be one batch size per cell, got {list(options['m'])}")
            options["m"] = (options["m"],)
            try:
                objective = get_objective(str(options.get("objective", EscapeConfig.defaults()["objective"])))
            except ConfigError as err:
                raise ConfigError(f"{where}{err}") from None
            if not objective.runs_from_config:
                raise ConfigError(f"{where}objective {objective.name!r} cannot run from a config file (it needs "
                                  "Python objects); call run_escape(config, user_objective=..., start=...) for each cell")
            try:
                base = EscapeConfig(**options, record_trials=0, seed=0)
            except ConfigError as err:
                raise ConfigError(f"{where}{err}") from None
            except TypeError as err:  # a value of a type no option takes
                raise ConfigError(f"{where}{err}") from None
            key = cell_key(base)
            if key in by_key:
                raise ConfigError(f"{where}the same configuration as the cell {by_key[key].label()}")
            config = dataclasses.replace(base, seed=cell_seed(self.seed, key))
            params = {k: (config.m[0] if k == "m" else getattr(config, k)) for k in names}
            cell = Cell(index, params, config, key)
            cells.append(cell)
            by_key[key] = cell
        self._cells = cells
        return cells

    def identity(self):
        """What determines the numbers: seed, grid and fixed options (compared on resume)."""
        return {"seed": self.seed, "grid": self.grid, "fixed": self.fixed}

    def swept(self):
        """The swept parameters, in grid order (the tidy tables' parameter columns)."""
        return list(self.grid)

    def default_out(self):
        return Path(self.out) if self.out is not None else Path("saddle-results") / f"sweep-{self.name}"

    def plot_spec(self):
        """The figures' axes: dict(x, y, values, where), filling in defaults.

        x defaults to m when m is swept over several values, else the first
        parameter with several values; y to the next one (None when only one
        parameter varies); values to median_steps and median_samples; and every
        other parameter with several values is held at its first value unless
        ``where`` names one.  Returns None when no parameter varies.
        """
        spec = dict(self.plot)
        for key in spec:
            if key not in PLOT_KEYS:
                raise ConfigError(f"{self.source}: unknown key {key!r} in [plot]; expected {', '.join(PLOT_KEYS)}")
        varying = [k for k, v in self.grid.items() if len(v) > 1]
        for key in ("x", "y"):
            if key in spec and spec[key] not in self.grid:
                raise ConfigError(f"{self.source}: [plot] {key} = {spec[key]!r} is not a [grid] parameter")
        if not varying and "x" not in spec:
            return None
        x = spec.get("x", "m" if "m" in varying else varying[0])
        rest = [k for k in varying if k != x]
        y = spec.get("y", rest[0] if rest else None)
        if y == x:
            raise ConfigError(f"{self.source}: [plot] x and y are both {x!r}")
        values = spec.get("values", ["median_steps", "median_samples"])
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{self.source}: [plot] values must be a list of summary columns")
        for v in values:
            if v not in PLOT_VALUES:
                raise ConfigError(f"{self.source}: [plot] value {v!r} is not one of {', '.join(PLOT_VALUES)}")
        where = spec.get("where", {})
        if not isinstance(where, dict):
            raise ConfigError(f"{self.source}: [plot] where must be a table, e.g. where = {{ d = 10 }}")
        for k, v in where.items():
            if k not in self.grid or k in (x, y):
                raise ConfigError(f"{self.source}: [plot] where {k!r} must be a [grid] parameter other than x and y")
            if v not in self.grid[k]:
                raise ConfigError(f"{self.source}: [plot] where {k} = {v!r} is not one of its [grid] values")
        where = {k: where.get(k, self.grid[k][0]) for k in varying if k not in (x, y)}
        return {"x": x, "y": y, "values": values, "where": where}

    def to_json(self):
        """sweep.json's description of the sweep (without the run's metadata)."""
        return {
            "sweep": {"name": self.name, "seed": self.seed, "description": self.description},
            "grid": self.grid,
            "fixed": self.fixed,
            "plot": self.plot,
        }


# ----------------------------------------------------------------------------- the results folder


def _csv_text(columns, rows, header=True):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def cell_files(cell, mres, row):
    """The texts of a cell's trials.csv and summary.csv (the escape command's columns and formats)."""
    cols = results_io.trials_columns([mres])
    trials = _csv_text(results_io.TRIAL_COLUMNS, zip(*(cols[c].tolist() for c in results_io.TRIAL_COLUMNS)))
    keys = list(row)
    return trials, _csv_text(keys, [[row[k] for k in keys]])


class _Tidy:
    """The tidy tables, built from the cells' own CSV texts (so fresh and resumed runs agree byte for byte).

    Cells stored by another version of saddle may have other escape columns
    (later versions add columns): a table's header is then the union of the
    cells' columns, in order of first appearance, and a cell leaves the columns
    it lacks empty.
    """

    def __init__(self, swept):
        self.swept = swept
        self.chunks = {}  # cell index -> {table: (columns, text without header)}

    def add(self, cell, texts):
        chunk = {}
        for table, text in texts.items():
            rows = list(csv.reader(io.StringIO(text)))
            head, body = rows[0], rows[1:]
            keep = [i for i, c in enumerate(head) if c not in self.swept]
            columns = ["cell", *self.swept, *(RENAMED.get(head[i], head[i]) for i in keep)]
            prefix = [cell.key, *(_text(cell.params[k]) for k in self.swept)]
            chunk[table] = (columns, _csv_text(None, ([*prefix, *(r[i] for i in keep)] for r in body), header=False))
        self.chunks[cell.index] = chunk

    def text(self, table):
        parts = [self.chunks[i][table] for i in sorted(self.chunks)]
        header = []
        for columns, _ in parts:
            header += [c for c in columns if c not in header]
        out = [_csv_text(header, [])]
        for columns, text in parts:
            if columns == header:
                out.append(text)
            else:  # a cell of another version: its values under the union header, blanks elsewhere
                where = [columns.index(c) if c in columns else None for c in header]
                rows = ([r[j] if j is not None else "" for j in where] for r in csv.reader(io.StringIO(text)))
                out.append(_csv_text(None, rows, header=False))
        return "".join(out)


class SweepFolder:
    """The results folder of one sweep (layout: module docstring and docs/sweeps.md)."""

    def __init__(self, path, sweep):
        self.path = Path(path)
        self.sweep = sweep
        self.tidy = _Tidy(sweep.swept())
        self._lock = None
        self._trials_cost = 0.0
        self._trials_at = -math.inf

    @classmethod
    def open(cls, path, sweep, *, create=True):
        """Open the folder of ``sweep`` (creating it if ``create``), refusing one of another sweep."""
        self = cls(path, sweep)
        meta_path = self.path / "sweep.json"
        if not meta_path.exists():
            if not create:
                raise ConfigError(f"{self.path} holds no sweep results (no sweep.json); run the sweep first")
            ours = [n for n in ("cells", "trials.csv", "summary.csv", "config.json") if (self.path / n).exists()]
            if ours:
                raise ConfigError(f"{self.path} holds other results ({', '.join(ours)}) but no sweep.json; "
                                  "choose another out")
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                self._take_lock()
                results_io.atomic_write_text(meta_path, json.dumps(self._metadata(), indent=2) + "\n")
            except OSError as err:
                raise ConfigError(f"cannot write results to {str(path)!r}: {err.strerror or err}") from None
            return self
        try:
            old = json.loads(meta_path.read_text())
            if old.get("command") != "sweep":
                raise TypeError
            old_identity = {"seed": old["sweep"]["seed"], "grid": old["grid"], "fixed": old["fixed"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"{meta_path} is not a saddle sweep.json; choose another out") from None
        new_identity = json.loads(json.dumps(sweep.identity()))
        differ = []
        if old_identity["seed"] != new_identity["seed"]:
            differ.append("seed")
        for table in ("grid", "fixed"):
            a, b = old_identity[table], new_identity[table]
            if not isinstance(a, dict):
                raise ConfigError(f"{meta_path} is not a saddle sweep.json; choose another out")
            differ += [f"{table}.{k}" for k in list(a) + [k for k in b if k not in a] if a.get(k) != b.get(k)]
            if not differ and list(a) != list(b):
                differ.append(f"the order of [{table}]")
        if differ:
            raise ConfigError(f"{self.path} holds results of a different sweep (differs in {', '.join(differ)}); "
                              "choose another out")
        if create:
            try:
                self._take_lock()
                self._remove_stale_temporaries()
            except OSError as err:
                raise ConfigError(f"cannot write results to {str(path)!r}: {err.strerror or err}") from None
        return self

    def _remove_stale_temporaries(self):
        """Delete the temporary files a killed run left (atomic writes that never reached their rename)."""
        if self._lock is None:
            return  # without the lock another run may be writing them
        for tmp in [*self.path.glob(".*.tmp"), *self.path.glob("cells/*/.*.tmp")]:
            tmp.unlink(missing_ok=True)

    def _take_lock(self):
        """Hold an advisory lock (flock) on the folder so that two sweeps never write it at once."""
        try:
            import fcntl
        except ModuleNotFoundError:  # not POSIX: no lock
            return
        fd = os.open(self.path, os.O_RDONLY)  # the folder itself: no lock file is left behind
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"{self.path} is being written by another sweep right now; "
                              "wait for it or choose another out") from None
        self._lock = fd

    def close(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _metadata(self):
        return {
            "command": "sweep",
            **self.sweep.to_json(),
            "cell_key": "sha256 of the canonical JSON (sorted keys, no spaces) of the cell's options: "
                        f"EscapeConfig.to_dict() without {', '.join(KEY_EXCLUDED)}, keeping {', '.join(KEY_ALWAYS)} "
                        f"and every other option that differs from its default; first {KEY_DIGITS} hex digits",
            "cell_seed": "SeedSequence(seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16)))"
                         ".generate_state(1, uint64)[0]",
            "random_streams": "per cell, seed = the cell seed: Philox4x32-10, key (seed mod 2**32, seed // 2**32), counter (block + 1, trial, step, purpose * 2**30 + m - 1)",
            "cells": [{"key": c.key, "seed": c.seed, "params": c.params} for c in self.sweep.cells()],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": results_io.versions(),
        }

    def cell_dir(self, cell):
        return self.path / "cells" / cell.key

    def load(self, cell):
        """Read back a stored cell into the tidy tables; False when the cell is not stored."""
        folder = self.cell_dir(cell)
        if not (folder / "cell.json").exists():
            return False
        try:
            meta = json.loads((folder / "cell.json").read_text())
            texts = {t: (folder / f"{t}.csv").read_text() for t in ("trials", "summary")}
            if meta["key"] != cell.key or meta["seed"] != cell.seed or \
                    meta["options"] != json.loads(json.dumps(cell_options(cell.config))):
                raise ValueError("its cell.json holds another configuration")
            n_trials = texts["trials"].count("\n") - 1
            if n_trials != cell.config.trials or texts["summary"].count("\n") != 2:
                raise ValueError(f"{n_trials} trials stored, {cell.config.trials} expected")
        except (OSError, ValueError, KeyError, TypeError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"the stored cell {folder} is damaged ({reason}); delete that folder to recompute "
                              "the cell") from None
        self.tidy.add(cell, texts)
        return True

    def store(self, cell, mres, row):
        """Store a finished cell: its files (cell.json last), then the tidy tables. Ctrl-C is held meanwhile."""
        trials, summary = cell_files(cell, mres, row)
        folder = self.cell_dir(cell)
        with results_io.interrupts_deferred():
            folder.mkdir(parents=True, exist_ok=True)
            results_io.atomic_write_text(folder / "trials.csv", trials)
            results_io.atomic_write_text(folder / "summary.csv", summary)
            meta = {"key": cell.key, "seed": cell.seed, "params": cell.params, "options": cell_options(cell.config),
                    "config": cell.config.to_dict(),
                    "stored": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            results_io.atomic_write_text(folder / "cell.json", json.dumps(meta, indent=2) + "\n")
            self.tidy.add(cell, {"trials": trials, "summary": summary})
            self.write_tables(all_trials=False)

    def write_tables(self, all_trials=True):
        """Rewrite summary.csv, and trials.csv when ``all_trials`` or when that is cheap.

        trials.csv grows with every cell; rewriting it after each one would cost
        time quadratic in the number of cells, so between cells it is rewritten
        only when at least ten times its last write time has passed.  It is
        always rewritten when a run ends (also on Ctrl-C) and at the start of a run.
        """
        if not self.tidy.chunks:
            return
        with results_io.interrupts_deferred():
            results_io.atomic_write_text(self.path / "summary.csv", self.tidy.text("summary"))
            now = time.perf_counter()
            if all_trials or now - self._trials_at >= 10 * self._trials_cost:
                results_io.atomic_write_text(self.path / "trials.csv", self.tidy.text("trials"))
                self._trials_at = time.perf_counter()
                self._trials_cost = self._trials_at - now


# ----------------------------------------------------------------------------- running cells


def run_cell(config, threads=None):
    """Run one cell (an EscapeConfig with one batch size): its MResult and summary row."""
    res = run_escape(config, threads=threads)
    m = config.m[0]
    return res.by_m[m], res.summary[0]


def _worker_threads(threads):
    """Numba threads for a cell on a Dask worker: ``threads``, or the worker's cores per task slot."""
    import numba

    if threads is not None:
        return max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        from distributed import get_worker

        slots = int(get_worker().state.nthreads)
    except Exception:  # noqa: BLE001 (not on a worker, or an older distributed)
        slots = 1
    return max(1, numba.config.NUMBA_NUM_THREADS // max(1, slots))


def _run_cell_task(config, threads):
    """The Dask task: run one cell on a worker."""
    return run_cell(config, _worker_threads(threads))


def _prepare_worker(threads):
    """Load (or compile) the escape kernel once per process (each Dask worker, or this one), before any cell."""
    import numba

    if threads is None and _on_dask_worker():
        threads = _worker_threads(None)
    run_cell(EscapeConfig(m=(1,), d=2, trials=1, max_steps=1, record_trials=0), threads)
    return numba.get_num_threads()


def _on_dask_worker():
    if "distributed" not in sys.modules:  # a Dask worker has imported it; this process need not
        return False
    try:
        from distributed import get_worker

        get_worker()
        return True
    except Exception:  # noqa: BLE001 (distributed not installed, or not on a worker)
        return False


def dask_setup(worker=None):
    """Dask preload hook of the local workers: leave Ctrl-C to the main process.

    Ctrl-C in a terminal reaches every process of the foreground group; the
    main process stores what finished and shuts the cluster down, so the
    workers ignore SIGINT instead of printing their own tracebacks.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def dask_client(workers=None, scheduler=None, threads=None):
    """A distributed.Client: a LocalCluster of ``workers`` processes, or the cluster at ``scheduler``.

    The local workers have one task slot each and NUMBA_NUM_THREADS = ``threads``
    (default 1), so that N workers use N cores without oversubscription.
    """
    try:
        import distributed
    except ModuleNotFoundError:
        raise ConfigError("--workers and --scheduler need Dask: pip install 'saddle[cluster]'") from None
    import logging

    cluster = None
    try:
        if scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as err:
                raise ConfigError(f"cannot connect to the Dask scheduler at {scheduler}: "
                                  f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
        else:
            n_threads = 1 if threads is None else threads
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": str(n_threads)}, preload=["saddle.sweep"],
            )
            client = distributed.Client(cluster)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                client.close()
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                cluster.close()


def _check_dask():
    try:
        import distributed  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError("--workers and --scheduler need Dask: pip install 'saddle[cluster]'") from None


@dataclass
class SweepResult:
    """What a sweep run did: its folder, its cells, which were computed now and which read back."""

    sweep: SweepConfig
    out: Path
    computed: list  # keys of the cells run by this call, in the order they finished
    reused: list  # keys of the cells read back from the folder

    @property
    def summary(self):
        """The tidy summary table (columns as typed arrays)."""
        return read_table(self.out / "summary.csv")

    def trials(self):
        """The tidy trials table (columns as typed arrays)."""
        return read_table(self.out / "trials.csv")


def run_sweep(sweep, *, out=None, workers=None, scheduler=None, threads=None, progress=False, on_cell=None):
    """Run every cell of ``sweep`` not yet stored in its results folder, storing each as it finishes.

    Parameters
    ----------
    sweep : SweepConfig or str or path
        The sweep, or the path of its TOML file.
    out : str or path, optional
        Results folder (default: the config's ``out``, else saddle-results/sweep-<name>).
    workers : int, optional
        Run the cells on a Dask LocalCluster of this many worker processes.
    scheduler : str, optional
        Run the cells on the Dask cluster at this address (tcp://HOST:PORT).
    threads : int, optional
        Numba threads per cell (default: all cores in-process; 1 per local worker;
        a remote worker's cores divided by its task slots).
    progress : bool
        A tqdm bar over cells on stderr, showing the current cell's parameters.
    on_cell : callable, optional
        Called as ``on_cell(cell, summary_row)`` after each cell is stored.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepInterrupted
        On Ctrl-C; every cell finished before it is stored.
    """
    if not isinstance(sweep, SweepConfig):
        sweep = SweepConfig.from_toml(sweep)
    cells = sweep.cells()
    if workers is not None and scheduler is not None:
        raise ConfigError("give either workers (a local cluster) or a scheduler address, not both")
    if workers is not None:
        workers = _int_option("workers", workers)
    if threads is not None:
        threads = _int_option("threads", threads)
    if workers is not None or scheduler is not None:
        _check_dask()
    elif threads is not None:
        import numba

        if threads > numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"threads must be <= {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), got {threads}")
    folder = SweepFolder.open(Path(out) if out is not None else sweep.default_out(), sweep)
    computed, reused, todo = [], [], []
    interrupted = False
    bar = None

    def finished(cell, mres, row):
        folder.store(cell, mres, row)
        computed.append(cell.key)
        if bar is not None:
            bar.update(1)
        if on_cell is not None:
            on_cell(cell, row)

    try:
        try:
            for cell in cells:
                (reused if folder.load(cell) else todo).append(cell)
            reused = [c.key for c in reused]
            folder.write_tables()
            if progress and todo:
                from tqdm import tqdm

                bar = tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell", desc=sweep.name,
                           leave=False, file=sys.stderr)
            if todo and (workers is not None or scheduler is not None):
                _run_on_dask(todo, workers, scheduler, threads, bar, finished)
            elif todo:
                _prepare_worker(threads)  # compile (or load) the kernel first: no cell's wall time includes it
                for cell in todo:
                    if bar is not None:
                        bar.set_postfix_str(cell.label(), refresh=True)
                    finished(cell, *run_cell(cell.config, threads))
        except KeyboardInterrupt:
            interrupted = True
        try:
            folder.write_tables()
        except KeyboardInterrupt:  # held until the tables were written whole
            interrupted = True
    finally:
        if bar is not None:
            bar.close()
        folder.close()
    if interrupted:
        raise SweepInterrupted(len(folder.tidy.chunks), len(cells), folder.path, computed)
    return SweepResult(sweep, folder.path, computed, reused)


def _int_option(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _run_on_dask(todo, workers, scheduler, threads, bar, finished):
    from distributed import as_completed

    with dask_client(workers, scheduler, threads) as client:
        client.run(_prepare_worker, threads)
        futures = {}
        for cell in todo:
            fut = client.submit(_run_cell_task, cell.config, threads, key=f"saddle-cell-{cell.key}", pure=False)
            futures[fut] = cell
        try:
            for fut, (mres, row) in as_completed(futures, with_results=True):
                cell = futures.pop(fut)
                if bar is not None:
                    bar.set_postfix_str(f"last: {cell.label()}", refresh=False)
                finished(cell, mres, row)
                fut.release()
        finally:
            if futures:
                with contextlib.suppress(Exception, KeyboardInterrupt):
                    client.cancel(list(futures))


# ----------------------------------------------------------------------------- reading tables and drawing figures


def _typed(values):
    """A CSV column as int, float or bool array when every value parses, else as strings."""
    for convert, dtype in ((int, np.int64), (float, np.float64)):
        try:
            return np.array([convert(v) for v in values], dtype=dtype)
        except ValueError:
            pass
    if values and all(v in ("True", "False") for v in values):
        return np.array([v == "True" for v in values])
    return np.array(values, dtype=object)


def read_table(path):
    """A tidy table (trials.csv or summary.csv of a sweep) as {column: typed array}."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ConfigError(f"{path} is empty")
    head, body = rows[0], rows[1:]
    return {c: _typed([r[i] for r in body]) for i, c in enumerate(head)}


def figure_title(sweep, where=None):
    """A one-line description of what a sweep's figures hold."""
    cfg = sweep.cells()[0].config
    text = f"{cfg.describe()}; {cfg.optimizer}" if "optimizer" not in sweep.grid else cfg.describe()
    if "eta" not in sweep.grid:
        text += f", eta={cfg.eta:g} at m=1"
    text += f"; {cfg.trials} trials per cell" if "trials" not in sweep.grid else ""
    if where:
        text += "; " + ", ".join(f"{k}={_text(v)}" for k, v in where.items())
    return text


def plot_sweep(sweep, out=None):
    """Draw sweep-heatmap.{pdf,png} and sweep-lines.{pdf,png} from the stored summary table.

    Nothing is run: the figures come from ``<out>/summary.csv``.  Returns the
    paths written (an empty list when no parameter varies).
    """
    from saddle.plotting import save_figure
    from saddle.plotting.sweep import sweep_heatmap, sweep_lines

    if not isinstance(sweep, SweepConfig):
        sweep = SweepConfig.from_toml(sweep)
    folder = SweepFolder.open(Path(out) if out is not None else sweep.default_out(), sweep, create=False)
    spec = sweep.plot_spec()
    if spec is None:
        return []
    path = folder.path / "summary.csv"
    if not path.exists():
        raise ConfigError(f"{folder.path} holds no summary.csv yet; run the sweep first")
    table = read_table(path)
    title = figure_title(sweep, spec["where"])
    paths = []
    if spec["y"] is not None:
        fig = sweep_heatmap(table, spec["x"], spec["y"], spec["values"], where=spec["where"], title=title)
        paths += save_figure(fig, folder.path / "sweep-heatmap")
    fig = sweep_lines(table, spec["x"], spec["y"], spec["values"], where=spec["where"], title=title)
    paths += save_figure(fig, folder.path / "sweep-lines")
    return [Path(p) for p in paths]


__all__ = [
    "Cell", "SweepConfig", "SweepFolder", "SweepInterrupted", "SweepResult", "cell_key", "cell_options", "cell_seed",
    "plot_sweep", "read_table", "run_cell", "run_sweep",
]
