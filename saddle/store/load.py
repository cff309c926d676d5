"""``saddle.load``: a results folder of either kind read back, by what its marker file says it holds."""

from __future__ import annotations

from pathlib import Path

from saddle.frontier.result import FrontierResult
from saddle.options import ConfigError
from saddle.records import EscapeResult
from saddle.store.escape import load_escape
from saddle.store.folder import LinkError, folder_kind
from saddle.store.frontier import load_frontier
from saddle.store.sweep import SweepResult, load_sweep

__all__ = ["load"]


def load(path: str | Path) -> EscapeResult | SweepResult | FrontierResult:
    """A results folder read back, read-only, checksums verified: an escape run's folder as the
    :class:`~saddle.records.EscapeResult` of ``run_escape``, a sweep's as the
    :class:`~saddle.store.sweep.SweepResult` of ``run_sweep``, a frontier's as the
    :class:`~saddle.frontier.result.FrontierResult` of ``run_frontier``.

    Raises ConfigError (one line) for a path that is missing, not a folder, empty or not saddle's,
    and for a damaged folder.
    """
    folder = Path(path)
    if not folder.exists():
        raise ConfigError(f"no such folder: {str(folder)!r}")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a results folder")
    try:
        kind = folder_kind(folder)
    except LinkError:
        raise
    except ConfigError as err:
        raise ConfigError(str(err).replace("; choose another --out (an empty or new folder)", "")) from None
    if kind is None:
        raise ConfigError(f"{folder} is empty: it holds no saddle results")
    if kind == "sweep":
        return load_sweep(folder)
    if kind == "frontier":
        return load_frontier(folder)
    return load_escape(folder)
