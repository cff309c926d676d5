"""Kernels: the fused per-trial loops, behind one function that takes a backend name.

``run_trials`` is the boundary: it converts arguments to the exact types the
compiled kernel expects (one specialisation for every configuration), chooses
the backend and wraps the per-trial outputs.  The CPU backend is
:mod:`saddle.kernels.cpu` (Numba); its GPU twin is :mod:`saddle.kernels.gpu`
(``backend="cupy"``: the CUDA C source ``escape.cu``, the same random streams),
which imports CuPy only when that backend is chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from saddle import optimizers, rng
from saddle.kernels import cpu, gpu
from saddle.kernels.cpu import CENSORED, DIVERGED, ESCAPED, FROZEN, TrialOutputs
from saddle.kernels.gpu import BackendUnavailable  # noqa: F401 (re-exported)
from saddle.kernels.outputs import Recorder, TrialBlock
from saddle.kernels.record import checked_params, run_record
from saddle.manifolds import EUCLIDEAN, SPHERE, ProductSpheres, Sphere
from saddle.objectives.user import UserObjective
from saddle.optimizers import OptimizerParams
from saddle.options import ConfigError
from saddle.schedules import Schedule, legacy

BACKENDS = ("cpu", "cupy")
STATUS_NAMES = {ESCAPED: "escaped", CENSORED: "censored", DIVERGED: "diverged", FROZEN: "frozen"}


def _start_code(random_start: bool, start_perturbation: float) -> float:
    """The kernel's start argument: 0 (u0), a perturbation radius, or inf (the objective's random start)."""
    if random_start:
        return np.inf
    return float(start_perturbation)


def as_objective(objective: Any) -> Any:
    """An Objective as it is; an object with legacy ``kernel_functions`` wrapped in UserObjective."""
    if getattr(objective, "kernel_functions", None) is not None and not hasattr(type(objective), "kernel"):
        return UserObjective(objective)
    if not hasattr(objective, "kernel"):
        raise ValueError(
            f"objective {getattr(objective, 'name', objective)!r} has no kernel hooks: subclass "
            "saddle.objectives.base.Objective and set its kernel (docs/objectives.md)"
        )
    return objective


def _batch_noise_hooks(objective: Any, optimizer: str, batch_noise: str, backend: str) -> Any:
    """The kernel hooks of ``batch_noise``: the objective's own for 'exact', its ``gaussian_kernel`` for
    'gaussian'; ValueError (one line) for another mode, or a 'gaussian' run it has no kernel for."""
    if batch_noise == "exact":
        return objective.kernel
    if batch_noise != "gaussian":
        raise ValueError(f"unknown batch_noise {batch_noise!r}; choose one of exact, gaussian")
    if backend != "cpu":
        raise ValueError(
            f"batch_noise 'gaussian' is not supported on {backend} (escape.cu has no such mode); use the cpu backend"
        )
    hooks = getattr(type(objective), "gaussian_kernel", None)
    if hooks is None:
        raise ValueError(f"batch_noise 'gaussian' is not implemented for the {objective.name} objective")
    if not optimizers.get(optimizer).minibatch:
        raise ValueError(f"batch_noise 'gaussian' needs an optimizer that draws mini-batches, not {optimizer}")
    return hooks


LANES_MIN_WORK = 10**8
"""Trial-steps (trials x max_steps) from which ``run_trials`` runs sgd in lockstep lanes by default: the
spike's lanes save about 70 ns of a trial-step's CPU time at m = 1 and 380 ns at m = 32, so at this size
they save about 4 s and 19 s of wall time on two cores, against about 11 s for the lanes' kernel's first
compile (once: it is then cached on disk; docs/performance.md).  The main job (1000 x 10,000) stays
below it."""


def run_trials(
    objective: Any,
    u0: np.ndarray,
    *,
    optimizer: str,
    batch_size: int,
    eta: float,
    sigma_iso: float,
    delta: float,
    radius: float | None,
    max_steps: int,
    seed: int,
    trial_start: int,
    n_trials: int,
    recorder: Recorder | None = None,
    backend: str = "cpu",
    params: Mapping[str, Any] | None = None,
    target: float | None = None,
    random_start: bool = False,
    start_perturbation: float = 0.0,
    keep_final_u: bool = False,
    lanes: bool | None = None,
    batch_noise: str = "exact",
    schedule: Schedule | str | None = None,
    samples_per_m: int = 1,
) -> TrialBlock:
    """Run n_trials escape trials of ``objective`` from u0 on ``backend``.

    ``objective`` is an :class:`~saddle.objectives.base.Objective` (its ``kernel`` hooks,
    ``kernel_params()`` and ``manifold``), or an object with legacy ``kernel_functions``
    (:class:`saddle.objectives.user.UserObjective`).  ``optimizer`` is a registered optimiser's name
    (:mod:`saddle.optimizers`).  ``params`` (a mapping such as :class:`saddle.optimizers.OptimizerParams`)
    carries the optimiser's options by name (``momentum``, ``perturbation_radius``, ...; the older
    schedule options ``lr_decay`` and ``batch_after_drop`` too, as :func:`saddle.schedules.legacy` reads
    them); ``sigma_iso`` is noisy-sgd's.  ``schedule`` (a :class:`saddle.schedules.Schedule` or its
    text) changes the batch size and the step size after its triggers, and ends trials at its sample
    budget (``samples_per_m``: the samples a step draws per unit of m, which the budget counts).
    Arguments are assumed validated
    (see :class:`saddle.config.EscapeConfig`).  ``radius`` of None selects the f-drop criterion
    with ``delta``; a ``target`` makes escape f(u_t) <= target.  ``random_start`` starts each
    trial at its own random point (the objective's ``random_start`` hook) instead of u0;
    ``start_perturbation`` r > 0 starts it at R_{u0}(r xi), xi a uniform unit tangent vector of its
    own; ``keep_final_u`` returns the final points in ``TrialBlock.final_u``.

    ``lanes`` (cpu, sgd, objectives with lane hooks and m below their ``lanes_below_m``): run the trials
    several at a time in lockstep (:func:`saddle.kernels.cpu.run_lanes`), 1.2 to 2 times as fast a
    trial-step, with the same results bit for bit, for a kernel that takes about 11 s longer to compile
    the first time (then it is on disk).  None (the default) chooses them when n_trials x max_steps is at least
    ``LANES_MIN_WORK``, where the saving can repay the compile.

    ``batch_noise`` 'gaussian' (cpu, an objective with a ``gaussian_kernel``, an optimiser that draws
    mini-batches): each mini-batch gradient is the exact gradient plus N(0, Sigma(u) / m) instead of the
    mean of m samples (docs/escape.md), in a kernel of its own, never in lanes.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    objective = as_objective(objective)
    params = OptimizerParams() if params is None else OptimizerParams(params)
    hooks = _batch_noise_hooks(objective, optimizer, batch_noise, backend)
    old = legacy(params.get("lr_decay") or None, params.get("batch_after_drop") or None)
    if schedule is not None and not old.constant:
        raise ValueError("give the schedule either as schedule= or as lr_decay / batch_after_drop, not both")
    plan = old if schedule is None else Schedule.parse(schedule)

    m_most = max(int(batch_size), plan.batch.m if plan.batch is not None else 0)
    rng.check_ranges(seed, int(trial_start) + int(n_trials), max_steps, m_most, max(m_most, 2) * len(u0))
    if backend == "cupy":  # the GPU twin (saddle/kernels/gpu.py); BackendUnavailable without CuPy or a GPU
        if start_perturbation:
            raise ValueError(
                "perturbed starts (start_perturbation) are not supported on the GPU yet; use the cpu backend"
            )
        if not plan.constant:
            raise ValueError(
                f"schedules ({plan.text}) are not supported on the GPU yet (escape.cu has no schedule "
                "section); use the cpu backend"
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
    pf, pa, pi = checked_params(objective)
    spec = optimizers.get(optimizer)
    if lanes is None:
        lanes = int(n_trials) * int(max_steps) >= LANES_MIN_WORK
    lanes = bool(lanes) and hooks.lane_gradient is not None and int(batch_size) < hooks.lanes_below_m
    users = not type(objective).cache_kernel or not spec.__module__.startswith("saddle.")  # a user's code
    kernel = cpu.kernel_for(hooks, spec, cache=type(objective).cache_kernel, lanes=lanes, checked=users)
    if recorder is None:
        recorder = Recorder.empty(0, 2)
    out = TrialOutputs(
        steps=np.empty(n_trials, np.int64),
        status=np.empty(n_trials, np.int8),
        final_f=np.empty(n_trials, np.float64),
        drop_steps=np.empty(n_trials, np.int64),
        switch_steps=np.empty(n_trials, np.int64),
        final_u=np.empty((n_trials if keep_final_u else 0, len(u0)), np.float64),
        rec_f=recorder.f,
        rec_count=recorder.count,
        rec_stride=recorder.stride,
        stop=np.zeros(1, np.int64),
    )
    values = dict(params)
    values.update(
        seed=np.uint64(seed),
        objective=-1 if objective.gpu_code is None else objective.gpu_code,
        manifold=SPHERE if isinstance(objective.manifold, (Sphere, ProductSpheres)) else EUCLIDEAN,
        m=batch_size,
        eta=eta,
        delta=delta,
        radius=0.0 if radius is None else radius,
        target=np.nan if target is None else target,
        random_start=_start_code(random_start, start_perturbation),
        max_steps=max_steps,
        sigma_iso=sigma_iso,
    )
    values.update(plan.fields(samples_per_m))
    run = run_record(spec, values)
    try:
        cpu.run_parallel(
            kernel,
            int(n_trials),
            np.int64(trial_start),
            np.ascontiguousarray(u0, dtype=np.float64),
            run[0],
            np.ascontiguousarray(pf, dtype=np.float64),
            np.ascontiguousarray(pa, dtype=np.float64),
            np.ascontiguousarray(pi, dtype=np.int64),
            out,
        )
    except IndexError as err:  # only a user's kernel checks its bounds (cpu.specialise)
        if not users:
            raise
        what = f"the {objective.name} objective" if not type(objective).cache_kernel else f"the {spec.name} optimiser"
        raise ConfigError(
            f"{what} read or wrote outside an array in the kernel ({err}): check its hooks' indices against "
            "the state's length and what kernel_params() returns"
        ) from None
    return TrialBlock(
        trial_start,
        out.steps,
        out.status,
        out.final_f,
        out.final_u if keep_final_u else None,
        out.drop_steps,
        out.switch_steps if plan.batch is not None else None,
    )
