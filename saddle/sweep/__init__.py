"""Sweeps: a grid of escape configurations, run cell by cell into one resumable results folder.

One module per job:

- :mod:`saddle.sweep.config` — the TOML file, :class:`SweepConfig`, its cells, their keys and seeds;
- :mod:`saddle.sweep.store` — :class:`SweepFolder` (on the shared results store, :mod:`saddle.store`)
  and the tidy tables;
- :mod:`saddle.sweep.run` — :func:`run_sweep`, in-process or on Dask;
- the figures are :mod:`saddle.plotting.sweep`'s (:func:`plot_sweep`, re-exported here, imports
  Matplotlib only when called).

See docs/sweeps.md for the config file, the folder layout and the guarantees.
"""

from __future__ import annotations

from typing import Any

from saddle.sweep.config import (
    KEY_ALWAYS,
    KEY_DIGITS,
    KEY_EXCLUDED,
    MAX_CELLS,
    Cell,
    SweepConfig,
    cell_key,
    cell_options,
    cell_seed,
    parameters,
)
from saddle.sweep.run import (
    CONNECT_TIMEOUT,
    SweepInterrupted,
    SweepResult,
    dask_client,
    dask_setup,
    probe_scheduler,
    run_cell,
    run_sweep,
)
from saddle.sweep.store import RENAMED, SweepFolder, cell_files, load_sweep, read_table

__all__ = [
    "CONNECT_TIMEOUT",
    "Cell",
    "KEY_ALWAYS",
    "KEY_DIGITS",
    "KEY_EXCLUDED",
    "MAX_CELLS",
    "RENAMED",
    "SweepConfig",
    "SweepFolder",
    "SweepInterrupted",
    "SweepResult",
    "cell_files",
    "cell_key",
    "cell_options",
    "cell_seed",
    "dask_client",
    "dask_setup",
    "figure_title",
    "load_sweep",
    "parameters",
    "plot_sweep",
    "probe_scheduler",
    "read_table",
    "run_cell",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    # The figures live in saddle.plotting.sweep (Matplotlib is imported only when they are drawn).
    if name in ("plot_sweep", "figure_title"):
        from saddle.plotting import sweep as plotting_sweep

        return getattr(plotting_sweep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
