"""How a figure is drawn: one module per figure family, one function per figure type.

Figures never re-run a simulation: they take results (an EscapeResult, or
tables read back from a results folder).  They use matplotlib's object-oriented
API without pyplot, so they work on machines with no display.  Colours are the
Okabe-Ito palette (safe for colour-blind readers); widths suit one-column
(3.5 in) and two-column (7.2 in) papers.

- :mod:`saddle.plotting.escape`: the escape experiment's figure.
"""

import io
from pathlib import Path

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
WIDTH_ONE_COLUMN = 3.5
WIDTH_TWO_COLUMN = 7.2


def colour(i):
    """The i-th colour of the Okabe-Ito palette (cycling)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def palette(n):
    """n colours: Okabe-Ito up to 8, else n samples of viridis (also colour-blind safe, and ordered)."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in [i / (n - 1) * 0.9 for i in range(n)]]


def save_figure(fig, path_stem):
    """Write ``path_stem``.pdf (vector) and ``path_stem``.png (200 dpi), each atomically."""
    from saddle.results import atomic_write_bytes

    stem = Path(path_stem)
    for ext, kw in (("pdf", {}), ("png", {"dpi": 200})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, **kw)
        atomic_write_bytes(stem.with_suffix(f".{ext}"), buf.getvalue())
    return stem.with_suffix(".pdf"), stem.with_suffix(".png")


from saddle.plotting.escape import escape_figure  # noqa: E402  (re-exported: the public entry point)

__all__ = ["OKABE_ITO", "WIDTH_ONE_COLUMN", "WIDTH_TWO_COLUMN", "colour", "escape_figure", "palette", "save_figure"]
