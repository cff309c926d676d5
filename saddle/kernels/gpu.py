"""The cupy backend: the escape kernel on an NVIDIA GPU, one thread per trial.

The kernel is ``escape.cu`` beside this file: one CUDA C source that mirrors
:func:`saddle.kernels.cpu.run_trial` operation by operation and draws the same
random numbers (Philox4x32-10 keyed by (seed, trial), the stream layout of
:mod:`saddle.rng`), so for the same seed a trial sees the same samples on
either backend.  CuPy compiles it at run time with NVRTC (``cupy.RawModule``,
once per process and build; CuPy also caches the binary on disk).

The same file compiles as C with gcc: :class:`CTwin` builds it for the CPU
and runs the "threads" serially through ctypes.  Everything in this module
that prepares and launches a kernel (:func:`run_trials_on`) takes a *device*
(:class:`CupyDevice` or :class:`CTwin`) whose ``xp`` is CuPy or NumPy, so the
tests exercise the GPU code path, array handling included, on machines
without a GPU (``tests/test_gpu_source.py``).

Selecting the backend: ``saddle.kernels.run_trials(..., backend="cupy")``
(and ``run_escape(..., backend="cupy")``) call :func:`run_trials_cupy`.
CuPy is imported only then; without CuPy or a usable GPU the call raises
:class:`BackendUnavailable`, a ValueError whose message is one line saying
what is missing and how to install it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from saddle import optimizers
from saddle.kernels.outputs import Recorder, TrialBlock
from saddle.kernels.record import checked_params
from saddle.manifolds import EUCLIDEAN, SPHERE, ProductSpheres, Sphere

if TYPE_CHECKING:
    from saddle.objectives.base import Objective

SOURCE = Path(__file__).resolve().with_name("escape.cu")
"""The CUDA C source (also valid C11) of every kernel of this backend."""

INSTALL_HINT = "pip install 'saddle[gpu]' (the cupy-cuda12x wheel; for another CUDA, its cupy-cudaXXx)"

Build = tuple[tuple[str, int], ...]
"""A build of escape.cu: its -D defines as (macro, value) pairs (:func:`build_for`)."""


def supported_optimizers() -> dict[str, int]:
    """The registered optimisers escape.cu implements, name -> their section's code (each optimiser
    says itself whether escape.cu has a section for it: ``Optimizer.gpu_code``; so does an objective)."""
    return {name: cls.gpu_code for name, cls in optimizers.registered().items() if cls.gpu_code is not None}


PO_FIELDS = (
    "sigma_iso",
    "momentum",
    "perturbation_radius",
    "grad_threshold",
    "t_threshold",
    "cnc_eta",
    "lr_decay",
    "batch_after_drop",
)
"""escape.cu's ``po`` array: the optimisers' options and the schedules it reads, by position
(PO_SIGMA_ISO = 0, ... in escape.cu)."""


def supported_objectives() -> dict[str, int]:
    """The registered objectives escape.cu implements, name -> their section's code."""
    from saddle.objectives.base import registered

    return {name: cls.gpu_code for name, cls in registered().items() if cls.gpu_code is not None}


FIXED_DIM_MAX = 10
"""Up to this length of the state vector (d; d k for ge2015) the kernel is compiled for the exact
length (-DSADDLE_D), so each thread's vectors are local arrays the compiler can keep in registers;
above it, one build for every length keeps them in a global workspace (N_VECTORS d doubles per
trial, coalesced).  NVRTC 12.9 for sm_90, spike-sgd build: exact length 4, 126 registers; 10, 168;
12 and 16, 254 (no spills); 32 spills; the workspace build 128.  Unmeasured on a GPU so far:
benchmarks/gpu_check.py times both builds (its step 5) to set this from measurements."""

N_VECTORS = 8
"""Per-thread vectors of the state's length in escape.cu: u, g, p, z, x, noise, velocity, start."""

THREADS_PER_BLOCK = 128
"""CUDA block size of every launch (one thread per trial)."""

WORKSPACE_BYTES = 512 * 2**20
"""At most this much workspace per launch (the workspace build); more trials are split into launches."""

