"""The escape times are right: the kernel against an implementation of SPEC 2.1 that shares
nothing with the package (NumPy's default generator, vectorised over trials)."""

import numpy as np
import pytest
import scipy.stats

from saddle.escape import run_escape
from saddle.stats import ranked_times
from tests.reference import independent_escape_steps


@pytest.mark.parametrize(
    "dist, m, eta, trials, max_steps",
    [
        ("uniform", 4, 0.01, 800, 4000),
        ("uniform", 32, 0.01, 800, 2000),
        ("laplace", 8, 0.01, 600, 4000),
        ("rademacher", 16, 0.02, 600, 4000),
        ("uniform", 256, 0.01, 300, 2000),
    ],
)
def test_escape_steps_agree_with_an_independent_implementation(dist, m, eta, trials, max_steps):
    """Default saddle (d = 10, s = 2, delta = 0.1); two-sample KS test at significance level
    0.001 on the escape steps (non-escaped trials ranked last in both samples)."""
    res = run_escape(m=(m,), d=10, s=2, dist=dist, eta=eta, trials=trials, max_steps=max_steps, seed=17)
    r = res.by_m[m]
    ours = ranked_times(r.steps, r.status, max_steps)
    theirs = independent_escape_steps(
        d=10,
        s=2,
        dist=dist,
        eta=eta,
        m=m,
        delta=0.1,
        trials=trials,
        max_steps=max_steps,
        rng=np.random.default_rng(2024),
    )
    assert scipy.stats.ks_2samp(ours, theirs).pvalue > 1e-3
