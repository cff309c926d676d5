"""The cupy backend's kernel without a GPU: escape.cu compiled as C equals the Numba kernel.

``saddle/kernels/escape.cu`` is one source that NVRTC compiles for the GPU and a C compiler
compiles for the CPU (its C twin, :class:`saddle.kernels.gpu.CTwin`: the "threads" run one after
another).  Here the C twin goes through the same host code as the GPU
(:func:`saddle.kernels.gpu.run_trials_on`, NumPy in place of CuPy) and must give

- the raw Philox4x32-10 words of randomgen's Philox(number=4, width=32) and the variates of
  saddle.rng, bit for bit;
- the Numba CPU kernel's escape step and status for every trial (the fraction of trials whose
  escape step differs is stated and must be 0: both compile the same IEEE arithmetic in the same
  order, without fused multiply-adds, and call the same libm), its final f to rtol 1e-9 and its
  recorded trajectories.

The host-side logic of the cupy backend (argument packing, the one-line error without CuPy or a
GPU, what is supported) is tested without CuPy too.  The tests that need a real GPU are in
tests/test_gpu.py.
"""

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from saddle import optimizers, rng
from saddle.config import EscapeConfig
from saddle.kernels import BackendUnavailable, Recorder, gpu, run_trials
from saddle.kernels import cpu as cpu_kernel
from saddle.manifolds import EUCLIDEAN, SPHERE
from saddle.objectives import QuadraticSaddle, SpikeTensor
from saddle.objectives.base import registered
from saddle.objectives.ge2015 import PER_COLUMN, GeTensorDecomposition
from saddle.optimizers import OptimizerParams
from tests.reference import philox_words

COMPILER = shutil.which("gcc") or shutil.which("cc")
needs_compiler = pytest.mark.skipif(
    COMPILER is None, reason="no C compiler (gcc or cc) on PATH: the C twin of escape.cu cannot be built"
)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    if COMPILER is None:
        pytest.skip("no C compiler (gcc or cc) on PATH")
    return gpu.CTwin(tmp_path_factory.mktemp("ctwin"), COMPILER)


# ---------------------------------------------------------------------------------------------
# Random streams
# ---------------------------------------------------------------------------------------------

KEYS = [
    # seed, trial, t, m, purpose
    (0, 0, 1, 1, rng.DATA),
    (3, 7, 12, 32, rng.NOISE),
    (2**64 - 1, 2**32 - 5, 10_000, 1024, rng.DATA),
    (123456789, 99_999, 2**32 - 1, 2**30, 2),
]


@needs_compiler
@pytest.mark.parametrize("key", KEYS)
def test_philox_blocks_equal_randomgen_philox(twin, key):
    words = gpu.philox_words(twin, *key, 37)
    np.testing.assert_array_equal(words, philox_words(*key, 37))


@needs_compiler
@pytest.mark.parametrize("dist", [rng.UNIFORM, rng.RADEMACHER, rng.LAPLACE])
@pytest.mark.parametrize("key", KEYS[:3])
def test_data_variates_equal_saddle_rng_bit_for_bit(twin, key, dist):
    """Against rng.data_variate, the kernel's own (scalar, libm) function.  (rng.data_variates, the
    vectorised NumPy version, may differ from it by an ulp for laplace: NumPy's SIMD log is not libm's.)"""
    n = 203  # not a multiple of 4: the last block is used in part
    got = gpu.stream_variates(twin, "data", *key, n, dist=dist)
    words = rng.words(*key, n)
    want = np.array([rng.data_variate(np.uint64(h), dist) for h in words])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, rng.data_variates(words, dist), rtol=4e-16, atol=0)


@needs_compiler
@pytest.mark.parametrize("key", KEYS[:3])
def test_normals_equal_saddle_rng_bit_for_bit(twin, key):
    seed, trial, t, m, purpose = key
    n = 27
    want = np.empty(n)
    rng.fill_normals(np.uint64(seed), np.uint64(trial), t, m, purpose, want, np.empty(4, np.uint64))
    np.testing.assert_array_equal(gpu.stream_variates(twin, "normal", *key, n), want)