NVRTC_OPTIONS = ("--fmad=false",)
"""No fused multiply-add contraction, as in Numba's kernel: the arithmetic rounds the same way."""

C_FLAGS = ("-O2", "-shared", "-fPIC", "-std=c11", "-ffp-contract=off")
"""How the C twin is compiled (``-x c SOURCE -lm`` follow)."""

# Kernel parameters, in the order of escape.cu: (name, kind).  Scalar kinds are i64, u64 and f64;
# "ptr:<dtype>" is a device array of that dtype (C: a pointer to its first element).
_I64, _U64, _F64 = "i64", "u64", "f64"
SIGNATURES = {
    "escape_trials": (
        ("n", _I64),
        ("trial0", _I64),
        ("seed", _U64),
        ("d", _I64),
        ("u0", "ptr:float64"),
        ("objective", _I64),
        ("manifold", _I64),
        ("pf", "ptr:float64"),
        ("pa", "ptr:float64"),
        ("pi", "ptr:int64"),
        ("optimizer", _I64),
        ("m", _I64),
        ("eta", _F64),
        ("po", "ptr:float64"),
        ("delta", _F64),
        ("radius", _F64),
        ("target", _F64),
        ("random_start", _I64),
        ("max_steps", _I64),
        ("steps", "ptr:int64"),
        ("status", "ptr:int8"),
        ("final_f", "ptr:float64"),
        ("final_u", "ptr:float64"),
        ("keep_u", _I64),
        ("rec_f", "ptr:float64"),
        ("rec_lo", _I64),
        ("rec_hi", _I64),
        ("rec_points", _I64),
        ("rec_count", "ptr:int64"),
        ("rec_stride", "ptr:int64"),
        ("work", "ptr:float64"),
    ),
    "philox_stream": (
        ("n_blocks", _I64),
        ("seed", _U64),
        ("trial", _U64),
        ("t", _U64),
        ("m", _U64),
        ("purpose", _U64),
        ("out", "ptr:uint64"),
    ),
    "variate_stream": (
        ("n", _I64),
        ("kind", _I64),
        ("dist", _I64),
        ("seed", _U64),
        ("trial", _U64),
        ("t", _U64),
        ("m", _U64),
        ("purpose", _U64),
        ("out", "ptr:float64"),
    ),
}
_SCALARS: dict[str, Callable[[float], np.generic]] = {_I64: np.int64, _U64: np.uint64, _F64: np.float64}
_CTYPES = {_I64: ctypes.c_int64, _U64: ctypes.c_uint64, _F64: ctypes.c_double}


class BackendUnavailable(ValueError):
    """The cupy backend cannot run here (no CuPy, no GPU, no NVRTC); the message is one line.

    A ValueError, so that the command line prints it as one line and exits with status 2.
    """


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def unavailable(what: str) -> BackendUnavailable:
    """The BackendUnavailable error for ``what`` is missing (one line)."""
    return BackendUnavailable(f"the cupy backend needs CuPy and a CUDA GPU: {what}; {INSTALL_HINT}")


def check_supported(objective: Objective, optimizer: str) -> None:
    """Raise ValueError naming the objective or optimiser that escape.cu does not implement."""
    if getattr(objective, "kernel_functions", None) is not None or not type(objective).runs_from_config:
        name = getattr(objective, "obj", objective).name
        raise ValueError(
            f"user objective {name!r} is not supported on the cupy backend: its "
            "kernel_functions are Numba CPU functions; use backend='cpu'"
        )
    if objective.gpu_code is None:
        raise ValueError(
            f"objective {objective.name!r} is not supported on the cupy backend "
            f"({objective.gpu_refusal}; supported: {', '.join(supported_objectives())}); "
            "use backend='cpu'"
        )
    spec = optimizers.get(optimizer)
    if spec.gpu_code is None:
        raise ValueError(
            f"optimizer {optimizer!r} is not supported on the cupy backend ({spec.gpu_refusal}; "
            f"supported: {', '.join(supported_optimizers())}); use backend='cpu'"
        )


