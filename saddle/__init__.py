"""saddle: how mini-batch SGD escapes saddle points, measured.

The main entry points are :func:`saddle.escape.run_escape` (Python) and
``python -m saddle.experiments escape`` (command line); :func:`saddle.load` reads a results folder back
(``python -m saddle.experiments plot FOLDER`` redraws its figure).
"""

from saddle._version import __version__


def __getattr__(name):
    # Lazy, so that `import saddle` (which every `import saddle.X` runs first) stays cheap and compiles nothing.
    if name in ("run_escape", "EscapeConfig", "EscapeResult"):
        from saddle import escape

        return getattr(escape, name)
    if name == "load":
        from saddle.store.load import load

        return load
    raise AttributeError(f"module 'saddle' has no attribute {name!r}")


__all__ = ["run_escape", "load", "EscapeConfig", "EscapeResult", "__version__"]
