"""An objective declared in a test file, registered, and run like a built-in one (issue 11, SPEC 2.5).

The objective here is small on purpose: f(x) = sum_k cos(x_k) on R^d, started at its maximum x = 0
(every direction has Hessian eigenvalue -1), with per-sample gradient -sin(x) + sigma zeta,
zeta ~ N(0, I); a mini-batch of m has noise N(0, sigma^2 I / m) in law, drawn as the d normals of
the step's DATA stream.  Nothing in the package names it: it reaches the configuration, the kernel,
the results folder and the command line through the registry alone.  The same file, given to
``python -m saddle.experiments --load``, registers it in a fresh process.
"""

import math
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from saddle import rng
from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.manifolds import Euclidean
from saddle.objectives.base import (
    EXACT_GRADIENT,
    KernelHooks,
    Objective,
    ParamLayout,
    register,
    registered,
    unregister,
)
from saddle.options import ConfigError, Option

LAYOUT = ParamLayout(floats=("sigma",))
_SIGMA = LAYOUT.float_index("sigma")


@numba.njit
def cosine_value(objective, u, pf, pa, pi, work):
    f = 0.0
    for k in range(u.shape[0]):
        f += math.cos(u[k])
    return f


@numba.njit
def cosine_gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g):
    for k in range(u.shape[0]):
        g[k] = -math.sin(u[k])
    if optimizer != EXACT_GRADIENT:
        rng.fill_normals(key0, key1, t, m, rng.DATA, z, block)
        scale = pf[_SIGMA] / math.sqrt(m)
        for k in range(u.shape[0]):
            g[k] += scale * z[k]


class Cosine(Objective):
    """f(x) = sum_k cos(x_k) on R^d from its maximum x = 0, gradient noise N(0, sigma^2 I) per sample."""

    name = "test-cosine"
    title = "test-cosine objective (tests/test_registry.py): sum_k cos(x_k) from its maximum"
    options = (Option("sigma", "per-sample gradient-noise standard deviation", "real", default=1.0),)
    kernel = KernelHooks(cosine_value, cosine_gradient, name="test_cosine")

    def __init__(self, d: int, sigma: float) -> None:
        self.d, self.sigma = d, sigma
        self.manifold = Euclidean(d)

    @classmethod
    def from_config(cls, config):
        return cls(config.d, config.sigma)

    def start_point(self, config):
        return np.zeros(self.d)

    def f(self, u):
        return float(np.sum(np.cos(u)))

    def kernel_params(self):
        return LAYOUT.pack(sigma=self.sigma)


if __name__.startswith("saddle_user_"):  # loaded by `python -m saddle.experiments --load tests/test_registry.py`
    register(Cosine)


@pytest.fixture
def cosine():
    register(Cosine)
    yield Cosine
    unregister(Cosine.name)


def _reference_steps(*, d, sigma, m, eta, delta, seed, trial, max_steps):
    """The same trial in NumPy: x <- x - eta (-sin x + sigma zeta / sqrt m), zeta the step's DATA normals."""
    from tests.reference import normals

    x = np.zeros(d)
    f0 = float(np.sum(np.cos(x)))
    for t in range(1, max_steps + 1):
        zeta = normals(seed, trial, t, m, rng.DATA, d)
        x = x - eta * (-np.sin(x) + sigma / math.sqrt(m) * zeta)
        if np.sum(np.cos(x)) <= f0 - delta:
            return t
    return max_steps


CONFIG = dict(objective="test-cosine", d=3, sigma=0.5, m=(1, 4), eta=0.1, delta=0.2, trials=12, max_steps=2000, seed=3)


def _cli_args(ms):
    """CONFIG as escape's command-line arguments, for the batch sizes ms."""
    flags = ("objective", "d", "sigma", "eta", "delta", "trials", "max_steps", "seed")
    args = ["escape", "--m", *map(str, ms), "--no-plot"]
    for name in flags:
        args += ["--" + name.replace("_", "-"), str(CONFIG[name])]
    return args


