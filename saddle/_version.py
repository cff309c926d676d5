"""saddle's version: the one place the package reads it from (it matches ``version`` in pyproject.toml)."""

__version__ = "0.1.0"
