"""teacher-student as a registered objective: ``--objective teacher-student`` (docs/objectives.md, teacher-student).

The state is the student W (K x N, flattened row by row; the *full* simulation) or its order parameters
(Q, R) (the *reduced* simulation: an exact Markov chain, whose cost per step does not grow
with N); f is the exact generalisation error eps_g.  A run starts on the symmetric plateau fixed point of
its eta/m (``start = 'plateau'``, K = M: only the SGD noise can break the students' symmetry) or from
small random weights w_k ~ N(0, sigma0^2 I_N) (``start = 'random'``); a trial escapes at the first step
with eps_g <= eps*/2, eps* the plateau height of Saad and Solla's closed form (or at a given target).
Times are reported in steps, in alpha = steps / N and in samples / N.  The theory column is the
plateau-exit prediction of :func:`saddle.objectives.teacher_student.ode.predict_exit`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from saddle.manifolds import Euclidean
from saddle.objectives.base import KernelHooks, Objective, register
from saddle.objectives.teacher_student import kernels
from saddle.objectives.teacher_student.model import (
    TeacherStudent,
    generalisation_error,
    plateau_closed_form,
    symmetric_order_parameters,
)
from saddle.options import ConfigError, Option

if TYPE_CHECKING:
    from collections.abc import Mapping

    from saddle.options import Settings

MODES = {"full": kernels.FULL, "reduced": kernels.REDUCED}
HOOKS = {mode: KernelHooks(*kernels.HOOKS[code], name=f"teacher_student_{mode}") for mode, code in MODES.items()}
MAX_PLATEAU_K = 10
"""The largest K = M whose plateau (the fixed point and its Jacobian,
:func:`~saddle.objectives.teacher_student.ode.plateau`) is computed: its cost grows as K^6 (a Jacobian of
K (3K + 1) / 2 columns, each two evaluations of the ODE's K^2 (2K)^2 Gaussian averages).  Measured (2 cores,
2026-12-07) at eta/m = 0.01: 0.6 s at K = 8, 0.8 s at K = 10, 3.9 s at K = 12, 19 s at K = 16, hours at K = 64.
Above it the plateau start is refused."""
MAX_THEORY_K = 4
"""The largest K = M whose theory column (:func:`~saddle.objectives.teacher_student.ode.predict_exit`) a run
computes: its ODE integrations and Jacobians cost 3.4 s a batch size at K = 3, 4.8 s at K = 4, 12 s at K = 5,
45 s at K = 6 and minutes at K = 10 (same machine, N = 200, eta/m = 0.01); above it the column is left empty,
with the reason."""
MAX_SIGMA0 = 1e6
"""The largest sigma0 of the random start: the fields w_k.x / sqrt(N) then have standard deviation 1e6, erf is
saturated far beyond, and the order parameters (of order sigma0^2) and their products stay far from overflow."""
REDUCED_FROM_N = 50
"""``simulation = 'auto'`` takes the reduced chain from this N on (where it applies: sgd or gd, the f
target, the plateau or random start).  Measured on the reference machine (one thread, K = M = 2,
benchmarks/teacher_student_bench.py): the full simulation costs 7.7 us a step at N = 1000, m = 1 and grows
with N m; the reduced chain costs 1.1 us at m = 1, 2.7 us at m = 16 and 7.7 us at m = 64 whatever N.  They
cross near N = 110 at m = 1, N = 15 at m = 16 and below N = 10 at m = 64: N = 50 is the middle of the
batch sizes a study runs (the choice is one per run, recorded in config.json)."""


def _sgd_like(config: Settings) -> bool:
    """Whether the run's optimiser takes plain mini-batch gradient steps (sgd): what the ODE describes."""
    optimizer = config.optimizer_class
    return bool(optimizer.plain_step and optimizer.minibatch)


