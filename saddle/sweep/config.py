"""A sweep's configuration: the TOML file, its grid of cells, each cell's key and seed.

A sweep is read from a TOML file (``python -m saddle.experiments sweep FILE``)::

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
first key slowest): one :class:`~saddle.config.EscapeConfig` with a single
batch size.  Its *key* is the first 16 hex digits of the SHA-256 of the
canonical JSON of the cell's configuration (:func:`cell_options`; keys sorted,
no spaces), and its seed is

    int(numpy.random.SeedSequence(sweep_seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16)))
        .generate_state(1, numpy.uint64)[0])

so a cell's numbers depend on the sweep seed and on its own configuration
only: not on the other cells, their order, the number of workers or the
machine.  ``run_escape(cell.config)`` alone gives the same trials.  A grid of
more than :data:`MAX_CELLS` cells is refused before it is expanded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saddle.config import EscapeConfig, refuse_unused_d
from saddle.objectives.base import get as get_objective
from saddle.objectives.base import registered
from saddle.options import ConfigError

__all__ = [
    "Cell",
    "KEY_ALWAYS",
    "KEY_DIGITS",
    "KEY_EXCLUDED",
    "MAX_CELLS",
    "SweepConfig",
    "cell_key",
    "cell_options",
    "cell_seed",
    "parameters",
]

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


def parameters() -> tuple[str, ...]:
    """The options a sweep takes: EscapeConfig's generic ones (less NOT_PARAMETERS) and every registered
    objective's own."""
    return tuple(name for name in EscapeConfig.defaults() if name not in NOT_PARAMETERS)


KEY_EXCLUDED = tuple(NOT_PARAMETERS)  # options that change no number
# Options a cell key always names; any other option is named only when it differs from its default.
KEY_ALWAYS = ("m", "objective", "d", "eta", "lr_scaling", "optimizer", "sigma_iso", "delta", "trials", "max_steps")
PLOT_VALUES = (
    "median_steps",
    "median_samples",
    "mean_steps",
    "escaped",
    "censored",
    "diverged",
    "wall_seconds",
    "theory_median_steps",
    "theory_model_median_steps",
)
KEY_DIGITS = 16
MAX_CELLS = 10_000
"""The largest grid a sweep accepts (checked before the grid is expanded)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ----------------------------------------------------------------------------- cells: keys and seeds


def cell_options(config: EscapeConfig) -> dict[str, Any]:
    """The options that name a cell (what :func:`cell_key` hashes).

    EscapeConfig.to_dict() without the seed and the recording options (they
    change no number a sweep stores), keeping the options of KEY_ALWAYS and
    every other option whose value differs from its default.  An option at its
    default (off, or None) is not named, so a later saddle that adds an option
    keeps every key, and stored sweeps stay valid; changing an existing default
    is a breaking change that needs a new results folder.
    """
    defaults = EscapeConfig.defaults()
    return {
        k: v for k, v in config.to_dict().items() if k not in KEY_EXCLUDED and (k in KEY_ALWAYS or v != defaults.get(k))
    }


def cell_key(config: EscapeConfig) -> str:
    """The key of a cell: SHA-256 of the canonical JSON of :func:`cell_options`, first 16 hex digits."""
    text = json.dumps(cell_options(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_DIGITS]


def cell_seed(sweep_seed: int, key: str) -> int:
    """The seed of a cell: numpy SeedSequence(sweep_seed, spawn_key = the key's two 32-bit words)."""
    words = (int(key[:8], 16), int(key[8:16], 16))
    state = np.random.SeedSequence(int(sweep_seed), spawn_key=words).generate_state(1, np.uint64)
    return int(state[0])


def _text(value: Any) -> str:
    """A parameter value as it stands in a CSV cell (tuples as JSON lists)."""
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value))
    return str(value)


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its position, swept parameters, configuration (with its seed) and key."""

    index: int
    params: dict[str, Any]  # swept parameter -> value, as the validated configuration holds it
    config: EscapeConfig
    key: str

    @property
    def seed(self) -> int:
        return self.config.seed

    def label(self) -> str:
        """``m=64, lr_scaling=sqrt``: the swept parameters in grid order."""
        return ", ".join(f"{k}={_text(v)}" for k, v in self.params.items()) or "(single cell)"


# ----------------------------------------------------------------------------- the sweep configuration


def _load_toml(path: str | Path) -> dict[str, Any]:
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


def _jsonable(value: Any) -> Any:
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


def _hashable(value: Any) -> Any:
    """A TOML value as a set member that is equal where the values are (lists as tuples)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _boolean_options() -> list[str]:
    """The options that take true or false: TOML spells them so (1, 0 or "no" are refused)."""
    generic = [name for name, value in EscapeConfig.defaults().items() if isinstance(value, bool)]
    declared = [option.name for cls in registered().values() for option in cls.options if option.kind == "bool"]
    return [*generic, *(name for name in declared if name not in generic)]


