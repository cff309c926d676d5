"""The run record: every per-run scalar the escape kernel reads, packed once with named fields.

A NumPy structured scalar (``numpy.void``), which Numba passes to a kernel as a record: the kernel
reads ``run.eta``, ``run.max_steps``, ``run.momentum`` by name, and no kernel signature lists them one
by one.  The fields are the generic ones of :data:`RUN_FIELDS` followed by the chosen optimiser's own
options (an ``'int'`` option as int64, any other as float64), so each optimiser's kernel sees exactly
its own options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from saddle.optimizers.base import Optimizer

RUN_FIELDS: tuple[tuple[str, type], ...] = (
    ("seed", np.uint64),
    ("objective", np.int64),  # the objective's code, passed on to its hooks
    ("manifold", np.int64),  # saddle.manifolds.SPHERE or EUCLIDEAN
    ("m", np.int64),  # batch size
    ("eta", np.float64),  # step size (at this m)
    ("delta", np.float64),  # f-drop threshold
    ("radius", np.float64),  # distance criterion (0: off)
    ("target", np.float64),  # target criterion (NaN: off)
    ("random_start", np.float64),  # 0: u0; r > 0: R_u0(r xi); inf: the objective's random start
    ("max_steps", np.int64),
    # the schedule (saddle.schedules; saddle.kernels.cpu.scheduled_eta and scheduled_m read them):
    ("m_trigger", np.int64),  # when the batch size switches (saddle.schedules.trigger codes; 0: never)
    ("m_trigger_value", np.float64),  # its step (step:N) or f level (f:LEVEL)
    ("m_after", np.int64),  # the batch size after it
    ("eta_trigger", np.int64),  # when the step size starts to decay (0: never)
    ("eta_trigger_value", np.float64),
    ("decay", np.int64),  # the step-size rule's code (1: inverse time, 2: step decay)
    ("decay_a", np.float64),  # its numbers (inverse time: t0; step decay: every, gamma)
    ("decay_b", np.float64),
    ("budget", np.int64),  # samples after the f-drop at which a trial ends (0: no budget)
    ("samples_per_m", np.int64),  # samples a step draws per unit of m (what the budget counts)
)
"""The generic fields of every run record, with their types."""


def record_dtype(optimizer: type[Optimizer]) -> np.dtype:
    """The record's dtype for an optimiser: :data:`RUN_FIELDS`, then its options."""
    own = [(o.name, np.int64 if o.kind == "int" else np.float64) for o in optimizer.options]
    return np.dtype(list(RUN_FIELDS) + own, align=True)


def run_record(optimizer: type[Optimizer], values: Mapping[str, Any]) -> np.ndarray:
    """The run record of ``optimizer`` with every field's value from ``values`` (an option of the
    optimiser that ``values`` lacks or holds as None is 0), as a one-element structured array whose
    element ``[0]`` the kernel takes (Numba passes a record by reference: keep the array alive while
    the kernel runs)."""
    dtype = record_dtype(optimizer)
    record = np.zeros(1, dtype=dtype)
    generic = {name for name, _ in RUN_FIELDS}
    for name in dtype.names or ():
        value = values.get(name)
        if value is None:
            if name in generic:
                raise KeyError(f"run_record needs {name!r}")
            value = 0
        record[name] = value
    return record


def checked_params(objective: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``objective.kernel_params()``, refused in one line (ValueError) unless it is three NumPy arrays
    (pf, pa, pi): the kernel would otherwise fail with a Numba typing error, or take other numbers."""
    params = objective.kernel_params()
    if not (isinstance(params, tuple | list) and len(params) == 3 and all(isinstance(a, np.ndarray) for a in params)):
        got = type(params).__name__ if not isinstance(params, tuple | list) else f"{len(params)} items"
        raise ValueError(
            f"{type(objective).__name__}.kernel_params() must return three NumPy arrays (pf, pa, pi); it returned {got}"
        )
    return params[0], params[1], params[2]
