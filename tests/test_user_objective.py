"""A user-defined objective runs in the package's kernel (docs/objectives.md), from outside the package."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from saddle.escape import ConfigError, EscapeConfig, run_escape
from saddle.kernels import ESCAPED, run_trials
from tests.reference import _samples

EXAMPLE = Path(__file__).resolve().parents[1] / "experiments" / "user_objective_oja.py"


@pytest.fixture(scope="module")
def oja():
    spec = importlib.util.spec_from_file_location("user_objective_oja", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference(obj, u0, *, seed, trial, m, eta, delta, max_steps):
    """Oja's rule on the sphere in NumPy, with the same random stream (uniform data, scaled)."""
    lam = np.asarray(obj.lam)
    u = u0.copy()
    f0 = obj.f(u)
    for t in range(1, max_steps + 1):
        x = _samples(seed, trial, t, m, m, obj.d, "uniform") * np.sqrt(lam)
        g = -((x @ u)[:, None] * x).mean(axis=0)
        w = u - eta * (g - np.dot(u, g) * u)
        u = w / np.linalg.norm(w)
        if obj.f(u) <= f0 - delta:
            return t, obj.f(u)
    return max_steps, obj.f(u)


@pytest.mark.parametrize("m", [1, 5])
def test_user_objective_runs_in_the_kernel_and_matches_a_numpy_reference(oja, m):
    obj = oja.OjaPCA(lam=(3.0, 2.0, 1.0, 0.5, 0.5))
    u0 = obj.eigenvector(2)
    block = run_trials(
        obj,
        u0,
        optimizer="sgd",
        batch_size=m,
        eta=0.05,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=2000,
        seed=4,
        trial_start=0,
        n_trials=8,
    )
    assert np.all(block.status == ESCAPED)
    for n in range(8):
        steps, f = _reference(obj, u0, seed=4, trial=n, m=m, eta=0.05, delta=0.1, max_steps=2000)
        assert block.steps[n] == steps
        assert block.final_f[n] == pytest.approx(f, rel=1e-9)


def test_user_objective_through_run_escape_and_its_errors(oja, tmp_path):
    obj = oja.OjaPCA(lam=(3.0, 2.0, 1.0, 0.5))
    cfg = EscapeConfig(objective="user", d=4, m=(4, 64), eta=0.05, trials=100, max_steps=5000)
    res = run_escape(cfg, user_objective=obj, start=obj.eigenvector(1), out=tmp_path / "run")
    assert [r["escaped"] for r in res.summary] == [100, 100]
    assert res.summary[0]["median_steps"] < res.summary[1]["median_steps"]  # more noise, faster escape here
    assert (tmp_path / "run" / "trials.csv").exists()
    with pytest.raises(ConfigError, match="user_objective=..., start="):
        run_escape(cfg)
    with pytest.raises(ConfigError, match="length d"):
        run_escape(cfg, user_objective=obj, start=np.ones(3))
    with pytest.raises(ConfigError, match="go with EscapeConfig"):
        run_escape(EscapeConfig(m=(4,), trials=10), user_objective=obj, start=obj.eigenvector(1))
