"""A frontier's configuration: the escape options it tunes over, the target, the search and the success rule.

A frontier runs, for each batch size m, escape cells ``(m, eta)`` whose escape criterion is the target
``f(u_t) <= f_target``; each cell is an :class:`~saddle.config.EscapeConfig` with one batch size, named
and seeded like a sweep's cell (:func:`saddle.sweep.config.cell_key`, :func:`~saddle.sweep.config.cell_seed`):
its numbers depend on the frontier's seed and on its own configuration only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saddle.config import EscapeConfig
from saddle.frontier.search import eta_index, eta_of
from saddle.options import ConfigError
from saddle.sweep.config import Cell, cell_key, cell_seed

__all__ = ["BOUND_FACTOR", "DEFAULT_M", "FrontierConfig"]

DEFAULT_M = tuple(2**i for i in range(13))
"""The default batch sizes: 1, 2, 4, ..., 4096."""
BOUND_FACTOR = 1000.0
"""The default search bounds lie this factor below and above the configured eta (1e-5 to 10 at 0.01)."""
CELL_INDEX_STRIDE = 100_000
"""A cell's index (the order of the tidy tables) is ``m position * CELL_INDEX_STRIDE + k + CELL_INDEX_STRIDE // 2``."""


@dataclass
class FrontierConfig:
    """Everything a frontier run needs (docs/frontier.md).

    Parameters
    ----------
    escape : EscapeConfig
        The escape options every cell shares (objective, its options, d, optimizer, delta, trials,
        max_steps, seed); its ``m`` is the list of batch sizes, its ``eta`` the step size the search starts
        from at the smallest m, and its ``target`` (when given) the goal.  Its ``delta`` marks the escape
        phase (the f-drop); where the generic default 0.1 is beyond the objective's scale and the
        objective has an escape criterion of its own (the teacher-student's eps*/2), that criterion
        marks it instead.
    target_fraction : float, optional
        Without a target: f_target = f(u_0) - target_fraction (f(u_0) - f_min), a fraction of the way from
        the start to the minimum (default 0.9: escape and convergence both count); refused beside a target.
    eta_min, eta_max : float, optional
        The search bounds (default: the configured eta / BOUND_FACTOR and eta * BOUND_FACTOR).
    success : float
        The success rule: at least this fraction of trials reach the target by max_steps, and none diverges.
    max_cells : int
        The most step sizes one batch size's search runs.
    """

    escape: EscapeConfig
    target_fraction: float | None = None
    eta_min: float | None = None
    eta_max: float | None = None
    success: float = 0.95
    max_cells: int = 24
    target: float = field(init=False, default=math.nan)
    f0: float = field(init=False, default=math.nan)
    f_min: float | None = field(init=False, default=None)
    drop_level: float | None = field(init=False, default=None)
    """The f that marks the escape phase when it is the objective's own criterion (each cell's delta is
    then f(u_0) of its own start less this level: a start that depends on eta / m moves f(u_0))."""

    def __post_init__(self) -> None:
        esc = self.escape
        ms = list(esc.m)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ConfigError(f"m must be increasing, each batch size once, got {' '.join(map(str, ms))}")
        from saddle import optimizers

        opt = optimizers.get(esc.optimizer)
        if not opt.minibatch:
            names = [name for name, o in optimizers.registered().items() if o.minibatch]
            raise ConfigError(
                f"a frontier tunes eta against the batch size, which the {opt.name} optimizer does not draw "
                f"(m changes none of its trials); optimizers that draw it: {', '.join(names)}"
            )
        if (
            self.target_fraction is not None
            and esc.target is not None
            and esc.target != esc.objective_class.default_target(esc)
        ):
            raise ConfigError("give the goal once: --target or --target-fraction, not both")
        if self.target_fraction is None:
            self.target_fraction = 0.9
        if not esc.schedule_plan.constant:
            raise ConfigError(
                "a frontier tunes one constant step size for each m: schedules (--schedule, --lr-decay, "
                "--batch-after-drop) do not apply"
            )
        if esc.lr_scaling != "none":
            raise ConfigError("a frontier tunes eta for every m: --lr-scaling does not apply")
        if esc.radius is not None:
            raise ConfigError("a frontier measures the time to a target: --radius does not apply")
        if esc.random_start or esc.start_perturbation is not None:
            raise ConfigError(
                "a frontier starts every trial at the saddle: --random-start and --start-perturbation do not apply"
            )
        if self.eta_min is None:
            self.eta_min = float(f"{esc.eta / BOUND_FACTOR:.12g}")
        if self.eta_max is None:
            self.eta_max = float(f"{esc.eta * BOUND_FACTOR:.12g}")
        for name, value in (("eta-min", self.eta_min), ("eta-max", self.eta_max)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name} must be a finite number > 0, got {value!r}")
        if not self.eta_min < self.eta_max:
            raise ConfigError(
                f"the search bounds are empty or inverted: --eta-min {self.eta_min:g} >= --eta-max {self.eta_max:g}"
            )
        if not (self.eta_min <= esc.eta <= self.eta_max):
            raise ConfigError(
                f"the starting eta = {esc.eta:g} is outside the search bounds [{self.eta_min:g}, {self.eta_max:g}]"
            )
        if not (isinstance(self.success, (int, float)) and 0 < self.success <= 1):
            raise ConfigError(f"--success must be a fraction in (0, 1], got {self.success!r}")
        if not (isinstance(self.target_fraction, (int, float)) and 0 < self.target_fraction < 1):
            raise ConfigError(f"--target-fraction must lie strictly between 0 and 1, got {self.target_fraction!r}")
        if isinstance(self.max_cells, bool) or not isinstance(self.max_cells, (int, np.integer)) or self.max_cells < 3:
            raise ConfigError(f"--max-cells must be an integer >= 3, got {self.max_cells!r}")
        self._resolve_target()

    def _resolve_target(self) -> None:
        esc = self.escape
        objective = esc.build_objective()
        u0 = np.asarray(objective.start_point_for(esc, esc.m[0]), dtype=float)
        self.f0 = float(objective.f(u0))
        self.f_min = type(objective).min_value(esc)
        given = esc.target is not None and not (esc.target == type(objective).default_target(esc))
        if esc.target is not None and (given or self.f_min is None):
            target = float(esc.target)
        elif self.f_min is not None:
            target = self.f0 - float(self.target_fraction or 0.9) * (self.f0 - self.f_min)
        else:
            raise ConfigError(
                f"the {esc.objective} objective's minimum is not known in closed form: give the goal with --target"
            )
        own = type(objective).default_target(esc)  # the objective's own escape criterion, if it has one
        if (
            not target < self.f0 - esc.delta
            and esc.delta == EscapeConfig.defaults()["delta"]
            and own is not None
            and target < own < self.f0
        ):  # the generic delta is beyond the objective's scale: its own escape criterion marks the f-drop
            self.escape = esc = dataclasses.replace(esc, delta=float(f"{self.f0 - own:.12g}"))
            self.drop_level = own
        if not target < self.f0 - esc.delta:
            raise ConfigError(
                f"target = {target:g} is not past the saddle: "
                f"it must lie below f(u_0) - delta = {self.f0 - esc.delta:.6g}"
            )
        if self.f_min is not None and not target > self.f_min:
            raise ConfigError(
                f"target = {target:g} is not above the minimum f_min = {self.f_min:.6g}: no trial can reach it"
            )
        self.target = target

    # -------------------------------------------------------------------------------- the grid
    @property
    def ms(self) -> tuple[int, ...]:
        return tuple(self.escape.m)

    @property
    def eta_ref(self) -> float:
        """The grid's reference: the configured eta is grid point 0."""
        return float(self.escape.eta)

    def bounds(self) -> tuple[int, int]:
        """The grid points of the search bounds (the inner grid points of [eta_min, eta_max])."""
        assert self.eta_min is not None and self.eta_max is not None  # set by __post_init__
        lo = math.ceil(eta_index(self.eta_min, self.eta_ref) - 1e-9)
        hi = math.floor(eta_index(self.eta_max, self.eta_ref) + 1e-9)
        return lo, hi

    def eta(self, k: int) -> float:
        return eta_of(k, self.eta_ref)

    def cell(self, m: int, k: int) -> Cell:
        """The cell of batch size m at grid point k: its configuration, key and seed."""
        base = dataclasses.replace(
            self.escape, m=(int(m),), eta=self.eta(k), target=self.target, record_trials=0, seed=0
        )
        if self.drop_level is not None:
            try:
                objective = base.build_objective()
                f0 = float(objective.f(np.asarray(objective.start_point_for(base, int(m)), dtype=float)))
            except ConfigError:  # no start at this eta / m: the cell's run says so (a refused cell)
                f0 = math.nan
            if f0 > self.drop_level:
                base = dataclasses.replace(base, delta=float(f"{f0 - self.drop_level:.12g}"))
        key = cell_key(base)
        config = dataclasses.replace(base, seed=cell_seed(self.escape.seed, key))
        index = self.ms.index(m) * CELL_INDEX_STRIDE + k + CELL_INDEX_STRIDE // 2
        return Cell(index, {"m": int(m), "eta": config.eta}, config, key)

    def identity(self) -> dict[str, Any]:
        """What determines the numbers of every cell and the search's path (compared on resume); the batch
        sizes are not part of it: a frontier extended by more batch sizes reuses every stored cell."""
        options = {k: v for k, v in self.escape.to_dict().items() if k not in ("m", "record_trials", "record_points")}
        return {
            "escape": options,
            "target": self.target,
            "target_fraction": self.target_fraction,
            "eta_min": self.eta_min,
            "eta_max": self.eta_max,
            "success": self.success,
            "max_cells": int(self.max_cells),
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.identity(), "m": list(self.ms), "f0": self.f0, "f_min": self.f_min}
