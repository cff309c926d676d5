"""``theory``: what the linear theory and the heat-path model (docs/theory.md) predict, without simulating."""

from __future__ import annotations

import argparse
import math
from typing import Any

from saddle.experiments.common import Parser
from saddle.experiments.escape_cmd import add_config_arguments, config_from_args

HELP = "the linear theory's and the heat-path model's escape-time predictions, without simulating"


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    p = sub.add_parser("theory", help=HELP, description=HELP + " (docs/theory.md).")
    add_config_arguments(p)
    return p


def _f(x: float, digits: int = 0) -> str:
    """A time or heat for the table: '-' where there is no prediction (NaN, inf), 3 digits beyond 10^9."""
    if not math.isfinite(x):
        return "-"
    return f"{x:.3g}" if abs(x) >= 1e9 else f"{x:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    from saddle import theory
    from saddle.objectives.base import Objective, registered
    from saddle.options import ConfigError
    from saddle.theory.columns import saddle_theory, theory_applies

    config = config_from_args(args)
    if not config.schedule_plan.constant:
        raise ConfigError(
            "the linear theory and the noise floor assume a constant step size and batch size: "
            "--schedule, --lr-decay and --batch-after-drop do not apply to theory (give each phase's m and eta)"
        )
    from saddle.theory.columns import MAX_THEORY_D

    if config.objective_class.uses_d and config.d > MAX_THEORY_D:
        raise ConfigError(
            f"the linear theory is computed for d <= {MAX_THEORY_D}, got d = {config.d} (its cost grows as d^4: "
            "minutes at d = 1000)"
        )
    q = saddle_theory(config) if theory_applies(config) else None
    if q is None:
        covered = [name for name, cls in registered().items() if cls.saddle_theory is not Objective.saddle_theory]
        raise ConfigError(
            f"the linear theory covers sgd started at the saddle of the {', '.join(covered)} "
            "objectives (no target, perturbed or random start)"
        )
    crit: dict[str, Any] = dict(delta=None if config.radius else config.delta, radius=config.radius)
    print(
        f"{config.describe()}; sgd, eta = {config.eta:g}"
        f"{'' if config.lr_scaling == 'none' else f' ({config.lr_scaling} in m)'}"
    )
    print(
        f"saddle: gamma = {q.gamma:.6g} ({q.n_escape} escape direction{'s' if q.n_escape > 1 else ''}), "
        f"sigma_v^2 = {q.sigma_v2:.6g}, tr(Sigma_stable) = {q.trace_stable:.6g}, CNC constant = {q.cnc:.6g}"
        f" ({'exact' if q.exact else 'Monte Carlo'})"
    )
    if q.cnc == 0:
        print(
            "warning: zero noise along an escape direction: the CNC condition fails and the linear theory "
            "predicts no escape"
        )
    head = ("m", "eta", "regime", "heat H(m)", "linear median", "mean", "sd", "model median", "note")
    rows = []
    for m in config.m:
        r = theory.prediction_table(q, config.eta_for(m), [m], **crit)[0]
        untrusted = math.isfinite(r["linear_median"]) and not r["linear_trusted"]
        rows.append(
            (
                str(m),
                f"{r['eta']:g}",
                r["regime"],
                "-" if math.isnan(r["heat"]) else f"{r['heat']:.3g}",
                _f(r["linear_median"]) + ("*" if untrusted else ""),
                _f(r["linear_mean"], 1),
                _f(r["linear_sd"], 1),
                _f(r["model_median"]),
                r["note"] or "",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) if i < 8 else h for i, (h, w) in enumerate(zip(head, widths))))
    for row in rows:
        print("  ".join(c.rjust(w) if i < 8 else c for i, (c, w) in enumerate(zip(row, widths))))
    print(
        "* = noise-dominated: the linear median should not be trusted (docs/theory.md); "
        "- = no prediction (the note says why)"
    )
    _print_floor(config)
    if config.lr_scaling == "none":
        best = theory.optimal_batch_size(q, config.eta, **crit)
        edge = lambda b: " (the smallest m where the model is valid; the optimum may lie below)" if b else ""  # noqa: E731
        if best.m_steps is None:
            print("heat-path model: no prediction at any m in 1..1024, so no best batch size")
        else:
            print(
                f"heat-path model, best m over 1..1024: {best.m_steps:g} in steps{edge(best.m_steps_at_edge)}, "
                f"{best.m_samples:g} in samples{edge(best.m_samples_at_edge)}"
            )
    return 0


def _print_floor(config: Any) -> None:
    """The noise floor near the minimum at each m: the stationary excess of f over f_min of the linearised
    dynamics (the discrete-time Lyapunov equation) beside its small-eta limit eta tr(Sigma) / (4 m)."""
    from saddle.theory.floor import noise_floor

    rows = []
    f_min = None
    depth = config.objective_class.max_drop(config)  # f(u_0) - f_min: the well the floor must sit deep inside
    for m in config.m:
        eta = config.eta_for(m)
        try:
            fl = noise_floor(config, eta, m)
        except ValueError as err:
            rows.append((str(m), f"{eta:g}", "-", "-", "-", "-", str(err).splitlines()[0]))
            continue
        f_min = fl.f_min
        q = fl.quantiles
        rows.append(
            (
                str(m),
                f"{eta:g}",
                f"{fl.mean_excess:.4g}",
                f"{fl.small_eta_excess:.4g}",
                f"{q[0.5]:.4g}",
                f"{q[0.95]:.4g}",
                _floor_note(fl, depth),
            )
        )
    if all(r[2] == "-" for r in rows):
        print(f"noise floor: {rows[0][6]}" if rows else "noise floor: no batch size")
        return
    at = f" (f_min = {f_min:.6g})" if f_min is not None else ""
    print(f"noise floor near the minimum{at}: the stationary excess f - f_min of the linearised dynamics")
    head = ("m", "eta", "mean", "eta tr(Sigma)/(4m)", "median", "95%", "note")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) if i < 6 else h for i, (h, w) in enumerate(zip(head, widths))))
    for r in rows:
        print("  ".join(c.rjust(w) if i < 6 else c for i, (c, w) in enumerate(zip(r, widths))))


FLOOR_DEPTH_FRACTION = 0.1
"""A floor above this fraction of the well's depth f(u_0) - f_min is outside the linearisation (the
iterate leaves the minimum's neighbourhood): docs/theory.md, section 8."""


def _floor_note(fl: Any, depth: float | None) -> str:
    notes = [] if fl.method == "exact" else ["Monte Carlo"]
    if depth is not None and depth > 0 and fl.mean_excess > FLOOR_DEPTH_FRACTION * depth:
        notes.append(
            f"not to be trusted: the excess is {100 * fl.mean_excess / depth:.0f}% of the depth "
            f"f(u_0) - f_min = {depth:.3g}, outside the linearisation (docs/theory.md section 8)"
        )
    return "; ".join(notes)
