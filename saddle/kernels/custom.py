"""User-defined objectives in the same fast kernel, without editing the package.

A user objective supplies two Numba functions with the signatures the kernel
calls once per step (see docs/objectives.md):

    value(objective, u, pf, pa, pi, work) -> float
    gradient(objective, optimizer, u, pf, pa, pi, key0, key1, t, m, z, x, block, g) -> None

``compile_kernel`` builds the kernel with :func:`saddle.kernels.cpu.specialise`,
exactly as for the built-in objectives: the very same source of
``run_trial`` and ``escape_trials``, its calls to ``objective_value`` and
``gradient`` bound to the user's functions.  The copy is compiled once per process and
per pair of functions (Numba's disk cache is keyed by source file, so these
copies are not cached on disk: expect a few seconds of compilation per run).
"""

import numba

from saddle._numba import JIT_OPTIONS
from saddle.kernels import cpu

_COMPILED = {}


def compile_kernel(value, gradient, block):
    """The escape kernel with the user's value and gradient functions (memoised per process).

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
        _COMPILED[key] = cpu.specialise(f"user{len(_COMPILED)}", value, gradient, block_size, cache=False)
    return _COMPILED[key]
