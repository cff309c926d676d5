"""The Gaussian batch-noise mode (docs/escape.md): each step's mini-batch mean gradient replaced by the exact
gradient plus N(0, Sigma(u) / m), Sigma(u) the exact per-sample gradient covariance at u.

- exact in law on the quadratic (its per-sample noise is Gaussian): two-sample KS tests of the escape step
  against exact sampling;
- on the spike, the noise it draws has covariance Sigma(u) / m: its factor exactly, and by Monte Carlo;
- refusals are one line; the default ('exact') changes no trial and no sweep cell key.
"""

import json

import numpy as np
import pytest
import scipy.stats

from saddle import rng
from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.experiments.cli import build_parser, main
from saddle.experiments.escape_cmd import config_from_args
from saddle.kernels import run_trials
from saddle.objectives import QuadraticSaddle
from saddle.objectives.spike import SpikeTensor, gaussian_minibatch_gradient
from saddle.objectives.spike_moments import spike_gradient_covariance_at
from saddle.options import ConfigError
from saddle.sweep.config import cell_key

ALPHA = 0.01
"""Significance of the two-sample KS tests."""


@pytest.mark.parametrize("m", [1, 64])
def test_quadratic_escape_steps_have_the_law_of_exact_sampling(m):
    """quadratic d = 10 (defaults: gamma = 1, lambda = 1, beta = 1, Sigma = I), eta = 0.05, seed 3: 3000 trials
    of each mode; the KS test of their escape steps does not reject at ALPHA (the two modes draw from
    different streams, DATA and BATCH_NOISE, so the samples are independent)."""
    options = dict(objective="quadratic", m=[m], eta=0.05, trials=3000, seed=3, record_trials=0)
    exact = run_escape(batch_noise="exact", **options).by_m[m]
    gaussian = run_escape(batch_noise="gaussian", **options).by_m[m]
    assert np.all(exact.status == 0) and np.all(gaussian.status == 0)
    assert not np.array_equal(exact.steps, gaussian.steps)  # independent draws, not the same ones
    assert scipy.stats.ks_2samp(exact.steps, gaussian.steps).pvalue > ALPHA


def _noise_draws(objective, u, m, steps, seed=5, trial=2):
    """The kernel's gradient noise g - grad f(u) at steps 1 .. steps, and the normals xi it drew."""
    pf, pa, pi = objective.kernel_params()
    d = len(u)
    w, y, block, g = np.empty(d), np.empty(d), np.empty(4, np.uint64), np.empty(d)
    noise, xi = np.empty((steps, d)), np.empty((steps, d))
    grad = objective.egrad(u)
    for t in range(1, steps + 1):
        gaussian_minibatch_gradient(
            u, pa, pi[1] != 0, pf[0], pf[1], pf[2], np.uint64(seed), np.uint64(trial), t, m, w, y, block, g
        )
        noise[t - 1] = g - grad
        xi[t - 1] = rng.normals(seed, trial, t, m, rng.BATCH_NOISE, d)
    return noise, xi


def _point(d, seed):
    u = np.random.default_rng(seed).normal(size=d)
    return u / np.linalg.norm(u)


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "laplace"])
@pytest.mark.parametrize("rotated", [False, True])
def test_spike_noise_is_a_factor_of_the_exact_covariance(dist, rotated):
    """The noise is F xi with xi the step's BATCH_NOISE normals: F (fitted from 30 steps, exactly
    determined) satisfies F F^T = Sigma(u) / m to 1e-12 relative, Sigma(u) from the power series of
    spike_moments (an independent computation of the same matrix)."""
    d, m = 10, 16
    A = scipy.stats.ortho_group.rvs(d, random_state=4) if rotated else None
    objective = SpikeTensor(d, dist, A)
    u = _point(d, 1)
    noise, xi = _noise_draws(objective, u, m, 30)
    F = np.linalg.lstsq(xi, noise, rcond=None)[0].T
    want = spike_gradient_covariance_at(u, dist, objective.A) / m
    np.testing.assert_allclose(F @ F.T, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_spike_noise_covariance_by_monte_carlo():
    """20000 steps' noise at a point u (uniform data, d = 10, m = 16): the mean within 4.5 standard errors of
    0 in every coordinate and every entry of the sample covariance within 4.5 standard errors of
    Sigma(u) / m (for Gaussian draws the entry's variance is (S_jj S_kk + S_jk^2) / n)."""
    d, m, n = 10, 16, 20000
    objective = SpikeTensor(d, "uniform")
    u = _point(d, 2)
    noise, _ = _noise_draws(objective, u, m, n)
    S = spike_gradient_covariance_at(u, "uniform") / m
    se_mean = np.sqrt(np.diag(S) / n)
    assert np.all(np.abs(noise.mean(axis=0)) <= 4.5 * se_mean)
    se_cov = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)
    assert np.all(np.abs(np.cov(noise.T) - S) <= 4.5 * se_cov)


def test_spike_zero_variance_direction_stays_zero():
    """rademacher data at the s = 2 saddle: no variance along (a_1 - a_2)/sqrt 2 (the CNC condition fails,
    docs/objectives.md); the mode's noise there is rounding only (below 1e-12 of its size elsewhere)."""
    objective = SpikeTensor(10, "rademacher")
    noise, _ = _noise_draws(objective, objective.saddle(2), 1, 50)
    assert np.abs(noise[:, 0] - noise[:, 1]).max() <= 1e-12 * np.abs(noise).max()


