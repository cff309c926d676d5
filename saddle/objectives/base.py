"""What an objective is: the one interface every objective declares itself through, and the registry.

An objective is one class (in its own module) that says, once:

- its ``name`` and ``title`` (the command line's ``--objective NAME`` and its help group);
- its ``options`` (:class:`Option`: name, default, help and check), from which the configuration
  (:class:`saddle.config.Settings`) validates its values and the command line builds its flags;
- its maths (``f``, ``manifold``; the Riemannian gradient and Hessian where it has them);
- how it is built from a configuration (``from_config``) and where a run starts (``start_point``);
- its kernel hooks (:class:`KernelHooks`: the Numba functions the fused escape kernel calls each
  step) and their packed parameters (``kernel_params``, laid out by :class:`ParamLayout`, with named
  fields);
- where it has them, its saddle quantities for the linear theory (``saddle_theory``), the warnings a
  start deserves (``start_warnings``), and its GPU support (``gpu_code``: its section of escape.cu,
  or ``None`` with ``gpu_refusal`` saying why).

``@register`` puts the class in the registry; the configuration, the command line, the kernels'
dispatch, the theory columns and the sweeps read everything from there and name no objective.
A user's objective (docs/objectives.md) is such a class in the user's own file.
"""

from __future__ import annotations

import math
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from saddle import rng
from saddle._numba import inline_njit, njit
from saddle.options import ConfigError, Option

if TYPE_CHECKING:
    from saddle.options import Settings
    from saddle.theory import SaddleQuantities


# ------------------------------------------------------------------------------------ kernel hooks

MINIBATCH_GRADIENT, EXACT_GRADIENT = 0, 1
"""What a ``gradient`` hook is asked for: the mean of m per-sample gradients of the step's samples, or
the exact gradient (an optimiser's step hook passes one of these)."""


@dataclass(frozen=True)
class ParamLayout:
    """The named fields of an objective's packed kernel parameters.

    An objective's parameters reach the kernel as three plain arrays: floats ``pf``, one float
    matrix ``pa`` and ints ``pi``.  ``floats`` and ``ints`` name their entries in order; the
    objective's Numba hooks index them with constants taken from here (``KAPPA =
    LAYOUT.float_index("kappa")``, a compile-time constant), never with a bare number.
    """

    floats: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()

    def float_index(self, name: str) -> int:
        return self.floats.index(name)

    def int_index(self, name: str) -> int:
        return self.ints.index(name)

    def pack(self, matrix: np.ndarray | None = None, **values: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) from every named field's value and the matrix (a 1 x 1 zero when there is none)."""
        names = set(self.floats) | set(self.ints)
        if set(values) != names:
            raise TypeError(f"pack needs exactly the fields {sorted(names)}, got {sorted(values)}")
        pf = np.array([float(values[k]) for k in self.floats] or [0.0], dtype=np.float64)
        pi = np.array([int(values[k]) for k in self.ints] or [0], dtype=np.int64)
        pa = np.zeros((1, 1)) if matrix is None else np.ascontiguousarray(matrix, dtype=np.float64)
        return pf, pa, pi


@inline_njit
def whole_block(objective: int, n: int, pi: np.ndarray) -> int:
    """block_size hook of a state that is one block: the whole sphere, or R^n."""
    return n


@inline_njit
def one_block(objective: int, n: int, pi: np.ndarray) -> int:
    """scratch_words hook of a gradient that needs no more than one Philox block of scratch: 4 words."""
    return 4


