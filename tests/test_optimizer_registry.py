"""Optimisers as modules: each declares itself once, and a new one runs in the kernels without an edit
of the package (defined here, in a test file, as a user would in their own)."""

import numpy as np
import pytest

from saddle import optimizers
from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.kernels import ESCAPED, run_trials
from saddle.objectives import SpikeTensor
from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.optimizers.base import Optimizer, register, unbound_hook, unregister
from saddle.optimizers.geometry import retract, riemannian
from saddle.options import ConfigError, Option

gradient = unbound_hook  # bound to the objective's gradient by the kernel template


def doubled_sgd_step(run, tr, t, m, eta, u, state):
    """sgd with step size ``factor`` eta: with factor 2 it is sgd at 2 eta, bit for bit."""
    gradient(tr, MINIBATCH_GRADIENT, u, t, m, eta)
    riemannian(tr.sphere, tr.bs, u, tr.g, tr.p)
    retract(tr.sphere, tr.bs, u, tr.p, -(run.factor * eta))
    return False


class ScaledSGD(Optimizer):
    name = "scaled-sgd-test"
    summary = "sgd with a scaled step (a test's own optimiser)"
    options = (Option("factor", "step-size factor", "real", default=1.0),)
    step = staticmethod(doubled_sgd_step)


@pytest.fixture
def scaled_sgd():
    register(ScaledSGD)
    yield ScaledSGD
    unregister(ScaledSGD.name)


def test_every_optimizer_is_one_module_that_declares_itself():
    names = list(optimizers.registered())
    assert names[:2] == ["sgd", "gd"]
    assert {"noisy-sgd", "momentum", "nesterov", "pgd", "cnc-pgd"} <= set(names)
    for name, cls in optimizers.registered().items():
        module = cls.__module__
        assert module == f"saddle.optimizers.{name.replace('-', '_')}", (name, module)
        assert callable(cls.step_hook()) and cls.summary
    codes = [cls.gpu_code for cls in optimizers.registered().values() if cls.gpu_code is not None]
    assert len(codes) == len(set(codes))


def test_a_new_optimizer_runs_in_the_kernel_without_editing_the_package(scaled_sgd):
    obj = SpikeTensor(6)
    kw = dict(batch_size=4, sigma_iso=0.0, delta=0.1, radius=None, max_steps=2000, seed=9, trial_start=0, n_trials=30)
    mine = run_trials(obj, obj.saddle(2), optimizer=scaled_sgd.name, eta=0.01, params={"factor": 2.0}, **kw)
    sgd = run_trials(obj, obj.saddle(2), optimizer="sgd", eta=0.02, **kw)
    np.testing.assert_array_equal(mine.steps, sgd.steps)
    np.testing.assert_array_equal(mine.final_f, sgd.final_f)
    assert np.all(mine.status == ESCAPED)


def test_a_new_optimizer_gets_its_options_checked_and_recorded(scaled_sgd):
    config = EscapeConfig(optimizer=scaled_sgd.name, factor=3.0, trials=5, m=(2,), max_steps=50)
    assert config.factor == 3.0 and config.to_dict()["factor"] == 3.0
    assert EscapeConfig(optimizer=scaled_sgd.name).factor == 1.0
    with pytest.raises(ConfigError, match="factor must be > 0"):
        EscapeConfig(optimizer=scaled_sgd.name, factor=-1.0)
    with pytest.raises(ConfigError, match="factor applies to the scaled-sgd-test optimizer only, not to sgd"):
        EscapeConfig(optimizer="sgd", factor=2.0)
    result = run_escape(config)
    assert result.config.factor == 3.0 and len(result.by_m[2].steps) == 5


def test_unknown_optimizer_and_a_missing_required_option_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown optimizer 'adamw'; choose one of sgd, gd,"):
        EscapeConfig(optimizer="adamw")
    with pytest.raises(ConfigError, match=r"noisy-sgd needs sigma_iso \(--sigma-iso\)"):
        EscapeConfig(optimizer="noisy-sgd")
    with pytest.raises(ConfigError, match="sigma_iso applies to the noisy-sgd optimizer only"):
        EscapeConfig(optimizer="sgd", sigma_iso=0.1)
    assert EscapeConfig(optimizer="sgd", sigma_iso=0.0).sigma_iso == 0.0  # the unset value is accepted


def test_registering_a_taken_name_is_refused():
    class Impostor(Optimizer):
        name = "sgd"
        step = staticmethod(doubled_sgd_step)

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