@register
class TeacherStudentObjective(Objective):
    """The symmetric plateau of a two-layer network learning from a teacher (Saad & Solla 1995).

    Options: N (input dimension), K and M (student and teacher hidden units), sigma0 (the random start's
    weight scale), output_noise (the label noise sigma), start ('plateau' or 'random') and simulation
    ('auto', 'full' or 'reduced').
    """

    name = "teacher-student"
    rank = 4
    title = (
        "teacher-student objective (Saad & Solla 1995): a two-layer network's symmetric plateau, "
        "escape at eps_g <= eps*/2"
    )
    options = (
        Option("N", "input dimension", "int", default=50, low=2),
        Option("K", "student hidden units", "int", default=2, low=1, high=64),
        Option("M", "teacher hidden units", "int", default=lambda config: config.K, low=1, high=64, default_text="K"),
        Option(
            "sigma0",
            f"random start: weights w_k ~ N(0, sigma0^2 I_N), at most {MAX_SIGMA0:g}",
            "real",
            default=math.sqrt(0.1),
            default_text="sqrt(0.1)",
        ),
        Option("output_noise", "standard deviation of the label noise", "nonneg", default=0.0),
        Option(
            "start",
            "plateau: on the symmetric fixed point of the run's eta/m (K = M); random: small random weights",
            "choice",
            default=lambda config: "random" if config.random_start else "plateau",
            default_text="plateau; random with --random-start",
            choices=("plateau", "random"),
        ),
        Option(
            "simulation",
            f"full: W itself; reduced: the exact chain on (Q, R), its cost independent of N; "
            f"auto: reduced from N = {REDUCED_FROM_N} on where it applies",
            "choice",
            default="auto",
            choices=("auto", "full", "reduced"),
        ),
    )
    uses_d = False
    random_start = "w_k ~ N(0, sigma0^2 I_N) (--start random)"
    gpu_refusal = (
        "escape.cu has no teacher-student section (its per-step work is m N normals or a small "
        "Wishart draw; the CPU kernel runs both)"
    )
    generic_defaults = {"eta": 1.0, "max_steps": 100_000, "trials": 400}
    table_columns = (("median_alpha", "median alpha", ".1f"), ("median_samples_per_N", "samples/N", ".1f"))
    theory_footnote = (
        "theory: the plateau-exit prediction (growth from the ODE's Jacobian, noise measured from the "
        "reduced chain; docs/theory.md)"
    )

    def __init__(self, model: TeacherStudent, mode: str, sigma0: float, start: str) -> None:
        self.model, self.mode, self.sigma0, self.start = model, mode, sigma0, start
        K, N, M = model.K, model.N, model.M
        self.manifold = Euclidean(K * N if mode == "full" else K * K + K * M)
        self.kernel = HOOKS[mode]  # type: ignore[misc]

    # -- from a configuration ----------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: Settings) -> None:
        opts = config.options
        N, K, M = config.N, config.K, config.M
        if N < K + M:
            raise ConfigError(f"teacher-student needs N >= K + M = {K + M}, got N = {N}")
        if config.random_start and opts["start"] != "random":
            raise ConfigError("random_start (--random-start) is start = 'random'; it contradicts start = 'plateau'")
        if opts["start"] == "random":
            object.__setattr__(config, "random_start", True)
        if config.sigma0 > MAX_SIGMA0:
            raise ConfigError(f"sigma0 must be <= {MAX_SIGMA0:g}, got {config.sigma0:g}")
        if opts["start"] == "plateau" and K != M:
            raise ConfigError(
                f"the plateau start needs K = M (the symmetric plateau: docs/objectives.md, teacher-student), "
                f"got K = {K}, M = {M}; use --start random"
            )
        if opts["start"] == "plateau" and K < 2:
            raise ConfigError(
                "K = M = 1 has no plateau (docs/objectives.md, teacher-student): use K >= 2, "
                "or --start random with --target"
            )
        if opts["start"] == "plateau" and K > MAX_PLATEAU_K:
            raise ConfigError(
                f"the plateau start is computed for K = M <= {MAX_PLATEAU_K} (its solver's cost grows as K^6: "
                f"hours at K = 64), got K = {K}; use --start random"
            )
        if config.target is None and config.radius is None and (K != M or K < 2):
            raise ConfigError(
                f"teacher-student with K = {K}, M = {M} has no plateau, so no default escape target: "
                "give --target (an eps_g)"
            )
        reduced_ok = config.optimizer_class.plain_step and config.radius is None and config.start_perturbation is None
        if opts["simulation"] == "reduced" and not reduced_ok:
            raise ConfigError(
                "the reduced simulation runs sgd and gd only, with an eps_g target (no --radius, no "
                "--start-perturbation): (Q, R) is not W; use --simulation full"
            )
        if opts["simulation"] == "auto":
            opts["simulation"] = "reduced" if reduced_ok and N >= REDUCED_FROM_N else "full"

    @classmethod
    def from_config(cls, config: Settings) -> TeacherStudentObjective:
        model = TeacherStudent(config.N, config.K, config.M, sigma=config.output_noise)
        return cls(model, config.simulation, config.sigma0, config.start)

    @classmethod
    def min_value(cls, config: Settings) -> float:
        """eps_g >= 0 (the mean loss less the label noise's sigma^2 / 2)."""
        return 0.0

    @classmethod
    def default_target(cls, config: Settings) -> float:
        """eps*/2 with eps* the plateau height of the eta -> 0 closed form (the same target at every m)."""
        return plateau_closed_form(config.K)[3] / 2.0

    def start_point(self, config: Settings) -> np.ndarray:
        return self.start_point_for(config, config.m[0])

    def start_point_for(self, config: Settings, m: int) -> np.ndarray:
        """The plateau fixed point of this batch size's eta/m (realised by a student W in the full
        simulation), or the zero state for random starts (each trial draws its own)."""
        K, M = self.model.K, self.model.M
        if self.start == "random":
            return np.zeros(self.manifold.d)
        from saddle.objectives.teacher_student.ode import plateau

        try:
            pl = plateau(K, config.eta_for(m) / m, self.model.sigma)
        except (ValueError, RuntimeError) as err:
            sigma = self.model.sigma
            noise = f" with label noise {sigma:g}" if sigma else ""
            smaller = "a smaller --eta" + (" or --output-noise" if sigma else "")
            raise ConfigError(
                f"no plateau at eta/m = {config.eta_for(m) / m:g} (m = {m}){noise}: {err}; use {smaller}, or "
                "--start random"
            ) from None
        if self.mode == "full":
            return self.model.plateau_student(pl.q, pl.c, pl.r).ravel()
        Q, R = symmetric_order_parameters(K, M, pl.q, pl.c, pl.r)
        return np.concatenate([Q.ravel(), R.ravel()])

    # -- the maths the generic code needs ----------------------------------------------------------
    def order_parameters(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q, R) of a state."""
        K, N, M = self.model.K, self.model.N, self.model.M
        u = np.asarray(u, dtype=float)
        if self.mode == "full":
            return self.model.order_parameters(u.reshape(K, N))
        return u[: K * K].reshape(K, K), u[K * K :].reshape(K, M)

    def f(self, u: np.ndarray) -> float:
        """The exact generalisation error eps_g of the state."""
        Q, R = self.order_parameters(u)
        return float(generalisation_error(Q, R, self.model.T))

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return kernels.pack(self.model, MODES[self.mode], self.sigma0**2)

    def theory_prediction(self, config: Settings, m: int) -> dict[str, Any] | None:
        """The plateau-exit prediction (ode.predict_exit) for K = M, T = I; NaN with the reason otherwise."""
        if self.model.K != self.model.M or not self.model.is_canonical or not _sgd_like(config):
            return None
        if self.model.K > MAX_THEORY_K:
            return {
                "theory_median_steps": math.nan,
                "theory_regime": "n/a",
                "theory_trusted": False,
                "theory_note": f"not computed for K > {MAX_THEORY_K} (its cost grows as K^6: minutes an m at K = 10)",
            }
        from saddle.objectives.teacher_student.ode import predict_exit

        # (random starts: fewer exact starts and noise draws than predict_exit's defaults, so that a run's
        # theory column costs seconds, not tens of seconds, per batch size)
        fewer = dict(n_init=8, n_noise=5000, n_mc=5001) if self.start == "random" else {}
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # (a path beyond the ODE's range: NaN)
            pred = predict_exit(
                self.model.K,
                self.model.N,
                config.eta_for(m),
                m,
                start=self.start,
                sigma=self.model.sigma,
                target=config.target,
                sigma0_sq=self.sigma0**2,
                seed=config.seed,
                **fewer,
            )
        ok = math.isfinite(pred.steps)
        if not ok and not pred.reason:
            pred = dataclasses.replace(pred, reason="the ODE's path leaves its range of validity from this start")
        return {
            "theory_median_steps": pred.steps if ok else math.nan,
            "theory_regime": "linear" if ok else "n/a",
            "theory_trusted": ok,
            "theory_note": pred.reason,
        }

    # -- reporting ----------------------------------------------------------------------------------
    @classmethod
    def describe(cls, config: Settings) -> str:
        noise = f", label noise {config.output_noise:g}" if config.output_noise else ""
        return (
            f"teacher-student N={config.N}, K={config.K}, M={config.M}{noise}, {config.start} start, "
            f"{config.simulation} simulation"
        )

    @classmethod
    def summary_extras(cls, config: Settings, row: Mapping[str, Any]) -> dict[str, Any]:
        """Times in the units of the on-line learning literature: alpha = steps / N and samples / N."""
        return {
            "median_alpha": row["median_steps"] / config.N,
            "median_samples_per_N": row["median_samples"] / config.N,
        }

    @classmethod
    def words_per_step(cls, config: Settings, m: int) -> int:
        """Two words per normal: m (N + 1) of them in the full simulation (rounded up to whole blocks), about
        m (K + M + 1) plus a small Wishart draw in the reduced one (kernels.py documents the layout)."""
        per_sample = config.N + 1 if config.simulation == "full" else config.K + config.M + 1
        return 2 * (m * (per_sample + 4) + 4 * config.K * (config.K + 8))

    @classmethod
    def memory_bytes(cls, config: Settings) -> int:
        return 8 * config.N * (config.K + config.M) * 4

    @classmethod
    def size_options(cls) -> tuple[str, ...]:
        return ("N", "K", "M")
