"""Lockstep lanes (saddle.kernels.cpu.run_lanes) give every trial the numbers it gets alone.

sgd at small m may run saddle.rng.TRIAL_LANES trials at a time in the lanes of (d, lanes) arrays.  Each
lane must reproduce the one-trial path (``run_trial``) bit for bit: the same random words, the same
operations in the same order, the same stopping rule.  These tests run both paths on the same
configurations and compare every output exactly.  No tolerance: a single differing bit fails.
"""

import dataclasses

import numpy as np
import pytest
import scipy.stats

from saddle import rng
from saddle.kernels import CENSORED, DIVERGED, ESCAPED, LANES_MIN_WORK, Recorder, cpu, run_trials
from saddle.objectives.ge2015 import GeTensorDecomposition
from saddle.objectives.quadratic import QuadraticSaddle
from saddle.objectives.spike import SpikeTensor
from saddle.optimizers import OptimizerParams

TRIALS = 150  # two lane groups of 64 and a group of 22: lanes run idle at the end of each


def _both(objective, u0, **kw):
    """run_trials with lanes forced on and off; asserts every output equal; returns the lanes' block."""
    options = dict(optimizer="sgd", sigma_iso=0.0, seed=3, trial_start=5, n_trials=TRIALS, radius=None)
    options.update(kw)
    assert options["batch_size"] < objective.kernel.lanes_below_m, "lanes would not run: the test would compare nothing"
    with_lanes = run_trials(objective, u0, lanes=True, **options)
    alone = run_trials(objective, u0, lanes=False, **options)
    for field in ("steps", "status", "final_f", "drop_steps"):
        np.testing.assert_array_equal(getattr(with_lanes, field), getattr(alone, field), err_msg=field)
    if with_lanes.final_u is not None:
        np.testing.assert_array_equal(with_lanes.final_u, alone.final_u)
    return with_lanes


SPIKE_CASES = [
    # dist, rotated, m, radius, target, extra
    ("uniform", False, 1, None, None, {}),
    ("uniform", True, 4, None, None, {}),
    ("laplace", True, 3, None, None, {}),
    ("rademacher", False, 4, None, None, {}),
    ("uniform", False, 2, 0.3, None, {}),
    ("rademacher", False, 2, None, -0.5, {}),
    ("uniform", False, 2, None, None, {"random_start": True, "keep_final_u": True}),
    ("uniform", False, 2, None, None, {"start_perturbation": 0.05, "params": OptimizerParams(lr_decay=50.0)}),
    # m = 50 at d = 6: three of the lanes' tiles (24 samples), the last one short
    ("uniform", False, 50, None, None, {}),
    ("laplace", True, 50, None, None, {}),
]


@pytest.mark.parametrize("case", SPIKE_CASES, ids=[f"{c[0]}-m{c[2]}-{i}" for i, c in enumerate(SPIKE_CASES)])
def test_spike_lanes_equal_one_trial_at_a_time(case):
    dist, rotated, m, radius, target, extra = case
    d = 6
    A = scipy.stats.ortho_group.rvs(d, random_state=2) if rotated else None
    obj = SpikeTensor(d, dist, A)
    block = _both(
        obj, obj.saddle(2), batch_size=m, eta=0.02, delta=0.1, radius=radius, target=target, max_steps=3000, **extra
    )
    assert np.all(block.status == ESCAPED)  # (trials that escape: the stopping rule is exercised)


def test_spike_lanes_censor_at_max_steps_and_keep_recorded_trials_alone():
    obj = SpikeTensor(7)
    rec_lanes, rec_alone = Recorder.empty(12, 64), Recorder.empty(12, 64)
    kw = dict(optimizer="sgd", batch_size=2, eta=0.02, sigma_iso=0.0, delta=0.1, radius=None, max_steps=40, seed=3)
    a = run_trials(obj, obj.saddle(3), trial_start=5, n_trials=TRIALS, recorder=rec_lanes, lanes=True, **kw)
    b = run_trials(obj, obj.saddle(3), trial_start=5, n_trials=TRIALS, recorder=rec_alone, lanes=False, **kw)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.final_f, b.final_f)
    assert np.count_nonzero(a.status == CENSORED) > 0 and np.count_nonzero(a.status == ESCAPED) > 0
    np.testing.assert_array_equal(rec_lanes.f, rec_alone.f)  # trials 5..11 recorded, by run_trial
    np.testing.assert_array_equal(rec_lanes.count, rec_alone.count)


@pytest.mark.parametrize("Sigma", ["scalar", "diagonal", "full"])
@pytest.mark.parametrize("m", [1, 1024])
def test_quadratic_lanes_equal_one_trial_at_a_time(Sigma, m):
    Sig = {
        "scalar": 1.0,
        "diagonal": [1.0, 0.5, 2.0, 1.0],
        "full": [[1.0, 0.3, 0, 0], [0.3, 1.0, 0.2, 0], [0, 0.2, 0.7, 0], [0, 0, 0, 1.0]],
    }[Sigma]
    q = QuadraticSaddle(4, 1.0, [1.0, 3.0, 2.0], 1.0, Sig)
    block = _both(q, q.start(), batch_size=m, eta=0.1, delta=0.1, max_steps=5000)
    assert np.all(block.status == ESCAPED)


