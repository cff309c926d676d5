"""Nesterov momentum (Sutskever et al. 2013), the optimiser added as one module: its kernel against a
NumPy reference trial by trial, its beta = 0 limit, and the command line that knows it."""

import numpy as np
import pytest

from saddle import optimizers
from saddle.config import EscapeConfig
from saddle.kernels import ESCAPED, run_trials
from saddle.objectives import SpikeTensor
from saddle.options import ConfigError
from tests.reference import REFERENCE_STEPS, reference_trial


def nesterov_step(tr, u, v, t, m, eta):
    """v <- beta v + p; u <- R_u(-eta (p + beta v)); v projected onto the tangent space at the new u."""
    beta = tr.options["momentum"]
    p = tr.riemannian(u, tr.minibatch(u, t, m))
    v = beta * v + p
    u = tr.retract(u - eta * (p + beta * v))
    return u, v - np.dot(u, v) * u


REFERENCE_STEPS["nesterov"] = (nesterov_step, np.zeros)


def _run(optimizer, m, eta, trials, **options):
    obj = SpikeTensor(5, "uniform")
    u0 = obj.saddle(2)
    kw = dict(batch_size=m, eta=eta, sigma_iso=0.0, delta=0.1, radius=None, max_steps=1500, seed=3)
    block = run_trials(obj, u0, optimizer=optimizer, trial_start=0, n_trials=trials, params=options, **kw)
    return obj, u0, block


@pytest.mark.parametrize("m, eta, beta", [(4, 0.01, 0.9), (1, 0.02, 0.5)])
def test_nesterov_kernel_matches_its_numpy_reference_trial_by_trial(m, eta, beta):
    obj, u0, block = _run("nesterov", m, eta, 10, momentum=beta)
    for n in range(10):
        steps, status, final_f, _ = reference_trial(
            seed=3,
            trial=n,
            u0=u0,
            A=obj.A,
            dist="uniform",
            optimizer="nesterov",
            m=m,
            eta=eta,
            sigma_iso=0.0,
            delta=0.1,
            radius=None,
            max_steps=1500,
            momentum=beta,
        )
        assert (block.steps[n], block.status[n]) == (steps, status), n
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
    assert np.all(block.status == ESCAPED)


def test_nesterov_with_beta_zero_is_sgd_bit_for_bit():
    _, _, nesterov = _run("nesterov", 4, 0.01, 40, momentum=0.0)
    _, _, sgd = _run("sgd", 4, 0.01, 40)
    np.testing.assert_array_equal(nesterov.steps, sgd.steps)
    np.testing.assert_array_equal(nesterov.final_f, sgd.final_f)


def test_nesterov_is_registered_with_its_option_and_refused_on_the_gpu_by_name():
    spec = optimizers.get("nesterov")
    assert [o.name for o in spec.options] == ["momentum"] and spec.minibatch and spec.state_vectors == 1
    assert spec.gpu_code is None and "nesterov" in spec.gpu_refusal
    config = EscapeConfig(optimizer="nesterov", momentum=0.8, trials=10)
    assert config.momentum == 0.8 and config.to_dict()["momentum"] == 0.8
    assert EscapeConfig(optimizer="nesterov").momentum == 0.9  # the option's default
    with pytest.raises(ConfigError, match="momentum must be < 1"):
        EscapeConfig(optimizer="nesterov", momentum=1.0)
    with pytest.raises(ConfigError, match="momentum applies to the momentum and nesterov optimizers only"):
        EscapeConfig(optimizer="sgd", momentum=0.5)