def _option(value: Any) -> Any:
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

    grid: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    name: str = "sweep"
    out: str | None = None
    description: str = ""
    plot: dict[str, Any] = field(default_factory=dict)
    source: str = "the sweep"
    _cells: list[Cell] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_toml(cls, path: str | Path) -> SweepConfig:
        """Read and validate a sweep config file (every cell is checked; errors are one line)."""
        data = _load_toml(path)
        return cls.from_dict(data, source=str(path), default_name=Path(path).stem)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "the sweep", default_name: str = "sweep") -> SweepConfig:
        """Build from the parsed TOML tables ({'sweep': ..., 'grid': ..., 'fixed': ..., 'plot': ...})."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a sweep config is a set of tables ([sweep], [grid], [fixed], [plot])")
        for name, value in data.items():
            if name not in TABLES:
                raise ConfigError(
                    f"{source}: unknown table or key {name!r}; expected the tables "
                    + ", ".join(f"[{t}]" for t in TABLES)
                )
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name} must be a table ([{name}]), got {value!r}")
        try:
            data = _jsonable(data)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        head = data.get("sweep", {})
        for key in head:
            if key not in SWEEP_KEYS:
                raise ConfigError(
                    f"{source}: unknown key {key!r} in [sweep]; expected {', '.join(SWEEP_KEYS)}"
                    + ("" if key not in parameters() else f" (put {key} in [grid] or [fixed])")
                )
        grid = data.get("grid", {})
        fixed = dict(data.get("fixed", {}))
        for table, options in (("grid", grid), ("fixed", fixed)):
            for key in options:
                if key in NOT_PARAMETERS:
                    raise ConfigError(f"{source}: {key} cannot be set in [{table}]: {NOT_PARAMETERS[key]}")
                if key not in parameters():
                    raise ConfigError(
                        f"{source}: unknown parameter {key!r} in [{table}]; choose from {', '.join(parameters())}"
                    )
        for key in ("trials", "max_steps"):
            if key in head:
                if key in fixed or key in grid:
                    raise ConfigError(
                        f"{source}: {key} is given both in [sweep] and in [{'fixed' if key in fixed else 'grid'}]"
                    )
                fixed[key] = head[key]
        for key, values in grid.items():
            if key in fixed:
                raise ConfigError(f"{source}: {key} is given both in [grid] and in [fixed]")
            if not isinstance(values, list):
                raise ConfigError(f"{source}: [grid] {key} must be a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"{source}: [grid] {key} is an empty list")
        size = math.prod(len(values) for values in grid.values())
        if size > MAX_CELLS:
            sizes = " x ".join(str(len(v)) for v in grid.values())
            raise ConfigError(
                f"{source}: the grid has {size:,} cells ({sizes}), more than a sweep takes "
                f"({MAX_CELLS:,}); split it into several sweeps"
            )
        for key, values in grid.items():
            seen: set[Any] = set()
            for v in values:
                if _hashable(v) in seen:
                    raise ConfigError(f"{source}: [grid] {key} lists {v!r} twice")
                seen.add(_hashable(v))
        for table, options in (("grid", grid), ("fixed", fixed)):
            for key in _boolean_options():
                values = options.get(key, []) if table == "grid" else [options[key]] if key in options else []
                for v in values:
                    if not isinstance(v, bool):
                        raise ConfigError(f"{source}: [{table}] {key} must be true or false, got {v!r}")
        for objective in grid.get("objective", [fixed.get("objective", EscapeConfig.objective)]):
            refuse_unused_d(objective, {*grid, *fixed}, where=f"{source}: ")
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
        self = cls(
            grid=grid,
            fixed=fixed,
            seed=seed,
            name=name,
            out=out,
            description=description,
            plot=data.get("plot", {}),
            source=source,
        )
        self.cells()  # validate every cell now, before anything runs
        self.plot_spec()
        return self

    def cells(self) -> list[Cell]:
        """Every cell of the grid, validated through EscapeConfig (one-line ConfigError otherwise)."""
        if self._cells is not None:
            return self._cells
        names = list(self.grid)
        cells: list[Cell] = []
        by_key: dict[str, Cell] = {}
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
                raise ConfigError(
                    f"{where}objective {objective.name!r} cannot run from a config file (it needs "
                    "Python objects); call run_escape(config, user_objective=..., start=...) "
                    "for each cell"
                )
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

    def identity(self) -> dict[str, Any]:
        """What determines the numbers: seed, grid and fixed options (compared on resume)."""
        return {"seed": self.seed, "grid": self.grid, "fixed": self.fixed}

    def swept(self) -> list[str]:
        """The swept parameters, in grid order (the tidy tables' parameter columns)."""
        return list(self.grid)

    def default_out(self) -> Path:
        return Path(self.out) if self.out is not None else Path("saddle-results") / f"sweep-{self.name}"

    def plot_spec(self) -> dict[str, Any] | None:
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

    def to_json(self) -> dict[str, Any]:
        """sweep.json's description of the sweep (without the run's metadata)."""
        return {
            "sweep": {"name": self.name, "seed": self.seed, "description": self.description},
            "grid": self.grid,
            "fixed": self.fixed,
            "plot": self.plot,
        }
