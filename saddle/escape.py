"""What an escape experiment is: its configuration, its run, and its result.

An experiment starts SGD (or gd / noisy SGD) at the strict saddle
u_0 = (a_1 + ... + a_s) / sqrt(s) of the spike objective and, for each batch
size m, runs ``trials`` independent trajectories.  A trial escapes at the
first t >= 1 with f(u_t) <= f(u_0) - delta (or ||u_t - u_0|| >= radius when
a radius is given), is censored if it has not escaped after max_steps, and
diverged if its iterate became non-finite (SPEC section 4).

``run_escape`` is the Python API; ``python -m saddle.experiments escape`` is a
thin layer over it.
"""

import math
import numbers
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from saddle import results as results_io
from saddle.kernels import OPTIMIZERS, Recorder, run_trials
from saddle.optimizers import OptimizerParams
from saddle.objectives import GeTensorDecomposition, Octopus, QuadraticSaddle, SpikeTensor, data_distribution
from saddle.stats import lower_median, summarize

LR_SCALINGS = ("none", "linear", "sqrt")
OPTION_OPTIMIZERS = {
    # option: the optimisers it applies to
    "momentum": ("momentum",),
    "perturbation_radius": ("pgd",),
    "grad_threshold": ("pgd", "cnc-pgd"),
    "t_threshold": ("pgd", "cnc-pgd"),
    "cnc_eta": ("cnc-pgd",),
}
OBJECTIVE_NAMES = ("spike", "ge2015", "quadratic", "octopus", "user")
OPTION_OBJECTIVES = {
    # option: the objectives it applies to
    "s": ("spike",),
    "dist": ("spike", "ge2015"),
    "rotation_seed": ("spike", "ge2015"),
    "k": ("ge2015",),
    "sampling": ("ge2015",),
    "gamma": ("quadratic", "octopus"),
    "lam": ("quadratic",),
    "beta": ("quadratic",),
    "noise_var": ("quadratic", "octopus"),
    "L": ("octopus",),
    "tau": ("octopus",),
}
M_REF = 1
MAX_BATCH_SIZE = 2**30
"""The largest batch size of the random streams' layout (saddle.rng.MAX_M)."""
MAX_STEPS = 2**32 - 1
"""The most steps a trial may take (saddle.rng.MAX_STEP)."""
MAX_TRIALS = 2**32
"""The most trials of one experiment (trial indices up to saddle.rng.MAX_TRIAL)."""
MAX_WORDS_PER_STEP = 4 * (2**32 - 1)
"""32-bit random words one step may draw for one purpose (saddle.rng.MAX_WORDS): at most m (or
batch_after_drop, at least 2) times the length of the state."""
CHUNK_TRIALS = {"cpu": 128, "cupy": 1 << 17}
"""Trials per kernel call: small on the CPU (Ctrl-C and the progress bar act between calls), large on a
GPU (one thread per trial: a call needs tens of thousands of trials to fill the device)."""
BACKEND_ENV = "SADDLE_BACKEND"


def resolve_backend(backend=None):
    """The backend to use: the argument, else the SADDLE_BACKEND environment variable, else 'cpu'.

    Checks that it can run (for cupy: CuPy and a usable GPU), raising a one-line ValueError if not.
    """
    from saddle.kernels import BACKENDS

    name = backend or os.environ.get(BACKEND_ENV) or "cpu"
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (from {'--backend' if backend else BACKEND_ENV}); "
                          f"choose one of {', '.join(BACKENDS)}")
    if name == "cupy":
        from saddle.kernels import gpu

        gpu.cupy_device()  # BackendUnavailable (a ValueError, one line) without CuPy or a usable GPU
    return name


class ConfigError(ValueError):
    """An invalid experiment option; its message is one line meant for the user."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; ``kept`` lists the batch sizes whose trials were stored."""

    def __init__(self, kept, out):
        super().__init__()
        self.kept = kept
        self.out = out


def scaled_eta(eta, m, rule, m_ref=M_REF):
    """eta_m = eta (none), eta m / m_ref (linear) or eta sqrt(m / m_ref) (sqrt); SPEC section 3."""
    if rule == "none":
        return eta
    if rule == "linear":
        return eta * m / m_ref
    if rule == "sqrt":
        return eta * math.sqrt(m / m_ref)
    raise ConfigError(f"unknown lr scaling {rule!r}; choose one of {', '.join(LR_SCALINGS)}")


