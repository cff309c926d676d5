"""The cupy backend on a real GPU: the same random streams and the same escapes as the CPU backend.

Skipped, with the reason, where CuPy is not installed or no CUDA GPU is usable (CI has neither);
``python benchmarks/gpu_check.py`` runs this module on a GPU machine.  The same comparisons run
without a GPU against the C twin of escape.cu in tests/test_gpu_source.py.

What to expect on a GPU.  The random words are integers: identical.  Everything else is IEEE
arithmetic compiled without fused multiply-adds (NVRTC --fmad=false), so + - * / and sqrt round
as on the CPU; but CUDA's log, sin, cos and pow are not glibc's (they differ by an ulp or two at
some arguments).  Hence:

- uniform and rademacher data with sgd, gd and momentum (no transcendental function in a trial):
  every trial the same, bit for bit;
- laplace data, noisy-sgd, pgd and the quadratic's Gaussian noise (log, sin, cos, pow): ulp-level
  differences that the dynamics may amplify; an escape can move by a step.  The tests state the
  fraction of trials whose escape step differs and require it to be small, and the distributions
  to agree (two-sample Kolmogorov-Smirnov test).
"""

import numpy as np
import pytest
import scipy.stats

pytest.importorskip("cupy", reason="the cupy backend needs CuPy (pip install 'saddle[gpu]')")

from saddle import rng  # noqa: E402
from saddle.kernels import ESCAPED, Recorder, gpu, run_trials  # noqa: E402
from saddle.objectives import QuadraticSaddle, SpikeTensor  # noqa: E402
from saddle.objectives.ge2015 import GeTensorDecomposition  # noqa: E402
from saddle.optimizers import OptimizerParams  # noqa: E402
from tests.reference import philox_words  # noqa: E402

_OK, _WHY = gpu.availability()
if not _OK:
    pytest.skip(_WHY, allow_module_level=True)


@pytest.fixture(scope="module")
def device():
    return gpu.cupy_device()


@pytest.mark.parametrize("key", [(0, 0, 1, 1, 0), (3, 7, 12, 32, 1), (2**64 - 1, 2**32 - 5, 10_000, 1024, 2)])
def test_philox_words_on_the_gpu_equal_randomgen_philox(device, key):
    np.testing.assert_array_equal(gpu.philox_words(device, *key, 4001), philox_words(*key, 4001))


@pytest.mark.parametrize("dist", [rng.UNIFORM, rng.RADEMACHER, rng.LAPLACE])
def test_data_variates_on_the_gpu(device, dist):
    key = (5, 123, 77, 64, rng.DATA)
    n = 5000
    got = gpu.stream_variates(device, "data", *key, n, dist=dist)
    words = rng.words(*key, n)
    want = np.array([rng.data_variate(np.uint64(h), dist) for h in words])
    if dist == rng.LAPLACE:  # CUDA's log: within an ulp or two of glibc's
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
    else:
        np.testing.assert_array_equal(got, want)


def test_normals_on_the_gpu(device):
    key = (5, 123, 77, 64, rng.NOISE)
    want = np.empty(1001)
    rng.fill_normals(np.uint64(key[0]), np.uint64(key[1]), key[2], key[3], key[4], want, np.empty(4, np.uint64))
    got = gpu.stream_variates(device, "normal", *key, want.size)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)  # CUDA's log, sin, cos: a few ulp


def _spike(d=5, dist="uniform", rotated=False, **opts):
    obj = SpikeTensor(d, dist, scipy.stats.ortho_group.rvs(d, random_state=3) if rotated else None)
    return obj, obj.saddle(2), opts


def _ge(sampling, **opts):
    obj = GeTensorDecomposition(4, 4, "uniform", None, sampling)
    return obj, obj.flatten(obj.collision_saddle()), dict(dict(eta=0.005, delta=0.2), **opts)


def _params(**kw):
    return OptimizerParams(**kw)


