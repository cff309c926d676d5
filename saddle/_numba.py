"""The one place where saddle's Numba compilation options live.

Every kernel is compiled with these options.  ``fastmath`` is deliberately
left off: escape and divergence checks rely on ``isfinite`` and on IEEE
semantics, and the kernels must match the NumPy reference bit for bit.
``cache=True`` stores the machine code on disk so that a second run of the
main job does not compile again.
"""

import numba

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")

njit = numba.njit(**JIT_OPTIONS)
"""Decorator for serial kernel helpers (called from inside other kernels)."""

parallel_njit = numba.njit(parallel=True, **JIT_OPTIONS)
"""Decorator for the outer kernels that loop over trials with ``prange``."""