def pack_args(kernel: str, values: Mapping[str, Any], xp: Any) -> list[Any]:
    """The argument list of ``kernel`` from a dict of values, each converted to its exact type.

    Scalars become NumPy scalars of the parameter's width (int64, uint64, float64); arrays must
    already be contiguous ``xp`` arrays of the parameter's dtype (nothing is copied silently).
    """
    signature = SIGNATURES[kernel]
    missing = {name for name, _ in signature} ^ set(values)
    if missing:
        raise TypeError(f"{kernel}: arguments {sorted(missing)} missing or unexpected")
    args = []
    for name, kind in signature:
        value = values[name]
        if kind.startswith("ptr:"):
            dtype = np.dtype(kind[4:])
            if not isinstance(value, xp.ndarray) or value.dtype != dtype or not value.flags.c_contiguous:
                raise TypeError(f"{kernel}: {name} must be a contiguous {xp.__name__} array of {dtype}")
            args.append(value)
        else:
            if kind == _U64 and not 0 <= int(value) < 2**64:
                raise ValueError(f"{kernel}: {name} = {value} does not fit in 64 unsigned bits")
            if kind == _I64 and not -(2**63) <= int(value) < 2**63:
                raise ValueError(f"{kernel}: {name} = {value} does not fit in 64 signed bits")
            args.append(_SCALARS[kind](int(value) if kind != _F64 else float(value)))
    return args


def build_for(
    objective_code: int, optimizer_code: int, n: int, *, fixed_dim_max: int = FIXED_DIM_MAX, specialise: bool = True
) -> Build:
    """The -D defines of the escape_trials build for a configuration, as a tuple of (macro, value).

    ``specialise`` makes the objective and optimiser compile-time constants (SADDLE_OBJECTIVE,
    SADDLE_OPTIMIZER); a state of length n <= fixed_dim_max gets the exact-length build (SADDLE_D).
    """
    build: Build = ()
    if specialise:
        build += (("SADDLE_OBJECTIVE", int(objective_code)), ("SADDLE_OPTIMIZER", int(optimizer_code)))
    if n <= fixed_dim_max:
        build += (("SADDLE_D", int(n)),)
    return build


def optimizer_codes() -> tuple[tuple[str, int], ...]:
    """The optimisers' section codes as escape.cu names them (SGD, GD, NOISY_SGD, ...): defined at every
    build from the registry (``Optimizer.gpu_code``), so that escape.cu holds no optimiser number."""
    return tuple((name.upper().replace("-", "_"), code) for name, code in supported_optimizers().items())


def _defines(build: Build) -> list[str]:
    return [f"-D{name}={value}" for name, value in optimizer_codes() + tuple(build)]


# ---------------------------------------------------------------------------------------------
# Devices: where escape.cu runs.  Each has ``xp`` (its array module), ``launch`` and ``to_host``.
# ---------------------------------------------------------------------------------------------


