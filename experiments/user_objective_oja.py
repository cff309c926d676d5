"""A user-defined objective run through saddle's kernel: Oja's PCA on the sphere.

This file lives outside the package on purpose: it shows how a researcher adds
an objective without editing saddle (docs/objectives.md explains the contract).

The objective is streaming PCA: minimise f(u) = -1/2 u^T C u on the unit
sphere, C = diag(lambda_1 > ... > lambda_d), from samples x with E[x x^T] = C.
SGD on it is Oja's rule.  The per-sample gradient -(u.x) x is unbiased for
-C u.  Every eigenvector e_j is a critical point; for j > 1 it is a strict
saddle whose escape directions are e_1 .. e_{j-1}, with Riemannian Hessian
eigenvalues -(lambda_i - lambda_j) there.  We start at e_3 and measure, for
each batch size, how long SGD takes to lower f by delta.

    python experiments/user_objective_oja.py [--out docs/results/user-oja]
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402

from saddle import rng  # noqa: E402
from saddle.escape import EscapeConfig, run_escape  # noqa: E402
from saddle.experiments.escape_cmd import format_table  # noqa: E402
from saddle.manifolds import Sphere  # noqa: E402
from saddle.plotting import escape_figure, save_figure  # noqa: E402

# -- 1. the kernel functions: plain arrays in, the signatures of docs/objectives.md ----------
# pa[0, i] = sqrt(lambda_i): the data are x_i = sqrt(lambda_i) z_i with z uniform, variance 1.
# Plain numba.njit: they are compiled into saddle's kernel (not cached on disk) at first use.


@numba.njit
def oja_value(objective, u, pf, pa, pi, work):
    """f(u) = -1/2 sum_i lambda_i u_i^2."""
    f = 0.0
    for i in range(u.shape[0]):
        f -= 0.5 * pa[0, i] * pa[0, i] * u[i] * u[i]
    return f


@numba.njit
def oja_gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g):
    """Mean of m per-sample gradients -(u.x) x (or the exact -C u for gd)."""
    d = u.shape[0]
    if optimizer == 1:  # gd
        for i in range(d):
            g[i] = -pa[0, i] * pa[0, i] * u[i]
        return
    for i in range(d):
        g[i] = 0.0
    j = 0
    lane = 4
    for _ in range(m):
        c = 0.0
        for i in range(d):  # sample coordinates are consecutive 32-bit words, as in saddle.rng
            if lane == 4:
                rng.stream_block(key0, key1, t, m, rng.DATA, j, block)  # block j: 4 words
                j += 1
                lane = 0
            x[i] = pa[0, i] * rng.data_variate(block[lane], rng.UNIFORM)
            lane += 1
            c += u[i] * x[i]
        for i in range(d):
            g[i] -= c * x[i]
    for i in range(d):
        g[i] /= m


# -- 2. the objective object: the maths for Python, and what the kernel needs -----------------


@dataclass(frozen=True)
class OjaPCA:
    """f(u) = -1/2 u^T diag(lam) u on the unit sphere."""

    lam: tuple

    name = "oja-pca"
    kernel_functions = (oja_value, oja_gradient)

    @property
    def d(self):
        return len(self.lam)

    @property
    def manifold(self):
        return Sphere(self.d)

    def f(self, u):
        return -0.5 * float(np.dot(self.lam, np.asarray(u) ** 2))

    def kernel_params(self):
        return np.zeros(1), np.sqrt(np.asarray(self.lam, dtype=float))[None, :], np.zeros(1, np.int64)

    def eigenvector(self, j):
        e = np.zeros(self.d)
        e[j] = 1.0
        return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results/user-oja")
    ap.add_argument("--trials", type=int, default=1000)
    args = ap.parse_args()
    objective = OjaPCA(lam=(3.0, 2.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5))
    config = EscapeConfig(
        objective="user",
        d=objective.d,
        m=(1, 4, 16, 64, 256),
        eta=0.02,
        delta=0.1,
        trials=args.trials,
        max_steps=20000,
        seed=0,
    )
    # u_0 = e_3 (index 2): f = -1/2, escape directions e_1, e_2 with curvature -(3 - 1), -(2 - 1)
    result = run_escape(config, user_objective=objective, start=objective.eigenvector(2), out=args.out)
    save_figure(escape_figure(result), Path(args.out) / "escape")
    print(format_table(result))


if __name__ == "__main__":
    main()
