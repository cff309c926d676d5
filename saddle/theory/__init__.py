"""What the linear theory predicts for the escape from a strict saddle (docs/theory.md).

Four layers, each usable on its own (the derivations are in docs/theory.md):

1. **The linear escape-time law** (:mod:`saddle.theory.linear`): along an escape direction with
   Hessian eigenvalue -gamma and per-sample noise variance sigma_v^2, the escape step's median,
   mean, SD, slope in log2 m, CDF and quantiles (:func:`linear_prediction`).
2. **Saddle quantities** (:mod:`saddle.theory.quantities`): gamma, the escape directions, the
   stable spectrum, sigma_v^2, tr(Sigma_stable) and the CNC constant of any objective, exactly where
   its covariance is known and by Monte Carlo otherwise (:func:`saddle_quantities`); an objective's
   own closed forms live beside it (``Objective.saddle_theory``; the spike's exact moments in
   :mod:`saddle.objectives.spike_moments`).
3. **Where the linear theory holds** and 4. **the heat-path model and the best batch size**
   (:mod:`saddle.theory.regimes`): :func:`regime`, :func:`heat_path_escape`,
   :func:`prediction_table`, :func:`optimal_batch_size`.

Every call does bounded work: the escape path and the model are followed for at most PATH_MAX_STEPS and
MODEL_MAX_STEPS steps; where a prediction is out of reach or outside the theory (:func:`applicability`) the
value is NaN and a note or ``reason`` says why.  Times are never below 1 step.

5. **The noise floor near a minimum** (:mod:`saddle.theory.floor`): the stationary excess of f at
   (eta, m) from the discrete-time Lyapunov equation of the linearised dynamics, its law (a weighted
   chi-square) and its small-eta limit eta tr(Sigma) / (4 m) (:func:`noise_floor`).

:mod:`saddle.theory.columns` turns these into the theory columns of an escape run's summary.
Everything is plain NumPy/SciPy; nothing here runs a kernel, and nothing here names an objective.
"""

from saddle.theory.floor import QUANTILE_LEVELS, FloorPrediction, WeightedChi2, local_minimum, noise_floor
from saddle.theory.linear import (
    EULER_GAMMA,
    FIRST_STEP_TOLERANCE,
    LINEAR_HEAT_FRACTION,
    MAX_ETA_GAMMA,
    NORMAL_MEDIAN_ABS,
    LinearPrediction,
    fdrop_radius,
    growth_factor,
    linear_prediction,
    log_chi_moments,
    z_scale,
)
from saddle.theory.quantities import (
    SaddleQuantities,
    monte_carlo_noise,
    quadratic_saddle,
    saddle_quantities,
    stable_heat,
)
from saddle.theory.regimes import (
    DEFAULT_M_GRID,
    MODEL_MAX_STEPS,
    PATH_MAX_STEPS,
    OptimalBatchSize,
    PathEnd,
    RegimeInfo,
    adiabatic_optimal_batch_size,
    applicability,
    escape_path_end,
    heat_path_escape,
    optimal_batch_size,
    prediction_table,
    regime,
    stable_curvature_softening,
)

__all__ = [
    "QUANTILE_LEVELS",
    "FloorPrediction",
    "WeightedChi2",
    "local_minimum",
    "noise_floor",
    "DEFAULT_M_GRID",
    "EULER_GAMMA",
    "FIRST_STEP_TOLERANCE",
    "LINEAR_HEAT_FRACTION",
    "MAX_ETA_GAMMA",
    "MODEL_MAX_STEPS",
    "NORMAL_MEDIAN_ABS",
    "PATH_MAX_STEPS",
    "LinearPrediction",
    "OptimalBatchSize",
    "PathEnd",
    "RegimeInfo",
    "SaddleQuantities",
    "adiabatic_optimal_batch_size",
    "applicability",
    "escape_path_end",
    "fdrop_radius",
    "growth_factor",
    "heat_path_escape",
    "linear_prediction",
    "log_chi_moments",
    "monte_carlo_noise",
    "optimal_batch_size",
    "prediction_table",
    "quadratic_saddle",
    "regime",
    "saddle_quantities",
    "stable_curvature_softening",
    "stable_heat",
    "z_scale",
]
