"""The command line: ``python -m saddle.experiments COMMAND ...``, or ``saddle COMMAND ...`` (the console script)."""

__all__ = ["console"]


def console() -> None:
    """The ``saddle`` console script (``[project.scripts]`` in pyproject.toml): runs exactly what ``python -m
    saddle.experiments`` runs (this package's ``__main__``), which exits with the command's status; the
    usage and error lines then name it ``saddle`` (:func:`saddle.experiments.cli.main`)."""
    import runpy

    runpy.run_module("saddle.experiments", run_name="__main__")
