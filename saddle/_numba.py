"""The one place where saddle's Numba compilation options live.

Every kernel is compiled with these options.  ``fastmath`` is deliberately
left off: escape and divergence checks rely on ``isfinite`` and on IEEE
semantics, and the kernels must match the NumPy reference bit for bit.
``cache=True`` stores the machine code on disk so that a second run of the
main job does not compile again.

Numba invalidates a cached kernel only when the file that defines it changes,
not when a helper it calls from another file does.  ``_drop_stale_cache``
therefore fingerprints every source file of the package at import and removes
the package's cached machine code when any of them changed since it was
written, so an edited objective or generator is always recompiled.
"""

import hashlib
import os
from pathlib import Path

import numba

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")

_PACKAGE = Path(__file__).resolve().parent


def _drop_stale_cache():
    sources = sorted(_PACKAGE.rglob("*.py"))
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    stamp = _PACKAGE / "__pycache__" / "numba-sources.sha256"
    fingerprint = digest.hexdigest()
    try:
        if stamp.exists() and stamp.read_text() == fingerprint:
            return
        for cached in list(_PACKAGE.rglob("__pycache__/*.nbi")) + list(_PACKAGE.rglob("__pycache__/*.nbc")):
            cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        tmp.write_text(fingerprint)
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only install: Numba then caches elsewhere, keyed by the installed files


_drop_stale_cache()

njit = numba.njit(**JIT_OPTIONS)
"""Decorator for serial kernel helpers (called from inside other kernels)."""

inline_njit = numba.njit(inline="always", **JIT_OPTIONS)
"""Decorator for the small per-step helpers: inlined into their callers at Numba's IR level, so that a
step makes no calls (Numba does not inline across its own functions otherwise: at m = 1 the calls cost
more than the arithmetic; benchmarks/kernel_anatomy.py).  Inlining changes no arithmetic."""

parallel_njit = numba.njit(parallel=True, **JIT_OPTIONS)
"""Decorator for the outer kernels that loop over trials with ``prange``."""