# ---------------------------------------------------------------------------------------------
# Trials: the C twin through the GPU host code against the Numba kernel
# ---------------------------------------------------------------------------------------------


def _spike(d, dist, rotated, seed=3):
    A = scipy.stats.ortho_group.rvs(d, random_state=seed) if rotated else None
    return SpikeTensor(d, dist, A)


def _spike_case(d, dist, optimizer, m, eta, sigma_iso, rotated, radius, s=2):
    obj = _spike(d, dist, rotated)
    u0 = obj.saddle(s)
    if optimizer == "gd":  # start slightly off the saddle, or gd never moves
        u0 = obj.manifold.retract(u0, 1e-3 * obj.manifold.random_tangent(u0, np.random.default_rng(3)))
    return (
        obj,
        u0,
        dict(optimizer=optimizer, batch_size=m, eta=eta, sigma_iso=sigma_iso, delta=0.1, radius=radius, max_steps=400),
    )


def _quadratic_case(d, optimizer, m, eta, sigma_iso, radius, full_sigma):
    Sigma = np.eye(d) if not full_sigma else np.diag(np.arange(1.0, d + 1)) + 0.3 * (np.ones((d, d)) - np.eye(d))
    obj = QuadraticSaddle(d, 1.0, np.linspace(0.5, 2.0, d - 1) if d > 1 else 1.0, 1.0, Sigma)
    u0 = obj.start() + (1e-3 if optimizer == "gd" else 0.0)
    return (
        obj,
        u0,
        dict(optimizer=optimizer, batch_size=m, eta=eta, sigma_iso=sigma_iso, delta=0.1, radius=radius, max_steps=600),
    )


def _ge_case(dist, sampling, optimizer, m, eta, sigma_iso, rotated, perturbed, d=4, k=4):
    A = scipy.stats.ortho_group.rvs(d, random_state=5) if rotated else None
    obj = GeTensorDecomposition(d, k, dist, A, sampling)
    U0 = obj.collision_saddle()
    if perturbed:
        U0 = obj.manifold.retract(U0, 0.05 * obj.manifold.random_tangent(U0, np.random.default_rng(1)))
    return (
        obj,
        obj.flatten(U0),
        dict(optimizer=optimizer, batch_size=m, eta=eta, sigma_iso=sigma_iso, delta=0.2, radius=None, max_steps=400),
    )


def _with_optimizer(case, optimizer, eta, max_steps, **params):
    """A case run with momentum, pgd or cnc-pgd (tests/test_optimizers.py::CASES) instead."""
    obj, u0, kw = case
    if isinstance(obj, (SpikeTensor, GeTensorDecomposition)):
        u0 = obj.saddle(2) if isinstance(obj, SpikeTensor) else obj.flatten(obj.collision_saddle())
    else:
        u0 = obj.start()
    return (
        obj,
        u0,
        dict(kw, optimizer=optimizer, eta=eta, max_steps=max_steps, sigma_iso=0.0, params=OptimizerParams(**params)),
    )


