"""Griffe extension: the reST roles in saddle's docstrings rendered as cross-references.

saddle's docstrings name other objects with Sphinx roles (``:class:`~saddle.records.EscapeResult```,
``:func:`regime```, ``:mod:`saddle.theory```). mkdocstrings renders docstrings as Markdown, where such a
role would show literally. Once a package is loaded, this extension rewrites every role in its docstrings
(the Python sources are not touched):

* the target is resolved as Sphinx would, from the object the docstring belongs to: a dotted path of a
  loaded package as it is, a bare or relative name through the names its module, class or function sees
  (members and imports), then followed through imports to where the object is defined;
* a target that resolves becomes an *optional* mkdocs-autorefs cross-reference,
  ``<autoref identifier="saddle.records.EscapeResult" optional><code>EscapeResult</code></autoref>``:
  a link where the object is rendered in the API reference, plain code text where it is not (autorefs
  resolves optional references without a warning either way);
* a dotted name of a loaded package that is not found where it is written (``saddle.load``, which the
  package's ``__getattr__`` provides at run time) is imported and looked up where it is defined;
* a target that does not resolve (an object of another package, a stale name) becomes plain code text.

The text shown is Sphinx's: the target as written, its last component with ``~``, ``title`` for
``title <target>``; ``!`` means no link. In mkdocs.yml::

    plugins:
      - mkdocstrings:
          handlers:
            python:
              options:
                extensions:
                  - docs/hooks/sphinx_roles.py:SphinxRoles

``SphinxRoles(aliases={"a.b": "a.c.b"})`` maps names to where they are defined, before anything else.
"""

from __future__ import annotations

import html
import importlib
import logging
import re
from typing import Any

import griffe

_log = logging.getLogger("mkdocs.plugins.saddle.sphinx_roles")

ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|obj|exc|const|type):`(?P<body>[^`]+)`")
EXPLICIT_TITLE = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring of a loaded package into an autorefs reference."""

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self.aliases = dict(aliases or {})
        self.linked = 0
        self.plain: list[str] = []

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        collection = loader.modules_collection
        self._walk(pkg, collection, seen=set())
        _log.debug(
            "sphinx_roles: %s: %d roles as references, %d as plain code (%s)",
            pkg.path,
            self.linked,
            len(self.plain),
            ", ".join(sorted(set(self.plain))),
        )

    def _walk(self, obj: griffe.Object, collection: griffe.ModulesCollection, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(lambda match: self._rewrite(match, obj, collection), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:  # an imported name: its docstring is rewritten where it is defined
                self._walk(member, collection, seen)

    def _rewrite(self, match: re.Match, obj: griffe.Object, collection: griffe.ModulesCollection) -> str:
        body = " ".join(match["body"].split())
        explicit = EXPLICIT_TITLE.match(body)
        title, target = (explicit["title"], explicit["target"]) if explicit else (None, body)
        no_link = target.startswith("!")
        target = target.lstrip("!")
        short = target.startswith("~")
        target = target.lstrip("~").removesuffix("()")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        code = f"<code>{html.escape(title)}</code>"
        path = None if no_link else self._resolve(target, obj, collection)
        if path is None:
            self.plain.append(target)
            return code
        self.linked += 1
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    def _resolve(self, target: str, obj: griffe.Object, collection: griffe.ModulesCollection) -> str | None:
        """The path where ``target``, as seen from ``obj``, is defined; None if it cannot be found."""
        target = target.lstrip(".")
        if target in self.aliases:
            target = self.aliases[target]
        first, _, rest = target.partition(".")
        if first in collection.members:
            candidates = [target]
        else:
            candidates = []
            try:
                base = obj.resolve(first)
            except griffe.NameResolutionError:
                base = None
            if base is not None:
                candidates.append(f"{base}.{rest}" if rest else base)
            # a member that an enclosing class inherits (close(), seen from a subclass's __init__)
            scope: griffe.Object | None = obj
            while scope is not None and not scope.is_module:
                if scope.is_class:
                    try:
                        inherited = scope.all_members.get(first)
                    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                        inherited = None
                    if inherited is not None:
                        candidates.append(f"{inherited.path}.{rest}" if rest else inherited.path)
                scope = scope.parent
            # a relative dotted name (Trigger.check) seen from the module
            candidates.append(f"{obj.module.path}.{target}")
        for candidate in candidates:
            try:
                found = collection[candidate]
                if found.is_alias:
                    found = found.final_target
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            return found.path
        if first in collection.members:
            return self._resolve_at_run_time(target, collection)
        return None

    def _resolve_at_run_time(self, target: str, collection: griffe.ModulesCollection) -> str | None:
        """Where a name that a package provides only at run time (``saddle.load``, through the package's
        ``__getattr__``) is defined: imported, then looked up where its ``__module__`` says."""
        first, *rest = target.split(".")
        try:
            value = importlib.import_module(first)
            for name in rest:
                value = getattr(value, name)
        except Exception:  # noqa: BLE001 - a name that cannot be imported is shown as plain code
            return None
        module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if not module or not qualname or "<" in qualname:
            return None
        try:
            found = collection[f"{module}.{qualname}"]
        except KeyError:
            return None
        return None if found.is_alias else found.path
