"""The step-size search of the frontier: for one batch size, the step size that reaches the target in
the fewest steps among those that meet the success rule (Shallue et al., JMLR 2019, section 3; the
method is described in docs/frontier.md).

Step sizes lie on one log grid, ``eta_k = eta_ref * 2 ** (k / STEPS_PER_OCTAVE)`` for integer k, so that a
cell (m, eta_k) is named by an integer and the search never runs a step size twice, nor one that a
neighbouring batch size's search already ran at the same m.  The search:

1. starts at a seed k0 and its two coarse neighbours k0 - 2 and k0 + 2 (a factor 2^(1/2) apart);
2. while no step size tried meets the success rule, widens by a factor 2: towards the side where more
   trials reached the target when the most reached it at an end of the range tried, on both sides
   otherwise (the fraction reaching the target need not have one peak: at small m a large step reaches a
   tight target now and then by a fluctuation, while the step sizes that meet the rule lie far below);
3. once one meets it, widens from the best (fewest median steps among those meeting the rule) until both
   its coarse neighbours have been tried, or a bound stops it: eta* is then interior, or bracketed by a
   step size that fails the rule;
4. refines: tries the fine neighbours k* - 1 and k* + 1 (a factor 2^(1/4)) and takes the best of all.

The caller evaluates cells (:class:`Evaluation`), several at a time when it runs them in parallel; this
module only decides which to run, so that it can be tested against a synthetic S(eta) with a known
optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "COARSE",
    "FINE",
    "STEPS_PER_OCTAVE",
    "Evaluation",
    "SearchOutcome",
    "eta_index",
    "eta_of",
    "search_step_size",
]

STEPS_PER_OCTAVE = 4
"""Grid points per factor 2 in eta: the finest resolution, 2^(1/4) = 1.19."""
COARSE = 2
"""The coarse search step in grid points: a factor 2^(1/2) = 1.41 in eta."""
FINE = 1
"""The refinement step in grid points: a factor 2^(1/4)."""


def eta_of(k: int, eta_ref: float) -> float:
    """The step size of grid point k: ``eta_ref * 2 ** (k / STEPS_PER_OCTAVE)``."""
    return float(eta_ref * 2.0 ** (k / STEPS_PER_OCTAVE))


def eta_index(eta: float, eta_ref: float) -> float:
    """The (real) grid position of a step size: ``STEPS_PER_OCTAVE * log2(eta / eta_ref)``."""
    return STEPS_PER_OCTAVE * math.log2(eta / eta_ref)


@dataclass(frozen=True)
class Evaluation:
    """One cell's outcome: grid point k, S (the median steps to the target, inf when unreached), the
    fraction of trials that reached it by max_steps, and whether the success rule holds."""

    k: int
    steps: float
    reached: float
    success: bool


@dataclass
class SearchOutcome:
    """What a search found: the best grid point (None when no step size met the success rule), every
    evaluation in the order run, the side ('lower', 'upper') on which nothing beyond the best was tried
    (a search bound or the cell budget stopped it; '' when the best is bracketed), and the grid point
    closest to success when none met the rule (the most trials reaching the target, then the fewest steps)."""

    best: int | None
    tried: dict[int, Evaluation] = field(default_factory=dict)
    edge: str = ""
    closest: int | None = None

    def bracket(self) -> tuple[int | None, int | None]:
        """The nearest grid points tried below and above the best (None where none was tried)."""
        if self.best is None:
            return None, None
        below = [k for k in self.tried if k < self.best]
        above = [k for k in self.tried if k > self.best]
        return (max(below) if below else None), (min(above) if above else None)


def _best(tried: dict[int, Evaluation]) -> int | None:
    ok = [e for e in tried.values() if e.success]
    if not ok:
        return None
    return min(ok, key=lambda e: (e.steps, e.k)).k


def _closest(tried: dict[int, Evaluation]) -> int:
    return max(tried.values(), key=lambda e: (e.reached, -e.steps, -e.k)).k


def search_step_size(
    evaluate: Callable[[Sequence[int]], Sequence[Evaluation]],
    start: int,
    lower: int,
    upper: int,
    *,
    max_cells: int = 40,
) -> SearchOutcome:
    """Search the grid points ``lower <= k <= upper`` for the best step size (module docstring).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(ks)`` runs the cells of the grid points ``ks`` (none tried before) and returns their
        evaluations, in any order.
    start : int
        The seed grid point (clipped to the bounds): the neighbouring batch size's best, or the configured eta.
    lower, upper : int
        The grid points of the search bounds.
    max_cells : int
        The most cells this search runs; reaching it ends the search with what it has.

    Returns
    -------
    SearchOutcome
    """
    if lower > upper:
        raise ValueError(f"the search bounds are inverted: grid points {lower} > {upper}")
    out = SearchOutcome(best=None)
    tried = out.tried

    def run(ks: Sequence[int]) -> bool:
        new = [k for k in dict.fromkeys(ks) if lower <= k <= upper and k not in tried]
        new = new[: max(0, max_cells - len(tried))]
        if not new:
            return False
        for e in evaluate(new):
            tried[e.k] = e
        missing = [k for k in new if k not in tried]
        if missing:
            raise ValueError(f"evaluate did not return grid points {missing}")
        return True

    start = min(max(start, lower), upper)
    run([start, start - COARSE, start + COARSE])
    while len(tried) < max_cells:
        best = _best(tried)
        if best is None:  # widen towards success, by a factor 2
            lo, hi = min(tried), max(tried)
            closest = _closest(tried)
            if tried[closest].reached > 0 and closest == lo:
                ks = [lo - 2 * COARSE]
            elif tried[closest].reached > 0 and closest == hi:
                ks = [hi + 2 * COARSE]
            else:
                ks = [lo - 2 * COARSE, hi + 2 * COARSE]
            if not run(ks):
                break
            continue
        if not run([best - COARSE, best + COARSE]):
            break
    best = _best(tried)
    if best is not None:
        run([best - FINE, best + FINE])
        best = _best(tried)
    out.best = best
    if best is None:
        out.closest = _closest(tried)
    else:  # a side with no grid point tried: the bound, or the cell budget, stopped the search there
        below, above = out.bracket()
        out.edge = " and ".join(side for side, none in (("lower", below is None), ("upper", above is None)) if none)
    return out
