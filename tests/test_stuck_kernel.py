"""Ctrl-C against a kernel that never returns (a loaded objective's endless loop: the kernel polls its
stop flag between steps, so code inside a step that never ends cannot see it).  The first Ctrl-C waits a
moment for the kernel, then says so in one line; a second stops the wait, and the command line exits
with 130 without waiting for the thread left running.  A kernel here is plain Python (no compile)."""

from __future__ import annotations

import _thread
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from saddle.kernels import cpu
from tests.test_failure_modes import REPO_ROOT


class _Outputs:
    def __init__(self) -> None:
        self.stop = np.zeros(1, np.int64)


@pytest.fixture(autouse=True)
def _sigint_raises():
    """Ctrl-C raises KeyboardInterrupt here even where the tests were started with SIGINT ignored (a
    background job), which would make interrupt_main do nothing."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _interrupt_after(seconds: float) -> None:
    threading.Timer(seconds, _thread.interrupt_main).start()


def test_a_kernel_that_sees_the_stop_flag_returns_and_the_interrupt_is_raised(monkeypatch):
    out = _Outputs()
    seen = []

    def kernel(lo, hi, out):  # polls the flag, as the compiled kernels do every step
        while hi > lo and out.stop[0] == 0:
            time.sleep(0.01)
        seen.append((lo, hi))

    _interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        cpu.run_parallel(kernel, 4, out)
    assert out.stop[0] == 1 and (0, 4) in seen
    assert not cpu.kernels_stuck()


def test_a_kernel_that_never_returns_is_named_and_a_second_interrupt_leaves_it(monkeypatch, capsys):
    monkeypatch.setattr(cpu, "STOP_GRACE", 0.3)
    monkeypatch.setattr(cpu, "_STUCK", [])
    release = threading.Event()

    def kernel(lo, hi, out):  # ignores the flag (an endless loop inside a step)
        while hi > lo and not release.is_set():
            time.sleep(0.01)

    _interrupt_after(0.2)  # the first Ctrl-C; the second comes after the line below
    _interrupt_after(1.2)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            cpu.run_parallel(kernel, 4, _Outputs())
        assert time.monotonic() - started < 5
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "has not stopped" in err[0] and "Ctrl-C again" in err[0], err
        assert cpu.kernels_stuck()
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while cpu.kernels_stuck() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not cpu.kernels_stuck()


def test_the_command_line_exits_without_waiting_for_a_stuck_kernel():
    """python -m saddle.experiments with a command whose kernel thread is left running (as after a second
    Ctrl-C): the process ends at once with the command's status instead of hanging at exit."""
    script = textwrap.dedent(
        """
        import runpy, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from saddle.kernels import cpu
        from saddle.experiments import cli

        def stuck_command(argv=None):
            pool = ThreadPoolExecutor(1)
            cpu._STUCK.append(pool.submit(time.sleep, 3600))  # a worker that never returns
            pool.shutdown(wait=False)
            return 130

        cli.main = stuck_command
        sys.argv = ["saddle.experiments", "info"]
        runpy.run_module("saddle.experiments", run_name="__main__")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr


def test_a_ctrl_c_while_python_shuts_down_after_the_command_is_ignored():
    """After the command has said everything, Python takes a second or so to shut down (after a frontier):
    a Ctrl-C then killed the process silently with status -2.  Now it is ignored and the status is the
    command's own.  (A real SIGINT is sent from an exit handler, which runs while Python shuts down.)"""
    script = textwrap.dedent(
        """
        import atexit, os, runpy, signal, sys
        def at_exit():  # (Python resets a handler of its own to the default later in its shutdown, not SIG_IGN)
            print("SIGINT ignored" if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else "SIGINT handled")
            os.kill(os.getpid(), signal.SIGINT)
        atexit.register(at_exit)
        sys.argv = ["saddle.experiments", "--version"]
        runpy.run_module("saddle.experiments", run_name="__main__")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # (as from a terminal)
    )
    assert proc.returncode == 0 and proc.stdout.startswith("saddle "), (proc.returncode, proc.stderr)
    assert proc.stdout.strip().endswith("SIGINT ignored"), proc.stdout
