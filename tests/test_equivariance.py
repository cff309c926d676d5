"""SPEC 2.1: the dynamics are equivariant under rotations, so a random orthogonal A
must give the same escape-time distribution as A = I."""

import numpy as np
import scipy.stats

from saddle.escape import run_escape
from saddle.stats import ranked_times

OPTIONS = dict(m=(8,), d=6, s=2, eta=0.02, trials=1500, max_steps=4000)


def _steps(**kw):
    res = run_escape(**OPTIONS, **kw)
    r = res.by_m[8]
    return ranked_times(r.steps, r.status, OPTIONS["max_steps"]), r


def test_random_rotation_gives_the_same_escape_time_distribution():
    """Two-sample KS test, 1500 trials each, independent seeds, significance level 0.001."""
    identity, _ = _steps(seed=1)
    rotated, _ = _steps(seed=2, rotation_seed=12345)
    assert scipy.stats.ks_2samp(identity, rotated).pvalue > 1e-3


def test_rotation_with_the_same_random_numbers_gives_nearly_the_same_trials():
    """x = A z with the same z: the rotated run is the identity run rotated, up to rounding,
    so almost every escape step is identical (rounding can move a trial across the threshold)."""
    identity, a = _steps(seed=3)
    rotated, b = _steps(seed=3, rotation_seed=7)
    assert np.mean(identity == rotated) > 0.95
    np.testing.assert_allclose(a.final_f[identity == rotated], b.final_f[identity == rotated], atol=1e-6)
