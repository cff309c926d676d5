"""Schedules of the step size and the batch size (saddle.schedules): their text, the kernel against the
NumPy reference trial by trial, the samples they count, and the schedules refused in one line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saddle.kernels import CENSORED, ESCAPED, run_trials
from saddle.objectives import SpikeTensor
from saddle.options import ConfigError
from saddle.schedules import BatchSwitch, InverseTime, Schedule, StepDecay, Trigger
from tests.reference import reference_trial

triggers = st.one_of(
    st.sampled_from([Trigger("drop")]),
    st.integers(0, 10**6).map(lambda n: Trigger("step", n)),
    st.floats(-10, 10, allow_nan=False).map(lambda x: Trigger("f", x)),
)
step_rules = st.one_of(
    st.none(),
    st.builds(InverseTime, st.floats(1e-3, 1e6), trigger=st.one_of(triggers, st.just(Trigger("start")))),
    st.builds(StepDecay, st.floats(0.01, 0.99), st.integers(1, 10**5), trigger=triggers),
)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(st.none(), st.builds(BatchSwitch, st.integers(1, 2**20), triggers)),
    step_rules,
    st.one_of(st.none(), st.integers(1, 10**12)),
)
def test_a_schedules_text_reads_back_to_the_same_schedule(batch, step, budget):
    plan = Schedule(batch, step, budget)
    assert Schedule.parse(plan.text) == plan
    assert Schedule.parse(plan.text).text == plan.text


def test_the_rules_factors_are_their_definitions():
    tau = np.arange(1, 3001)
    np.testing.assert_array_equal(InverseTime(250.0).factor(tau), 1.0 / (1.0 + tau / 250.0))
    step = StepDecay(0.5, 1000).factor(tau)
    assert step[0] == 1.0 and step[998] == 1.0 and step[999] == 0.5 and step[1999] == 0.25


SCHEDULES = [
    "m=1@step:40",  # the seed's trick at a fixed step
    "m=64@f:-0.62",  # an increase once f reaches a level
    "eta=inverse-time:30@drop",
    "eta=step:0.5:60@step:10",
    "m=1@drop,eta=inverse-time:40@drop,budget=300",  # a combination with a budget and no target
    "m=16@drop,budget=640",
]


@pytest.mark.parametrize("text", SCHEDULES)
def test_the_kernel_runs_each_schedule_as_the_numpy_reference_does(text):
    """Trial by trial (8 trials, spike d = 5 from its s = 2 saddle at f = -1/2): the same steps, status,
    f-drop step, batch switch step and final f as the reference written from the schedules' definitions;
    runs with a budget have no target (the trial ends when the budget is spent)."""
    plan = Schedule.parse(text)
    obj = SpikeTensor(5, "uniform")
    u0 = obj.saddle(2)
    target = None if plan.budget else -0.8
    common = dict(eta=0.02, sigma_iso=0.0, delta=0.1, radius=None, max_steps=1500, target=target)
    block = run_trials(
        obj, u0, optimizer="sgd", batch_size=4, seed=6, trial_start=0, n_trials=8, schedule=plan, **common
    )
    for n in range(8):
        steps, status, final_f, trace = reference_trial(
            seed=6, trial=n, u0=u0, A=obj.A, dist="uniform", optimizer="sgd", m=4, schedule=plan, **common
        )
        assert (block.steps[n], block.status[n], block.drop_steps[n]) == (steps, status, trace.drop), n
        if plan.batch is not None:
            assert block.switch_steps[n] == trace.switch, n
        assert block.final_f[n] == pytest.approx(final_f, rel=1e-9, abs=1e-12)
    if plan.budget:
        assert np.all(block.status == CENSORED) and np.all(block.drop_steps > 0)
    else:
        assert np.sum(block.status == ESCAPED) >= 4  # (the trials reach the part of the run the rules change)


def test_a_budget_ends_each_trial_after_exactly_its_samples_past_the_f_drop(tmp_path):
    """m = 4 before the f-drop, 16 after, budget 640 = 40 steps at m = 16: every trial's samples are
    4 x (its f-drop step) + 640, exactly (run_escape's count, as trials.csv stores it and load reads it
    back, the f-drop steps with it); a constant schedule's budget stores its f-drop steps too."""
    from saddle import load
    from saddle.escape import run_escape

    res = run_escape(m=(4,), d=5, trials=40, max_steps=3000, schedule="m=16@drop,budget=640", seed=3)
    r = res.by_m[4]
    assert np.all(r.drop_steps > 0)
    np.testing.assert_array_equal(r.steps, r.drop_steps + 40)
    np.testing.assert_array_equal(r.samples, 4 * r.drop_steps + 640)
    plain = run_escape(m=(4,), d=5, trials=40, max_steps=3000, schedule="budget=640", seed=3, out=tmp_path / "b")
    back = load(tmp_path / "b").by_m[4]
    np.testing.assert_array_equal(back.drop_steps, r.drop_steps)  # (the same first phase: the same streams)
    np.testing.assert_array_equal(back.steps, r.drop_steps + 160)
    assert plain.config.target is None  # (a run to its budget takes no default target)