CASES = {
    # tests/test_kernel.py::CASES (d = 5)
    "spike-uniform-sgd-m1": lambda: _spike_case(5, "uniform", "sgd", 1, 0.05, 0.0, False, None),
    "spike-uniform-sgd-m7-rot": lambda: _spike_case(5, "uniform", "sgd", 7, 0.05, 0.0, True, None),
    "spike-rademacher-sgd-m3": lambda: _spike_case(5, "rademacher", "sgd", 3, 0.05, 0.0, False, None),
    "spike-laplace-sgd-m5-rot": lambda: _spike_case(5, "laplace", "sgd", 5, 0.03, 0.0, True, None),
    "spike-uniform-noisy-m4": lambda: _spike_case(5, "uniform", "noisy-sgd", 4, 0.05, 0.3, False, None),
    "spike-rademacher-noisy-m2-rot": lambda: _spike_case(5, "rademacher", "noisy-sgd", 2, 0.05, 0.5, True, None),
    "spike-uniform-sgd-m16-radius": lambda: _spike_case(5, "uniform", "sgd", 16, 0.05, 0.0, False, 0.3),
    "spike-laplace-gd-rot": lambda: _spike_case(5, "laplace", "gd", 1, 0.05, 0.0, True, None),
    # the default configuration's objective (d = 10) and a state longer than FIXED_DIM_MAX
    "spike-d10-uniform-sgd-m32": lambda: _spike_case(10, "uniform", "sgd", 32, 0.05, 0.0, False, None),
    "spike-d20-s3-laplace-noisy-m3-rot": lambda: _spike_case(20, "laplace", "noisy-sgd", 3, 0.05, 0.2, True, None, 3),
    # quadratic (R^d, Gaussian noise through Box-Muller and the Cholesky factor)
    "quadratic-d1-sgd-m1": lambda: _quadratic_case(1, "sgd", 1, 0.05, 0.0, None, False),
    "quadratic-d3-sgd-m4-fullsigma": lambda: _quadratic_case(3, "sgd", 4, 0.05, 0.0, None, True),
    "quadratic-d5-noisy-m2-radius": lambda: _quadratic_case(5, "noisy-sgd", 2, 0.05, 0.3, 0.5, True),
    "quadratic-d2-gd": lambda: _quadratic_case(2, "gd", 1, 0.05, 0.0, None, False),
    "quadratic-d20-sgd-m8": lambda: _quadratic_case(20, "sgd", 8, 0.05, 0.0, None, True),
    # ge2015 (product of spheres), tests/test_ge2015.py::KERNEL_CASES
    "ge2015-uniform-percolumn-sgd-m16": lambda: _ge_case("uniform", "per-column", "sgd", 16, 0.005, 0.0, False, False),
    "ge2015-laplace-percolumn-sgd-m8-rot": lambda: _ge_case("laplace", "per-column", "sgd", 8, 0.005, 0.0, True, False),
    "ge2015-uniform-shared-noisy-m16": lambda: _ge_case("uniform", "shared", "noisy-sgd", 16, 0.005, 0.5, False, False),
    "ge2015-rademacher-shared-sgd-m16-rot": lambda: _ge_case("rademacher", "shared", "sgd", 16, 0.005, 0.0, True, True),
    "ge2015-uniform-shared-gd": lambda: _ge_case("uniform", "shared", "gd", 1, 0.02, 0.0, False, True),
    "ge2015-d5k3-uniform-percolumn-sgd-m4-rot": lambda: _ge_case(
        "uniform", "per-column", "sgd", 4, 0.005, 0.0, True, False, d=5, k=3
    ),
    # momentum, pgd and cnc-pgd (tests/test_optimizers.py::CASES), and on the other manifolds
    "spike-momentum-m4": lambda: _with_optimizer(
        _spike_case(5, "uniform", "sgd", 4, 0, 0, False, None), "momentum", 0.01, 1500, momentum=0.9
    ),
    "spike-momentum-m1-rot": lambda: _with_optimizer(
        _spike_case(5, "laplace", "sgd", 1, 0, 0, True, None), "momentum", 0.02, 1500, momentum=0.5
    ),
    "spike-pgd": lambda: _with_optimizer(
        _spike_case(5, "uniform", "sgd", 1, 0, 0, False, None),
        "pgd",
        0.05,
        1500,
        perturbation_radius=0.01,
        grad_threshold=1e-3,
        t_threshold=10,
    ),
    "spike-cnc-pgd-m2": lambda: _with_optimizer(
        _spike_case(5, "uniform", "sgd", 2, 0, 0, False, None),
        "cnc-pgd",
        0.05,
        1500,
        grad_threshold=1e-3,
        t_threshold=10,
        cnc_eta=0.2,
    ),
    "quadratic-momentum-m2": lambda: _with_optimizer(
        _quadratic_case(3, "sgd", 2, 0, 0, None, True), "momentum", 0.02, 1500, momentum=0.8
    ),
    "quadratic-pgd": lambda: _with_optimizer(
        _quadratic_case(3, "sgd", 1, 0, 0, None, True),
        "pgd",
        0.05,
        1500,
        perturbation_radius=0.01,
        grad_threshold=1e-3,
        t_threshold=10,
    ),
    "ge2015-pgd": lambda: _with_optimizer(
        _ge_case("uniform", "shared", "sgd", 1, 0, 0, False, False),
        "pgd",
        0.02,
        1500,
        perturbation_radius=0.05,
        grad_threshold=1e-3,
        t_threshold=10,
    ),
    # random starts (the START stream) with a target f (SPEC 2.2: time to reach f <= eps from random points)
    "spike-random-start-target-m8": lambda: (
        _spike_case(6, "uniform", "sgd", 8, 0.05, 0.0, False, None)[:2]
        + (
            dict(
                optimizer="sgd",
                batch_size=8,
                eta=0.05,
                sigma_iso=0.0,
                delta=0.1,
                radius=None,
                max_steps=2000,
                random_start=True,
                target=-0.9,
            ),
        )
    ),
    "ge2015-random-start-target-m16": lambda: (
        _ge_case("uniform", "shared", "sgd", 16, 0.01, 0.0, True, False)[:2]
        + (
            dict(
                optimizer="sgd",
                batch_size=16,
                eta=0.01,
                sigma_iso=0.0,
                delta=0.1,
                radius=None,
                max_steps=1500,
                random_start=True,
                target=0.2,
            ),
        )
    ),
    "quadratic-random-start-radius-m2": lambda: (
        _quadratic_case(3, "sgd", 2, 0.05, 0.0, 0.5, True)[:2]
        + (
            dict(
                optimizer="noisy-sgd",
                batch_size=2,
                eta=0.05,
                sigma_iso=0.2,
                delta=0.1,
                radius=0.5,
                max_steps=600,
                random_start=True,
            ),
        )
    ),
    "ge2015-cnc-pgd-percolumn-m4": lambda: _with_optimizer(
        _ge_case("uniform", "per-column", "sgd", 4, 0, 0, True, False),
        "cnc-pgd",
        0.02,
        1500,
        grad_threshold=1e-3,
        t_threshold=10,
        cnc_eta=0.05,
    ),
}

