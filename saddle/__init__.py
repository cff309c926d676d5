"""saddle: how mini-batch SGD escapes saddle points, measured.

The main entry points are :func:`saddle.escape.run_escape` (Python) and
``python -m saddle.experiments escape`` (command line); :func:`saddle.frontier.run.run_frontier` and
``python -m saddle.experiments frontier`` tune the step size for every batch size (docs/frontier.md);
:func:`saddle.load` reads a results folder back
(``python -m saddle.experiments plot FOLDER`` redraws its figure), and :func:`saddle.stack` puts several runs'
trials into one pandas DataFrame.
"""

from saddle._version import __version__


def __getattr__(name):
    # Lazy, so that `import saddle` (which every `import saddle.X` runs first) stays cheap and compiles nothing.
    if name in ("run_escape", "EscapeConfig", "EscapeResult"):
        from saddle import escape

        return getattr(escape, name)
    if name in ("run_frontier", "FrontierConfig", "FrontierResult"):
        from saddle.frontier import config, result, run

        return getattr({"run_frontier": run, "FrontierConfig": config, "FrontierResult": result}[name], name)
    if name == "load":
        from saddle.store.load import load

        return load
    if name == "stack":
        from saddle.records import stack

        return stack
    raise AttributeError(f"module 'saddle' has no attribute {name!r}")


__all__ = [
    "run_escape",
    "run_frontier",
    "load",
    "stack",
    "EscapeConfig",
    "EscapeResult",
    "FrontierConfig",
    "FrontierResult",
    "__version__",
]
