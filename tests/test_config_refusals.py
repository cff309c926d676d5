"""Inputs that cannot make sense are refused by the configuration, with the reason, before any work
(issue 12: memory against the process limit, unreachable drops and targets, wrong types in the API)."""

import subprocess
import sys
from pathlib import Path

import pytest

from saddle.config import BYTES_PER_TRIAL, EscapeConfig, available_memory
from saddle.escape import run_escape
from saddle.options import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(delta=100.0), r"delta = 100 is a drop the spike objective cannot make .*f_min = 0.5"),
        (dict(delta=0.5), r"cannot make"),  # exactly f(u_0) - f_min: only the minimum itself would do
        (dict(s=4, delta=0.8), r"f\(u_0\) - f_min = 0.75"),
        (dict(target=-1.5), r"target = -1.5 is below the spike objective's minimum f_min = -1"),
        (dict(objective="quadratic", gamma=1.0, beta=2.0, delta=0.2), r"f_min = 0.125"),
        (dict(objective="ge2015", d=4, delta=1.0), r"f_min = 1\b"),
        (dict(objective="octopus", d=2, target=-300.0), r"below the octopus objective's minimum"),
    ],
)
def test_a_drop_or_target_the_objective_cannot_reach_is_refused(options, match):
    with pytest.raises(ConfigError, match=match):
        EscapeConfig(**options)


def test_drops_it_can_make_are_accepted():
    assert EscapeConfig(delta=0.49).delta == 0.49
    assert EscapeConfig(delta=5.0, radius=0.1).radius == 0.1  # a distance criterion: delta does not apply
    assert EscapeConfig(target=-0.99).target == -0.99


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: run_escape(m=None), "m must list at least one batch size"),
        (lambda: run_escape({"m": [1]}), "config must be an EscapeConfig"),
        (lambda: run_escape(m=["a"]), "m must be an integer"),
        (lambda: EscapeConfig(random_start="no"), "random_start must be true or false"),
        (lambda: EscapeConfig(eta=True), "eta must be a number"),
        (lambda: EscapeConfig(objective=3), "objective must be a name"),
        (lambda: EscapeConfig(options=[1]), "options must be a mapping"),
        (lambda: EscapeConfig(spam=1), "unknown option 'spam'"),
    ],
)
def test_wrong_types_in_the_api_are_a_config_error_naming_the_argument(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_the_memory_estimate_uses_measured_bytes_per_trial_and_the_process_limit():
    limit, _ = available_memory()
    trials = int(limit // 2 // BYTES_PER_TRIAL) + 1
    with pytest.raises(ConfigError, match="more than half of"):
        EscapeConfig(m=(1,), trials=trials)
    # under `ulimit -v` (4 GB), d = 12000 (a 1.1 GB matrix and its checks) is refused at once, in one line
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (4_000_000_000, 4_000_000_000)); "
        "from saddle.experiments.cli import main; raise SystemExit(main(['escape', '--d', '12000', '--trials', "
        "'4', '--no-plot']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "memory limit (ulimit -v)" in done.stderr


def test_a_start_no_trial_can_leave_is_refused_up_front_naming_the_ways_out():
    """ge2015's collision saddle under shared samples (SPEC 2.2): refused at once, unless asked for."""
    for optimizer in ("sgd", "momentum", "gd"):
        with pytest.raises(
            ConfigError,
            match=f"fixed point of shared-sample {optimizer}.*ways out: --sampling "
            "per-column.*noisy-sgd.*--start-perturbation.*allow_trap",
        ):
            EscapeConfig(objective="ge2015", d=5, sampling="shared", optimizer=optimizer)
    trap = EscapeConfig(objective="ge2015", d=5, sampling="shared", allow_trap=True)
    assert any("no trial can escape" in w for w in trap.start_warnings())
    EscapeConfig(objective="ge2015", d=5)  # (its default: per-column samples)
    for way_out in (
        dict(optimizer="noisy-sgd", sigma_iso=0.1),
        dict(start_perturbation=0.01),
        dict(random_start=True),
    ):
        EscapeConfig(objective="ge2015", d=5, sampling="shared", **way_out)
    with pytest.raises(ConfigError, match="allow_trap must be true or false"):
        EscapeConfig(allow_trap="yes")


def test_an_optimizer_without_mini_batches_says_m_has_no_effect_and_counts_no_samples(tmp_path):
    from saddle.experiments.escape_cmd import format_table

    table = format_table(run_escape(m=(1, 64), optimizer="gd", start_perturbation=0.05, trials=8, max_steps=2000))
    rows = table.splitlines()[1:3]
    assert all(row.split().count("-") == 2 for row in rows)  # the theory and median samples columns
    assert "gd draws no mini-batches: m does not change the law of its trials" in table


def test_the_linear_theory_refuses_a_dimension_whose_quantities_take_minutes(capsys):
    """Its saddle quantities cost O(d^4) before any trial (minutes at d = 1000): theory refuses d > 200 in
    one line, and an escape run leaves the column empty (its table says why) instead of hanging."""
    from saddle.experiments.cli import main
    from saddle.theory.columns import MAX_THEORY_D, theory_applies

    assert main(["theory", "--d", str(MAX_THEORY_D + 1), "--m", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "computed for d <= 200" in err[0]
    assert not theory_applies(EscapeConfig(d=MAX_THEORY_D + 1, m=(1,)))
    assert theory_applies(EscapeConfig(d=MAX_THEORY_D, m=(1,)))
