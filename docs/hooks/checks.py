"""MkDocs hook: a page names only files that exist, and no internal document or issue number.

Warns, which fails the strict build, where a page (generated results under docs/results/ aside) names

* a path of the repository that does not exist: ``saddle/...``, ``tests/...``, ``benchmarks/...``,
  ``experiments/...``, ``examples/...`` or ``docs/...`` (a ``*`` in it is a glob, a stem such as
  ``docs/results/figures/talk-style`` stands for its files; a path with a ``<placeholder>`` is not
  checked);
* the internal specification ("SPEC") or an issue number (the word "issue" and a number): neither
  ships with the package, so the pages cite a page and section, or a paper, instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

PATH = re.compile(r"(?<![\w./-])(?:saddle|tests|benchmarks|experiments|examples|docs)/[\w./*<>-]*[\w*/]")
INTERNAL = re.compile(r"\bSPEC\b|\b[Ii]ssues? #?\d+")


def on_page_markdown(markdown: str, page, config, **kwargs) -> str:
    name = page.file.src_uri
    if name.startswith("results/"):
        return markdown
    root = Path(config.config_file_path).parent
    for number, line in enumerate(markdown.split("\n"), 1):
        for match in PATH.finditer(line):
            path = match.group().rstrip(".")
            if "<" in path or "://" in line[max(0, match.start() - 12) : match.start()]:
                continue
            if not (any(root.glob(path)) or any(root.glob(f"{path}.*"))):  # a stem names its files too
                log.warning("docs/%s:%d names %s, which does not exist", name, number, path)
        for match in INTERNAL.finditer(line):
            log.warning(
                "docs/%s:%d says %r: cite a docs page and section or a paper instead", name, number, match.group()
            )
    return markdown