def test_a_switch_at_a_step_is_stored_and_its_samples_counted_from_it(tmp_path):
    from saddle import load
    from saddle.escape import run_escape

    res = run_escape(m=(2,), d=5, trials=20, target=-0.9, schedule="m=32@step:30", seed=2, out=tmp_path / "run")
    r = res.by_m[2]
    switched = r.switch_steps
    assert switched is not None and np.all(switched == np.where(r.steps > 30, 30, 0))
    np.testing.assert_array_equal(r.samples, 2 * np.minimum(r.steps, 30) + 32 * np.maximum(r.steps - 30, 0))
    back = load(tmp_path / "run").by_m[2]
    np.testing.assert_array_equal(back.samples, r.samples)
    assert "switch_steps" in (tmp_path / "run" / "trials.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    "schedule, more, message",
    [
        ("m=0@drop", {}, "must be >= 1"),
        ("eta=inverse-time:-5@drop", {"target": -0.9}, "t0 must be > 0"),
        ("eta=step:0.5:10@step:20000", {"target": -0.9}, "never fires"),
        ("m=1@f:-7", {"target": -0.9}, "never fires"),
        ("m=1@f:-0.95", {"target": -0.9}, "ends at the target"),
        ("m=1@drop", {}, "never acts"),
        ("m=1@drop", {"optimizer": "gd", "target": -0.9}, "draws no mini-batch"),
        ("m=1@drop,budget=10", {"lr_decay": 5.0}, "not both"),
        ("m=4@drop,budget=10", {}, "not a whole number of steps"),
        ("m=1@sometime", {}, "unknown trigger"),
    ],
)
def test_schedules_that_cannot_act_are_refused_in_one_line(schedule, more, message):
    from saddle.config import EscapeConfig

    with pytest.raises(ConfigError, match=message) as err:
        EscapeConfig(schedule=schedule, max_steps=10000, **more)
    assert "\n" not in str(err.value)


def test_the_gpu_refuses_a_schedule_by_name():
    obj = SpikeTensor(5, "uniform")
    with pytest.raises(ValueError, match="schedules .* not supported on the GPU"):
        run_trials(
            obj, obj.saddle(2), optimizer="sgd", batch_size=4, eta=0.02, sigma_iso=0.0, delta=0.1, radius=None,
            max_steps=10, seed=0, trial_start=0, n_trials=2, schedule="m=1@step:3", backend="cupy",
        )  # fmt: skip


def test_the_command_line_takes_a_schedule_and_refuses_a_bad_one(tmp_path):
    cmd = [sys.executable, "-m", "saddle.experiments", "escape", "--m", "4", "--d", "5", "--trials", "20"]
    bad = subprocess.run([*cmd, "--schedule", "m=0@drop", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "must be >= 1" in bad.stderr
    assert not (tmp_path / "x").exists()
    ok = subprocess.run(
        [*cmd, "--schedule", "m=1@drop,budget=50", "--no-plot", "--out", str(tmp_path / "y")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "schedule: m -> 1 after the f-drop" in ok.stdout