@njit
def manifold_uniform_start(
    objective: int,
    sphere: bool,
    bs: int,
    pf: np.ndarray,
    pa: np.ndarray,
    pi: np.ndarray,
    key0: int,
    key1: int,
    m: int,
    start: np.ndarray,
    noise: np.ndarray,
    block: np.ndarray,
) -> None:
    """random_start hook of most objectives: uniform on each sphere block (normalised normals), or
    uniform in the box [-1, 1]^n on R^n (Du et al. 2017's start), from the START stream of step 0."""
    d = start.shape[0]
    if not sphere:  # the d uniforms of step 0
        rng.fill_uniforms(key0, key1, 0, m, rng.START, start, block)
        for k in range(d):
            start[k] = 2.0 * start[k] - 1.0
        return
    rng.fill_normals(key0, key1, 0, m, rng.START, noise, block)  # the d normals of step 0
    for lo in range(0, d, bs):
        norm2 = 0.0
        for k in range(lo, lo + bs):
            start[k] = noise[k]
            norm2 += start[k] * start[k]
        inv = 1.0 / math.sqrt(norm2)
        for k in range(lo, lo + bs):
            start[k] *= inv


@inline_njit
def one_block_a_lane(objective: int, n: int, pi: np.ndarray) -> int:
    """lane_scratch_rows hook of lane hooks that need one Philox block a lane: 4 rows."""
    return 4


@dataclass(frozen=True)
class KernelHooks:
    """The Numba functions through which the fused escape kernel sees an objective.

    ``value(objective, u, pf, pa, pi, work) -> float``
        f at the flat state u (``work``: a scratch array of len(u)).
    ``gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g)``
        Into g: the exact gradient when ``optimizer`` is ``EXACT_GRADIENT``, else the mean of the m per-sample
        gradients of step t, drawn from the streams of key (key0, key1) (saddle.rng); ``eta`` is
        the step size of the step; z, x are scratch arrays of len(u), block a uint64 scratch array of
        ``scratch_words`` words (at least 4: one Philox block).
    ``scratch_words(objective, n, pi) -> int``
        The length of ``block`` that ``gradient`` needs for a state of length n (default 4).  The
        template allocates it once per trial, so a gradient can draw its samples' words in tiles
        without allocating in the step loop.
    ``block_size(objective, n, pi) -> int``
        The length of each sphere block of a state of length n (n itself for one sphere or R^n).
    ``random_start(objective, sphere, bs, pf, pa, pi, key0, key1, m, start, noise, block)``
        Into start: the trial's own random start, from the START stream.
    ``name``
        The name the compiled kernel is cached under (unique among the package's objectives).
    ``lane_gradient(objective, U, pf, pa, pi, key0, keys, ts, m, Z, X, V, words, G)``,
    ``lane_value(objective, U, pf, pa, pi, X, V, F)``, ``lanes_below_m``
        Optional: sgd with m < lanes_below_m then runs saddle.rng.TRIAL_LANES trials in lockstep
        (saddle.kernels.cpu.run_lanes).  Column r of the (d, TRIAL_LANES) arrays U, G is one trial:
        into G[:, r] its mini-batch gradient of step ts[r] from the streams of key (key0, keys[r]),
        into F[r] its f; Z, X (d, TRIAL_LANES) and V (4, TRIAL_LANES) are float scratch, words
        (``lane_scratch_rows``, TRIAL_LANES) uint64 scratch.  Each lane's numbers must be those of
        ``gradient`` and ``value`` bit for bit (the same draws, the same operations in the same order).
    ``lane_scratch_rows(objective, n, pi) -> int``
        The rows of ``words`` that ``lane_gradient`` needs for a state of length n (default 4: one
        Philox block a lane); allocated once per group of lanes, so a lane gradient can draw and keep
        its samples' words in tiles without allocating in the step loop.

    ``objective`` is an unused integer kept for the signature; ``specialise`` in
    :mod:`saddle.kernels.cpu` binds the hooks into the kernel at compile time, so calls cost nothing.
    """

    value: Callable[..., float]
    gradient: Callable[..., None]
    block_size: Callable[..., int] = whole_block
    random_start: Callable[..., None] = manifold_uniform_start
    name: str = ""
    scratch_words: Callable[..., int] = one_block
    lane_gradient: Callable[..., None] | None = None
    lane_value: Callable[..., None] | None = None
    lanes_below_m: int = 0
    lane_scratch_rows: Callable[..., int] = one_block_a_lane