class CupyDevice:
    """escape.cu compiled by NVRTC through cupy.RawModule, launched one thread per trial."""

    name = "cupy"

    def __init__(self) -> None:
        try:
            import cupy
        except ImportError as err:
            raise unavailable(f"CuPy is not installed ({_first_line(err)})") from None
        except Exception as err:  # a broken install: CUDA libraries missing, wrong wheel, ...
            raise unavailable(f"CuPy could not be imported ({_first_line(err)})") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:
            raise unavailable(f"no usable CUDA driver or GPU ({_first_line(err)})") from None
        if count < 1:
            raise unavailable("no CUDA GPU is visible")
        self.xp = cupy
        self._modules: dict[Build, Any] = {}

    def module(self, build: Build = ()) -> Any:
        """The module compiled with the defines of ``build`` (compiled once per process)."""
        if build not in self._modules:
            module = self.xp.RawModule(code=SOURCE.read_text(), options=NVRTC_OPTIONS + tuple(_defines(build)))
            try:
                module.compile()
            except Exception as err:
                text = str(err).lower()
                if "nvrtc" in text and ("load" in text or "not found" in text or "cannot open" in text):
                    raise unavailable(
                        f"NVRTC, the CUDA runtime compiler, could not be loaded ({_first_line(err)})"
                    ) from None
                raise
            self._modules[build] = module
        return self._modules[build]

    def launch(self, kernel: str, n_threads: int, args: Sequence[Any], build: Build = ()) -> None:
        function = self.module(build).get_function(kernel)
        blocks = (int(n_threads) + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        function((blocks,), (THREADS_PER_BLOCK,), tuple(args))

    def to_host(self, array: Any) -> np.ndarray:
        return self.xp.asnumpy(array)

    def synchronize(self) -> None:
        self.xp.cuda.Device().synchronize()

    def describe(self) -> str:
        """One line: the GPU, its compute capability and memory, the driver and CuPy versions."""
        cupy = self.xp
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        driver = cupy.cuda.runtime.driverGetVersion()
        return (
            f"{name}, compute capability {dev.compute_capability}, "
            f"{props['totalGlobalMem'] / 2**30:.0f} GiB, {props['multiProcessorCount']} SMs; "
            f"CUDA driver {driver // 1000}.{driver % 1000 // 10}, CuPy {cupy.__version__}"
        )


class CTwin:
    """escape.cu compiled as C for the CPU: the GPU code path, one "thread" after another.

    Parameters
    ----------
    build_dir : path, optional
        Where the shared libraries go (a fresh temporary folder when omitted).
    compiler : str, optional
        The C compiler; gcc or cc from PATH when omitted.
    """

    name = "c-twin"
    xp = np

    def __init__(self, build_dir: str | os.PathLike[str] | None = None, compiler: str | None = None) -> None:
        compiler = compiler or shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise RuntimeError("the C twin of escape.cu needs a C compiler (gcc or cc on PATH)")
        self.compiler = compiler
        self.build_dir = Path(build_dir or tempfile.mkdtemp(prefix="saddle-ctwin-"))
        self._libraries: dict[Build, ctypes.CDLL] = {}

    def compile_command(self, build: Build, output: str | os.PathLike[str]) -> list[str]:
        return [self.compiler, *C_FLAGS, *_defines(build), "-x", "c", str(SOURCE), "-o", str(output), "-lm"]

    def library(self, build: Build = ()) -> ctypes.CDLL:
        if build not in self._libraries:
            tag = "-".join(f"{name[7:].lower()}{value}" for name, value in build) or "generic"
            output = self.build_dir / f"escape-{tag}-{os.getpid()}.so"
            done = subprocess.run(self.compile_command(build, output), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"compiling escape.cu as C failed:\n{done.stderr}")
            lib = ctypes.CDLL(str(output))
            for kernel, signature in SIGNATURES.items():
                host = getattr(lib, f"{kernel}_host")
                host.restype = None
                host.argtypes = [ctypes.c_void_p if kind.startswith("ptr:") else _CTYPES[kind] for _, kind in signature]
            self._libraries[build] = lib
        return self._libraries[build]

    def launch(self, kernel: str, n_threads: int, args: Sequence[Any], build: Build = ()) -> None:
        host = getattr(self.library(build), f"{kernel}_host")
        host(*[a.ctypes.data if isinstance(a, np.ndarray) else a.item() for a in args])

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def synchronize(self) -> None:
        pass

    def describe(self) -> str:
        return f"escape.cu compiled as C by {self.compiler} ({' '.join(C_FLAGS)}), run serially"


_cupy_device: CupyDevice | None = None


def cupy_device() -> CupyDevice:
    """The process's CupyDevice (created on first use); BackendUnavailable if it cannot run."""
    global _cupy_device
    if _cupy_device is None:
        _cupy_device = CupyDevice()
    return _cupy_device


def availability() -> tuple[bool, str]:
    """(True, description of the GPU) or (False, the one-line reason the cupy backend cannot run)."""
    try:
        return True, cupy_device().describe()
    except BackendUnavailable as err:
        return False, str(err)


# ---------------------------------------------------------------------------------------------
# Running trials.
# ---------------------------------------------------------------------------------------------


def run_trials_cupy(
    objective: Objective,
    u0: npt.ArrayLike,
    *,
    optimizer: str,
    batch_size: int,
    eta: float,
    sigma_iso: float,
    delta: float,
    radius: float | None,
    max_steps: int,
    seed: int,
    trial_start: int,
    n_trials: int,
    recorder: Recorder | None = None,
    params: Mapping[str, Any] | None = None,
    target: float | None = None,
    random_start: bool = False,
    keep_final_u: bool = False,
) -> TrialBlock:
    """:func:`saddle.kernels.run_trials` on the GPU (the same arguments, the same TrialBlock).

    Raises ValueError naming the objective or optimiser if escape.cu does not implement it, and
    BackendUnavailable (one line) without CuPy or a usable GPU.
    """
    check_supported(objective, optimizer)
    return run_trials_on(
        cupy_device(),
        objective,
        u0,
        optimizer=optimizer,
        batch_size=batch_size,
        eta=eta,
        sigma_iso=sigma_iso,
        delta=delta,
        radius=radius,
        max_steps=max_steps,
        seed=seed,
        trial_start=trial_start,
        n_trials=n_trials,
        recorder=recorder,
        params=params,
        target=target,
        random_start=random_start,
        keep_final_u=keep_final_u,
    )


def optimizer_array(sigma_iso: float, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """escape.cu's ``po`` array: the values of :data:`PO_FIELDS` in order (0 for those ``params``, a
    mapping of option values by name, lacks), ``sigma_iso`` first."""
    values = dict(params or {})
    values["sigma_iso"] = sigma_iso
    return np.array([float(values.get(name) or 0.0) for name in PO_FIELDS])


def run_trials_on(
    device: CupyDevice | CTwin,
    objective: Objective,
    u0: npt.ArrayLike,
    *,
    optimizer: str,
    batch_size: int,
    eta: float,
    sigma_iso: float,
    delta: float,
    radius: float | None,
    max_steps: int,
    seed: int,
    trial_start: int,
    n_trials: int,
    recorder: Recorder | None = None,
    params: Mapping[str, Any] | None = None,
    target: float | None = None,
    random_start: bool = False,
    keep_final_u: bool = False,
    fixed_dim_max: int = FIXED_DIM_MAX,
    specialise: bool = True,
) -> TrialBlock:
    """Run trials trial_start .. trial_start + n_trials - 1 with escape.cu on ``device``.

    The array code is the same for every device: inputs are copied to ``device.xp`` arrays, the
    kernel writes one entry per trial, and the outputs (and the Recorder rows of the trials that
    record, filled in place) come back as NumPy arrays.  ``target``, ``random_start`` and
    ``keep_final_u`` are run_trials'.  ``fixed_dim_max`` and ``specialise`` choose the build
    (:func:`build_for`).
    """
    check_supported(objective, optimizer)
    xp = device.xp
    pf, pa, pi = checked_params(objective)
    manifold = SPHERE if isinstance(objective.manifold, (Sphere, ProductSpheres)) else EUCLIDEAN
    u0 = np.ascontiguousarray(u0, dtype=np.float64)
    n_state = u0.shape[0]
    n_trials = int(n_trials)
    trial_start = int(trial_start)
    objective_code = objective.gpu_code
    assert objective_code is not None  # check_supported refused the objective otherwise
    optimizer_code = supported_optimizers()[optimizer]
    build = build_for(objective_code, optimizer_code, n_state, fixed_dim_max=fixed_dim_max, specialise=specialise)
    workspace = n_state > fixed_dim_max
    if recorder is None:
        recorder = Recorder.empty(0, 2)
    n_record, points = recorder.f.shape
    rec_lo = trial_start
    rec_hi = max(rec_lo, min(n_record, trial_start + n_trials))

    def device_array(a, dtype):
        return xp.asarray(np.ascontiguousarray(a, dtype=dtype))

    steps = xp.empty(n_trials, np.int64)
    status = xp.empty(n_trials, np.int8)
    final_f = xp.empty(n_trials, np.float64)
    final_u = xp.empty((n_trials if keep_final_u else 1) * n_state, np.float64)
    rec_f = device_array(recorder.f[rec_lo:rec_hi], np.float64)
    rec_count = device_array(recorder.count[rec_lo:rec_hi], np.int64)
    rec_stride = device_array(recorder.stride[rec_lo:rec_hi], np.int64)
    common = dict(
        seed=seed,
        d=n_state,
        u0=device_array(u0, np.float64),
        objective=objective_code,
        manifold=manifold,
        pf=device_array(pf, np.float64),
        pa=device_array(pa, np.float64),
        pi=device_array(pi, np.int64),
        optimizer=optimizer_code,
        m=batch_size,
        eta=eta,
        po=device_array(optimizer_array(sigma_iso, params), float),
        delta=delta,
        radius=0.0 if radius is None else radius,
        target=np.nan if target is None else target,
        random_start=int(bool(random_start)),
        max_steps=max_steps,
        keep_u=int(bool(keep_final_u)),
        rec_f=rec_f,
        rec_lo=rec_lo,
        rec_hi=rec_hi,
        rec_points=points,
        rec_count=rec_count,
        rec_stride=rec_stride,
    )
    per_launch = max(1, WORKSPACE_BYTES // (N_VECTORS * n_state * 8)) if workspace else max(1, n_trials)
    for lo in range(0, n_trials, per_launch):
        n = min(per_launch, n_trials - lo)
        work = xp.empty(N_VECTORS * n_state * n if workspace else 1, np.float64)
        args = pack_args(
            "escape_trials",
            dict(
                common,
                n=n,
                trial0=trial_start + lo,
                steps=steps[lo : lo + n],
                status=status[lo : lo + n],
                final_f=final_f[lo : lo + n],
                final_u=final_u[lo * n_state : (lo + n) * n_state] if keep_final_u else final_u,
                work=work,
            ),
            xp,
        )
        device.launch("escape_trials", n, args, build)
    block = TrialBlock(
        trial_start,
        device.to_host(steps),
        device.to_host(status),
        device.to_host(final_f),
        device.to_host(final_u).reshape(n_trials, n_state) if keep_final_u else None,
    )
    if rec_hi > rec_lo:
        recorder.f[rec_lo:rec_hi] = device.to_host(rec_f)
        recorder.count[rec_lo:rec_hi] = device.to_host(rec_count)
        recorder.stride[rec_lo:rec_hi] = device.to_host(rec_stride)
    return block


def philox_words(device: CupyDevice | CTwin, seed: int, trial: int, t: int, m: int, purpose: int, n: int) -> np.ndarray:
    """The first n 32-bit words (uint32) of the stream (seed, trial, t, m, purpose), computed on ``device``.

    Equal to :func:`saddle.rng.words` (and randomgen's Philox4x32-10) by contract; gpu_check compares them.
    """
    n_blocks = (int(n) + 3) // 4
    out = device.xp.empty(4 * n_blocks, np.uint64)
    args = pack_args(
        "philox_stream", dict(n_blocks=n_blocks, seed=seed, trial=trial, t=t, m=m, purpose=purpose, out=out), device.xp
    )
    device.launch("philox_stream", n_blocks, args)
    return device.to_host(out)[: int(n)].astype(np.uint32)


def stream_variates(
    device: CupyDevice | CTwin, kind: str, seed: int, trial: int, t: int, m: int, purpose: int, n: int, dist: int = 0
) -> np.ndarray:
    """The first n variates of a stream on ``device``: kind "data" (the 32-bit data variates of
    distribution code ``dist``, 32-bit word q -> variate q) or "normal" (Box-Muller normals)."""
    codes = {"data": 0, "normal": 1}
    out = device.xp.empty(int(n), np.float64)
    args = pack_args(
        "variate_stream",
        dict(n=int(n), kind=codes[kind], dist=dist, seed=seed, trial=trial, t=t, m=m, purpose=purpose, out=out),
        device.xp,
    )
    device.launch("variate_stream", int(n), args)
    return device.to_host(out)
