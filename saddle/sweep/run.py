"""Running a sweep: every cell not yet stored, in this process or on a Dask cluster, stored as it finishes.

Dask is optional (``pip install 'saddle[cluster]'``): ``workers`` starts a LocalCluster of worker
processes, ``scheduler`` connects to a running cluster.  Before Dask is asked to connect, the
scheduler's address is probed: it must accept a TCP connection and send a Dask handshake within
:data:`CONNECT_TIMEOUT` seconds, or the sweep is refused in one line (an address where nothing
listens, a server of another protocol, or a listener that never answers).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.options import ConfigError, StatisticsError
from saddle.records import MResult
from saddle.store.sweep import SweepFolder, SweepResult
from saddle.sweep.config import Cell, SweepConfig

__all__ = [
    "CONNECT_TIMEOUT",
    "SweepInterrupted",
    "dask_client",
    "probe_scheduler",
    "run_cell",
    "run_sweep",
]

CONNECT_TIMEOUT = 10.0
"""Seconds a Dask scheduler has to accept the connection and answer its handshake."""
_HANDSHAKE_MAX_BYTES = 1 << 20  # a Dask handshake is a few hundred bytes


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C: ``kept`` of ``total`` cells are stored in ``out``."""

    def __init__(self, kept: int, total: int, out: Path, computed: list[str]) -> None:
        super().__init__()
        self.kept = kept
        self.total = total
        self.out = out
        self.computed = computed


# ----------------------------------------------------------------------------- running cells


STATISTICS_FAILED = "_statistics_failed"
"""The key a cell's summary row carries (and the store takes out, :func:`take_statistics_failure`) when
its statistics failed: its trials are kept, its statistics left empty."""


def run_cell(config: EscapeConfig, threads: int | None = None) -> tuple[MResult, dict[str, Any]]:
    """Run one cell (an EscapeConfig with one batch size): its MResult and summary row.

    Where its statistics fail (a StatisticsError after the trials ran), the trials are returned all the
    same, with the statistics left empty and the reason under :data:`STATISTICS_FAILED` in the row."""
    try:
        res = run_escape(config, threads=threads, progress=False)  # (the sweep shows its own progress)
    except StatisticsError as err:
        if err.partial is None or not err.partial.summary:
            raise
        m = config.m[0]
        return err.partial.by_m[m], {**err.partial.summary[0], STATISTICS_FAILED: err.reason or str(err)}
    m = config.m[0]
    return res.by_m[m], res.summary[0]


def take_statistics_failure(row: dict[str, Any]) -> str | None:
    """The reason a cell's statistics failed (taken out of its row), or None."""
    return row.pop(STATISTICS_FAILED, None)


