"""Kernels: the fused per-trial loops, behind one function that takes a backend name.

``run_trials`` is the boundary: it converts arguments to the exact types the
compiled kernel expects (one specialisation for every configuration), chooses
the backend and wraps the per-trial outputs.  The CPU backend is
:mod:`saddle.kernels.cpu` (Numba); its GPU twin is :mod:`saddle.kernels.gpu`
(``backend="cupy"``: the CUDA C source ``escape.cu``, the same random streams),
which imports CuPy only when that backend is chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saddle.kernels.cpu import CENSORED, DIVERGED, ESCAPED, FROZEN
from saddle.kernels.gpu import BackendUnavailable, optimizer_array  # noqa: F401 (BackendUnavailable re-exported)
from saddle.kernels.outputs import Recorder, TrialBlock
from saddle.manifolds import EUCLIDEAN, SPHERE, ProductSpheres, Sphere
from saddle.optimizers import OPTIMIZERS as _OPTIMIZERS
from saddle.optimizers import OptimizerParams

BACKENDS = ("cpu", "cupy")
OPTIMIZERS = {name: spec.code for name, spec in _OPTIMIZERS.items()}
"""Optimiser name -> kernel code (from the table in saddle.optimizers)."""
STATUS_NAMES = {ESCAPED: "escaped", CENSORED: "censored", DIVERGED: "diverged", FROZEN: "frozen"}


def _start_code(random_start: bool, start_perturbation: float) -> float:
    """The kernel's start argument: 0 (u0), a perturbation radius, or inf (the objective's random start)."""
    if random_start:
        return np.inf
    return float(start_perturbation)


def as_objective(objective: Any) -> Any:
    """An Objective as it is; an object with legacy ``kernel_functions`` wrapped in UserObjective."""
    if getattr(objective, "kernel_functions", None) is not None and not hasattr(type(objective), "kernel"):
        from saddle.objectives.user import UserObjective

        return UserObjective(objective)
    if not hasattr(objective, "kernel"):
        raise ValueError(
            f"objective {getattr(objective, 'name', objective)!r} has no kernel hooks: subclass "
            "saddle.objectives.base.Objective and set its kernel (docs/objectives.md)"
        )
    return objective


LANES_MIN_WORK = 10**8
"""Trial-steps (trials x max_steps) from which ``run_trials`` runs sgd in lockstep lanes by default: the
lanes save about 60 ns a trial-step at small m, so at this size they can repay the 5 s of their first
compile within the run (docs/performance.md).  The main job (1000 x 10,000) stays below it."""


def run_trials(
    objective,
    u0,
    *,
    optimizer,
    batch_size,
    eta,
    sigma_iso,
    delta,
    radius,
    max_steps,
    seed,
    trial_start,
    n_trials,
    recorder=None,
    backend="cpu",
    params=None,
    target=None,
    random_start=False,
    start_perturbation=0.0,
    keep_final_u=False,
    lanes=None,
):
    """Run n_trials escape trials of ``objective`` from u0 on ``backend``.

    ``objective`` is an :class:`~saddle.objectives.base.Objective` (its ``kernel`` hooks,
    ``kernel_params()`` and ``manifold``), or an object with legacy ``kernel_functions``
    (:class:`saddle.objectives.user.UserObjective`).  ``params``
    (:class:`saddle.optimizers.OptimizerParams`) carries the parameters of momentum, pgd,
    cnc-pgd and the schedules; ``sigma_iso`` is noisy-sgd's.  Arguments are assumed validated
    (see :class:`saddle.config.EscapeConfig`).  ``radius`` of None selects the f-drop criterion
    with ``delta``; a ``target`` makes escape f(u_t) <= target.  ``random_start`` starts each
    trial at its own random point (the objective's ``random_start`` hook) instead of u0;
    ``start_perturbation`` r > 0 starts it at R_{u0}(r xi), xi a uniform unit tangent vector of its
    own; ``keep_final_u`` returns the final points in ``TrialBlock.final_u``.

    ``lanes`` (cpu, sgd, objectives with lane hooks and m below their ``lanes_below_m``): run the trials
    several at a time in lockstep (:func:`saddle.kernels.cpu.run_lanes`), about twice as fast at small
    m, with the same results bit for bit, for a kernel that takes about 5 s longer to compile the first
    time (then it is on disk).  None (the default) chooses them when n_trials x max_steps is at least
    ``LANES_MIN_WORK``, where the saving can repay the compile.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    objective = as_objective(objective)
    params = OptimizerParams() if params is None else params
    from saddle import rng

    m_most = max(int(batch_size), int(params.batch_after_drop or 0))
    rng.check_ranges(seed, int(trial_start) + int(n_trials), max_steps, m_most, max(m_most, 2) * len(u0))
    if backend == "cupy":  # the GPU twin (saddle/kernels/gpu.py); BackendUnavailable without CuPy or a GPU
        from saddle.kernels import gpu

        if start_perturbation:
            raise ValueError(
                "perturbed starts (start_perturbation) are not supported on the GPU yet; use the cpu backend"
            )
        if params.lr_decay or params.batch_after_drop:
            raise ValueError(
                "step-size and batch-size schedules (lr_decay, batch_after_drop) are not supported "
                "on the GPU yet; use the cpu backend"
            )

        return gpu.run_trials_cupy(
            objective,
            u0,
            optimizer=optimizer,
            batch_size=batch_size,
            eta=eta,
            sigma_iso=sigma_iso,
            delta=delta,
            radius=radius,
            max_steps=max_steps,
            seed=seed,
            trial_start=trial_start,
            n_trials=n_trials,
            recorder=recorder,
            params=params,
            target=target,
            random_start=random_start,
            keep_final_u=keep_final_u,
        )
    from saddle.kernels import cpu

    pf, pa, pi = objective.kernel_params()
    hooks = objective.kernel
    if lanes is None:
        lanes = int(n_trials) * int(max_steps) >= LANES_MIN_WORK
    lanes = bool(lanes) and hooks.lane_gradient is not None and int(batch_size) < hooks.lanes_below_m
    kernel = cpu.kernel_for(hooks, OPTIMIZERS[optimizer], cache=type(objective).cache_kernel, lanes=lanes)
    steps = np.empty(n_trials, np.int64)
    status = np.empty(n_trials, np.int8)
    final_f = np.empty(n_trials, np.float64)
    final_u = np.empty((n_trials if keep_final_u else 0, len(u0)), np.float64)
    drop_steps = np.empty(n_trials, np.int64)
    if recorder is None:
        recorder = Recorder.empty(0, 2)
    kernel(
        trial0=np.int64(trial_start),
        seed=np.uint64(seed),
        u0=np.ascontiguousarray(u0, dtype=np.float64),
        objective=np.int64(-1 if objective.gpu_code is None else objective.gpu_code),
        manifold=np.int64(SPHERE if isinstance(objective.manifold, (Sphere, ProductSpheres)) else EUCLIDEAN),
        pf=np.ascontiguousarray(pf, dtype=np.float64),
        pa=np.ascontiguousarray(pa, dtype=np.float64),
        pi=np.ascontiguousarray(pi, dtype=np.int64),
        optimizer=np.int64(OPTIMIZERS[optimizer]),
        m=np.int64(batch_size),
        eta=float(eta),
        po=optimizer_array(sigma_iso, params),
        delta=float(delta),
        radius=0.0 if radius is None else float(radius),
        target=np.nan if target is None else float(target),
        random_start=_start_code(random_start, start_perturbation),
        max_steps=np.int64(max_steps),
        steps=steps,
        status=status,
        final_f=final_f,
        drop_steps=drop_steps,
        final_u=final_u,
        rec_f=recorder.f,
        rec_count=recorder.count,
        rec_stride=recorder.stride,
    )
    return TrialBlock(trial_start, steps, status, final_f, final_u if keep_final_u else None, drop_steps)