# --------------------------------------------------------------------------------------- objectives


class Objective:
    """The interface of an objective; subclass it, fill in the class attributes, and ``@register``.

    Class attributes
    ----------------
    name : str
        ``--objective NAME``.
    title : str
        One line: what it is and where it comes from (the command line's option group).
    options : tuple of Option
        Its options beyond the generic ones (d, m, eta, ...).
    min_d : int
        The smallest dimension d it accepts.
    uses_d : bool
        Whether the generic ``d`` is its dimension (False: its own options set the size, and d must
        keep its default).
    random_start : str or None
        What ``random_start=True`` draws (None: not supported).
    kernel : KernelHooks
        Its Numba hooks.
    gaussian_kernel : KernelHooks or None
        The hooks of its Gaussian batch-noise mode (``batch_noise='gaussian'``, docs/escape.md), whose
        ``gradient`` gives the exact gradient plus N(0, Sigma(u) / m), Sigma(u) its exact per-sample
        gradient covariance at u, from the ``saddle.rng.BATCH_NOISE`` stream of the step; None: the
        mode is refused for it.
    gpu_code : int or None
        The code of its section in saddle/kernels/escape.cu (None: not on the GPU, ``gpu_refusal`` says why).
    diverged_note : str
        What a diverged trial means for it, when that is not an overflow (the results table says it).
    runs_from_config : bool
        Whether a configuration alone builds it (False for ``user``, which needs Python objects: it is
        then not offered on the command line or in sweep files).
    rank : int
        Where it stands in listings (``--help``, docs): lower first; then by name.
    generic_defaults : dict
        Its own defaults for generic options it does not share with the others (e.g. a step size of
        its scale); an option given explicitly always wins.
    table_columns : tuple of (key, header, format)
        Extra summary columns (from ``summary_extras``) the results table prints.
    theory_footnote : str
        The line under the results table that says what its theory column is.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    min_d: ClassVar[int] = 1
    uses_d: ClassVar[bool] = True
    random_start: ClassVar[str | None] = None
    kernel: ClassVar[KernelHooks]
    gaussian_kernel: ClassVar[KernelHooks | None] = None
    gaussian_exact: ClassVar[bool] = False
    """Whether the Gaussian batch-noise mode is exact in law for it (Gaussian per-sample noise)."""
    gaussian_trusted_m: ClassVar[int] = 0
    """Where the mode is an approximation: the smallest batch size from which it was found indistinguishable
    from exact sampling (docs/escape.md, Gaussian batch noise); a run below it says so."""
    gpu_code: ClassVar[int | None] = None
    gpu_refusal: ClassVar[str] = "escape.cu has no section for it yet"
    diverged_note: ClassVar[str] = ""
    runs_from_config: ClassVar[bool] = True
    rank: ClassVar[int] = 50
    generic_defaults: ClassVar[dict[str, Any]] = {}
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    theory_footnote: ClassVar[str] = (
        "theory: linear median (docs/theory.md; * = noise-dominated, not to be trusted) / heat-path model"
    )
    cache_kernel: ClassVar[bool] = True

    # -- built from a configuration -------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Settings) -> Objective:
        """The objective a (validated) configuration simulates."""
        raise NotImplementedError

    @classmethod
    def check_config(cls, config: Settings) -> None:
        """Checks across options (each option is checked on its own before); ConfigError if invalid."""

    def start_point(self, config: Settings) -> np.ndarray:
        """u_0, flat: the saddle the experiment starts at."""
        raise NotImplementedError

    def start_point_for(self, config: Settings, m: int) -> np.ndarray:
        """u_0 for batch size m: ``start_point`` unless the start depends on m (a fixed point of eta/m)."""
        return self.start_point(config)

    # -- the maths the generic code needs -------------------------------------------------------
    manifold: Any

    def state_length(self) -> int | None:
        """The length of the flat state u: the ambient size of its manifold (d for the sphere S^{d-1} or
        R^d, d k for k spheres); None where the manifold does not say (the start's length is then not checked)."""
        d = getattr(self.manifold, "d", None)
        if not isinstance(d, int):
            return None
        k = getattr(self.manifold, "k", 1)
        return d * k if isinstance(k, int) else None

    def f(self, u: np.ndarray) -> float:
        raise NotImplementedError

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pf, pa, pi) for the kernel hooks (see :class:`ParamLayout`)."""
        raise NotImplementedError

    def saddle_theory(self, config: Settings) -> SaddleQuantities | None:
        """The linear theory's quantities at the start (docs/theory.md), or None where it has none."""
        return None

    def theory_prediction(self, config: Settings, m: int) -> dict[str, Any] | None:
        """Its own theory columns for batch size m (theory_median_steps, theory_model_median_steps,
        theory_regime, theory_trusted), for an objective whose prediction is not the linear escape law of docs/theory.md
        at a saddle of f; None: the linear law from ``saddle_theory`` (or no theory)."""
        return None

    @classmethod
    def default_target(cls, config: Settings) -> float | None:
        """The escape target f when none is given (None: escape is the f-drop by delta)."""
        return None

    @classmethod
    def summary_extras(cls, config: Settings, row: Mapping[str, Any]) -> dict[str, Any]:
        """Extra columns of summary.csv computed from a row (e.g. times in the objective's own units)."""
        return {}

    # -- reporting ------------------------------------------------------------------------------
    @classmethod
    def describe(cls, config: Settings) -> str:
        """One line naming the objective, its size and its options (tables and figures)."""
        parts = [f"{cls.name}"] + ([f"d={config.d}"] if cls.uses_d else [])
        for option in cls.options:
            value = config.options.get(option.name)
            if value is not None:
                parts.append(f"{option.name}={_fmt(value)}")
        return " ".join(parts[:2]) + "".join(f", {p}" for p in parts[2:])

    @classmethod
    def start_warnings(cls, config: Settings) -> list[str]:
        """One line for each known way the start is a fixed point of the noise given (docs/objectives.md:
        spike, ge2015)."""
        return []

    trap_exits: ClassVar[str] = ""
    """The ways out of its traps, for the refusal (e.g. the options that break a symmetry)."""

    @classmethod
    def traps(cls, config: Settings) -> list[str]:
        """One line for each reason the start is a fixed point of the noise given, so that no trial can
        escape at any m; the configuration refuses such a run unless ``allow_trap`` (docs/objectives.md, ge2015)."""
        return []

    @classmethod
    def samples_per_step(cls, config: Settings, m: int) -> int:
        """Samples one step draws at batch size m."""
        return m

    @classmethod
    def min_value(cls, config: Settings) -> float | None:
        """The global minimum of f, where it is known in closed form (None: unknown)."""
        return None

    @classmethod
    def max_drop(cls, config: Settings) -> float | None:
        """f(u_0) - f_min from the saddle start, where known: the largest f-drop a trial can make."""
        return None

    @classmethod
    def words_per_step(cls, config: Settings, m: int) -> int:
        """An upper bound on the 32-bit random words one step draws for one purpose at batch size m (the
        streams' layout caps it: saddle.rng): by default one word per coordinate of m samples of length d,
        or two per coordinate for normals."""
        return max(m, 2) * config.d

    @classmethod
    def memory_bytes(cls, config: Settings) -> int:
        """Bytes its parameters take while a run builds and checks them (a d x d matrix, a few copies)."""
        return 4 * 8 * config.d**2

    @classmethod
    def size_options(cls) -> tuple[str, ...]:
        """The options that set its size (what ``memory_bytes`` grows with): ``d`` where d is its dimension,
        else its own (the teacher-student's N, K, M); messages about memory name these."""
        return ("d",) if cls.uses_d else ()


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ----------------------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Objective]] = {}


