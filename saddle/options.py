"""Options and their checks: every user-supplied value fails here, once, with a one-line :class:`ConfigError`.

An :class:`Option` declares one option of an objective or an optimiser (name, help, kind, default);
the configuration (:class:`saddle.config.EscapeConfig`) checks values with it and the command line
builds its flags from it, so kernels never see an invalid value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

MAX_BATCH_SIZE = 2**30
"""The largest batch size of the random streams' layout (saddle.rng.MAX_M): m, and a schedule's m'."""


class ConfigError(ValueError):
    """An invalid experiment option; its message is one line meant for the user."""


class StatisticsError(RuntimeError):
    """Computing a batch size's statistics failed after its trials were stored (the message says where).

    ``reason`` is the failure in a few words; ``partial`` (run without a results folder) the run's result
    with that batch size's statistics left empty, so that a caller that stores trials elsewhere (a sweep's
    or a frontier's cell) keeps them."""

    def __init__(self, message: str, *, reason: str = "", partial: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.partial = partial


class Settings(Protocol):
    """What an objective, an optimiser or an option reads of an experiment's configuration: its options
    by name (``config.d``, ``config.eta``, ``config.s``).  :class:`saddle.config.EscapeConfig` is one;
    so is any object with those attributes, so that objectives and optimisers never depend on the
    configuration module (it depends on them)."""

    def __getattr__(self, name: str) -> Any: ...


def integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high]; integral floats (4.0) are accepted, booleans are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be <= {high}, got {value}")
    return value


def real(name: str, value: Any, *, positive: bool = True, allow_zero: bool = False) -> float:
    """``value`` as a finite float; with ``positive``, > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def reals(name: str, value: Any, n: int) -> float | tuple[float, ...]:
    """One finite number > 0, or a sequence of n of them (returned as a float or a tuple)."""
    if isinstance(value, (numbers.Number, str)):
        return real(name, value)
    try:
        values = tuple(real(name, v) for v in value)
    except TypeError:
        raise ConfigError(f"{name} must be a number or a list of numbers, got {value!r}") from None
    if len(values) == 1:
        return values[0]
    if len(values) != n:
        raise ConfigError(f"{name} takes one value or {n} values, got {len(values)}")
    return values


def choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices`` (compared as lower-case text)."""
    text = str(value).lower()
    if text not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return text


@dataclass(frozen=True)
class Option:
    """One option of an objective.

    Parameters
    ----------
    name : str
        The Python name (``EscapeConfig(name=...)``; the command line's ``--name``, underscores as dashes).
    help : str
        One line for ``--help`` and the docs.
    kind : str
        ``'int'``, ``'real'`` (finite, > 0), ``'nonneg'`` (finite, >= 0), ``'signed'`` (finite, any sign),
        ``'fraction'`` (0 <= x < 1), ``'reals'`` (one value > 0 or ``count(config)`` of them),
        ``'choice'`` (one of ``choices``) or ``'bool'``.
    default : value, callable or None
        The value when the option is not given; a callable ``default(config)`` for a default that
        depends on other options (``k`` = ``d``); None for "not set".
    low, high : int, optional
        Bounds of an ``'int'``.
    choices : tuple of str
        The values of a ``'choice'``.
    count : callable, optional
        ``count(config)``: how many values a ``'reals'`` takes besides one.
    default_text : str, optional
        How ``--help`` shows a callable default ("d").
    validate : callable, optional
        ``validate(value) -> value`` replacing the kind's own check (a ValueError becomes a ConfigError).
    unset : value
        What a configuration records for the option where it does not apply (another objective or
        optimiser is chosen): None, or the value that means "off" (``sigma_iso = 0``).
    """

    name: str
    help: str
    kind: str = "real"
    default: Any = None
    low: int = 0
    high: int | None = None
    choices: tuple[str, ...] = ()
    count: Callable[[Settings], int] | None = None
    default_text: str | None = None
    validate: Callable[[Any], Any] | None = None
    unset: Any = None

    KINDS: ClassVar[tuple[str, ...]] = ("int", "real", "nonneg", "signed", "fraction", "reals", "choice", "bool")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    def default_for(self, config: Settings) -> Any:
        """The default value in this configuration."""
        return self.default(config) if callable(self.default) else self.default

    def check(self, value: Any, config: Settings) -> Any:
        """The validated value (ConfigError, one line, if it is invalid); None stays None."""
        if value is None:
            return None
        if self.validate is not None:
            try:
                return self.validate(value)
            except ConfigError:
                raise
            except ValueError as err:
                raise ConfigError(str(err)) from None
        if self.kind == "int":
            return integer(self.name, value, self.low, self.high)
        if self.kind == "real":
            return real(self.name, value)
        if self.kind == "nonneg":
            return real(self.name, value, allow_zero=True)
        if self.kind == "signed":
            return real(self.name, value, positive=False)
        if self.kind == "fraction":
            value = real(self.name, value, allow_zero=True)
            if value >= 1:
                raise ConfigError(f"{self.name} must be < 1, got {value}")
            return value
        if self.kind == "reals":
            n = self.count(config) if self.count is not None else 1
            return reals(self.name, value, n)
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{self.name} must be true or false, got {value!r}")
            return bool(value)
        return choice(self.name, value, self.choices)

    def help_text(self) -> str:
        """The help line with the default and the choices."""
        extra = []
        if self.choices:
            extra.append(" | ".join(self.choices))
        default = self.default_text if self.default_text is not None else self.default
        if default is not None and not callable(default):
            extra.append(f"default {default:g}" if isinstance(default, float) else f"default {default}")
        return self.help + (f" ({'; '.join(extra)})" if extra else "")
