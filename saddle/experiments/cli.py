"""The command line, ``python -m saddle.experiments [--load FILE] COMMAND``: a thin layer over the Python API.

Each command lives in its own module with ``add_parser(subparsers)`` and
``run(args)``; ``COMMANDS`` lists them.  ``--load FILE`` (repeatable, anywhere on
the line) imports a Python file that registers objectives of its own before the
options are read, so ``--objective NAME`` and its options accept them.  Every
user error ends with one line on stderr and exit status 2; Ctrl-C during a run
ends with one line saying what was kept, and exit status 130.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from saddle.experiments.common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError
from saddle.store import StoreError

COMMANDS = {
    # name: module in saddle.experiments
    "escape": "escape_cmd",
    "theory": "theory_cmd",
    "info": "info_cmd",
    "sweep": "sweep_cmd",
    "plot": "plot_cmd",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"saddle.experiments.{COMMANDS[name]}")


def build_parser() -> Parser:
    modules = {name: _module(name) for name in COMMANDS}
    parser = Parser(
        prog="python -m saddle.experiments",
        description="saddle: how mini-batch SGD escapes saddle points, measured.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        from saddle._numba import check_environment  # refuses bad NUMBA_ variables before Numba reads them

        check_environment()
        argv = _load_objectives(sys.argv[1:] if argv is None else list(argv))
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return _module(args.command).run(args)
    except UsageError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:  # ConfigError and other invalid-option errors from the API
        print(f"python -m saddle.experiments: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as err:  # the machine refused a write (disk full, permissions): what failed, what was kept
        print(f"python -m saddle.experiments: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted before any trial finished; nothing was stored", file=sys.stderr)
        return EXIT_INTERRUPTED
