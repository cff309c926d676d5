"""Every public function and method of saddle says what it takes and what it gives back.

Idea under test
---------------
The package is type-checked (``mypy``, with ``check_untyped_defs``), and a reader learns a function's
contract from its signature first.  So every public function (module level, name not starting with
``_``) and every public method of a public class (nested public classes included) annotates each of its
parameters, except the ``self`` or ``cls`` of a method, and its return type.  Functions nested inside
functions are implementation details and are not checked; ``@overload`` stubs count like any function.
The Numba kernel hooks of the objectives are public functions too: their annotations are plain
(``np.ndarray``, ``int``, ``float``), which Numba ignores.

The check reads the source with :mod:`ast` (nothing is imported) and lists every miss as
``file:line: name: what is missing``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "saddle"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _body_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a module or class body, looking inside ``if``/``try``/``with`` blocks (a function
    defined under ``if TYPE_CHECKING:`` or in a ``try:`` is still at that level) but not into functions."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _body_statements(node.body)
            yield from _body_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _body_statements(block)
        elif isinstance(node, ast.With):
            yield from _body_statements(node.body)


def _is_staticmethod(node: FunctionNode) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id == "staticmethod")
        or (isinstance(d, ast.Attribute) and d.attr == "staticmethod")
        for d in node.decorator_list
    )


def public_functions(tree: ast.Module) -> Iterator[tuple[str, FunctionNode, bool]]:
    """(qualified name, node, is a method) for every public function of a module: at module level and
    in public classes (nested ones included), never inside a function."""

    def walk(body: list[ast.stmt], prefix: str, in_class: bool) -> Iterator[tuple[str, FunctionNode, bool]]:
        for node in _body_statements(body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
                yield prefix + node.name, node, in_class
            elif isinstance(node, ast.ClassDef) and _is_public(node.name):
                yield from walk(node.body, f"{prefix}{node.name}.", True)

    yield from walk(tree.body, "", False)


def missing_annotations(node: FunctionNode, is_method: bool) -> list[str]:
    """What ``node`` leaves unannotated: its parameters (by name) and its return type."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if is_method and not _is_staticmethod(node) and positional:
        positional = positional[1:]  # self or cls
    params = [*positional, *args.kwonlyargs]
    if args.vararg is not None:
        params.append(args.vararg)
    if args.kwarg is not None:
        params.append(args.kwarg)
    missing = [f"parameter {p.arg}" for p in params if p.annotation is None]
    if node.returns is None:
        missing.append("return type")
    return missing


def unannotated(package: Path = PACKAGE) -> list[str]:
    """``file:line: name: missing ...`` for every public function of ``package`` that misses an annotation."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(package.parent)
        for name, node, is_method in public_functions(tree):
            missing = missing_annotations(node, is_method)
            if missing:
                found.append(f"{where}:{node.lineno}: {name}: missing {', '.join(missing)}")
    return found


# ---------------------------------------------------------------------------------------- the tests


def test_every_public_function_is_annotated() -> None:
    missing = unannotated()
    assert not missing, f"{len(missing)} public functions lack annotations:\n" + "\n".join(missing)


def _check(source: str) -> list[str]:
    tree = ast.parse(source)
    return [
        f"{name}: {', '.join(m)}"
        for name, node, is_method in public_functions(tree)
        if (m := missing_annotations(node, is_method))
    ]


def test_the_checker_finds_what_it_should() -> None:
    source = """
def good(x: int, *args: int, y: str = "", **kw: float) -> None: ...
def no_return(x: int): ...
def no_param(x) -> int: ...
def no_vararg(*args, **kwargs) -> None: ...
def _private(x): ...
async def coro(x) -> None: ...

def outer() -> None:
    def inner(x): ...  # nested in a function: not checked

if True:
    def under_if(x) -> None: ...

class Public:
    def method(self, x) -> None: ...
    def fine(self, x: int) -> None: ...
    @classmethod
    def build(cls) -> "Public": ...
    @staticmethod
    def static(x) -> None: ...
    def _private(self, x): ...
    def __init__(self, x): ...
    class Inner:
        def deep(self): ...

class _Private:
    def method(self, x): ...
"""
    assert _check(source) == [
        "no_return: return type",
        "no_param: parameter x",
        "no_vararg: parameter args, parameter kwargs",
        "coro: parameter x",
        "under_if: parameter x",
        "Public.method: parameter x",
        "Public.static: parameter x",
        "Public.Inner.deep: return type",
    ]
