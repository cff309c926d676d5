"""Momentum, PGD (Jin et al. 2017) and CNC-PGD (Daneshmand et al. 2018): the kernel against the reference."""

import math

import numpy as np
import pytest

from saddle.kernels import ESCAPED, FROZEN, run_trials
from saddle.objectives import SpikeTensor
from saddle.optimizers import OptimizerParams, pgd_parameters
from tests.reference import reference_trial

CASES = [
    # optimizer, m, eta, params
    ("momentum", 4, 0.01, dict(momentum=0.9)),
    ("momentum", 1, 0.02, dict(momentum=0.5)),
    ("pgd", 1, 0.05, dict(perturbation_radius=0.01, grad_threshold=1e-3, t_threshold=10)),
    ("cnc-pgd", 2, 0.05, dict(grad_threshold=1e-3, t_threshold=10, cnc_eta=0.2)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-m{c[1]}" for c in CASES])
def test_kernel_matches_reference_trial_by_trial(case):
    optimizer, m, eta, p = case
    obj = SpikeTensor(5, "uniform")
    u0 = obj.saddle(2)
    params = OptimizerParams(p)
    block = run_trials(
        obj,
        u0,
        optimizer=optimizer,
        batch_size=m,
        eta=eta,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=1500,
        seed=2,
        trial_start=0,
        n_trials=10,
        params=params,
    )
    for n in range(10):
        steps, status, final_f, _ = reference_trial(
            seed=2,
            trial=n,
            u0=u0,
            A=obj.A,
            dist="uniform",
            optimizer=optimizer,
            m=m,
            eta=eta,
            sigma_iso=0.0,
            delta=0.1,
            radius=None,
            max_steps=1500,
            **p,
        )
        assert (block.steps[n], block.status[n]) == (steps, status), n
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
    assert np.all(block.status == ESCAPED)


def test_pgd_and_cnc_pgd_escape_an_exact_saddle_where_gd_cannot():
    obj = SpikeTensor(8)
    kw = dict(
        batch_size=1,
        eta=0.05,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=3000,
        seed=0,
        trial_start=0,
        n_trials=20,
    )
    params = OptimizerParams(perturbation_radius=0.01, grad_threshold=1e-3, t_threshold=20, cnc_eta=0.2)
    assert np.all(run_trials(obj, obj.saddle(2), optimizer="gd", params=params, **kw).status == FROZEN)
    assert np.all(run_trials(obj, obj.saddle(2), optimizer="pgd", params=params, **kw).status == ESCAPED)
    assert np.all(run_trials(obj, obj.saddle(2), optimizer="cnc-pgd", params=params, **kw).status == ESCAPED)


def test_pgd_parameters_follow_jin_et_al_algorithm_2():
    p = pgd_parameters(d=10, ell=2.0, rho=3.0, epsilon=0.01, c=0.5, delta=0.1, delta_f=1.0)
    chi = 3 * max(math.log(10 * 2.0 * 1.0 / (0.5 * 1e-4 * 0.1)), 4)
    assert p.chi == pytest.approx(chi)
    assert p.eta == pytest.approx(0.25)
    assert p.r == pytest.approx(math.sqrt(0.5) / chi**2 * 0.01 / 2.0)
    assert p.g_thres == pytest.approx(math.sqrt(0.5) / chi**2 * 0.01)
    assert p.f_thres == pytest.approx(0.5 / chi**3 * math.sqrt(1e-6 / 3.0))
    assert p.t_thres == math.ceil(chi / 0.25 * 2.0 / math.sqrt(0.03))
    # chi never falls below 12 (the max with 4)
    assert pgd_parameters(d=1, ell=1.0, rho=1.0, epsilon=1.0, delta=1.0).chi == 12.0
    with pytest.raises(ValueError):
        pgd_parameters(d=3, ell=0.0, rho=1.0, epsilon=0.1)


@pytest.mark.parametrize("lr_decay, m_after", [(50.0, 0), (0.0, 64), (200.0, 16)])
def test_schedules_match_the_reference_and_count_samples_before_and_after_the_drop(lr_decay, m_after):
    """Step size eta / (1 + t / lr_decay) and, after the first f-drop, m_after samples a step, run to
    f <= -0.8 (spike d = 5, s = 2, from f = -1/2): trial by trial as the NumPy reference."""
    obj = SpikeTensor(5, "uniform")
    u0 = obj.saddle(2)
    params = OptimizerParams(lr_decay=lr_decay, batch_after_drop=m_after)
    block = run_trials(
        obj,
        u0,
        optimizer="sgd",
        batch_size=4,
        eta=0.02,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=4000,
        seed=6,
        trial_start=0,
        n_trials=8,
        params=params,
        target=-0.8,
    )
    for n in range(8):
        steps, status, final_f, trace = reference_trial(
            seed=6,
            trial=n,
            u0=u0,
            A=obj.A,
            dist="uniform",
            optimizer="sgd",
            m=4,
            eta=0.02,
            sigma_iso=0.0,
            delta=0.1,
            radius=None,
            max_steps=4000,
            lr_decay=lr_decay,
            m_after=m_after,
            target=-0.8,
        )
        assert (block.steps[n], block.status[n], block.drop_steps[n]) == (steps, status, trace.drop), n
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
    assert np.all(block.status == ESCAPED) and np.all(block.drop_steps > 0)
    assert np.all(block.drop_steps <= block.steps)


def test_samples_with_a_batch_size_schedule_count_both_phases():
    from saddle.escape import run_escape

    res = run_escape(m=(2,), d=6, trials=50, target=-0.9, batch_after_drop=128, seed=1)
    r = res.by_m[2]
    np.testing.assert_array_equal(r.samples, 2 * r.drop_steps + 128 * (r.steps - r.drop_steps))
    assert res.summary[0]["median_samples"] == np.sort(r.samples[r.status == ESCAPED])[24]
