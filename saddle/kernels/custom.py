"""User-defined objectives in the same fast kernel, without editing the package.

A user objective supplies two Numba functions with the signatures the kernel
calls once per step (see docs/objectives.md):

    value(objective, u, pf, pa, pi, work) -> float
    gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g) -> None

``compile_kernel`` builds a private copy of :func:`saddle.kernels.cpu.run_trial`
and :func:`saddle.kernels.cpu.escape_trials` - the very same source - whose
calls to ``objective_value`` and ``gradient`` go to the user's functions
instead of the built-in dispatch.  The copy is compiled once per process and
per pair of functions (Numba's disk cache is keyed by source file, so these
copies are not cached on disk: expect a few seconds of compilation per run).
"""

import types

import numba

from saddle._numba import JIT_OPTIONS
from saddle.kernels import cpu

_COMPILED = {}


def _rebind(func, **names):
    """A copy of a plain Python function whose global names in ``names`` are replaced."""
    glb = dict(func.__globals__)
    glb.update(names)
    return types.FunctionType(func.__code__, glb, func.__name__, func.__defaults__, func.__closure__)


def compile_kernel(value, gradient, block):
    """The escape kernel with the user's value and gradient functions (memoised).

    Parameters
    ----------
    value, gradient : numba dispatchers (functions decorated with numba.njit)
    block : int
        Length of each sphere block of the state: d on S^{d-1} (and on R^d,
        where it is ignored), d for a product of spheres with d x k state.
    """
    key = (value, gradient, int(block))
    if key not in _COMPILED:
        options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
        bs = int(block)
        block_size = numba.njit(**options)(lambda objective, n, pi: bs)
        run_trial = numba.njit(**options)(
            _rebind(cpu.run_trial.py_func, objective_value=value, gradient=gradient, block_size=block_size)
        )
        escape = numba.njit(parallel=True, **options)(_rebind(cpu.escape_trials.py_func, run_trial=run_trial))
        _COMPILED[key] = escape
    return _COMPILED[key]
