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

Two things are settled here, at import, before any kernel is compiled:

* :func:`check_environment` refuses Numba settings that Numba itself would
  answer with a traceback (``NUMBA_NUM_THREADS=abc``), before Numba reads them;
* :func:`cache_enabled` says whether Numba can store machine code anywhere
  (``NUMBA_CACHE_DIR``, the package's ``__pycache__`` folders, the user's cache
  folder).  Where it cannot, every kernel is compiled without the disk cache
  (each run compiles again) and one warning line says so on stderr.
"""

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

THREADING_LAYERS = ("default", "safe", "forksafe", "threadsafe", "tbb", "omp", "workqueue")
"""The values Numba accepts for NUMBA_THREADING_LAYER."""


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse Numba environment variables that Numba would answer with a traceback.

    Numba reads ``NUMBA_NUM_THREADS`` when it is imported: a value that is not an
    integer prints a warning with a traceback text and is ignored, and 0 or a
    negative count makes the import itself fail.  This check runs before Numba is
    imported (this module calls it first).

    Parameters
    ----------
    environ : mapping, optional
        The environment to check (default ``os.environ``).

    Raises
    ------
    ValueError
        With a one-line message naming the variable and its value.
    """
    environ = os.environ if environ is None else environ
    threads = environ.get("NUMBA_NUM_THREADS")
    if threads is not None:
        try:
            n = int(threads)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"NUMBA_NUM_THREADS must be a positive integer, got {threads!r}")
    layer = environ.get("NUMBA_THREADING_LAYER")
    if layer is not None and layer.lower() not in THREADING_LAYERS:
        raise ValueError(f"NUMBA_THREADING_LAYER must be one of {', '.join(THREADING_LAYERS)}, got {layer!r}")


check_environment()  # before Numba reads the variables

import numba  # noqa: E402

_PACKAGE = Path(__file__).resolve().parent


def _drop_stale_cache() -> None:
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


def _probe_cache() -> tuple[bool, str]:
    """Whether Numba finds a writable cache folder for every folder of the package that holds kernels.

    Asks Numba's own locator search (the one ``cache=True`` runs when a function is decorated) about a
    stand-in function in each folder: it tries ``NUMBA_CACHE_DIR``, the folder's ``__pycache__`` and the
    user-wide cache folder, creating each and writing a temporary file there.  Returns
    ``(True, "")`` or ``(False, reason)``.
    """
    try:
        from numba.core.caching import FunctionCache
    except ImportError:  # pragma: no cover - a Numba without this module: let Numba decide per function
        return True, ""
    folders = sorted({path.parent for path in _PACKAGE.rglob("*.py") if "__pycache__" not in path.parts})
    for folder in folders:
        source = next(iter(sorted(folder.glob("*.py"))))
        namespace: dict[str, Any] = {}
        exec(compile("def _saddle_cache_probe():\n    pass\n", str(source), "exec"), namespace)
        try:
            FunctionCache(namespace["_saddle_cache_probe"])
        except (RuntimeError, OSError) as err:
            return False, str(err).splitlines()[0] if str(err) else type(err).__name__
    return True, ""


_drop_stale_cache()
_CACHE_OK, _CACHE_REASON = _probe_cache()
if not _CACHE_OK:
    print(
        "saddle: warning: no writable Numba cache (NUMBA_CACHE_DIR, the package's __pycache__ and the user "
        "cache folder are not writable); compiling without the disk cache, so every run compiles again",
        file=sys.stderr,
        flush=True,
    )


def cache_enabled() -> bool:
    """Whether kernels are cached on disk (False where Numba has no writable cache folder; see the module)."""
    return _CACHE_OK


JIT_OPTIONS: dict[str, Any] = dict(cache=_CACHE_OK, nogil=True, error_model="numpy")

njit = numba.njit(**JIT_OPTIONS)
"""Decorator for serial kernel helpers (called from inside other kernels)."""

inline_njit = numba.njit(inline="always", **JIT_OPTIONS)
"""Decorator for the small per-step helpers: inlined into their callers at Numba's IR level, so that a
step makes no calls (Numba does not inline across its own functions otherwise: at m = 1 the calls cost
more than the arithmetic; benchmarks/kernel_anatomy.py).  Inlining changes no arithmetic."""


@numba.njit(parallel=True, cache=_CACHE_OK)
def _parallel_probe(n: int) -> int:
    total = 0
    for i in numba.prange(n):
        total += i
    return total


def threading_layer() -> str:
    """The threading layer Numba runs parallel kernels on (it is fixed by the first parallel loop run:
    a tiny one here, so that asking costs a second, not the escape kernel's compile)."""
    _parallel_probe(4)
    return numba.threading_layer()
