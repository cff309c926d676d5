"""What every command shares: one-line usage errors, exit codes, argument types, a run's name."""

import argparse
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2
EXIT_OUTPUT = 1
"""The exit status when the command's own output (stdout) could not be written: closed, full, a broken pipe."""
EXIT_INTERRUPTED = 130


class OutputError(OSError):
    """stdout could not be written (closed, full, a reader gone); whatever the command stored is kept."""


def say(line: str) -> None:
    """One diagnostic line on stderr.  A closed or full stderr loses the line but never stops a run:
    progress and warnings are not what the command is for."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):  # ValueError: a closed file object
        pass


def emit(text: str) -> None:
    """The command's own output on stdout, flushed now, so that a closed or full stdout (or a reader that
    went away) raises :class:`OutputError` here, where the caller knows what was kept."""
    stream = sys.stdout
    if stream is None:
        raise OutputError("stdout is closed")
    try:
        print(text, file=stream, flush=True)
    except OutputError:
        raise
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot write to stdout: {getattr(err, 'strerror', None) or err}") from None


class GuardedStdout:
    """``sys.stdout`` while a command runs (:func:`saddle.experiments.cli.main`): the stream it wraps, whose
    failed writes and flushes (closed, full, a reader gone) are :class:`OutputError`; ``None`` for a closed one."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.error: OutputError | None = None  # the first failure (argparse's help swallows the exception)

    def _failed(self, err: Exception | None) -> OutputError:
        failure = OutputError(
            "stdout is closed" if err is None else f"cannot write to stdout: {getattr(err, 'strerror', None) or err}"
        )
        self.error = self.error or failure
        return failure

    def write(self, text: str) -> int:
        if self.stream is None:
            raise self._failed(None)
        try:
            return int(self.stream.write(text))
        except (OSError, ValueError) as err:
            raise self._failed(err) from None

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError) as err:
            raise self._failed(err) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class UsageError(Exception):
    """A command-line error: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (raised as UsageError, printed by main)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def integer(text: str) -> int:
    """argparse type: an integer."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None


def fmt_steps(value: float, lower_bound: bool = False) -> str:
    """A step count for the tables: '>N' for a lower bound (stored as N + 1), 'inf' for an open interval end."""
    if lower_bound:
        return f">{value - 1:.0f}"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.0f}"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--name``, ``--tag`` (repeatable) and ``--note``: what the run is called, stored in its folder's
    run.json (saddle.store.runs) and shown by ``list``."""
    group = parser.add_argument_group("naming the run (stored in the folder's run.json; list DIR shows them)")
    group.add_argument(
        "--name",
        default=None,
        help="a name for the run; given to a folder that has one, it replaces it (the numbers never change)",
    )
    group.add_argument(
        "--tag",
        action="append",
        default=None,
        metavar="TAG",
        help="a tag (repeatable); the tags given replace the stored ones",
    )
    group.add_argument("--note", default=None, help="a line of text about the run")


def naming(args: argparse.Namespace) -> bool:
    """Whether the command line names the run (``--name``, ``--tag`` or ``--note``); checks them first
    (ConfigError, one line, for an empty or multi-line one), before anything runs."""
    from saddle.store.runs import check_run_text

    given = any(getattr(args, k, None) is not None for k in ("name", "tag", "note"))
    if given:
        check_run_text(args.name, args.tag, args.note)
    return given


def name_run(args: argparse.Namespace, out: Path, kept: str) -> None:
    """Write the run's name, tags and note into ``out``/run.json, where the command line gives them;
    a write the machine refuses is a StoreError saying that ``kept`` (what is stored) stays stored."""
    from saddle.store import StoreError
    from saddle.store.runs import write_run_info

    if not naming(args):
        return
    try:
        write_run_info(out, name=args.name, tags=args.tag, note=args.note)
    except StoreError as err:
        raise StoreError(f"{err}; {kept}", err.errno_) from None


def name_interrupted_run(args: argparse.Namespace, out: Path) -> None:
    """:func:`name_run` for a run stopped by Ctrl-C that kept something: a name that cannot be written then
    is left unwritten (the line about what was kept matters more; the rerun that resumes names it)."""
    try:
        name_run(args, out, "")
    except (OSError, ValueError):
        pass
