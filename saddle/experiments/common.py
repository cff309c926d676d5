"""What every command shares: one-line usage errors, exit codes, argument types."""

import argparse
import math
from typing import NoReturn

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