def test_quadratic_lanes_diverge_where_one_trial_diverges():
    """eta = 3 throws the quartic iterate to infinity: the lanes' divergence step is the one-trial one."""
    q = QuadraticSaddle(1, 1.0, [], 1.0, 1.0)
    block = _both(q, q.start(), batch_size=1, eta=3.0, delta=10.0, max_steps=200, random_start=True)
    assert np.count_nonzero(block.status == DIVERGED) > 0


GE_CASES = [
    # d, k, dist, sampling, rotated, m, eta, extra
    (5, 5, "uniform", "per-column", False, 1, 0.0005, {"radius": 0.3}),
    (5, 3, "laplace", "per-column", True, 2, 0.001, {"radius": 0.3}),
    (4, 4, "laplace", "shared", False, 1, 0.0005, {"random_start": True, "radius": 0.3}),
    (6, 3, "uniform", "shared", True, 3, 0.005, {"start_perturbation": 0.05, "keep_final_u": True}),
    # m = 130 at d = 10: several of the lanes' tiles (16 samples) and two of the one-trial path's (128);
    # per-column, columns change inside a tile
    (10, 4, "uniform", "per-column", True, 130, 0.005, {}),
    (10, 4, "rademacher", "shared", False, 130, 0.005, {"random_start": True}),
]


@pytest.mark.parametrize(
    "case", GE_CASES, ids=[f"d{c[0]}k{c[1]}-{c[3]}-m{c[5]}" + ("-rot" if c[4] else "") for c in GE_CASES]
)
def test_ge2015_lanes_equal_one_trial_at_a_time(case):
    """Shared and per-column samples, rotated frames, sums of k columns that are not a multiple of the
    intrinsics' row block, samples over several tiles: every trial as alone, bit for bit."""
    d, k, dist, sampling, rotated, m, eta, extra = case
    A = scipy.stats.ortho_group.rvs(d, random_state=5) if rotated else None
    obj = GeTensorDecomposition(d, k, dist, A, sampling)
    u0 = obj.flatten(obj.collision_saddle())
    block = _both(obj, u0, batch_size=m, eta=eta, delta=0.2, max_steps=3000, **extra)
    assert np.count_nonzero(block.status == ESCAPED) >= TRIALS * 0.8


def test_lanes_are_chosen_by_the_size_of_the_run(monkeypatch):
    """run_trials' default: lanes from LANES_MIN_WORK trial-steps on, only for sgd at m below the
    objective's lanes_below_m (every m for the built-in objectives; 5 for hooks that say 5 here), and
    never for an objective without lane hooks."""
    asked = []
    real = cpu.kernel_for
    monkeypatch.setattr(
        cpu,
        "kernel_for",
        lambda hooks, code, cache=True, lanes=False, **kw: asked.append(lanes) or real(hooks, code, cache, lanes, **kw),
    )
    obj = SpikeTensor(5)
    kw = dict(optimizer="sgd", eta=0.02, sigma_iso=0.0, delta=0.1, radius=None, seed=0, trial_start=0, n_trials=0)
    run_trials(obj, obj.saddle(2), batch_size=1, max_steps=LANES_MIN_WORK, **kw)
    run_trials(obj, obj.saddle(2), batch_size=1, max_steps=LANES_MIN_WORK - 1, **{**kw, "n_trials": 1})
    with monkeypatch.context() as patch:
        patch.setattr(SpikeTensor, "kernel", dataclasses.replace(SpikeTensor.kernel, lanes_below_m=5))
        run_trials(obj, obj.saddle(2), batch_size=5, max_steps=LANES_MIN_WORK, **{**kw, "n_trials": 1})
    assert asked == [False, False, False]  # n_trials = 0 is no work; small; m = 5 is not below 5
    asked.clear()
    run_trials(obj, obj.saddle(2), batch_size=1, max_steps=LANES_MIN_WORK // 128, **{**kw, "n_trials": 128})
    assert asked == [True]
    assert rng.TRIAL_LANES == 8


def test_lanes_do_not_depend_on_the_thread_count():
    """The lanes' groups are split over threads; each trial's numbers are its own whatever the split."""
    import numba

    obj = SpikeTensor(5)
    kw = dict(optimizer="sgd", batch_size=1, eta=0.02, sigma_iso=0.0, delta=0.1, radius=None, max_steps=3000)
    blocks = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        try:
            blocks.append(run_trials(obj, obj.saddle(2), seed=9, trial_start=0, n_trials=300, lanes=True, **kw))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(blocks[0].steps, blocks[1].steps)
    np.testing.assert_array_equal(blocks[0].final_f, blocks[1].final_f)
