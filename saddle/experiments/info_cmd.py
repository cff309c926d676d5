"""``info``: versions, threading layer and thread count, the Numba cache, GPU availability."""

from __future__ import annotations

import argparse

from saddle.experiments.common import Parser

HELP = "versions, threading layer and thread count, the Numba cache, and whether CuPy and a GPU are available"


def _distribution_version(name: str) -> str:
    """A package's installed version without importing it (importlib.metadata)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    return sub.add_parser("info", help=HELP, description=HELP + ".")


def run(args: argparse.Namespace) -> int:
    from saddle import _numba  # first: it refuses bad NUMBA_ variables before Numba reads them

    cache = _numba.cache_enabled()
    import importlib.util
    import platform

    import numba
    import numpy
    import scipy

    import saddle

    print(f"saddle      {saddle.__version__}")
    print(f"python      {platform.python_version()} ({platform.platform()})")
    print(f"numpy       {numpy.__version__}")
    print(f"scipy       {scipy.__version__}")
    print(f"matplotlib  {_distribution_version('matplotlib')}")
    print(f"numba       {numba.__version__}")
    print("cache       " + ("on disk" if cache else "off: no writable Numba cache folder, every run compiles again"))
    layer = numba.config.THREADING_LAYER  # type: ignore[attr-defined]  # numba.config sets its options at import
    try:  # running a parallel loop fixes the threading layer: a tiny one, not the escape kernel
        layer = _numba.threading_layer()
    except Exception as err:  # pragma: no cover - only informative
        layer = f"{layer} (could not start: {err})"
    print(f"threading   {layer}")
    configured = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # as THREADING_LAYER
    print(f"threads     {numba.get_num_threads()} (of NUMBA_NUM_THREADS = {configured})")
    if importlib.util.find_spec("cupy") is None:
        print("cupy        not installed (pip install 'saddle[gpu]')")
    else:
        try:
            import cupy

            n = cupy.cuda.runtime.getDeviceCount()
            print(f"cupy        {cupy.__version__}, {n} GPU(s)")
        except Exception as err:
            print(f"cupy        installed, no usable GPU ({str(err).splitlines()[0]})")
    return 0