def register(cls: type[Objective]) -> type[Objective]:
    """Class decorator: add an objective to the registry under ``cls.name``.

    Registering a second class under a taken name is an error; registering the same class again
    (a module imported twice) is not.
    """
    if not cls.name or not isinstance(cls.name, str):
        raise TypeError(f"{cls.__name__} needs a class attribute name")
    old = _REGISTRY.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"an objective named {cls.name!r} is already registered ({old.__module__}.{old.__qualname__})")
    if not cls.__module__.startswith("saddle."):  # a user's objective: its hooks are not in the package's
        cls.cache_kernel = False  # source fingerprint (saddle/_numba.py), so its kernel is not cached on disk
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove an objective from the registry (tests that register their own clean up with this)."""
    _REGISTRY.pop(name, None)


def registered() -> Mapping[str, type[Objective]]:
    """Every registered objective, by name, in listing order (``rank``, then name).  (Importing
    :mod:`saddle.objectives` registers the package's own: it imports each of its modules.)"""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].rank, item[0])))


def get(name: str) -> type[Objective]:
    """The objective registered under ``name``; ConfigError naming the choices if there is none."""
    objectives = registered()
    if name not in objectives:
        raise ConfigError(f"unknown objective {name!r}; choose one of {', '.join(objectives)}")
    return objectives[name]


def load_file(path: str) -> None:
    """Import a Python file that registers objectives (``python -m saddle.experiments --load FILE``).

    The file is run as a module of its own (named after the file); it registers its objectives with
    ``@register`` as it is imported.  Any failure is a one-line ConfigError.
    """
    import importlib.util
    import sys

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--load: no such file: {str(path)!r}")
    name = f"saddle_user_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--load: {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: any error becomes one line
        sys.modules.pop(name, None)
        where = user_code_error(err, [file])
        raise ConfigError(f"--load: {path} failed: {where or _first_line(err)}") from None
    LOADED_FILES.append(file.resolve())


LOADED_FILES: list[Path] = []
"""The files ``load_file`` imported (resolved), whose errors :func:`user_code_error` reports as the user's."""


def _first_line(err: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # (Numba colours its messages)
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def user_code_error(err: BaseException, files: Sequence[Path] | None = None) -> str | None:
    """Where ``err`` comes from in a loaded file (``--load``), in one line: "FILE, line N, in FUNCTION:
    TYPE: MESSAGE", or None when it does not come from one.

    The place is the innermost frame of the traceback in one of the files; for an error of Numba's
    compiler (a hook that cannot be compiled) it is the first place in one of the files that the
    compiler's message names.  ``files``: the files to look for (default: every loaded file)."""
    paths = [Path(f).resolve() for f in (LOADED_FILES if files is None else files)]
    if not paths:
        return None
    names = {str(p) for p in paths}
    place = None
    for frame in traceback.extract_tb(err.__traceback__):
        if str(Path(frame.filename).resolve()) in names:
            place = f"{frame.filename}, line {frame.lineno}, in {frame.name}"
    if place is None and type(err).__module__.startswith("numba"):
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
        for match in re.finditer(r'File "([^"]+)", line (\d+)', text):
            found = [p for p in paths if p.name == Path(match.group(1)).name]
            if found:
                place = f"{found[0]}, line {match.group(2)}"
                break
        if place is not None:  # the compiler's own first line says what failed to compile
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            at = next((i for i, ln in enumerate(lines) if not ln.startswith(("Failed in", "During:", "File "))), 0)
            what = lines[at]
            if what.endswith(":") and at + 1 < len(lines):  # "... found for signature:" and the signature
                what = f"{what} {lines[at + 1]}"
            return f"{place}: Numba cannot compile it: {what}"
    if place is None:
        return None
    return f"{place}: {_first_line(err)}"


def option_owners(name: str) -> list[str]:
    """The objectives that declare an option named ``name``."""
    return [o.name for o in registered().values() if any(opt.name == name for opt in o.options)]
