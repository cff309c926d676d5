"""teacher-student through the package: the registered objective, the fused kernel, run_escape and the CLI.

The kernel hooks are checked against Monte Carlo, finite differences and each other in
tests/test_teacher_student.py with a small driver loop; here the package's own kernel must run exactly
that loop (every trial's escape step equal, both simulations, both starts), and the configuration and the
command line must resolve the objective's options as docs/objectives.md says.
"""

import json

import numpy as np
import pytest

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.kernels import run_trials
from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.objectives.teacher_student import kernels
from saddle.options import ConfigError
from tests.reference_teacher_student import escape_steps


@pytest.mark.parametrize("simulation", ["full", "reduced"])
@pytest.mark.parametrize("start", ["plateau", "random"])
def test_the_package_kernel_runs_the_hooks_trial_by_trial(simulation, start):
    config = EscapeConfig(
        objective="teacher-student",
        N=12,
        simulation=simulation,
        start=start,
        m=(2,),
        eta=1.0,
        trials=24,
        max_steps=20_000,
        seed=7,
    )
    objective = config.build_objective()
    u0 = objective.start_point_for(config, 2)
    block = run_trials(
        objective,
        u0,
        optimizer="sgd",
        batch_size=2,
        eta=1.0,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=20_000,
        seed=7,
        trial_start=0,
        n_trials=24,
        target=config.target,
        random_start=config.random_start,
    )
    pf, pa, pi = objective.kernel_params()
    steps, final_f = np.empty(24, np.int64), np.empty(24)
    mode = {"full": kernels.FULL, "reduced": kernels.REDUCED}[simulation]
    escape_steps(
        mode,
        7,
        24,
        u0,
        start == "random",
        pf,
        pa,
        pi,
        MINIBATCH_GRADIENT,
        2,
        1.0,
        config.target,
        20_000,
        steps,
        final_f,
    )
    assert np.all(block.status == 0)
    np.testing.assert_array_equal(block.steps, steps)
    np.testing.assert_array_equal(block.final_f, final_f)


def test_options_resolve_as_documented():
    c = EscapeConfig(objective="teacher-student")
    assert (c.N, c.K, c.M, c.start, c.simulation) == (50, 2, 2, "plateau", "reduced")
    assert (c.eta, c.max_steps, c.trials) == (1.0, 100_000, 400)  # the objective's own defaults
    assert c.target == pytest.approx(0.0116108 / 2, rel=1e-5)  # eps*/2 of Saad and Solla's closed form
    assert EscapeConfig(objective="teacher-student", N=20).simulation == "full"  # auto: small N
    assert EscapeConfig(objective="teacher-student", optimizer="momentum").simulation == "full"
    assert EscapeConfig(objective="teacher-student", random_start=True).start == "random"
    assert EscapeConfig(objective="teacher-student", start="random").random_start is True
    assert EscapeConfig(objective="teacher-student", eta=0.5).eta == 0.5  # given beats the objective's default
    for bad, match in [
        (dict(K=2, M=3), "plateau start needs K = M"),
        (dict(K=2, M=3, start="random"), "give --target"),
        (dict(simulation="reduced", optimizer="momentum"), "reduced simulation runs sgd and gd"),
        (dict(N=3), "N >= K \\+ M"),
        (dict(d=5), "d does not apply"),
        (dict(output_noise=-1.0), "output_noise must be >= 0"),
    ]:
        with pytest.raises(ConfigError, match=match):
            EscapeConfig(objective="teacher-student", **bad)


def test_escape_command_prints_alpha_and_the_theory_and_says_which_simulation(tmp_path):
    from saddle.experiments.cli import main
    from saddle.experiments.escape_cmd import format_table

    out = tmp_path / "ts"
    assert (
        main(
            [
                "escape",
                "--objective",
                "teacher-student",
                "--N",
                "20",
                "--m",
                "1",
                "4",
                "--trials",
                "40",
                "--no-plot",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    stored = json.loads((out / "config.json").read_text())["config"]
    assert stored["simulation"] == "full" and stored["target"] == pytest.approx(0.0058054, rel=1e-4)
    res = run_escape(EscapeConfig(objective="teacher-student", N=20, m=(1, 4), trials=40), out=out)  # resumed
    table = format_table(res)
    assert "median alpha" in table and "samples/N" in table and "plateau-exit prediction" in table
    for row in res.summary:
        assert row["escaped"] == 40
        assert row["median_alpha"] == pytest.approx(row["median_steps"] / 20)
        assert np.isfinite(row["theory_median_steps"]) and row["theory_median_steps"] > 0


def test_a_sweep_runs_it_like_every_objective(tmp_path):
    """Sweeps take the objective's options as parameters; cell seeds are 64-bit (the theory's noise
    measurement once overflowed on them)."""
    from saddle.sweep import SweepConfig, run_sweep

    sweep = SweepConfig.from_dict(
        {
            "sweep": {"name": "ts", "seed": 1, "trials": 12, "max_steps": 20_000},
            "grid": {"m": [1, 4], "N": [20]},
            "fixed": {"objective": "teacher-student"},
        }
    )
    res = run_sweep(sweep, out=tmp_path / "sweep")
    assert list(res.summary["escaped"]) == [12, 12]
    assert all(np.isfinite(res.summary["theory_median_steps"]))
