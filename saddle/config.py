"""What an escape experiment is: :class:`EscapeConfig`, every option checked once, here.

The generic options (batch sizes, step size, optimiser, escape criterion, start, trials, seed) are
fields of the configuration; an objective's own options (``s`` and ``dist`` of the spike, ``gamma``
of the quadratic, ...) are declared by the objective (:class:`saddle.objectives.base.Objective`) and
held in ``config.options``, readable as attributes (``config.s``).  Nothing here names an objective.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from saddle import optimizers, schedules
from saddle.objectives import base
from saddle.objectives.base import Objective
from saddle.options import MAX_BATCH_SIZE, ConfigError, integer, real
from saddle.stats import BOOTSTRAP_BYTES, STATISTICS_BYTES_PER_TRIAL

__all__ = ["BATCH_NOISES", "ConfigError", "EscapeConfig", "GENERIC_FIELDS", "LR_SCALINGS", "scaled_eta"]

LR_SCALINGS = ("none", "linear", "sqrt")
BATCH_NOISES = ("exact", "gaussian")
"""How a step's mini-batch mean gradient is drawn: from m samples ('exact'), or as the exact gradient plus
N(0, Sigma(u) / m), its central limit ('gaussian', docs/escape.md)."""
M_REF = 1
MAX_STEPS = 2**32 - 1
"""The most steps a trial may take (saddle.rng.MAX_STEP)."""
MAX_TRIALS = 2**32
"""The most trials of one experiment (trial indices up to saddle.rng.MAX_TRIAL)."""
MAX_WORDS_PER_STEP = 4 * (2**32 - 1)
"""32-bit random words one step may draw for one purpose (saddle.rng.MAX_WORDS)."""
MAX_D = 100_000
BYTES_PER_TRIAL = 450 + STATISTICS_BYTES_PER_TRIAL
"""Memory per trial and batch size at the peak of a run: the kernel outputs (25 bytes), the trials
table and its CSV text (measured: peak RSS 403 MB at 250,000 trials and 728 MB at 1,000,000, one
batch size, max_steps 1, 2026-11-29, i.e. 433 bytes a trial above the imports; those runs had no
escapes, hence no bootstrap), and the statistics' copies of the trials (saddle.stats); their
bootstrap adds at most BOOTSTRAP_BYTES, whatever the number of trials."""


def scaled_eta(eta: float, m: int, rule: str, m_ref: int = M_REF) -> float:
    """eta_m = eta (none), eta m / m_ref (linear) or eta sqrt(m / m_ref) (sqrt); docs/escape.md, options."""
    if rule == "none":
        return eta
    if rule == "linear":
        return eta * m / m_ref
    if rule == "sqrt":
        return eta * math.sqrt(m / m_ref)
    raise ConfigError(f"unknown lr scaling {rule!r}; choose one of {', '.join(LR_SCALINGS)}")


def refuse_unused_d(objective: Any, given: Any, where: str = "") -> None:
    """ConfigError when ``d`` is among the options ``given`` for an objective whose size is its own (the
    teacher-student network's N, K, M).  An EscapeConfig holds d whatever was asked (its default, 10),
    so only the caller that knows which options were given can tell d = 10 asked for from d unset:
    ``run_escape(**options)`` and a sweep's tables call this (the command line says it its own way)."""
    cls = base.registered().get(objective) if isinstance(objective, str) else None
    if cls is None or cls.uses_d or "d" not in given:
        return
    size = ", ".join(cls.size_options()) or "its own options"
    raise ConfigError(f"{where}d does not apply to the {cls.name} objective (its size: {size})")


def available_memory() -> tuple[int, str]:
    """The memory a run may use, and where the bound comes from: the smaller of the machine's physical
    memory and the process's address-space limit (``ulimit -v``)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 * 2**30
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        soft = -1
    if 0 < soft < physical:
        return soft, "this process's memory limit (ulimit -v)"
    return physical, "this machine's memory"


@dataclass(frozen=True)
class _Fields:
    m: tuple[int, ...] = (1, 4, 32, 1024)
    objective: str = "spike"
    d: int = 10
    eta: float = 0.01
    lr_scaling: str = "none"
    optimizer: str = "sgd"
    lr_decay: float | None = None
    batch_after_drop: int | None = None
    schedule: str | None = None
    batch_noise: str = "exact"
    delta: float = 0.1
    radius: float | None = None
    target: float | None = None
    start_perturbation: float | None = None
    random_start: bool = False
    allow_trap: bool = False
    trials: int = 1000
    max_steps: int = 10000
    seed: int = 0
    record_trials: int = 8
    record_points: int = 256
    options: dict[str, Any] = field(default_factory=dict)
    optimizer_options: dict[str, Any] = field(default_factory=dict)


_HELD = ("options", "optimizer_options")
GENERIC_FIELDS = tuple(f.name for f in fields(_Fields) if f.name not in _HELD)
"""The options of every experiment, whatever its objective."""


class EscapeConfig(_Fields):
    """Every option of an escape experiment (the defaults are the main job's).

    ``EscapeConfig(objective=NAME, **options)`` takes the generic options below and the objective's
    own options by name (``EscapeConfig(objective="quadratic", gamma=2.0)``); an objective's option
    left out takes its default, and ``config.NAME`` reads it back.  docs/objectives.md lists each
    objective's options; ``python -m saddle.experiments escape --help`` shows them all.

    Parameters
    ----------
    m : tuple of int
        Batch sizes, one configuration each.
    objective : str
        A registered objective: spike (the default), ge2015, quadratic,
        octopus (2.4), a user's (2.5, docs/objectives.md).
    d : int
        Dimension.
    eta : float
        Step size at the reference batch size m = 1.
    lr_scaling : str
        'none', 'linear' or 'sqrt': eta_m = eta, eta m, eta sqrt(m).
    optimizer : str
        A registered optimiser (:mod:`saddle.optimizers`): 'sgd', 'gd' (the exact gradient: the control),
        'noisy-sgd' (Ge et al. 2015), 'momentum' (heavy ball), 'nesterov', 'pgd' (Jin et al. 2017) or
        'cnc-pgd' (Daneshmand et al. 2018).  Its own options (``sigma_iso``, ``momentum``,
        ``perturbation_radius``, ``grad_threshold``, ``t_threshold``, ``cnc_eta``) are taken by name like an
        objective's, held in ``config.optimizer_options`` and read as attributes; an option of another
        optimiser reads as its unset value (None; 0 for sigma_iso).  ``saddle.optimizers.pgd_parameters``
        computes Jin et al.'s values from (ell, rho, epsilon, c, delta, Delta_f).
    lr_decay : float or None
        Step-size schedule: eta_m / (1 + t / lr_decay) at step t (the same as the schedule
        ``eta=inverse-time:LR_DECAY@start``).
    batch_after_drop : int or None
        Batch-size schedule: after a trial's first f(u_t) <= f(u_0) - delta its steps draw this
        many samples (the schedule ``m=BATCH_AFTER_DROP@drop``).
    schedule : str or None
        A schedule of the batch size and the step size (:mod:`saddle.schedules`, docs/schedules.md),
        as text: ``'m=1@drop,budget=100000'``, ``'eta=inverse-time:500@drop'``, ...  A rule after the
        f-drop needs trials that run on past it: a target, a radius or a budget.
    batch_noise : str
        'exact' (the default): each step averages m per-sample gradients of m fresh samples.
        'gaussian': each step takes the exact gradient plus N(0, Sigma(u) / m), Sigma(u) the exact
        per-sample gradient covariance at the current point (the central limit), at a cost that does
        not grow with m; exact in law for the quadratic's Gaussian noise, an approximation for the
        spike (docs/escape.md).  Objectives that declare it (spike, quadratic), optimisers that draw
        mini-batches, the cpu backend.
    delta : float
        f-drop escape threshold: escaped when f(u_t) <= f(u_0) - delta.
    radius : float or None
        If given, escape is ||u_t - u_0|| >= radius instead of the f-drop.
    target : float or None
        If given, "escape" is reaching f(u_t) <= target instead of the f-drop.
    start_perturbation : float or None
        If given (> 0), each trial starts at R_{u0}(r xi) with its own uniform unit tangent
        direction xi and r = start_perturbation.
    allow_trap : bool
        Run even when the start is a fixed point of the noise given, where no trial can escape at any m
        (ge2015's collision saddle under shared samples: the symmetry-trap experiment); refused otherwise.
    random_start : bool
        Each trial starts at its own random point (what that is, the objective says: uniform on
        its spheres, or in [-1, 1]^d for the octopus); objectives that declare a random start only.
    trials, max_steps, seed : int
        Trials per batch size, the censoring horizon, and the experiment seed.
    record_trials, record_points : int
        How many trials per m record f(u_t), and at most how many points each.
    options : mapping
        The objective's own options (also accepted as keyword arguments).
    optimizer_options : mapping
        The optimiser's own options (also accepted as keyword arguments).
    """

    def __init__(self, **kwargs: Any) -> None:
        options = kwargs.pop("options", None) or {}
        held = kwargs.pop("optimizer_options", None) or {}
        if not isinstance(options, Mapping) or not isinstance(held, Mapping):
            raise ConfigError(f"options must be a mapping of option names to values, got {options!r}")
        given = {**held, **options}
        for name in [k for k in kwargs if k not in GENERIC_FIELDS]:
            given[name] = kwargs.pop(name)
        name = kwargs.get("objective", _Fields.objective)
        if isinstance(name, str):
            cls = base.registered().get(name)
            for field_name, value in (cls.generic_defaults if cls is not None else {}).items():
                kwargs.setdefault(field_name, value)
        super().__init__(**kwargs, options=given)
        self._validate()

    def __getattr__(self, name: str) -> Any:
        # An objective's option reads as an attribute; an option of another objective reads None.
        if name == "options" or name.startswith("__"):
            raise AttributeError(name)
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        held = self.__dict__.get("optimizer_options", {})
        if name in held:
            return held[name]
        if base.option_owners(name):
            return None
        for option in optimizers.all_options():
            if option.name == name:
                return option.unset
        raise AttributeError(f"{type(self).__name__!r} has no option {name!r}")

    # ----------------------------------------------------------------------------------- checks
    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _validate(self) -> None:
        ms: Any = self.m
        if ms is None:
            raise ConfigError("m must list at least one batch size")
        if isinstance(ms, (numbers.Number, str)):
            ms = (ms,)
        try:
            ms = tuple(integer("m", v, 1, MAX_BATCH_SIZE) for v in ms)
        except TypeError:
            raise ConfigError(f"m must be a batch size or a list of them, got {self.m!r}") from None
        if not ms:
            raise ConfigError("m must list at least one batch size")
        if len(set(ms)) != len(ms):
            raise ConfigError(f"m lists a batch size twice: {list(ms)}")
        self._set("m", ms)
        if not isinstance(self.objective, str):
            raise ConfigError(f"objective must be a name, got {self.objective!r}")
        cls = base.get(self.objective)
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"options must be a mapping of option names to values, got {self.options!r}")
        if not cls.uses_d and self.d != _Fields.d:
            raise ConfigError(f"d does not apply to the {cls.name} objective (its options set its size)")
        self._set("d", integer("d", self.d, cls.min_d, MAX_D))
        self._set("eta", real("eta", self.eta))
        if not isinstance(self.optimizer, str):
            raise ConfigError(f"optimizer must be a name, got {self.optimizer!r}")
        opt = optimizers.get(self.optimizer)
        self._check_options(cls, opt)
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"unknown lr scaling {self.lr_scaling!r}; choose one of {', '.join(LR_SCALINGS)}")
        self._check_schedules()
        self._check_batch_noise(cls, opt)
        self._check_escape_and_start(cls)
        self._set("trials", integer("trials", self.trials, 1, MAX_TRIALS))
        self._set("max_steps", integer("max_steps", self.max_steps, 1, MAX_STEPS))
        self._set("seed", integer("seed", self.seed, 0, 2**64 - 1))
        self._set("record_trials", integer("record_trials", self.record_trials, 0))
        self._set("record_points", integer("record_points", self.record_points, 2, 2**20))
        self._check_schedule_acts(cls, opt)
        if self.record_points % 2:
            raise ConfigError("record_points must be even")
        need = len(ms) * (self.trials * BYTES_PER_TRIAL + min(self.record_trials, self.trials) * self.record_points * 8)
        need += cls.memory_bytes(self) + BOOTSTRAP_BYTES
        limit, source = available_memory()
        if need > limit // 2:
            sizes = cls.size_options()
            size = "".join(f"{name} = {getattr(self, name)}, " for name in sizes)
            smaller = f" or a smaller {' or '.join(sizes)}" if sizes else ""
            raise ConfigError(
                f"{cls.name} with {size}trials = {self.trials} x {len(ms)} batch sizes needs about "
                f"{need / 2**30:.1f} GiB, more than half of {source}; use fewer trials{smaller}"
            )
        for m in ms:
            if not math.isfinite(self.eta_for(m)):
                raise ConfigError(f"the scaled step size for m = {m} is not finite")
            switch = self.schedule_plan.batch
            words = cls.words_per_step(self, max(m, switch.m if switch is not None else 0))
            if words > MAX_WORDS_PER_STEP:
                raise ConfigError(
                    f"m = {m} draws up to {words} random words a step, more than the "
                    f"{MAX_WORDS_PER_STEP} of a step's stream (saddle.rng)"
                )

    def _check_options(self, cls: type[Objective], opt: type[optimizers.Optimizer]) -> None:
        """The objective's and the optimiser's own options: each checked by its declaration, the defaults
        filled in; an option of another objective or optimiser is refused unless it is unset."""
        declared = {option.name: option for option in cls.options}
        own = {option.name: option for option in opt.options}
        for names, whose in ((declared, f"the {cls.name} objective"), (own, f"the {opt.name} optimizer")):
            clash = sorted(set(names) & set(GENERIC_FIELDS))
            if clash:
                raise ConfigError(
                    f"{whose} declares {', '.join(clash)}, a generic option of every experiment: rename it"
                )
        clash = sorted(set(declared) & set(own))
        if clash:
            raise ConfigError(f"the {cls.name} objective and the {opt.name} optimizer both declare {', '.join(clash)}")
        unset = {option.name: option.unset for option in optimizers.all_options()}
        for name, value in self.options.items():
            if name in declared or name in own:
                continue
            owners = base.option_owners(name)
            users = optimizers.users(name)
            if not owners and not users:
                raise ConfigError(f"unknown option {name!r}")
            if value is None or (users and value == unset[name] and not owners):
                continue
            if owners:
                raise ConfigError(
                    f"{name} applies to the {' and '.join(owners)} objective"
                    f"{'s' if len(owners) > 1 else ''} only, not to {cls.name}"
                )
            raise ConfigError(
                f"{name} applies to the {' and '.join(users)} optimizer"
                f"{'s' if len(users) > 1 else ''} only, not to {opt.name}"
            )
        given = dict(self.options)
        values: dict[str, Any] = {}
        held: dict[str, Any] = {}
        self._set("options", values)  # filled in declaration order: a default may read an earlier option
        self._set("optimizer_options", held)
        for option in cls.options:
            value = option.check(given.get(option.name), self)
            values[option.name] = option.check(option.default_for(self), self) if value is None else value
        cls.check_config(self)
        for option in opt.options:
            value = option.check(given.get(option.name), self)
            if value is None:
                value = option.check(option.default_for(self), self)
            if value is None:
                flag = "--" + option.name.replace("_", "-")
                raise ConfigError(f"{opt.name} needs {option.name} ({flag}): {option.help}")
            held[option.name] = value
        opt.check_options(held)

    def _check_schedules(self) -> None:
        if self.lr_decay is not None:
            self._set("lr_decay", real("lr_decay", self.lr_decay))
        if self.batch_after_drop is not None:
            self._set("batch_after_drop", integer("batch_after_drop", self.batch_after_drop, 1, MAX_BATCH_SIZE))
        if self.schedule is not None:
            if self.lr_decay is not None or self.batch_after_drop is not None:
                raise ConfigError(
                    "give the schedule either as schedule (--schedule) or as lr_decay / batch_after_drop, not both"
                )
            plan = schedules.Schedule.parse(self.schedule)
            self._set("schedule", None if plan.constant else plan.text)

    def _check_schedule_acts(self, cls: type[Objective], opt: type[optimizers.Optimizer]) -> None:
        """The schedule must be able to act in this run (saddle.schedules.Schedule.check)."""
        plan = self.schedule_plan
        if plan.constant:
            return
        if plan.batch is not None and not opt.minibatch:
            raise ConfigError(
                f"the {opt.name} optimizer draws no mini-batch: a batch-size schedule ({plan.batch.text}) "
                "changes none of its steps"
            )
        drop = cls.max_drop(self)
        fresh = not self.random_start and self.start_perturbation is None
        plan.check(
            max_steps=self.max_steps,
            f_min=cls.min_value(self),
            target=self.target,
            radius=self.radius,
            drop_possible=not (fresh and drop is not None and self.delta >= drop),
        )

    def _check_batch_noise(self, cls: type[Objective], opt: type[optimizers.Optimizer]) -> None:
        if self.batch_noise not in BATCH_NOISES:
            raise ConfigError(f"unknown batch_noise {self.batch_noise!r}; choose one of {', '.join(BATCH_NOISES)}")
        if self.batch_noise == "exact":
            return
        if cls.gaussian_kernel is None:
            names = [o.name for o in base.registered().values() if o.gaussian_kernel is not None]
            raise ConfigError(
                f"batch_noise 'gaussian' is not implemented for the {cls.name} objective (its kernel has no exact "
                f"per-sample gradient covariance); objectives with it: {', '.join(names)}"
            )
        if not opt.minibatch:
            names = [name for name, o in optimizers.registered().items() if o.minibatch]
            raise ConfigError(
                f"batch_noise 'gaussian' replaces the mini-batch gradient, which the {opt.name} optimizer does not "
                f"draw; optimizers that draw it: {', '.join(names)}"
            )

    def _check_escape_and_start(self, cls: type[Objective]) -> None:
        self._set("delta", real("delta", self.delta))
        drop = cls.max_drop(self)
        fresh = not self.random_start and self.start_perturbation is None
        if drop is not None and fresh and self.radius is None and self.target is None and self.delta >= drop:
            raise ConfigError(
                f"delta = {self.delta:g} is a drop the {cls.name} objective cannot make from its start "
                f"(f(u_0) - f_min = {drop:.6g}); choose a smaller delta"
            )
        if self.radius is not None:
            self._set("radius", real("radius", self.radius))
        given = self.target is not None
        if self.target is None and self.radius is None and self.schedule_plan.budget is None:
            # (a run to a schedule's budget has no target unless one is given: its trials end at the budget)
            self._set("target", cls.default_target(self))
        if self.target is not None:
            self._set("target", real("target", self.target, positive=False))
            f_min = cls.min_value(self)
            if f_min is not None and self.target < f_min:
                whose = "target" if given else f"the {cls.name} objective's default target"
                raise ConfigError(
                    f"{whose} = {self.target:g} is below the {cls.name} objective's minimum "
                    f"f_min = {f_min:.6g}: no trial can reach it{'' if given else '; give a target (--target)'}"
                )
            if self.radius is not None:
                raise ConfigError("give either radius or target as the escape criterion, not both")
        if self.start_perturbation is not None:
            self._set("start_perturbation", real("start_perturbation", self.start_perturbation))
        if not isinstance(self.random_start, (bool, int)) or self.random_start not in (0, 1):
            raise ConfigError(f"random_start must be true or false, got {self.random_start!r}")
        self._set("random_start", bool(self.random_start))
        if self.random_start and self.start_perturbation is not None:
            raise ConfigError("give either random_start or start_perturbation, not both")
        if not isinstance(self.allow_trap, (bool, int)) or self.allow_trap not in (0, 1):
            raise ConfigError(f"allow_trap must be true or false, got {self.allow_trap!r}")
        self._set("allow_trap", bool(self.allow_trap))
        traps = cls.traps(self) if fresh else []
        if traps and not self.allow_trap:
            raise ConfigError(
                f"{traps[0]}; ways out: {cls.trap_exits or 'another optimizer or start'}, or "
                "allow_trap (--allow-trap) to run it anyway"
            )
        if self.random_start and cls.random_start is None:
            supported = [o.name for o in base.registered().values() if o.random_start is not None]
            raise ConfigError(f"random_start applies to the {', '.join(supported)} objectives, not to {cls.name}")

    # --------------------------------------------------------------------------------- derived
    @property
    def objective_class(self) -> type[Objective]:
        """The registered class of the objective."""
        return base.get(self.objective)

    @property
    def optimizer_class(self) -> type[optimizers.Optimizer]:
        """The registered class of the optimiser (what it draws, whether it adds noise of its own, ...)."""
        return optimizers.get(self.optimizer)

    def build_objective(self) -> Objective:
        """The objective this configuration simulates."""
        return self.objective_class.from_config(self)

    def start_point(self, objective: Objective) -> Any:
        """u_0 (flat): the saddle the experiment starts at."""
        return objective.start_point(self)

    def eta_for(self, m: int) -> float:
        """The step size at batch size m (lr_scaling applied)."""
        return scaled_eta(self.eta, m, self.lr_scaling)

    def optimizer_params(self) -> optimizers.OptimizerParams:
        """The optimiser's options by name (:class:`saddle.optimizers.OptimizerParams`), as
        :func:`saddle.kernels.run_trials` takes them (the schedule goes apart: :attr:`schedule_plan`)."""
        return optimizers.OptimizerParams(self.optimizer_options)

    @property
    def schedule_plan(self) -> schedules.Schedule:
        """The schedule (:class:`saddle.schedules.Schedule`): ``schedule``'s, or that of the older
        options lr_decay and batch_after_drop (the constant schedule without any)."""
        if self.schedule is not None:
            return schedules.Schedule.parse(self.schedule)
        return schedules.legacy(self.lr_decay, self.batch_after_drop)

    @property
    def samples_per_m(self) -> int:
        """Samples a step draws per unit of m (1; k for ge2015's per-column sampling)."""
        return self.samples_per_step(1)

    def samples_per_step(self, m: int) -> int:
        """Samples one step draws at batch size m (the objective says: m, or k m for ge2015's per-column sampling)."""
        return self.objective_class.samples_per_step(self, m)

    def start_warnings(self) -> list[str]:
        """Known cases where the start is a fixed point of the noise given (docs/objectives.md: spike, ge2015).

        Returns one-line messages; every trial of such a run is expected to be censored (or to
        escape only through higher-order effects), which the caller should say, not hide.
        """
        out = []
        cls = self.objective_class
        small = [m for m in self.m if m < cls.gaussian_trusted_m]
        if self.batch_noise == "gaussian" and not cls.gaussian_exact and small:
            out.append(
                f"Gaussian batch noise approximates the {cls.name} objective's mini-batch mean by its central limit; "
                f"below m = {cls.gaussian_trusted_m} (here m = {', '.join(map(str, small))}) it is measurably wrong "
                "(docs/escape.md, Gaussian batch noise)"
            )
        if self.random_start or self.start_perturbation is not None:
            return out
        if self.optimizer == "gd" and self.radius is None:
            out.append(
                "gd starts exactly at a saddle, where the exact gradient vanishes: no trial can escape "
                "(this is the control)"
            )
        return out + (cls.traps(self) if self.allow_trap else []) + cls.start_warnings(self)

    def to_dict(self) -> dict[str, Any]:
        """Every option as JSON-ready values (tuples become lists): the generic ones with the
        objective's own after ``d`` (config.json)."""
        out: dict[str, Any] = {}
        for name in GENERIC_FIELDS:
            out[name] = getattr(self, name)
            if name == "d":
                out.update(self.options)
            if name == "optimizer":  # every optimiser's options: this one's values, the others' unset
                for option in optimizers.all_options():
                    out[option.name] = self.optimizer_options.get(option.name, option.unset)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each option's "not set" value: the generic defaults, and None for every objective's option."""
        out = {f.name: f.default for f in fields(_Fields) if f.name not in _HELD}
        for objective in base.registered().values():
            out.update({option.name: None for option in objective.options})
        out.update({option.name: option.unset for option in optimizers.all_options()})
        return out

    def describe(self) -> str:
        """A one-line description of the objective and start, for tables and figures (and the Gaussian
        batch noise, where a run uses it)."""
        text = self.objective_class.describe(self)
        plan = self.schedule_plan
        schedule = "" if plan.constant or self.schedule is None else f"; schedule: {plan.describe()}"
        return text + (", Gaussian batch noise" if self.batch_noise == "gaussian" else "") + schedule
