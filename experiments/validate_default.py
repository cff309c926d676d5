"""Check the main job's medians against an independent implementation of the spike experiment.

Runs the default escape configuration (spike, d = 10, s = 2, uniform data,
eta = 0.01, delta = 0.1, max_steps = 10000) with 2000 trials per batch size
through saddle's kernel and through tests/reference.py's
``independent_escape_steps`` (NumPy's default generator, nothing shared with
the package), and prints both medians with 95% bootstrap intervals and the
two-sample KS p-value.  The output is recorded in docs/escape.md.

    python experiments/validate_default.py [--trials 2000]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saddle.escape import EscapeConfig, run_escape  # noqa: E402
from saddle.kernels import CENSORED  # noqa: E402
from saddle.stats import summarize  # noqa: E402
from tests.reference import independent_escape_steps  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--m", type=int, nargs="+", default=[1, 4, 32, 1024])
    args = ap.parse_args()
    cfg = EscapeConfig(m=tuple(args.m), trials=args.trials, seed=0)
    res = run_escape(cfg)
    print(
        f"# default configuration, {args.trials} trials per m; KS: two-sample, escape steps with "
        "non-escaped trials ranked last"
    )
    print("| m | saddle median [95% CI] | independent median [95% CI] | KS p-value | independent wall s |")
    print("|---:|---|---|---:|---:|")
    for m in cfg.m:
        r = res.by_m[m]
        ours = summarize(r.steps, r.status, cfg.max_steps, seed=1)
        t0 = time.perf_counter()
        theirs_ranked = independent_escape_steps(
            d=cfg.d,
            s=cfg.s,
            dist=cfg.dist,
            eta=cfg.eta,
            m=m,
            delta=cfg.delta,
            trials=cfg.trials,
            max_steps=cfg.max_steps,
            rng=np.random.default_rng([1000, m]),  # keyed by m: the same numbers whatever --m lists
        )
        wall = time.perf_counter() - t0
        escaped = theirs_ranked <= cfg.max_steps
        theirs = summarize(
            np.where(escaped, theirs_ranked, cfg.max_steps).astype(np.int64),
            np.where(escaped, 0, CENSORED),
            cfg.max_steps,
            seed=2,
        )
        ours_ranked = np.where(r.status == 0, r.steps, cfg.max_steps + 1)
        p = scipy.stats.ks_2samp(ours_ranked, theirs_ranked).pvalue
        fmt = lambda s: f"{s.median_steps:.0f} [{s.median_steps_lo:.0f}, {s.median_steps_hi:.0f}]"  # noqa: E731
        print(f"| {m} | {fmt(ours)} | {fmt(theirs)} | {p:.3f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
