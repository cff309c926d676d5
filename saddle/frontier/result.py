"""What a frontier run gives back: :class:`FrontierResult`, its tables as column arrays.

``tuning`` has one row per cell (a batch size m and a step size eta, every one the search tried):

    m, eta, k (eta = eta_ref * 2 ** (k / 4)), cell (the cell's key), trials,
    reached (fraction of trials reaching the target by max_steps), diverged (count),
    success (bool: the success rule met), median_steps (S(m, eta), inf when unreached) with
    steps_lo, steps_hi (its 95% interval), median_samples, escape_steps (median step of the f-drop),
    converge_steps (median steps from the f-drop to the target), wall_seconds, step_seconds
    (the measured cost of one step of one trial on the backend that ran it).

``frontier`` has one row per batch size, at eta*(m):

    m, eta_star, eta_lo, eta_hi (the bracket: the nearest step sizes tried on either side, NaN where
    none), edge ('' or which search bound eta* sits on), S, S_lo, S_hi, E, E_lo, E_hi (samples),
    escape_steps, converge_steps, reached, seconds, seconds_lo, seconds_hi, step_seconds (pooled over the
    batch size's cells: their kernel seconds over the steps their trials ran),
    model_S (the fitted model's S at m), regime ('perfect scaling', 'diminishing returns' or
    'maximal data parallelism').

``fit`` is a dict: S_min, S_min_lo, S_min_hi, E_min, E_min_lo, E_min_hi, B_crit, B_crit_lo,
B_crit_hi, fits (bool), misfit (list of m where the model leaves the measured interval),
best_m_steps, best_m_samples, best_m_seconds.

``noise`` (or None) is :func:`saddle.frontier.noise.noise_scale_path`'s dict: f, B_simple, B_noise (arrays
along the noiseless path from the f-drop past the saddle to the target), B_simple_mean (its average over
the path's time), B_noise_mean (weighted by the optimally tuned steps, G^T H G / |G|^2 dt, where that is
positive), method ('exact' or 'monte carlo').
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saddle.records import _pandas, m_text, summary_html

__all__ = ["FrontierResult"]


@dataclass
class FrontierResult:
    """A frontier run's tables (module docstring), its configuration and its folder.

    ``repr`` gives one line (objective, batch sizes, trials per cell, target, B_crit, folder); a notebook
    shows the frontier command's table (per m: eta*, S with its 95% interval, E, the regime) and the fit.
    """

    config: Any
    tuning: dict[str, np.ndarray]
    frontier: dict[str, np.ndarray]
    fit: dict[str, Any]
    noise: dict[str, Any] | None = None
    theory: dict[str, np.ndarray] | None = None
    out: Any = None
    notes: list[str] = field(default_factory=list)

    def to_pandas(self) -> tuple[Any, Any]:
        """(tuning, frontier) as pandas DataFrames: one row per cell tried, one row per batch size.

        Needs pandas (``pip install 'saddle[pandas]'``); without it an ImportError says so in one line.
        """
        pd = _pandas()
        return pd.DataFrame(self.tuning), pd.DataFrame(self.frontier)

    def __repr__(self) -> str:
        esc = getattr(self.config, "escape", None)
        where = f"in {self.out}" if self.out is not None else "not stored"
        if esc is None:  # (a result built by hand, without its configuration)
            return f"FrontierResult({len(self.frontier.get('m', []))} batch sizes; {where})"
        fit = ""
        if "B_crit" in self.fit:
            fit = f"; B_crit = {_g(self.fit['B_crit'])} [{_g(self.fit['B_crit_lo'])}, {_g(self.fit['B_crit_hi'])}]"
        return (
            f"FrontierResult({esc.describe()}; {esc.optimizer}; m = {m_text(esc.m)}; {esc.trials} trials per "
            f"cell; target f <= {self.config.target:.6g}{fit}; {where})"
        )

    def _repr_html_(self) -> str:
        t, fit, cfg = self.frontier, self.fit, self.config
        head = ["m", "eta*", "bracket", "S (steps) [95% CI]", "E (samples)", "escape", "reached", "seconds", "regime"]
        rows = []
        for i in range(len(t["m"])):
            edge = f" ({t['edge'][i]} bound)" if t["edge"][i] else ""
            rows.append(
                [
                    int(t["m"][i]),
                    _g(t["eta_star"][i]) + edge,
                    f"[{_g(t['eta_lo'][i])}, {_g(t['eta_hi'][i])}]",
                    f"{_g(t['S'][i], 6)} [{_g(t['S_lo'][i], 6)}, {_g(t['S_hi'][i], 6)}]",
                    _g(t["E"][i], 6),
                    _g(t["escape_steps"][i], 6),
                    f"{100 * float(t['reached'][i]):.1f}%",
                    f"{float(t['seconds'][i]):.3g}",
                    str(t["regime"][i]),
                ]
            )
        notes = [
            f"target f <= {cfg.target:.6g} (f(u_0) = {cfg.f0:.6g}); S: median steps to it, E: samples; "
            "escape: median step of the f-drop; seconds: S x the measured cost of a step"
        ]
        if "S_min" in fit:
            fitted = ", ".join(
                f"{name} = {_g(fit[name])} [{_g(fit[name + '_lo'])}, {_g(fit[name + '_hi'])}]"
                for name in ("S_min", "E_min", "B_crit")
            )
            notes.append(f"model S = S_min (1 + B_crit/m): {fitted}")
        notes.append(
            f"best m: {fit.get('best_m_steps')} in steps, {fit.get('best_m_samples')} in samples, "
            f"{fit.get('best_m_seconds')} in seconds"
        )
        notes += [f"note: {n}" for n in self.notes]
        where = f"stored in {self.out}" if self.out is not None else "not stored"
        esc = cfg.escape
        caption = f"frontier: {esc.describe()}; {esc.optimizer}; {esc.trials} trials per cell; {where}"
        return summary_html(caption, head, rows, notes)


def _g(value: Any, digits: int = 4) -> str:
    """A number for the frontier's table: 4 significant digits, '-' for none, '>max' for an unreached S."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(value):
        return "-"
    return ">max" if math.isinf(value) else f"{value:.{digits}g}"