CASES = {
    # name: (objective, u0, run_trials options), exact -- exact: no transcendental function in a trial
    "spike-uniform-sgd-m7": (lambda: _spike(optimizer="sgd", batch_size=7), True),
    "spike-rademacher-sgd-m3-rot": (lambda: _spike(5, "rademacher", True, optimizer="sgd", batch_size=3), True),
    "spike-d10-uniform-sgd-m32": (lambda: _spike(10, optimizer="sgd", batch_size=32), True),
    "spike-d20-uniform-sgd-m128": (lambda: _spike(20, optimizer="sgd", batch_size=128), True),
    "spike-momentum-m4": (
        lambda: _spike(optimizer="momentum", batch_size=4, eta=0.01, params=_params(momentum=0.9)),
        True,
    ),
    "ge2015-percolumn-sgd-m16": (lambda: _ge("per-column", optimizer="sgd", batch_size=16), True),
    "spike-laplace-sgd-m5-rot": (lambda: _spike(5, "laplace", True, optimizer="sgd", batch_size=5, eta=0.03), False),
    "spike-noisy-m4": (lambda: _spike(optimizer="noisy-sgd", batch_size=4, sigma_iso=0.3), False),
    "spike-pgd": (
        lambda: _spike(
            optimizer="pgd", batch_size=1, params=_params(perturbation_radius=0.01, grad_threshold=1e-3, t_threshold=10)
        ),
        False,
    ),
    "spike-cnc-pgd-m2": (
        lambda: _spike(
            optimizer="cnc-pgd", batch_size=2, params=_params(grad_threshold=1e-3, t_threshold=10, cnc_eta=0.2)
        ),
        True,
    ),
    "quadratic-d3-sgd-m4": (lambda: (QuadraticSaddle(3), np.zeros(3), dict(optimizer="sgd", batch_size=4)), False),
    "ge2015-random-start-target-m16": (
        lambda: _ge("shared", optimizer="sgd", batch_size=16, eta=0.01, random_start=True, target=0.2),
        False,
    ),
}


def _run(obj, u0, opts, backend, n_trials=400, recorder=None):
    kw = dict(
        eta=0.05,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=2000,
        seed=11,
        trial_start=5,
        n_trials=n_trials,
        keep_final_u=True,
    )
    kw.update(opts)
    return run_trials(obj, u0, backend=backend, recorder=recorder, **kw)


@pytest.mark.parametrize("case", list(CASES))
def test_gpu_escapes_equal_the_cpu_kernel_trial_by_trial(case):
    make, exact = CASES[case]
    obj, u0, opts = make()
    rec_cpu, rec_gpu = Recorder.empty(12, 64), Recorder.empty(12, 64)
    want = _run(obj, u0, opts, "cpu", recorder=rec_cpu)
    got = _run(obj, u0, opts, "cupy", recorder=rec_gpu)
    differ = np.mean(got.steps != want.steps)
    assert np.mean(want.status == ESCAPED) > 0.5, "the case should exercise escapes"
    if exact:
        assert differ == 0.0, f"{100 * differ:.2f}% of the trials escape at a different step"
        np.testing.assert_array_equal(got.status, want.status)
        np.testing.assert_array_equal(got.final_f, want.final_f)
        np.testing.assert_array_equal(got.final_u, want.final_u)
        np.testing.assert_array_equal(rec_gpu.count, rec_cpu.count)
        np.testing.assert_array_equal(rec_gpu.f, rec_cpu.f)
    else:
        print(f"{case}: {100 * differ:.2f}% of {got.steps.size} trials escape at a different step")
        assert differ <= 0.05, f"{100 * differ:.2f}% of the trials escape at a different step"
        same = got.steps == want.steps
        np.testing.assert_allclose(got.final_f[same], want.final_f[same], rtol=1e-6, atol=1e-9)
        assert scipy.stats.ks_2samp(got.steps, want.steps).pvalue > 1e-3


def test_default_configuration_distribution_agrees():
    """SPEC 2.1 default (d = 10, uniform, eta = 0.01, delta = 0.1) at m = 32, 2000 trials."""
    obj = SpikeTensor(10)
    opts = dict(optimizer="sgd", batch_size=32, eta=0.01, max_steps=10_000)
    want = _run(obj, obj.saddle(2), opts, "cpu", n_trials=2000)
    got = _run(obj, obj.saddle(2), opts, "cupy", n_trials=2000)
    np.testing.assert_array_equal(got.steps, want.steps)
    assert scipy.stats.ks_2samp(got.steps, want.steps).pvalue > 1e-3


def test_the_workspace_build_and_split_launches_on_the_gpu(device, monkeypatch):
    obj, u0, opts = _spike(24, optimizer="sgd", batch_size=128)  # d > FIXED_DIM_MAX: the workspace build
    want = _run(obj, u0, opts, "cpu", n_trials=300)
    monkeypatch.setattr(gpu, "WORKSPACE_BYTES", gpu.N_VECTORS * 24 * 8 * 100)  # 100 trials per launch
    got = _run(obj, u0, opts, "cupy", n_trials=300)
    assert np.mean(want.status == ESCAPED) > 0.5
    np.testing.assert_array_equal(got.steps, want.steps)
    np.testing.assert_array_equal(got.final_f, want.final_f)
