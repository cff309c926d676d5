"""MkDocs hook: ``mkdocs build --strict --quiet`` fails on a warning, as ``--strict`` alone does.

MkDocs 1.6's ``--quiet`` raises the ``mkdocs`` logger to ERROR, so that no warning reaches the counter
that strict mode aborts on, and a strict build succeeds whatever it warns about
(https://github.com/mkdocs/mkdocs/issues/4126). This hook lowers the logger back to WARNING when a build
starts: ``--quiet`` still hides the INFO lines, a warning is printed, and strict mode counts it.
"""

from __future__ import annotations

import logging


def on_config(config, **kwargs):
    logger = logging.getLogger("mkdocs")
    if logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return config
