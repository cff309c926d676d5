"""Run the notebooks in examples/ once each and check that every cell that draws a figure shows it.

A cell draws a figure when its code calls a figure function (``escape_figure(...)``, any ``*_figure(...)``,
``plt.subplots(...)``, ``.plot(...)``).  Such a cell must end with an ``image/png`` output, in the committed
notebook (whose outputs are what a reader sees on a web page without running it) and when run now.  Every
cell must also run without an error.

    python examples/check_notebook.py            # check examples/*.ipynb (what CI runs)
    python examples/check_notebook.py --write    # the same, then store the fresh outputs in the notebooks

Needs nbclient, nbformat and ipykernel (``pip install ".[test]"``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parent
DRAWS = re.compile(r"\b(\w+_figure|figure|subplots|plot)\(")
"""A call that draws a figure, in a code cell's source."""
MAX_BYTES = 300_000
"""The most a notebook committed with its outputs may weigh (its figures are small PNGs)."""
CELL_TIMEOUT_S = 600


def figure_cells(nb: nbformat.NotebookNode) -> list[int]:
    """The indices of the code cells that draw a figure."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and DRAWS.search(c.source)]


def missing_images(nb: nbformat.NotebookNode) -> list[int]:
    """The figure cells without an image/png output."""
    return [
        i
        for i in figure_cells(nb)
        if not any("image/png" in out.get("data", {}) for out in nb.cells[i].get("outputs", []))
    ]


def check(path: Path, write: bool) -> list[str]:
    """Run the notebook at ``path`` in its folder; what is wrong with it, one line each (none: it passes)."""
    problems = []
    committed = nbformat.read(path, as_version=4)
    if not figure_cells(committed):
        problems.append(f"{path.name}: no cell draws a figure (nothing to check; is DRAWS out of date?)")
    for i in missing_images(committed):
        problems.append(f"{path.name}: cell {i} draws a figure, but the committed notebook has no image of it")
    size = path.stat().st_size
    if size > MAX_BYTES:
        problems.append(f"{path.name}: {size / 1000:.0f} kB with its outputs, over {MAX_BYTES / 1000:.0f} kB")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb, timeout=CELL_TIMEOUT_S, coalesce_streams=True, resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute()
    except CellExecutionError as err:
        return [*problems, f"{path.name}: a cell failed:\n{err}"]
    print(f"{path.name}: ran in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    for i in missing_images(nb):
        problems.append(f"{path.name}: cell {i} draws a figure but showed no image when run")
    if write:
        nbformat.write(nb, path)
        print(f"{path.name}: outputs written ({path.stat().st_size / 1000:.0f} kB)", file=sys.stderr)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every .ipynb in examples/")
    parser.add_argument("--write", action="store_true", help="store the fresh outputs in the notebooks")
    args = parser.parse_args(argv)
    problems = []
    for path in args.notebooks or sorted(EXAMPLES.glob("*.ipynb")):
        problems += check(path, args.write)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
