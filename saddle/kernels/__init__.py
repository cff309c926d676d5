"""Kernels: the fused per-trial loops, behind one function that takes a backend name.

``run_trials`` is the boundary: it converts arguments to the exact types the
compiled kernel expects (one specialisation for every configuration), chooses
the backend and wraps the per-trial outputs.  The CPU backend is
:mod:`saddle.kernels.cpu` (Numba); its GPU twin is :mod:`saddle.kernels.gpu`
(``backend="cupy"``: the CUDA C source ``escape.cu``, the same random streams),
which imports CuPy only when that backend is chosen.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from saddle.kernels.cpu import (CENSORED, CNC_PGD, DIVERGED, ESCAPED, FROZEN, GD, GE2015, MOMENTUM, NOISY_SGD, OCTOPUS,
                                PGD, QUADRATIC, SGD, SPIKE)
from saddle.kernels.gpu import BackendUnavailable  # noqa: F401 (re-exported: the cupy backend's error)
from saddle.manifolds import EUCLIDEAN, SPHERE, ProductSpheres, Sphere

BACKENDS = ("cpu", "cupy")
OPTIMIZERS = {"sgd": SGD, "gd": GD, "noisy-sgd": NOISY_SGD, "momentum": MOMENTUM, "pgd": PGD, "cnc-pgd": CNC_PGD}
OBJECTIVES = {"spike": SPIKE, "quadratic": QUADRATIC, "ge2015": GE2015, "octopus": OCTOPUS}
STATUS_NAMES = {ESCAPED: "escaped", CENSORED: "censored", DIVERGED: "diverged", FROZEN: "frozen"}


@dataclass
class TrialBlock:
    """Outputs of trials trial_start .. trial_start + n - 1 (one entry per trial)."""

    trial_start: int
    steps: np.ndarray  # int64: escape step, max_steps if censored, the step of divergence or of freezing
    status: np.ndarray  # int8: ESCAPED, CENSORED, DIVERGED or FROZEN (gd at an exact fixed point)
    final_f: np.ndarray  # float64: f at the last step
    final_u: np.ndarray = None  # float64 (n, d): the final points, when asked for
    drop_steps: np.ndarray = None  # int64: first step with f <= f(u_0) - delta, 0 if none (CPU backend)


@dataclass
class Recorder:
    """f(u_t) of the first n trials, at most ``points`` values each (step i * stride[r])."""

    f: np.ndarray
    count: np.ndarray
    stride: np.ndarray

    @classmethod
    def empty(cls, n_trials, points):
        return cls(np.full((n_trials, points), np.nan), np.zeros(n_trials, np.int64), np.ones(n_trials, np.int64))

    def trajectory(self, r):
        """(steps, f) of recorded trial r."""
        c = int(self.count[r])
        return np.arange(c, dtype=np.int64) * int(self.stride[r]), self.f[r, :c].copy()


def _start_code(random_start, start_perturbation):
    """The kernel's start argument: 0 (u0), a perturbation radius, or inf (uniform random)."""
    if random_start:
        return np.inf
    return float(start_perturbation)


def run_trials(objective, u0, *, optimizer, batch_size, eta, sigma_iso, delta, radius, max_steps, seed,
               trial_start, n_trials, recorder=None, backend="cpu", params=None, target=None, random_start=False,
               start_perturbation=0.0, keep_final_u=False):
    """Run n_trials escape trials of ``objective`` from u0 on ``backend``.

    ``params`` (:class:`saddle.optimizers.OptimizerParams`) carries the
    parameters of momentum, pgd and cnc-pgd; ``sigma_iso`` is noisy-sgd's.

    ``objective`` is one of the package's objectives (it provides ``name``,
    ``manifold`` and ``kernel_params()``).  Arguments are assumed validated
    (see :class:`saddle.escape.EscapeConfig`).  ``radius`` of None selects the
    f-drop criterion with ``delta``; a ``target`` makes escape f(u_t) <= target.
    ``random_start`` starts each trial at its own uniform point of the sphere
    (or product of spheres) instead of u0; ``start_perturbation`` r > 0 starts
    it at R_{u0}(r xi), xi a uniform unit tangent vector of its own;
    ``keep_final_u`` returns the final points in ``TrialBlock.final_u``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    from saddle import rng

    m_most = max(int(batch_size), int(getattr(params, "batch_after_drop", 0) or 0))
    rng.check_ranges(seed, int(trial_start) + int(n_trials), max_steps, m_most, max(m_most, 2) * len(u0))
    if backend == "cupy":  # the GPU twin (saddle/kernels/gpu.py); BackendUnavailable without CuPy or a GPU
        from saddle.kernels import gpu

        if start_perturbation:
            raise ValueError("perturbed starts (start_perturbation) are not supported on the GPU yet; "
                             "use the cpu backend")
        if params is not None and (params.lr_decay or params.batch_after_drop):
            raise ValueError("step-size and batch-size schedules (lr_decay, batch_after_drop) are not supported "
                             "on the GPU yet; use the cpu backend")

        return gpu.run_trials_cupy(objective, u0, optimizer=optimizer, batch_size=batch_size, eta=eta,
                                   sigma_iso=sigma_iso, delta=delta, radius=radius, max_steps=max_steps, seed=seed,
                                   trial_start=trial_start, n_trials=n_trials, recorder=recorder, params=params,
                                   target=target, random_start=random_start, keep_final_u=keep_final_u)
    from saddle.kernels import cpu

    functions = getattr(objective, "kernel_functions", None)
    if functions is None and objective.name not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective.name!r}; available: {', '.join(OBJECTIVES)}, "
                         "or a user objective with kernel_functions (docs/objectives.md)")
    pf, pa, pi = objective.kernel_params()
    manifold = SPHERE if isinstance(objective.manifold, (Sphere, ProductSpheres)) else EUCLIDEAN
    code = OBJECTIVES.get(objective.name, -1)
    kernel = cpu.kernel_for(code, OPTIMIZERS[optimizer]) if code in cpu.KERNELS else None
    if functions is not None:
        from saddle.kernels.custom import compile_kernel

        kernel = compile_kernel(*functions, block=objective.manifold.d)
        code = -1
    from saddle.optimizers import OptimizerParams

    params = OptimizerParams() if params is None else params
    po = dataclasses.replace(params, sigma_iso=float(sigma_iso)).as_array()
    steps = np.empty(n_trials, np.int64)
    status = np.empty(n_trials, np.int8)
    final_f = np.empty(n_trials, np.float64)
    final_u = np.empty((n_trials if keep_final_u else 0, len(u0)), np.float64)
    drop_steps = np.empty(n_trials, np.int64)
    if recorder is None:
        recorder = Recorder.empty(0, 2)
    kernel(
        np.int64(trial_start), np.uint64(seed), np.ascontiguousarray(u0, dtype=np.float64),
        np.int64(code), np.int64(manifold),
        np.ascontiguousarray(pf, dtype=np.float64), np.ascontiguousarray(pa, dtype=np.float64),
        np.ascontiguousarray(pi, dtype=np.int64), np.int64(OPTIMIZERS[optimizer]), np.int64(batch_size),
        float(eta), po, float(delta), 0.0 if radius is None else float(radius),
        np.nan if target is None else float(target), _start_code(random_start, start_perturbation),
        np.int64(max_steps), steps, status, final_f, drop_steps, final_u, recorder.f, recorder.count,
        recorder.stride,
    )
    return TrialBlock(trial_start, steps, status, final_f, final_u if keep_final_u else None, drop_steps)
