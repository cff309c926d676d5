"""The theory columns of an escape run's summary: the linear law and the heat-path model per batch size.

Reads the objective's saddle quantities (``Objective.saddle_theory``) and names no objective.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from saddle.theory.linear import MAX_ETA_GAMMA  # noqa: F401 - beyond it the columns are left empty (n/a)
from saddle.theory.quantities import SaddleQuantities

if TYPE_CHECKING:
    from saddle.objectives.base import Objective
    from saddle.options import Settings

EMPTY = {
    "theory_median_steps": math.nan,
    "theory_model_median_steps": math.nan,
    "theory_regime": "n/a",
    "theory_trusted": False,
}


MAX_THEORY_D = 200
"""The linear theory's saddle quantities are computed for d up to this: their cost grows as d^4 (16 s at
d = 300, minutes at d = 1000, all before the first trial)."""


def theory_applies(config: Settings) -> bool:
    """Whether the linear theory (docs/theory.md, sections 1-2) describes this configuration's start:
    sgd from the saddle itself, by plain mini-batch steps (the objective must also provide its saddle
    quantities: :func:`saddle_theory`)."""
    optimizer = config.optimizer_class
    return (
        optimizer.plain_step
        and optimizer.minibatch
        and config.target is None
        and config.start_perturbation is None
        and not config.random_start
        and getattr(getattr(config, "schedule_plan", None), "constant", True)  # (a constant eta and m)
        and not (config.objective_class.uses_d and config.d > MAX_THEORY_D)
    )


def saddle_theory(config: Settings, objective: Objective | None = None) -> SaddleQuantities | None:
    """The objective's :class:`~saddle.theory.SaddleQuantities` at the start, or None where the theory
    does not apply or the objective has none."""
    if not theory_applies(config):
        return None
    objective = config.build_objective() if objective is None else objective
    return objective.saddle_theory(config)


class TheoryColumns:
    """The theory columns of summary.csv for one configuration, batch size by batch size.

    theory_median_steps is the linear law of docs/theory.md, sections 1-2; theory_model_median_steps
    the heat-path model of docs/theory.md, section 5 (NaN where that model is invalid); theory_regime
    'linear' or 'noise-dominated' ('n/a' where the theory gives no prediction at this step size:
    :func:`~saddle.theory.regimes.applicability`); theory_trusted whether the linear median should be
    trusted.  The noise-free escape path is followed once per saddle and step size
    (:func:`~saddle.theory.regimes.escape_path_end` remembers it), in bounded time.
    """

    def __init__(
        self, config: Settings, quantities: SaddleQuantities | None, objective: Objective | None = None
    ) -> None:
        self.config = config
        self.quantities = quantities
        self.objective = objective

    def row(self, m: int) -> dict[str, Any]:
        """The four theory columns for batch size m (NaN / 'n/a' where the theory does not apply)."""
        q, config = self.quantities, self.config
        if q is None and self.objective is not None:  # the objective's own theory, where it has one
            own = self.objective.theory_prediction(config, m)
            if own is not None:
                return {**EMPTY, **own}
        eta = config.eta_for(m)
        if q is None:
            return dict(EMPTY)
        from saddle.theory.regimes import applicability, prediction_table

        if applicability(q, eta):
            return dict(EMPTY)
        delta = None if config.radius else config.delta
        row = prediction_table(q, eta, [m], delta=delta, radius=config.radius)[0]
        return {
            "theory_median_steps": float(row["linear_median"]),
            "theory_model_median_steps": float(row["model_median"]),
            "theory_regime": row["regime"],
            "theory_trusted": bool(row["linear_trusted"]),
        }
