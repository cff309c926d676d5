"""How a figure is drawn: one module per figure family, one function per figure type.

Figures never re-run a simulation: they take results (an EscapeResult, ``saddle.load(folder)``, or
tables read back from a results folder).  They use matplotlib's object-oriented API without pyplot,
so they work on machines with no display.  Colours are the Okabe-Ito palette (safe for colour-blind
readers) and, for batch sizes, one fixed colour per m in every figure (:func:`batch_colour`), kept apart
from the theory's colours; widths suit one-column (3.5 in) and two-column (7.2 in) papers, and
:data:`STYLES` holds the font sizes (``paper``: 8 pt labels, the size most journals ask for).
docs/figures.md shows them.

- :mod:`saddle.plotting.common`: what every figure shares (palette, widths, styles, axes, :func:`save_figure`);
- :mod:`saddle.plotting.escape`: the escape experiment's figure and its panels;
- :mod:`saddle.plotting.escape_data`: the numbers the escape figure draws, and their tidy CSV tables;
- :mod:`saddle.plotting.sweep`: a sweep's figures.

All of :mod:`saddle.plotting.common` and the escape figure's entry points are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from saddle.plotting.common import (
    BATCH_COLOURS,
    LINESTYLES,
    MODEL_COLOUR,
    OKABE_ITO,
    RUN_MARKERS,
    STYLES,
    THEORY_COLOUR,
    WIDTH_ONE_COLUMN,
    WIDTH_TWO_COLUMN,
    WIDTHS,
    batch_colour,
    batch_palette,
    colour,
    compact_number,
    figure_width,
    legend_grid,
    log_uniform_indices,
    palette,
    readable_log_axis,
    save_figure,
    step_axis,
    style,
    text_inches,
)

_ESCAPE_PANELS = ("batch_size_panel", "escape_figure", "survival_panel", "trajectory_panel")

if TYPE_CHECKING:
    from saddle.plotting.escape import batch_size_panel, escape_figure, survival_panel, trajectory_panel


def __getattr__(name: str) -> Any:
    """The escape figure's entry points, re-exported from saddle.plotting.escape when first asked for:
    that module imports Matplotlib and scipy.stats, which the command line's parser (reading STYLES and
    WIDTHS from here) does not need."""
    if name in _ESCAPE_PANELS:
        from saddle.plotting import escape

        return getattr(escape, name)
    raise AttributeError(f"module 'saddle.plotting' has no attribute {name!r}")


__all__ = [
    "BATCH_COLOURS",
    "LINESTYLES",
    "MODEL_COLOUR",
    "OKABE_ITO",
    "RUN_MARKERS",
    "STYLES",
    "THEORY_COLOUR",
    "WIDTHS",
    "WIDTH_ONE_COLUMN",
    "WIDTH_TWO_COLUMN",
    "batch_colour",
    "batch_palette",
    "batch_size_panel",
    "colour",
    "compact_number",
    "escape_figure",
    "figure_width",
    "legend_grid",
    "log_uniform_indices",
    "palette",
    "readable_log_axis",
    "save_figure",
    "step_axis",
    "style",
    "survival_panel",
    "text_inches",
    "trajectory_panel",
]
