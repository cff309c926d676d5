"""The command line, ``python -m saddle.experiments [--load FILE] COMMAND``: a thin layer over the Python API.

The ``saddle`` console script is the same command line (``saddle escape ...``, ``saddle --version``;
:func:`saddle.experiments.console`).  Each command lives in its own module with ``add_parser(subparsers)`` and
``run(args)``; ``COMMANDS`` lists them.  ``--load FILE`` (repeatable, anywhere on
the line) imports a Python file that registers objectives of its own before the
options are read, so ``--objective NAME`` and its options accept them.  Every
user error ends with one line on stderr and exit status 2; Ctrl-C during a run
ends with one line saying what was kept, and exit status 130.
"""

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from saddle.experiments.common import (
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_USAGE,
    GuardedStdout,
    OutputError,
    Parser,
    UsageError,
    emit,
    say,
)
from saddle.options import ConfigError, StatisticsError
from saddle.store import StoreError

COMMANDS = {
    # name: module in saddle.experiments
    "escape": "escape_cmd",
    "theory": "theory_cmd",
    "info": "info_cmd",
    "sweep": "sweep_cmd",
    "frontier": "frontier_cmd",
    "plot": "plot_cmd",
    "list": "list_cmd",
}
PROG = "python -m saddle.experiments"
"""How the command line is named in its usage and error lines (the console script: ``saddle``)."""


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"saddle.experiments.{COMMANDS[name]}")


def build_parser(prog: str = PROG) -> Parser:
    from saddle._version import __version__

    modules = {name: _module(name) for name in COMMANDS}
    parser = Parser(
        prog=prog,
        description="saddle: how mini-batch SGD escapes saddle points, measured.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"saddle {__version__}")
    parser.add_argument(
        "--load",
        metavar="FILE",
        action="append",
        help="import a Python file that registers objectives of its own (docs/objectives.md); "
        "repeatable, anywhere on the line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, title="commands")
    for module in modules.values():
        module.add_parser(sub)
    return parser


class UserCodeError(ValueError):
    """An error raised by the code of a ``--load`` file, with its place (exit status 2, one line)."""


def _load_objectives(argv: list[str]) -> list[str]:
    """Import every ``--load FILE`` (saddle.objectives.base.load_file) and return the other arguments."""
    loader = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    loader.add_argument("--load", action="append", default=[])
    known, rest = loader.parse_known_args(argv)
    if known.load:
        from saddle.objectives.base import load_file

        for path in known.load:
            load_file(path)
    return rest


def _hold_closed_descriptors() -> None:
    """Open /dev/null on a closed stdout or stderr descriptor (``>&-``, ``2>&-``), so that no file the run
    opens takes its number (and receives what a library writes to "stderr"); ``sys.stdout`` / ``sys.stderr``
    stay None, which is how :func:`~saddle.experiments.common.emit` knows that stdout is closed."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, os.O_WRONLY)
            except OSError:
                continue
            if held != fd:  # a lower descriptor was free: not the one closed
                os.dup2(held, fd)
                os.close(held)


def _drop_stdout() -> None:
    """After stdout failed: send what is still buffered for it to /dev/null, so that the interpreter's own
    flush at exit does not fail again (and print a traceback, or exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # closed, or not a file (a test's capture)
        pass


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command line; returns the exit status (``--help`` and ``--version`` raise SystemExit(0)).

    A closed or full stderr never stops a run (its lines are lost); a closed or full stdout, or a reader that
    went away (``| head``), ends the command with one line on stderr where it can be written and exit status 1,
    whatever the command stored kept.  ``prog`` names the command line in its usage and error lines (default:
    ``saddle`` when the console script runs, :data:`PROG` otherwise).
    """
    if prog is None:
        prog = "saddle" if sys.argv and os.path.basename(sys.argv[0] or "") == "saddle" else PROG
    _hold_closed_descriptors()
    stdout = sys.stdout
    sys.stdout = GuardedStdout(stdout)  # a failed write is an OutputError
    try:
        return _main(argv, prog)
    finally:
        sys.stdout = stdout


def _main(argv: Sequence[str] | None, prog: str = PROG) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv == ["--version"]:  # (at once: without the commands' modules, which import Numba)
            from saddle._version import __version__

            emit(f"saddle {__version__}")
            return 0
        from saddle._numba import check_environment  # refuses bad NUMBA_ variables before Numba reads them

        check_environment()
        argv = _load_objectives(argv)
        parser = build_parser(prog)
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:
            if done.code in (0, None):  # --help: its text must reach stdout (a full disk is an error, exit 1)
                sys.stdout.flush()
                failed = getattr(sys.stdout, "error", None)  # (argparse ignores a failed write of the help)
                if failed is not None:
                    raise failed from None
            raise
        if args.command is None:
            emit(parser.format_help().rstrip("\n"))
            return 0
        try:
            rc = _module(args.command).run(args)
        except (UsageError, OutputError, BrokenPipeError, StoreError, ConfigError, StatisticsError):
            raise  # saddle's own refusals: one line each, below
        except Exception as err:  # an error of a --load file's code: where it is, in a line or two
            from saddle.objectives.base import user_code_error

            where = user_code_error(err)
            if where is None:
                raise
            raise UserCodeError(f"your code failed: {where}") from None
        sys.stdout.flush()  # block-buffered output to a full file fails here (an OutputError), not at exit
        return rc
    except UsageError as err:
        say(str(err))
        return EXIT_USAGE
    except (OutputError, BrokenPipeError) as err:
        _drop_stdout()
        say(f"{prog}: error: {err}")
        return EXIT_OUTPUT
    except ValueError as err:  # ConfigError and other invalid-option errors from the API
        say(f"{prog}: error: {err}")
        return EXIT_USAGE
    except (StoreError, StatisticsError) as err:  # a write refused, or statistics failed: what failed, what was kept
        say(f"{prog}: error: {err}")
        return 1
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a second Ctrl-C must not kill the clean exit)
        say("interrupted; what was stored before stays stored (every file is written whole or not at all)")
        return EXIT_INTERRUPTED
