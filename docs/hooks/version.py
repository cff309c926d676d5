"""MkDocs hook: every page's footer names the version of saddle it documents.

The version is read from saddle/_version.py (the one place the package reads it from), so the site
cannot show another one; mkdocs.yml's ``copyright`` line, if set, follows it.
"""

from __future__ import annotations

import re
from pathlib import Path


def on_config(config, **kwargs):
    source = Path(config.config_file_path).parent / "saddle" / "_version.py"
    version = re.search(r'^__version__ = "([^"]+)"', source.read_text(encoding="utf-8"), re.MULTILINE)[1]
    line = f"saddle {version}"
    config.copyright = f"{line} · {config.copyright}" if config.copyright else line
    return config