def test_a_registered_objective_runs_in_the_kernel_trial_by_trial_as_numpy(cosine, tmp_path):
    res = run_escape(EscapeConfig(**CONFIG), out=tmp_path / "run")
    for m, mres in res.by_m.items():
        assert np.all(mres.status == 0)
        want = [
            _reference_steps(d=3, sigma=0.5, m=m, eta=0.1, delta=0.2, seed=3, trial=n, max_steps=2000)
            for n in range(12)
        ]
        np.testing.assert_array_equal(mres.steps, want)
    assert res.config.describe() == "test-cosine d=3, sigma=0.5"
    assert (tmp_path / "run" / "trials.csv").exists()


class ShortCosine(Cosine):
    """Cosine whose kernel_params() are empty: its gradient reads pf[0] outside the array."""

    name = "test-cosine-short"

    def kernel_params(self):
        return np.empty(0), np.empty(0), np.empty(0, np.int64)


def test_an_index_outside_an_array_in_a_users_hooks_is_one_line_not_a_wrong_number(cosine, tmp_path):
    """A user's kernel is compiled with bounds checks (it is not cached on disk, nor saddle's own): the
    gradient's read of pf[0] from empty kernel_params() is refused in one line naming the objective,
    where it used to read whatever lay beyond the array.  (The same hooks as Cosine's: no new compile.)"""
    register(ShortCosine)
    try:
        with pytest.raises(ConfigError, match=r"test-cosine-short objective read or wrote outside an array"):
            run_escape(EscapeConfig(**{**CONFIG, "objective": "test-cosine-short"}), out=tmp_path / "short")
    finally:
        unregister(ShortCosine.name)


def test_its_options_are_declared_checked_and_on_the_command_line(cosine, tmp_path):
    from saddle.experiments.cli import main

    with pytest.raises(ConfigError, match="sigma must be > 0"):
        EscapeConfig(**{**CONFIG, "sigma": -1.0})
    with pytest.raises(ConfigError, match="sigma applies to the test-cosine objective only, not to spike"):
        EscapeConfig(sigma=1.0)
    assert EscapeConfig(objective="test-cosine").sigma == 1.0
    args = [*_cli_args(CONFIG["m"]), "--quiet", "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    api = run_escape(EscapeConfig(**CONFIG), out=tmp_path / "api")
    assert (tmp_path / "cli" / "trials.csv").read_text() == (tmp_path / "api" / "trials.csv").read_text()
    assert api.summary[0]["escaped"] == 12


def test_load_registers_a_file_s_objectives_in_a_fresh_process(tmp_path):
    """`--load FILE` imports the file before the options are read: the objective and its --sigma exist."""
    root = Path(__file__).resolve().parents[1]
    load = [sys.executable, "-m", "saddle.experiments", "--load", str(Path(__file__))]
    args = [*load, *_cli_args([4]), "--out", str(tmp_path / "loaded")]
    done = subprocess.run(args, capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test-cosine" not in registered()  # the subprocess registered it, not this one
    steps = [int(line.split(",")[3]) for line in (tmp_path / "loaded" / "trials.csv").read_text().splitlines()[1:]]
    assert steps == [
        _reference_steps(d=3, sigma=0.5, m=4, eta=0.1, delta=0.2, seed=3, trial=n, max_steps=2000) for n in range(12)
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "saddle.experiments", "--load", str(tmp_path / "none.py"), "info"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr


def test_a_taken_name_is_refused_and_an_unknown_one_names_the_choices(cosine):
    class Other(Cosine):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(Other)
    register(Cosine)  # the same class again (a module imported twice) is fine
    with pytest.raises(ConfigError, match="unknown objective 'nope'; choose one of spike, ge2015, .*test-cosine"):
        EscapeConfig(objective="nope")