BUILDS = {
    # name: (fixed_dim_max, specialise) -- which variant of escape.cu runs
    "generic-workspace": (0, False),
    "specialised-exact-length": (64, True),  # every case here has a state of length <= 64
}


def _compare(twin, obj, u0, kw, *, n_trials=12, trial_start=3, n_record=6, points=16, **build):
    """Run both kernels (keeping the final points); return (cpu block, twin block, cpu recorder, twin recorder)."""
    common = dict(kw, seed=11, trial_start=trial_start, n_trials=n_trials, keep_final_u=True)
    rec_cpu, rec_twin = Recorder.empty(n_record, points), Recorder.empty(n_record, points)
    want = run_trials(obj, u0, recorder=rec_cpu, **common)
    got = gpu.run_trials_on(twin, obj, u0, recorder=rec_twin, **common, **build)
    return want, got, rec_cpu, rec_twin


def _assert_same_trials(want, got, rec_cpu, rec_twin):
    differ = np.mean(got.steps != want.steps)
    assert differ == 0.0, f"{100 * differ:.1f}% of the trials escape at a different step"
    np.testing.assert_array_equal(got.status, want.status)
    np.testing.assert_allclose(got.final_f, want.final_f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.final_u, want.final_u, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(rec_twin.count, rec_cpu.count)
    np.testing.assert_array_equal(rec_twin.stride, rec_cpu.stride)
    np.testing.assert_allclose(rec_twin.f, rec_cpu.f, rtol=1e-9, atol=1e-12)  # NaN where nothing was recorded


@needs_compiler
@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("case", list(CASES))
def test_c_twin_equals_the_numba_kernel_trial_by_trial(twin, case, build):
    obj, u0, kw = CASES[case]()
    fixed_dim_max, specialise = BUILDS[build]
    want, got, rec_cpu, rec_twin = _compare(twin, obj, u0, kw, fixed_dim_max=fixed_dim_max, specialise=specialise)
    _assert_same_trials(want, got, rec_cpu, rec_twin)
    # the same IEEE operations in the same order: bit for bit, not merely within rtol
    np.testing.assert_array_equal(got.final_f, want.final_f)
    np.testing.assert_array_equal(got.final_u, want.final_u)
    assert np.any(want.status == cpu_kernel.ESCAPED), "the case should exercise escapes"


@needs_compiler
def test_default_configuration_escape_steps_agree_trial_by_trial(twin):
    """SPEC 2.1 default (d = 10, s = 2, uniform, eta = 0.01, delta = 0.1) at m = 1 and m = 32: 100
    trials each through the exact-length build that the GPU uses for d = 10."""
    obj = SpikeTensor(10)
    for m in (1, 32):
        kw = dict(optimizer="sgd", batch_size=m, eta=0.01, sigma_iso=0.0, delta=0.1, radius=None, max_steps=10_000)
        want, got, rec_cpu, rec_twin = _compare(
            twin, obj, obj.saddle(2), kw, n_trials=100, trial_start=0, n_record=8, points=256
        )
        _assert_same_trials(want, got, rec_cpu, rec_twin)
        assert np.mean(want.status == cpu_kernel.ESCAPED) >= 0.9  # (at m = 1 a few trials are censored)


@needs_compiler
def test_workspace_launches_split_and_recorder_rows_span_them(twin, monkeypatch):
    """More trials than one launch's workspace holds: the launches split, and trials recorded in
    different launches (and from a trial_start inside the recorded range) land in their rows."""
    obj, u0, kw = _spike_case(20, "uniform", "sgd", 2, 0.05, 0.0, False, None)
    monkeypatch.setattr(gpu, "WORKSPACE_BYTES", 5 * 20 * 8 * 3)  # three trials per launch
    want, got, rec_cpu, rec_twin = _compare(
        twin, obj, u0, kw, n_trials=10, trial_start=2, n_record=9, fixed_dim_max=gpu.FIXED_DIM_MAX
    )
    _assert_same_trials(want, got, rec_cpu, rec_twin)
    assert np.all(rec_twin.count[:2] == 0) and np.all(rec_twin.count[2:9] > 0)  # rows 0, 1 untouched


@needs_compiler
def test_recorder_halves_its_resolution_as_on_the_cpu(twin):
    obj = SpikeTensor(4)
    kw = dict(optimizer="sgd", batch_size=1, eta=1e-6, sigma_iso=0.0, delta=0.1, radius=None, max_steps=100)
    want, got, rec_cpu, rec_twin = _compare(
        twin, obj, obj.saddle(2), kw, n_trials=3, trial_start=0, n_record=2, points=8
    )
    _assert_same_trials(want, got, rec_cpu, rec_twin)
    assert np.all(got.status == cpu_kernel.CENSORED) and np.all(rec_twin.stride == 16)


@needs_compiler
def test_gd_at_a_fixed_point_is_frozen_as_on_the_cpu(twin):
    """gd started exactly at the saddle does not move: FROZEN at step 1 on both builds."""
    obj = SpikeTensor(4)
    kw = dict(optimizer="gd", batch_size=1, eta=0.01, sigma_iso=0.0, delta=0.1, radius=None, max_steps=100)
    want, got, _, _ = _compare(twin, obj, obj.saddle(2), kw, n_trials=3, trial_start=0)
    np.testing.assert_array_equal(got.steps, want.steps)
    np.testing.assert_array_equal(got.status, want.status)
    assert np.all(got.status == cpu_kernel.FROZEN)


@needs_compiler
def test_divergence_is_reported_as_on_the_cpu(twin):
    """A step size that blows the quadratic's quartic up: non-finite f is DIVERGED, at the same step."""
    obj, u0, kw = _quadratic_case(3, "sgd", 1, 3.0, 0.0, None, False)
    kw["delta"] = 1e9  # never an escape
    want, got, _, _ = _compare(twin, obj, u0, kw, n_trials=5, trial_start=0)
    np.testing.assert_array_equal(got.steps, want.steps)
    np.testing.assert_array_equal(got.status, want.status)
    assert np.all(got.status == cpu_kernel.DIVERGED)


# ---------------------------------------------------------------------------------------------
# The source and the host code agree on codes and kernel signatures
# ---------------------------------------------------------------------------------------------

SOURCE = gpu.SOURCE.read_text()


def _defines():
    return {name: int(value) for name, value in re.findall(r"^#define (\w+) (-?\d+)(?=\s|$)", SOURCE, flags=re.M)}


def test_codes_in_escape_cu_are_the_python_codes():
    """Every integer #define of escape.cu is one of the Python codes it mirrors, with the same value: the
    stream purposes and distributions (saddle.rng), the statuses (saddle.kernels.cpu), each objective's
    section (its gpu_code), the manifolds, ge2015's sampling mode, the workspace's vector count and the
    positions of the po array (saddle.kernels.gpu.PO_FIELDS); a #define this test does not know fails it.
    The optimisers' codes are not among them: the host defines them at every build from the registry
    (each optimiser's gpu_code), and escape.cu refuses a build without them."""
    defines = _defines()
    want = {
        "DATA": rng.DATA,
        "NOISE": rng.NOISE,
        "PERTURB": rng.PERTURB,
        "START": rng.START,
        "UNIFORM": rng.UNIFORM,
        "RADEMACHER": rng.RADEMACHER,
        "LAPLACE": rng.LAPLACE,
        "ESCAPED": cpu_kernel.ESCAPED,
        "CENSORED": cpu_kernel.CENSORED,
        "DIVERGED": cpu_kernel.DIVERGED,
        "FROZEN": cpu_kernel.FROZEN,
        "SPHERE": SPHERE,
        "EUCLIDEAN": EUCLIDEAN,
        "PER_COLUMN": PER_COLUMN,
        "N_VECTORS": gpu.N_VECTORS,
    }
    want.update({f"PO_{name.upper()}": i for i, name in enumerate(gpu.PO_FIELDS)})
    want.update({name.upper(): cls.gpu_code for name, cls in registered().items() if cls.gpu_code is not None})
    assert set(defines) == set(want), "escape.cu's #defines and the Python codes name different constants"
    assert defines == want
    codes = dict(gpu.optimizer_codes())
    assert codes == {
        name.upper().replace("-", "_"): cls.gpu_code
        for name, cls in optimizers.registered().items()
        if cls.gpu_code is not None
    }
    assert len(set(codes.values())) == len(codes), "two optimisers share a section code"
    for name in codes:
        assert re.search(rf"\b{name}\b", SOURCE), f"escape.cu has no section named {name}"


def test_constants_in_escape_cu_are_saddle_rngs_doubles():
    consts = dict(re.findall(r"^#define (\w+) ([0-9.e+-]+)\s+/\*", SOURCE, flags=re.M))
    assert float(consts["TWO_M53"]) == 2.0**-53 and float(consts["TWO_M32"]) == 2.0**-32
    assert float(consts["SQRT3"]) == rng._SQRT3 and float(consts["INV_SQRT2"]) == rng._INV_SQRT2
    assert float(consts["LN2_HI"]) == rng._LN2_HI and float(consts["LN2_LO"]) == rng._LN2_LO
    assert float(consts["SQRT2"]) == rng._SQRT2 and float(consts["PI_4"]) == rng._PI_4
    for prefix, coeffs in (("LOG_L", rng._LOG_COEFFS), ("SIN_S", rng._SIN_COEFFS), ("COS_C", rng._COS_COEFFS)):
        assert [float(consts[f"{prefix}{i + 1}"]) for i in range(len(coeffs))] == list(coeffs)


_C_TYPES = {
    "i64": "i64",
    "u64": "u64",
    "double": "f64",
    "double *": "ptr:float64",
    "const double *": "ptr:float64",
    "i64 *": "ptr:int64",
    "const i64 *": "ptr:int64",
    "signed char *": "ptr:int8",
    "u64 *": "ptr:uint64",
}


@pytest.mark.parametrize("kernel", list(gpu.SIGNATURES))
def test_kernel_signatures_match_the_source(kernel):
    params = re.search(rf"SADDLE_GLOBAL void {kernel}\(([^)]*)\)", SOURCE).group(1)
    parsed = []
    for param in " ".join(params.split()).split(","):
        ctype, star, name = re.match(r"\s*(.*?)\s*(\*?)(\w+)$", param).groups()
        parsed.append((name, _C_TYPES[ctype + (" *" if star else "")]))
    assert tuple(parsed) == gpu.SIGNATURES[kernel]
    host = re.search(rf"void {kernel}_host\(([^)]*)\)", SOURCE).group(1)
    assert " ".join(host.split()) == " ".join(params.split())


def test_pack_args_gives_exact_widths_and_refuses_wrong_arrays():
    xp = np
    values = dict(n_blocks=2, seed=2**64 - 1, trial=5, t=1, m=1, purpose=0, out=np.empty(8, np.uint64))
    args = gpu.pack_args("philox_stream", values, xp)
    assert [type(a) for a in args[:6]] == [np.int64] + [np.uint64] * 5 and args[1] == np.uint64(2**64 - 1)
    with pytest.raises(ValueError, match="64 unsigned bits"):
        gpu.pack_args("philox_stream", dict(values, seed=2**64), xp)
    with pytest.raises(TypeError, match="uint64"):
        gpu.pack_args("philox_stream", dict(values, out=np.empty(8, np.int64)), xp)
    with pytest.raises(TypeError, match="contiguous"):
        gpu.pack_args("philox_stream", dict(values, out=np.empty(16, np.uint64)[::2]), xp)
    with pytest.raises(TypeError, match="missing or unexpected"):
        gpu.pack_args("philox_stream", {k: v for k, v in values.items() if k != "m"}, xp)


def test_build_for_specialises_and_chooses_the_exact_length_build():
    assert gpu.build_for(0, 0, 10) == (("SADDLE_OBJECTIVE", 0), ("SADDLE_OPTIMIZER", 0), ("SADDLE_D", 10))
    assert gpu.build_for(2, 1, 25) == (("SADDLE_OBJECTIVE", 2), ("SADDLE_OPTIMIZER", 1))
    assert gpu.build_for(0, 0, 10, fixed_dim_max=0, specialise=False) == ()


# ---------------------------------------------------------------------------------------------
# Selecting the backend: what is supported, and the one-line error without CuPy or a GPU
# ---------------------------------------------------------------------------------------------


def _small_run(backend, **over):
    obj = SpikeTensor(4)
    kw = dict(
        optimizer="sgd",
        batch_size=2,
        eta=0.05,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=10,
        seed=0,
        trial_start=0,
        n_trials=2,
        backend=backend,
    )
    kw.update(over)
    return run_trials(obj, obj.saddle(2), **kw)


@pytest.fixture
def no_cupy_device(monkeypatch):
    monkeypatch.setattr(gpu, "_cupy_device", None)
    return monkeypatch


def _assert_one_line(err, what):
    text = str(err)
    assert "\n" not in text and isinstance(err, ValueError)
    assert text.startswith("the cupy backend needs CuPy and a CUDA GPU: ")
    assert what in text and "pip install 'saddle[gpu]'" in text


def test_without_cupy_the_backend_fails_with_one_line(no_cupy_device):
    no_cupy_device.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(BackendUnavailable) as err:
        _small_run("cupy")
    _assert_one_line(err.value, "CuPy is not installed")
    ok, why = gpu.availability()
    assert not ok and why == str(err.value)


def _fake_cupy(get_device_count):
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return cupy


def test_cupy_without_a_driver_or_gpu_fails_with_one_line(no_cupy_device):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient\nmore detail")

    no_cupy_device.setitem(sys.modules, "cupy", _fake_cupy(no_driver))
    with pytest.raises(BackendUnavailable) as err:
        _small_run("cupy")
    _assert_one_line(err.value, "no usable CUDA driver or GPU (cudaErrorInsufficientDriver")
    no_cupy_device.setitem(sys.modules, "cupy", _fake_cupy(lambda: 0))
    with pytest.raises(BackendUnavailable) as err:
        _small_run("cupy")
    _assert_one_line(err.value, "no CUDA GPU is visible")


def test_run_escape_passes_the_backend_through(no_cupy_device):
    from saddle.escape import run_escape

    no_cupy_device.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailable, match="CuPy is not installed"):
        run_escape(m=[1], trials=2, max_steps=5, backend="cupy")