def _integer(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be <= {high}, got {value}")
    return value


def _real(name, value, *, positive=True, allow_zero=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _reals(name, value, n):
    """One finite number > 0, or a sequence of n of them (returned as a float or a tuple)."""
    if isinstance(value, (numbers.Number, str)):
        return _real(name, value)
    values = tuple(_real(name, v) for v in value)
    if len(values) == 1:
        return values[0]
    if len(values) != n:
        raise ConfigError(f"{name} takes one value or {n} values, got {len(values)}")
    return values


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


@dataclass(frozen=True)
class EscapeConfig:
    """Every option of an escape experiment (the defaults are the main job's).

    Parameters
    ----------
    m : tuple of int
        Batch sizes, one configuration each.
    objective : str
        'spike' (SPEC 2.1, on the sphere), 'ge2015' (SPEC 2.2, on a product of
        spheres), 'quadratic' (SPEC 2.3, on R^d) or 'octopus' (SPEC 2.4, on R^d).
    d : int
        Dimension.
    s : int
        spike: saddle order (2 <= s <= d); the start is the index-(s-1) saddle
        (a_1 + ... + a_s) / sqrt(s).  Default 2.
    dist : str
        spike, ge2015: data distribution, uniform (kappa = -6/5, the default),
        rademacher (-2) or laplace (3).
    k, sampling :
        ge2015: number of components (default d) and 'shared' (one
        mini-batch for all columns, the default) or 'per-column' sampling;
        the start is the collision saddle u_1 = u_2 = (a_1 + a_2)/sqrt 2.
    gamma, lam, beta, noise_var :
        quadratic: f(x) = 1/2 x^T H x + beta/4 ||x||^4, H = diag(-gamma, lam),
        per-sample gradient noise N(0, diag(noise_var)); ``lam`` and
        ``noise_var`` are one number (every coordinate) or a tuple of d - 1
        (resp. d) numbers.  Defaults 1.0; the start is x = 0.
    L, tau, gamma, noise_var :
        octopus (Du et al. 2017): curvatures +2 L and -2 gamma, length scale
        tau (defaults e, 1, e: the paper's) and per-sample gradient-noise
        variances (default 1.0); the start is saddle 1, x = 0, and a random
        start is uniform in [-1, 1]^d.
    eta : float
        Step size at the reference batch size m = 1.
    lr_scaling : str
        'none', 'linear' or 'sqrt': eta_m = eta, eta m, eta sqrt(m).
    optimizer : str
        'sgd', 'gd' (exact gradient; the control) or 'noisy-sgd' (Ge et al. 2015).
    sigma_iso : float
        Isotropic noise level of noisy-sgd (required > 0 there, 0 otherwise).
    momentum : float
        momentum: the heavy-ball coefficient beta in [0, 1) (default 0.9).
    perturbation_radius, grad_threshold, t_threshold, cnc_eta :
        pgd / cnc-pgd: the ball radius r (pgd; default 0.01), the gradient
        threshold g_thres (default 1e-3), the steps between perturbations
        t_thres (default 20) and the stochastic step size (cnc-pgd; default
        10 eta).  ``saddle.optimizers.pgd_parameters`` computes Jin et al.'s
        values from (ell, rho, epsilon, c, delta, Delta_f).
    lr_decay : float or None
        Step-size schedule: eta_m / (1 + t / lr_decay) at step t.
    batch_after_drop : int or None
        Batch-size schedule: after a trial's first f(u_t) <= f(u_0) - delta its
        steps draw this many samples (needs ``target``: the run then measures
        the time to reach f <= target from the start).
    delta : float
        f-drop escape threshold: escaped when f(u_t) <= f(u_0) - delta.
    radius : float or None
        If given, escape is ||u_t - u_0|| >= radius instead of the f-drop.
    target : float or None
        If given, "escape" is reaching f(u_t) <= target (e.g. a near-optimal
        value from a random start) instead of the f-drop.
    start_perturbation : float or None
        If given (> 0), each trial starts at R_{u0}(r xi) with its own uniform
        unit tangent direction xi and r = start_perturbation.
    random_start : bool
        Each trial starts at its own point uniform on the sphere (each sphere
        of the product for ge2015), or uniform in [-1, 1]^d for the octopus;
        spike, ge2015 and octopus only.
    trials, max_steps, seed : int
        Trials per batch size, the censoring horizon, and the experiment seed.
    rotation_seed : int or None
        spike: if given, the components A are a Haar-random orthogonal matrix
        drawn with this seed (scipy.stats.ortho_group) instead of the identity.
    record_trials, record_points : int
        How many trials per m record f(u_t), and at most how many points each.
    """

    m: tuple = (1, 4, 32, 1024)
    objective: str = "spike"
    d: int = 10
    s: int = None
    dist: str = None
    k: int = None
    sampling: str = None
    gamma: float = None
    lam: object = None
    beta: float = None
    noise_var: object = None
    L: float = None
    tau: float = None
    eta: float = 0.01
    lr_scaling: str = "none"
    optimizer: str = "sgd"
    sigma_iso: float = 0.0
    momentum: float = None
    perturbation_radius: float = None
    grad_threshold: float = None
    t_threshold: int = None
    cnc_eta: float = None
    lr_decay: float = None
    batch_after_drop: int = None
    delta: float = 0.1
    radius: float = None
    target: float = None
    start_perturbation: float = None
    random_start: bool = False
    trials: int = 1000
    max_steps: int = 10000
    seed: int = 0
    rotation_seed: int = None
    record_trials: int = 8
    record_points: int = 256

    def __post_init__(self):
        ms = self.m
        if isinstance(ms, (numbers.Number, str)):
            ms = (ms,)
        ms = tuple(_integer("m", v, 1, MAX_BATCH_SIZE) for v in ms)
        if not ms:
            raise ConfigError("m must list at least one batch size")
        if len(set(ms)) != len(ms):
            raise ConfigError(f"m lists a batch size twice: {list(ms)}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("m", ms)
        if self.objective not in OBJECTIVE_NAMES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVE_NAMES)}")
        for name, applies in OPTION_OBJECTIVES.items():
            if self.objective not in applies and getattr(self, name) is not None:
                raise ConfigError(f"{name} applies to the {' and '.join(applies)} objective"
                                  f"{'s' if len(applies) > 1 else ''} only, not to {self.objective}")
        if self.objective in ("spike", "ge2015"):
            set_("d", _integer("d", self.d, 2, 100_000))
            if self.objective == "spike":
                set_("s", _integer("s", 2 if self.s is None else self.s, 2))
                if self.s > self.d:
                    raise ConfigError(f"s must be <= d (the saddle uses s of the d components), "
                                      f"got s = {self.s}, d = {self.d}")
            else:
                set_("k", _integer("k", self.d if self.k is None else self.k, 2))
                if self.k > self.d:
                    raise ConfigError(f"k must be <= d, got k = {self.k}, d = {self.d}")
                sampling = "shared" if self.sampling is None else self.sampling
                if sampling not in ("shared", "per-column"):
                    raise ConfigError(f"unknown sampling {sampling!r}; choose one of shared, per-column")
                set_("sampling", sampling)
            dist = "uniform" if self.dist is None else self.dist
            try:
                data_distribution(dist)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            set_("dist", str(dist).lower())
            if self.rotation_seed is not None:
                set_("rotation_seed", _integer("rotation_seed", self.rotation_seed, 0, 2**32 - 1))
        elif self.objective == "user":
            set_("d", _integer("d", self.d, 1, 100_000))
        elif self.objective == "octopus":
            set_("d", _integer("d", self.d, 1, 100_000))
            for name, default in (("L", math.e), ("gamma", 1.0), ("tau", math.e)):
                set_(name, _real(name, default if getattr(self, name) is None else getattr(self, name)))
            set_("noise_var", _reals("noise_var", 1.0 if self.noise_var is None else self.noise_var, self.d))
        else:
            set_("d", _integer("d", self.d, 1, 100_000))
            for name in ("gamma", "beta"):
                set_(name, _real(name, 1.0 if getattr(self, name) is None else getattr(self, name)))
            set_("lam", _reals("lam", 1.0 if self.lam is None else self.lam, self.d - 1))
            set_("noise_var", _reals("noise_var", 1.0 if self.noise_var is None else self.noise_var, self.d))
        set_("eta", _real("eta", self.eta))
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"unknown lr scaling {self.lr_scaling!r}; choose one of {', '.join(LR_SCALINGS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        set_("sigma_iso", _real("sigma_iso", self.sigma_iso, allow_zero=True))
        if self.optimizer == "noisy-sgd" and self.sigma_iso == 0:
            raise ConfigError("noisy-sgd needs sigma_iso > 0 (e.g. --sigma-iso 0.1)")
        if self.optimizer != "noisy-sgd" and self.sigma_iso != 0:
            raise ConfigError(f"sigma_iso is used by noisy-sgd only, not by {self.optimizer}")
        for name, applies in OPTION_OPTIMIZERS.items():
            if self.optimizer not in applies and getattr(self, name) is not None:
                raise ConfigError(f"{name} applies to the {' and '.join(applies)} optimizer"
                                  f"{'s' if len(applies) > 1 else ''} only, not to {self.optimizer}")
        if self.optimizer == "momentum":
            set_("momentum", _real("momentum", 0.9 if self.momentum is None else self.momentum, allow_zero=True))
            if self.momentum >= 1:
                raise ConfigError(f"momentum must be < 1, got {self.momentum}")
        if self.optimizer in ("pgd", "cnc-pgd"):
            set_("grad_threshold", _real("grad_threshold", 1e-3 if self.grad_threshold is None else self.grad_threshold))
            set_("t_threshold", _integer("t_threshold", 20 if self.t_threshold is None else self.t_threshold, 0))
        if self.optimizer == "pgd":
            set_("perturbation_radius", _real("perturbation_radius",
                                              0.01 if self.perturbation_radius is None else self.perturbation_radius))
        if self.optimizer == "cnc-pgd":
            set_("cnc_eta", _real("cnc_eta", 10 * self.eta if self.cnc_eta is None else self.cnc_eta))
        if self.lr_decay is not None:
            set_("lr_decay", _real("lr_decay", self.lr_decay))
        if self.batch_after_drop is not None:
            set_("batch_after_drop", _integer("batch_after_drop", self.batch_after_drop, 1, MAX_BATCH_SIZE))
            if self.target is None:
                raise ConfigError("batch_after_drop needs a target: the run continues past the f-drop until "
                                  "f <= target")
        set_("delta", _real("delta", self.delta))
        if self.radius is not None:
            set_("radius", _real("radius", self.radius))
        if self.target is not None:
            set_("target", _real("target", self.target, positive=False))
            if self.radius is not None:
                raise ConfigError("give either radius or target as the escape criterion, not both")
        if self.start_perturbation is not None:
            set_("start_perturbation", _real("start_perturbation", self.start_perturbation))
        set_("random_start", bool(self.random_start))
        if self.random_start and (self.start_perturbation is not None
                                  or self.objective not in ("spike", "ge2015", "octopus")):
            raise ConfigError("random_start applies to the spike, ge2015 and octopus objectives, "
                              "without start_perturbation")
        set_("trials", _integer("trials", self.trials, 1))
        set_("max_steps", _integer("max_steps", self.max_steps, 1, MAX_STEPS))
        set_("seed", _integer("seed", self.seed, 0, 2**64 - 1))
        set_("record_trials", _integer("record_trials", self.record_trials, 0))
        set_("record_points", _integer("record_points", self.record_points, 2, 2**20))
        if self.record_points % 2:
            raise ConfigError("record_points must be even")
        # Per trial: the kernel outputs (17 bytes) and about 80 bytes of table; per recorded trial the
        # trace; and the d x d component matrix A with its orthogonality check (a few copies).
        need = len(ms) * (self.trials * 100 + min(self.record_trials, self.trials) * self.record_points * 8)
        need += 4 * 8 * self.d**2 * (1 + (self.k or 0))
        if need > _physical_memory() // 2:
            raise ConfigError(
                f"d = {self.d} and trials = {self.trials} x {len(ms)} batch sizes need about "
                f"{need / 2**30:.1f} GiB, more than half of this machine's memory; use fewer trials or a smaller d"
            )
        if self.trials > MAX_TRIALS:
            raise ConfigError(f"trials must be <= {MAX_TRIALS} (the trial indices of saddle's random streams), "
                              f"got {self.trials}")
        state = self.d * (self.k if self.objective == "ge2015" else 1)
        for m in ms:
            eta_m = scaled_eta(self.eta, m, self.lr_scaling)
            if not math.isfinite(eta_m):
                raise ConfigError(f"the scaled step size for m = {m} is not finite")
            words = max(m, self.batch_after_drop or 0, 2) * state
            if words > MAX_WORDS_PER_STEP:
                raise ConfigError(f"m = {m} with a state of length {state} draws up to {words} random words a step, "
                                  f"more than the {MAX_WORDS_PER_STEP} of a step's stream (saddle.rng)")

    def build_objective(self):
        """The objective this configuration simulates (SpikeTensor, GeTensorDecomposition, QuadraticSaddle or Octopus)."""
        if self.objective == "user":
            raise ConfigError("objective 'user' needs the objective itself: "
                              "run_escape(config, user_objective=..., start=...)")
        if self.objective == "quadratic":
            return QuadraticSaddle(self.d, self.gamma, self.lam, self.beta, self.noise_var)
        if self.objective == "octopus":
            return Octopus(self.d, self.L, self.gamma, self.tau, self.noise_var)
        A = None
        if self.rotation_seed is not None:
            import scipy.stats

            A = scipy.stats.ortho_group.rvs(self.d, random_state=self.rotation_seed)
        if self.objective == "ge2015":
            return GeTensorDecomposition(self.d, self.k, self.dist, A, self.sampling)
        return SpikeTensor(self.d, self.dist, A)

    def start_point(self, objective):
        """u_0 (flat): the spike saddle of order s, ge2015's collision saddle, or 0 (the quadratic's
        saddle, the octopus's first saddle)."""
        if self.objective == "spike":
            return objective.saddle(self.s)
        if self.objective == "ge2015":
            return objective.flatten(objective.collision_saddle())
        return objective.start()

    def optimizer_params(self):
        """The :class:`saddle.optimizers.OptimizerParams` of this configuration."""
        return OptimizerParams(
            sigma_iso=self.sigma_iso, momentum=self.momentum or 0.0,
            perturbation_radius=self.perturbation_radius or 0.0, grad_threshold=self.grad_threshold or 0.0,
            t_threshold=self.t_threshold or 0, cnc_eta=self.cnc_eta or 0.0, lr_decay=self.lr_decay or 0.0,
            batch_after_drop=self.batch_after_drop or 0,
        )

    def samples_per_step(self, m):
        """Samples one step draws: m, or k m with ge2015's per-column sampling."""
        return self.k * m if self.sampling == "per-column" else m

    def start_warnings(self):
        """Known cases where the start is a fixed point of the noise given (SPEC 2.1, 2.2).

        Returns one-line messages; every trial of such a run is expected to be censored (or to
        escape only through higher-order effects), which the caller should say, not hide.
        """
        out = []
        if self.random_start or self.start_perturbation is not None:
            return out
        if self.optimizer == "gd" and self.radius is None:
            out.append("gd starts exactly at a saddle, where the exact gradient vanishes: no trial can escape "
                       "(this is the control)")
        if self.objective == "ge2015" and self.sampling == "shared" and self.optimizer == "sgd":
            out.append("the collision saddle is a fixed point of shared-sample SGD: u_1 = u_2 stays exactly "
                       "invariant, so no trial can escape at any m (use --sampling per-column or noisy-sgd)")
        if self.objective == "spike" and self.dist == "rademacher" and self.s == 2 and self.optimizer == "sgd":
            out.append("rademacher data at the s = 2 saddle: the gradient noise has zero variance along the escape "
                       "direction (the CNC condition fails), so SGD escapes only through higher-order terms")
        return out

    def eta_for(self, m):
        return scaled_eta(self.eta, m, self.lr_scaling)

    def to_dict(self):
        """Every option as JSON-ready values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def describe(self):
        """A one-line description of the objective and start, for tables and figures."""
        if self.objective == "user":
            return f"user objective, d={self.d}"
        rotated = f", rotated A (seed {self.rotation_seed})" if self.rotation_seed is not None else ""
        if self.objective == "spike":
            return f"spike d={self.d}, s={self.s}, {self.dist}{rotated}"
        if self.objective == "ge2015":
            return f"ge2015 d={self.d}, k={self.k}, {self.dist}, {self.sampling} samples, collision start{rotated}"
        fmt = lambda v: ",".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}"  # noqa: E731
        if self.objective == "octopus":
            start = "uniform [-1,1]^d starts" if self.random_start else "saddle 1 start"
            return (f"octopus d={self.d}, L={self.L:.4g}, gamma={self.gamma:g}, tau={self.tau:.4g}, "
                    f"noise var={fmt(self.noise_var)}, {start}")
        return (f"quadratic d={self.d}, gamma={self.gamma:g}, lambda={fmt(self.lam)}, beta={self.beta:g}, "
                f"noise var={fmt(self.noise_var)}")


@dataclass
class MResult:
    """The trials of one batch size m."""

    m: int
    eta: float
    steps: np.ndarray
    status: np.ndarray
    final_f: np.ndarray
    wall_seconds: float
    trajectories: list = field(default_factory=list)  # [(steps, f), ...] of the recorded trials
    samples_per_step: int = None  # m, or k m for ge2015's per-column sampling
    drop_steps: np.ndarray = None  # first step with f <= f(u_0) - delta (0: none); None where not recorded
    samples_per_step_after_drop: int = None  # with a batch-size schedule: samples per step after the drop

    def __post_init__(self):
        if self.samples_per_step is None:
            self.samples_per_step = self.m

    @property
    def samples(self):
        """Samples drawn until escape (samples per step x steps; with a batch-size schedule, the
        steps before and after the first f-drop at their own rates); gd draws none but is reported
        on the same scale."""
        if self.samples_per_step_after_drop is None or self.drop_steps is None:
            return self.samples_per_step * self.steps
        before = np.where(self.drop_steps > 0, self.drop_steps, self.steps)
        return self.samples_per_step * before + self.samples_per_step_after_drop * (self.steps - before)


@dataclass
class EscapeResult:
    """Per-trial arrays, the summary table and the configuration of an experiment."""

    config: EscapeConfig
    by_m: dict  # m -> MResult, in the order of config.m
    summary: list  # one dict per m: the rows of summary.csv
    out: str = None
    f0: float = None
    theory: object = None  # saddle.theory.SaddleQuantities at the start, where the theory applies

    def trials_table(self):
        """All trials as a dict of column arrays (the columns of trials.csv)."""
        return results_io.trials_columns(self.by_m.values())


MAX_ETA_GAMMA = 0.5
"""Beyond eta gamma = 0.5 one step changes the escape coordinate by more than half of itself: the linear
theory's continuous-time picture no longer holds, and the theory columns are left empty (n/a)."""
THEORY_COLUMNS = ("theory_median_steps", "theory_model_median_steps", "theory_regime", "theory_trusted")


def theory_applies(config):
    """Whether the linear theory (SPEC 5) describes this configuration: sgd from the saddle itself."""
    return (config.optimizer == "sgd" and config.objective in ("spike", "quadratic", "octopus")
            and config.target is None
            and config.start_perturbation is None and not config.random_start)


def saddle_theory(config, objective=None):
    """The theory module's :class:`~saddle.theory.SaddleQuantities` at the start, or None."""
    if not theory_applies(config):
        return None
    import warnings

    from saddle import theory

    objective = config.build_objective() if objective is None else objective
    with warnings.catch_warnings():  # the CNC warning is given once, by start_warnings
        warnings.simplefilter("ignore")
        if config.objective == "spike":
            return theory.spike_saddle(config.d, config.s, config.dist, objective.A, warn=False)
        if config.objective == "octopus":  # at saddle 1 f is exactly quadratic while |x_1| <= tau
            return theory.quadratic_saddle(objective.hessian_at_saddle(1), objective.gradient_noise_covariance(),
                                           warn=False)
        return theory.quadratic_saddle(objective.h, objective.Sigma, beta=objective.beta, warn=False)


def theory_row(config, quantities, m):
    """The theory columns of summary.csv for batch size m (NaN / 'n/a' where the theory does not apply).

    theory_median_steps is the linear law of SPEC 5; theory_model_median_steps the heat-path
    model of docs/theory.md (NaN where that model is invalid); theory_regime 'linear' or
    'noise-dominated'; theory_trusted whether the linear median should be trusted.
    """
    if quantities is None or config.eta_for(m) * quantities.gamma > MAX_ETA_GAMMA:
        return {"theory_median_steps": float("nan"), "theory_model_median_steps": float("nan"),
                "theory_regime": "n/a", "theory_trusted": False}
    from saddle import theory

    eta, delta = config.eta_for(m), None if config.radius else config.delta
    end = None
    if delta is not None:  # the noise-free escape path depends on eta only: follow it once per run and eta
        ends = vars(quantities).setdefault("_path_ends", {})
        if eta not in ends:
            ends[eta] = theory.escape_path_end(quantities, eta)
        end = ends[eta]
    row = theory.prediction_table(quantities, eta, [m], delta=delta, radius=config.radius, path_end=end)[0]
    return {"theory_median_steps": float(row["linear_median"]), "theory_model_median_steps": float(row["model_median"]),
            "theory_regime": row["regime"], "theory_trusted": bool(row["linear_trusted"])}


def _median_samples(mres, s, max_steps):
    """median_samples with its interval: samples per step x the steps' median and interval, or, with a
    batch-size schedule (samples not proportional to steps), the median of the trials' samples
    (non-escaped ranked last) without an interval."""
    if mres.samples_per_step_after_drop is None:
        return {"median_samples": mres.samples_per_step * s.median_steps,
                "median_samples_lo": mres.samples_per_step * s.median_steps_lo,
                "median_samples_hi": mres.samples_per_step * s.median_steps_hi}
    ranked = np.where(mres.status == 0, mres.samples, np.inf).astype(float)
    median = float(lower_median(ranked))
    return {"median_samples": median, "median_samples_lo": float("nan"), "median_samples_hi": float("nan")}


def summary_row(config, mres, quantities=None):
    """One row of summary.csv for a batch size."""
    s = summarize(mres.steps, mres.status, config.max_steps, seed=config.seed + mres.m)
    return {
        "m": mres.m,
        "eta": mres.eta,
        "trials": s.trials,
        "escaped": s.escaped,
        "censored": s.censored,
        "diverged": s.diverged,
        "frozen": s.frozen,
        "median_steps": s.median_steps,
        "median_steps_lo": s.median_steps_lo,
        "median_steps_hi": s.median_steps_hi,
        "median_is_lower_bound": s.median_is_lower_bound,
        "mean_steps": s.mean_steps,
        "mean_is_lower_bound": s.mean_is_lower_bound,
        **_median_samples(mres, s, config.max_steps),
        "wall_seconds": mres.wall_seconds,
        **theory_row(config, quantities, mres.m),
    }


def run_escape(config=None, *, out=None, threads=None, progress=False, backend=None, user_objective=None,
               start=None, **options):
    """Run an escape experiment and return its :class:`EscapeResult`.

    Parameters
    ----------
    config : EscapeConfig, optional
        The experiment; built from ``options`` (the fields of EscapeConfig) if omitted.
    out : str or path, optional
        Results folder.  Each batch size's trials are stored there as soon as
        they finish (config.json, trials.csv, summary.csv, trajectories.npz);
        a folder holding an earlier run of the same configuration is resumed:
        its finished batch sizes are read back, not recomputed.
    threads : int, optional
        Numba threads (results do not depend on it).
    progress : bool
        Show a tqdm progress bar on stderr.
    backend : str, optional
        'cpu' (Numba) or 'cupy' (GPU, saddle[gpu]); default: the SADDLE_BACKEND
        environment variable, else 'cpu'.  The same seed draws the same random
        numbers on both (docs/gpu.md).
    user_objective, start : optional
        With ``config.objective == "user"``: the user's objective (see
        docs/objectives.md) and its start point u_0 (a flat array of length d).

    Examples
    --------
    >>> res = run_escape(m=[4, 32], trials=200)          # doctest: +SKIP
    >>> [row["median_steps"] for row in res.summary]     # doctest: +SKIP
    """
    if config is None:
        config = EscapeConfig(**options)
    elif options:
        raise TypeError("pass either an EscapeConfig or keyword options, not both")
    import numba

    backend = resolve_backend(backend)
    if threads is not None:
        threads = _integer("threads", threads, 1, numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(threads)
    objective = user_objective
    if config.objective == "user":
        if objective is None or start is None:
            raise ConfigError("objective 'user' needs run_escape(config, user_objective=..., start=...)")
        u0 = np.asarray(start, dtype=np.float64)
        if u0.shape != (config.d,) or not np.all(np.isfinite(u0)):
            raise ConfigError(f"start must be a finite array of length d = {config.d}")
    elif objective is not None or start is not None:
        raise ConfigError("user_objective= and start= go with EscapeConfig(objective='user') only")
    else:
        objective = config.build_objective()
        u0 = config.start_point(objective)
    f0 = float(objective.f(u0))

    store = results_io.ResultsFolder.open(out, config, backend=backend) if out is not None else None
    by_m = dict(store.load_finished()) if store is not None else {}
    todo = [m for m in config.m if m not in by_m]
    if todo and backend == "cpu":  # compile (or load from the disk cache) now, so wall_seconds times trials only
        run_trials(objective, u0, **{**_trial_options(config, todo[0], backend), "trial_start": 0, "n_trials": 0})

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo) * config.trials, unit="trial", desc="escape", leave=False)
    quantities = saddle_theory(config, objective) if config.objective != "user" else None
    rows = {m: summary_row(config, r, quantities) for m, r in by_m.items()}
    kept = list(by_m)  # the batch sizes whose trials are stored (or, without a folder, computed)
    try:
        for m in todo:
            by_m[m] = _run_batch_size(config, objective, u0, m, backend, bar)
            rows[m] = summary_row(config, by_m[m], quantities)
            if store is not None:
                done = [k for k in config.m if k in by_m]
                try:
                    store.save([by_m[k] for k in done], [rows[k] for k in done])
                except KeyboardInterrupt:  # held until the files were written whole: m is stored
                    kept.append(m)
                    raise
            kept.append(m)
    except KeyboardInterrupt:
        raise Interrupted([k for k in config.m if k in kept], None if store is None else store.path) from None
    finally:
        if bar is not None:
            bar.close()
    ordered = {m: by_m[m] for m in config.m}
    return EscapeResult(config, ordered, [rows[m] for m in config.m], None if store is None else store.path, f0,
                        theory=quantities)