def _worker_threads(threads: int | None) -> int:
    """Numba threads for a cell on a Dask worker: ``threads``, or the worker's cores per task slot."""
    import numba

    if threads is not None:
        return max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    try:
        from distributed import get_worker

        slots = int(get_worker().state.nthreads)
    except Exception:  # noqa: BLE001 (not on a worker, or an older distributed)
        slots = 1
    return max(1, numba.config.NUMBA_NUM_THREADS // max(1, slots))  # type: ignore[attr-defined]


def _run_cell_task(config: EscapeConfig, threads: int | None) -> tuple[MResult, dict[str, Any]]:
    """The Dask task: run one cell on a worker."""
    return run_cell(config, _worker_threads(threads))


def _prepare_worker(threads: int | None) -> int:
    """Load (or compile) the escape kernel once per process (each Dask worker, or this one), before any cell."""
    import numba

    if threads is None and _on_dask_worker():
        threads = _worker_threads(None)
    run_cell(EscapeConfig(m=(1,), d=2, trials=1, max_steps=1, record_trials=0), threads)
    return numba.get_num_threads()


def _on_dask_worker() -> bool:
    if "distributed" not in sys.modules:  # a Dask worker has imported it; this process need not
        return False
    try:
        from distributed import get_worker

        get_worker()
        return True
    except Exception:  # noqa: BLE001 (distributed not installed, or not on a worker)
        return False


def dask_setup(worker: Any = None) -> None:
    """Dask preload hook of the local workers: leave Ctrl-C to the main process.

    Ctrl-C in a terminal reaches every process of the foreground group; the
    main process stores what finished and shuts the cluster down, so the
    workers ignore SIGINT instead of printing their own tracebacks.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _split_address(address: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a Dask address; None for a scheme that is not probed (tls, ucx, inproc)."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme != "tcp":
        return None
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--scheduler {address!r} is not an address of the form tcp://HOST:PORT")
    return scheme, host, int(port)


def _receive(sock: socket.socket, n: int, deadline: float, address: str, timeout: float) -> bytes:
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            raise ConfigError(f"{address} is not a Dask scheduler: it closed the connection without a Dask handshake")
        data += chunk
    return data


def probe_scheduler(address: str, timeout: float | None = None) -> None:
    """Check that a Dask scheduler answers at ``address`` within ``timeout`` seconds (default CONNECT_TIMEOUT).

    A scheduler sends its handshake (one framed message: an 8-byte length, a frame count and frame
    lengths, then the frames) as soon as it accepts a connection; anything else within the timeout is
    not a scheduler.  Raises ConfigError with one line otherwise.  Only tcp:// addresses are probed.
    """
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    parts = _split_address(address)
    if parts is None:
        return
    _, host, port = parts
    deadline = time.monotonic() + timeout
    where = f"the Dask scheduler at {address}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise ConfigError(f"cannot connect to {where}: no connection within {timeout:g} s") from None
    except OSError as err:
        raise ConfigError(f"cannot connect to {where}: {err.strerror or err}") from None
    try:
        with sock:
            (size,) = struct.unpack("Q", _receive(sock, 8, deadline, address, timeout))
            if not 16 <= size <= _HANDSHAKE_MAX_BYTES:
                raise ConfigError(f"{address} is not a Dask scheduler: it answered with something else")
            body = _receive(sock, size, deadline, address, timeout)
            (frames,) = struct.unpack_from("Q", body)
            if not 1 <= frames <= 64 or 8 * (1 + frames) > size:
                raise ConfigError(f"{address} is not a Dask scheduler: it answered with something else")
    except TimeoutError:
        raise ConfigError(
            f"cannot connect to {where}: it accepted the connection but sent no Dask handshake "
            f"within {timeout:g} s (not a Dask scheduler, or not answering)"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot connect to {where}: {err.strerror or err}") from None


@contextlib.contextmanager
def dask_client(
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    connect_timeout: float | None = None,
) -> Iterator[Any]:
    """A distributed.Client: a LocalCluster of ``workers`` processes, or the cluster at ``scheduler``.

    The local workers have one task slot each and NUMBA_NUM_THREADS = ``threads``
    (default 1), so that N workers use N cores without oversubscription.  A scheduler
    must answer within ``connect_timeout`` seconds (default CONNECT_TIMEOUT; see
    :func:`probe_scheduler`).
    """
    try:
        import distributed
    except ModuleNotFoundError:
        raise ConfigError("--workers and --scheduler need Dask: pip install 'saddle[cluster]'") from None
    import logging

    timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    cluster = None
    try:
        if scheduler is not None:
            probe_scheduler(scheduler, timeout)
            try:
                client = distributed.Client(scheduler, timeout=f"{timeout}s")
            except (OSError, TimeoutError, ValueError, MemoryError) as err:
                raise ConfigError(
                    f"cannot connect to the Dask scheduler at {scheduler}: "
                    f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                ) from None
        else:
            n_threads = 1 if threads is None else threads
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                env={"NUMBA_NUM_THREADS": str(n_threads)},
                preload=["saddle.sweep.run"],
            )
            client = distributed.Client(cluster)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                client.close()
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                cluster.close()


def _check_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError("--workers and --scheduler need Dask: pip install 'saddle[cluster]'") from None


def run_sweep(
    sweep: SweepConfig | str | Path,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    progress: bool = False,
    on_cell: Callable[[Cell, dict[str, Any]], None] | None = None,
    connect_timeout: float | None = None,
) -> SweepResult:
    """Run every cell of ``sweep`` not yet stored in its results folder, storing each as it finishes.

    Parameters
    ----------
    sweep : SweepConfig or str or path
        The sweep, or the path of its TOML file.
    out : str or path, optional
        Results folder (default: the config's ``out``, else saddle-results/sweep-<name>).
    workers : int, optional
        Run the cells on a Dask LocalCluster of this many worker processes.
    scheduler : str, optional
        Run the cells on the Dask cluster at this address (tcp://HOST:PORT).
    threads : int, optional
        Numba threads per cell (default: all cores in-process; 1 per local worker;
        a remote worker's cores divided by its task slots).
    progress : bool
        A tqdm bar over cells on stderr, showing the current cell's parameters.
    on_cell : callable, optional
        Called as ``on_cell(cell, summary_row)`` after each cell is stored.
    connect_timeout : float, optional
        Seconds the scheduler has to answer (default :data:`CONNECT_TIMEOUT`, 10 s).

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepInterrupted
        On Ctrl-C; every cell finished before it is stored.
    ConfigError
        For every refusal (a one-line message), before anything is written: an invalid sweep, a folder
        that another run holds, that holds other files or another sweep, a stored table that does not
        match its checksum, a scheduler that does not answer.
    saddle.store.StoreError
        When the machine refuses a write (disk full, permissions): one line naming the file and what
        stays stored.
    """
    if not isinstance(sweep, SweepConfig):
        sweep = SweepConfig.from_toml(sweep)
    cells = sweep.cells()
    if workers is not None and scheduler is not None:
        raise ConfigError("give either workers (a local cluster) or a scheduler address, not both")
    if workers is not None:
        workers = _int_option("workers", workers)
    if threads is not None:
        threads = _int_option("threads", threads)
    if workers is not None or scheduler is not None:
        _check_dask()
    elif threads is not None:
        import numba

        most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        if threads > most:
            raise ConfigError(f"threads must be <= {most} (NUMBA_NUM_THREADS), got {threads}")
    if scheduler is not None:  # before the folder is touched: a scheduler that does not answer writes nothing
        probe_scheduler(scheduler, connect_timeout)
    folder = SweepFolder.open(SweepFolder.checked_path(out) if out is not None else sweep.default_out(), sweep)
    computed: list[str] = []
    failed: list[tuple[str, str]] = []  # (cell, why its statistics failed): stored, statistics empty
    reused: list[str] = []
    todo: list[Cell] = []
    interrupted = False
    bar = None

    def finished(cell: Cell, mres: MResult, row: dict[str, Any]) -> None:
        failure = take_statistics_failure(row)
        folder.store(cell, mres, row)
        if failure is not None:
            failed.append((cell.key, failure))
        computed.append(cell.key)
        if bar is not None:
            bar.update(1)
        if on_cell is not None:
            on_cell(cell, row)

    try:
        try:
            for cell in cells:
                if folder.load(cell):
                    reused.append(cell.key)
                else:
                    todo.append(cell)
            folder.record_legacy()
            if todo:
                folder.require_writable(f"{len(todo)} of its {len(cells)} cells are not stored yet")
            folder.write_tables()
            if progress and todo:
                from tqdm import tqdm

                bar = tqdm(
                    total=len(cells),
                    initial=len(cells) - len(todo),
                    unit="cell",
                    desc=sweep.name,
                    leave=False,
                    file=sys.stderr,
                )
            if todo and (workers is not None or scheduler is not None):
                _run_on_dask(todo, workers, scheduler, threads, bar, finished, connect_timeout)
            elif todo:
                _prepare_worker(threads)  # compile (or load) the kernel first: no cell's wall time includes it
                for cell in todo:
                    if bar is not None:
                        bar.set_postfix_str(cell.label(), refresh=True)
                    finished(cell, *run_cell(cell.config, threads))
        except KeyboardInterrupt:
            interrupted = True
        try:
            folder.write_tables()
        except KeyboardInterrupt:  # held until the tables were written whole
            interrupted = True
    finally:
        if bar is not None:
            bar.close()
        folder.close()
    if interrupted:
        raise SweepInterrupted(len(folder.tidy.chunks), len(cells), folder.path, computed)
    if failed:
        keys = ", ".join(key for key, _ in failed)
        raise StatisticsError(
            f"computing the statistics of {len(failed)} cell(s) failed ({failed[0][1]}); their trials are stored "
            f"in {folder.path} with empty statistics (cells {keys}): delete a cell's folder under cells/ and run "
            "the sweep again to recompute it",
            reason=failed[0][1],
        )
    return SweepResult(sweep, folder.path, computed, reused)


def _int_option(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _run_on_dask(
    todo: list[Cell],
    workers: int | None,
    scheduler: str | None,
    threads: int | None,
    bar: Any,
    finished: Callable[[Cell, MResult, dict[str, Any]], None],
    connect_timeout: float | None,
) -> None:
    from distributed import as_completed

    with dask_client(workers, scheduler, threads, connect_timeout) as client:
        client.run(_prepare_worker, threads)
        futures = {}
        for cell in todo:
            fut = client.submit(_run_cell_task, cell.config, threads, key=f"saddle-cell-{cell.key}", pure=False)
            futures[fut] = cell
        try:
            for fut, (mres, row) in as_completed(futures, with_results=True):
                cell = futures.pop(fut)
                if bar is not None:
                    bar.set_postfix_str(f"last: {cell.label()}", refresh=False)
                finished(cell, mres, row)
                fut.release()
        finally:
            if futures:
                with contextlib.suppress(Exception, KeyboardInterrupt):
                    client.cancel(list(futures))