def test_unknown_backend_lists_the_backends():
    with pytest.raises(ValueError, match="available: cpu, cupy"):
        _small_run("cuda")


def test_the_gpu_supports_what_the_cpu_kernel_supports_or_names_it(no_cupy_device):
    """Every registered optimiser and objective either has its section of escape.cu or is refused by
    name, with its reason, before CuPy is looked for."""
    no_cupy_device.setitem(sys.modules, "cupy", None)
    assert {"spike", "quadratic", "ge2015"} <= set(gpu.supported_objectives())
    assert {"sgd", "gd", "noisy-sgd", "momentum", "pgd", "cnc-pgd"} <= set(gpu.supported_optimizers())
    spike = SpikeTensor(5)
    for name, spec in optimizers.registered().items():
        if spec.gpu_code is None:
            with pytest.raises(
                ValueError,
                match=f"optimizer '{name}' is not supported on the cupy backend \\({re.escape(spec.gpu_refusal)}",
            ):
                gpu.check_supported(spike, name)
    for name, cls in registered().items():
        if cls.gpu_code is None and cls.runs_from_config:
            config = EscapeConfig(objective=name)
            objective = config.build_objective()
            with pytest.raises(
                ValueError,
                match=f"objective '{name}' is not supported on the cupy backend "
                rf"\({re.escape(cls.gpu_refusal)}",
            ):
                gpu.run_trials_cupy(
                    objective,
                    objective.start_point(config),
                    optimizer="gd",
                    batch_size=1,
                    eta=0.1,
                    sigma_iso=0.0,
                    delta=0.1,
                    radius=None,
                    max_steps=1,
                    seed=0,
                    trial_start=0,
                    n_trials=1,
                )