def _trial_options(config, m, backend):
    """The keyword arguments of :func:`saddle.kernels.run_trials` for batch size m (without the trial range)."""
    return dict(
        optimizer=config.optimizer, batch_size=m, eta=config.eta_for(m), sigma_iso=config.sigma_iso,
        delta=config.delta, radius=config.radius, max_steps=config.max_steps, seed=config.seed, backend=backend,
        params=config.optimizer_params(), target=config.target, random_start=config.random_start,
        start_perturbation=config.start_perturbation or 0.0,
    )


def _run_batch_size(config, objective, u0, m, backend, bar):
    eta_m = config.eta_for(m)
    n_rec = min(config.record_trials, config.trials)
    recorder = Recorder.empty(n_rec, config.record_points)
    steps = np.empty(config.trials, np.int64)
    status = np.empty(config.trials, np.int8)
    final_f = np.empty(config.trials)
    drop_steps = np.zeros(config.trials, np.int64)
    start = time.perf_counter()
    chunk = CHUNK_TRIALS[backend]
    options = _trial_options(config, m, backend)
    for lo in range(0, config.trials, chunk):
        n = min(chunk, config.trials - lo)
        block = run_trials(objective, u0, trial_start=lo, n_trials=n, recorder=recorder, **options)
        steps[lo : lo + n] = block.steps
        status[lo : lo + n] = block.status
        final_f[lo : lo + n] = block.final_f
        if block.drop_steps is not None:
            drop_steps[lo : lo + n] = block.drop_steps
        if bar is not None:
            bar.update(n)
    wall = time.perf_counter() - start
    traj = []
    for r in range(n_rec):
        t, f = recorder.trajectory(r)
        if t[-1] != steps[r]:  # close the trace at the trial's last step
            t, f = np.append(t, steps[r]), np.append(f, final_f[r])
        traj.append((t, f))
    after = config.samples_per_step(config.batch_after_drop) if config.batch_after_drop else None
    return MResult(m, eta_m, steps, status, final_f, wall, traj, config.samples_per_step(m), drop_steps, after)
