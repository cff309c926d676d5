"""Sweeps: a grid of escape configurations, run cell by cell into one resumable results folder.

One module per job:

- :mod:`saddle.sweep.config` — the TOML file, :class:`SweepConfig`, its cells, their keys and seeds;
- :mod:`saddle.sweep.run` — :func:`run_sweep`, in-process or on Dask;
- the folder is :mod:`saddle.store.sweep`'s (:class:`SweepFolder`, the tidy tables, :func:`read_table`,
  :class:`SweepResult`), on the shared results folder of :mod:`saddle.store`;
- the figures are :mod:`saddle.plotting.sweep`'s (:func:`plot_sweep`, which imports Matplotlib only when
  called).

Everything is re-exported here.  See docs/sweeps.md for the config file, the folder layout and the
guarantees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from saddle.plotting.sweep import figure_title, plot_sweep
    from saddle.store.sweep import RENAMED, SweepFolder, SweepResult, cell_files, load_sweep, read_table
    from saddle.sweep.run import (
        CONNECT_TIMEOUT,
        SweepInterrupted,
        dask_client,
        dask_setup,
        probe_scheduler,
        run_cell,
        run_sweep,
    )

_RUN = ("CONNECT_TIMEOUT", "SweepInterrupted", "dask_client", "dask_setup", "probe_scheduler", "run_cell", "run_sweep")
_FOLDER = ("RENAMED", "SweepFolder", "SweepResult", "cell_files", "load_sweep", "read_table")
_FIGURES = ("figure_title", "plot_sweep")

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
    # The runner, the folder and the figures are imported when first asked for, as saddle/__init__.py does
    # for run_escape.  saddle.store.sweep (below the runner) imports saddle.sweep.config, and importing that
    # runs this file first: importing the runner here would import saddle.store.sweep again while it is
    # half-imported (tests/test_architecture.py imports every module first).  Matplotlib waits too.
    if name in _RUN:
        from saddle.sweep import run

        return getattr(run, name)
    if name in _FOLDER:
        from saddle.store import sweep as folder

        return getattr(folder, name)
    if name in _FIGURES:
        from saddle.plotting import sweep as figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