def test_a_spike_run_escapes_and_differs_from_exact_sampling():
    """The mode runs end to end on the spike (its own kernel, m = 256): every trial escapes, the trials are
    not those of exact sampling, and the medians are close (within 15%; the measured error is in
    docs/escape.md)."""
    options = dict(m=[256], trials=200, seed=1, record_trials=0)
    exact = run_escape(**options).by_m[256]
    gaussian = run_escape(batch_noise="gaussian", **options).by_m[256]
    assert np.all(gaussian.status == 0)
    assert not np.array_equal(exact.steps, gaussian.steps)
    assert abs(np.median(gaussian.steps) / np.median(exact.steps) - 1) < 0.15


def test_other_optimizers_draw_the_gaussian_gradient():
    """momentum with beta = 0 on R^d is sgd step for step: in the mode too, its trials are sgd's bit for bit
    (its mini-batch gradient is the mode's), and not those of exact sampling."""
    options = dict(objective="quadratic", m=[32], eta=0.05, trials=100, seed=2, record_trials=0)
    sgd = run_escape(batch_noise="gaussian", **options).by_m[32]
    heavy = run_escape(batch_noise="gaussian", optimizer="momentum", momentum=0.0, **options).by_m[32]
    exact = run_escape(optimizer="momentum", momentum=0.0, **options).by_m[32]
    np.testing.assert_array_equal(heavy.steps, sgd.steps)
    np.testing.assert_array_equal(heavy.final_f, sgd.final_f)
    assert not np.array_equal(heavy.steps, exact.steps)


@pytest.mark.parametrize(
    "options, match",
    [
        (
            dict(objective="teacher-student"),
            r"not implemented for the teacher-student objective.*: spike, ge2015, quadratic",
        ),
        (dict(objective="octopus", d=2), r"not implemented for the octopus objective"),
        (dict(optimizer="gd"), r"which the gd optimizer does not draw; optimizers that draw it: sgd"),
        (dict(optimizer="pgd"), r"pgd optimizer does not draw"),
    ],
)
def test_other_objectives_and_optimizers_are_refused_in_one_line(options, match):
    with pytest.raises(ConfigError, match=match) as err:
        EscapeConfig(batch_noise="gaussian", **options)
    assert "\n" not in str(err.value)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match=r"unknown batch_noise 'clt'; choose one of exact, gaussian"):
        EscapeConfig(batch_noise="clt")


def test_the_gpu_backend_is_refused_by_name(capsys):
    with pytest.raises(ConfigError, match=r"batch_noise 'gaussian' is not supported on cupy") as err:
        run_escape(batch_noise="gaussian", trials=10, backend="cupy")
    assert "\n" not in str(err.value)
    objective = QuadraticSaddle(2)
    with pytest.raises(ValueError, match=r"not supported on cupy"):
        run_trials(
            objective,
            objective.start(),
            optimizer="sgd",
            batch_size=1,
            eta=0.01,
            sigma_iso=0.0,
            delta=0.1,
            radius=None,
            max_steps=10,
            seed=0,
            trial_start=0,
            n_trials=1,
            backend="cupy",
            batch_noise="gaussian",
        )
    assert main(["escape", "--batch-noise", "gaussian", "--backend", "cupy", "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not supported on cupy" in lines[0]


def test_the_command_line_flag_reaches_every_command_and_config_json(tmp_path):
    parser = build_parser()
    for command in ("escape", "theory", "frontier"):
        assert parser.parse_args([command, "--batch-noise", "gaussian"]).batch_noise == "gaussian"
        assert parser.parse_args([command]).batch_noise == "exact"
    assert config_from_args(parser.parse_args(["escape", "--batch-noise", "gaussian"])).batch_noise == "gaussian"
    result = run_escape(m=[4], trials=20, batch_noise="gaussian", out=tmp_path / "run", record_trials=0)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["batch_noise"] == "gaussian"
    assert "Gaussian batch noise" in result.config.describe()


def test_the_default_changes_no_trial_and_no_cell_key():
    """batch_noise='exact' is the default: a run's trials are the same with and without it, and a sweep
    cell's key does not name it (stored sweeps stay valid), while 'gaussian' makes another key."""
    options = dict(m=[4, 32], trials=64, seed=7, record_trials=0)
    plain = run_escape(**options).by_m.values()
    named = run_escape(batch_noise="exact", **options).by_m.values()
    for a, b in zip(plain, named):
        np.testing.assert_array_equal(a.steps, b.steps)
        np.testing.assert_array_equal(a.final_f, b.final_f)
    assert cell_key(EscapeConfig()) == cell_key(EscapeConfig(batch_noise="exact"))
    assert cell_key(EscapeConfig()) != cell_key(EscapeConfig(batch_noise="gaussian"))


def test_a_frontier_in_the_mode_says_so(tmp_path):
    """The frontier runs every cell in the mode and its table says so (the quadratic, where it is exact)."""
    from saddle.experiments.frontier_cmd import format_table
    from saddle.frontier.config import FrontierConfig
    from saddle.frontier.run import run_frontier

    escape = EscapeConfig(objective="quadratic", m=(16, 64), trials=50, max_steps=5000, batch_noise="gaussian")
    result = run_frontier(FrontierConfig(escape), out=tmp_path / "f", noise=False, theory=False, n_bootstrap=20)
    assert result.config.escape.batch_noise == "gaussian"
    assert "batch noise: Gaussian at every m" in format_table(result)
