"""``objective="user"``: an object with ``kernel_functions``, passed to ``run_escape`` at run time.

This is the older way to run one's own objective (docs/objectives.md): an object with ``name``,
``manifold``, ``f``, ``kernel_params()`` and ``kernel_functions = (value, gradient)``, whose
gradient has the signature without the step size,

    gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g).

:class:`UserObjective` adapts such an object to the :class:`~saddle.objectives.base.Objective`
interface, so it runs through the same kernel template as every registered objective.  The newer
way, a registered :class:`~saddle.objectives.base.Objective` subclass, needs no adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from saddle._numba import JIT_OPTIONS
from saddle.objectives.base import KernelHooks, Objective, register
from saddle.options import ConfigError

if TYPE_CHECKING:
    from saddle.options import Settings

_HOOKS: dict[tuple[Any, Any, int], KernelHooks] = {}


def hooks_for(value: Any, gradient: Any, block: int) -> KernelHooks:
    """KernelHooks for a legacy (value, gradient) pair on sphere blocks of length ``block`` (memoised)."""
    key = (value, gradient, int(block))
    if key not in _HOOKS:
        options: dict[str, Any] = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
        bs = int(block)

        def with_step(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, eta, z, x, block, g):
            gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g)

        _HOOKS[key] = KernelHooks(
            value,
            numba.njit(**options)(with_step),
            numba.njit(**options)(lambda objective, n, pi: bs),
            name=f"user{len(_HOOKS)}",
        )
    return _HOOKS[key]


@register
class UserObjective(Objective):
    """A user's object with ``kernel_functions``, and its start point, as an Objective."""

    name = "user"
    rank = 99
    title = "user objective: an object with kernel_functions, from Python (run_escape(..., user_objective=, start=))"
    cache_kernel = False
    runs_from_config = False

    def __init__(self, obj: Any, start: Any = None) -> None:
        self.obj = obj
        self.manifold = obj.manifold
        self.u0 = None if start is None else np.asarray(start, dtype=np.float64)
        value, gradient = obj.kernel_functions
        self.kernel = hooks_for(value, gradient, obj.manifold.d)  # type: ignore[misc]  # per object, over the ClassVar

    @classmethod
    def from_config(cls, config: Settings) -> Objective:
        raise ConfigError(
            "objective 'user' needs the objective itself: run_escape(config, user_objective=..., start=...)"
        )

    def start_point(self, config: Settings) -> np.ndarray:
        if self.u0 is None or self.u0.shape != (config.d,) or not np.all(np.isfinite(self.u0)):
            raise ConfigError(f"start must be a finite array of length d = {config.d}")
        return self.u0

    def f(self, u: np.ndarray) -> float:
        return float(self.obj.f(u))

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.obj.kernel_params()

    @classmethod
    def describe(cls, config: Settings) -> str:
        return f"user objective, d={config.d}"
