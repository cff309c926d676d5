"""The command line: ``python -m saddle.experiments COMMAND`` (see saddle.experiments.cli)."""