def test_unsupported_user_objectives_are_named(no_cupy_device):
    no_cupy_device.setitem(sys.modules, "cupy", None)
    user = types.SimpleNamespace(name="oja", kernel_functions=(None, None))
    with pytest.raises(ValueError, match="user objective 'oja' is not supported on the cupy backend"):
        gpu.check_supported(user, "sgd")


def test_the_cpu_backend_never_imports_cupy():
    code = (
        "import sys; from saddle.escape import run_escape; run_escape(m=[2], trials=2, max_steps=5); "
        "import saddle.kernels.gpu; assert 'cupy' not in sys.modules, 'cupy imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------------
# The CUDA branch compiles (needs NVRTC, the CUDA runtime compiler library, but no GPU)
# ---------------------------------------------------------------------------------------------


def _nvrtc():
    names = [ctypes.util.find_library("nvrtc")]
    try:
        import nvidia.cuda_nvrtc  # the pip wheel nvidia-cuda-nvrtc-cu12

        folder = list(nvidia.cuda_nvrtc.__path__)[0]
        names += [str(p) for p in sorted((__import__("pathlib").Path(folder) / "lib").glob("libnvrtc.so*"))]
    except ImportError:
        pass
    for name in filter(None, names):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@pytest.mark.parametrize("build", [(), (("SADDLE_OBJECTIVE", 0), ("SADDLE_OPTIMIZER", 0), ("SADDLE_D", 10))])
def test_escape_cu_compiles_with_nvrtc(build):
    lib = _nvrtc()
    if lib is None:
        pytest.skip("NVRTC (libnvrtc) not found: the CUDA branch of escape.cu is compiled on GPU machines only")
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), SOURCE.encode(), b"escape.cu", 0, None, None) == 0
    opts = [b"--gpu-architecture=compute_80", *[o.encode() for o in gpu.NVRTC_OPTIONS]]
    opts += [f"-D{k}={v}".encode() for k, v in build]
    rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert rc == 0, log.value.decode()


def test_the_cuda_source_ships_with_the_package():
    """A non-editable install must carry escape.cu (pyproject's package-data), or the cupy backend breaks."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
        data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]
    assert any(pat.endswith(".cu") for pat in data.get("saddle.kernels", []))
    assert gpu.SOURCE.name == "escape.cu" and gpu.SOURCE.parent.name == "kernels"
