"""The package's imports go one way: no module of saddle imports, however indirectly, a module that imports it.

Idea under test
---------------
docs/architecture.md: data flow one way (config -> objective + optimiser -> kernel -> escape records ->
statistics -> table, files, figures), no module reaches back up that chain, and a function-local import
never hides a circle.  So the import graph of saddle's own modules has no cycle, counting every import:
at the top of a module, inside a function, and under ``if TYPE_CHECKING:``.  A package's ``__init__.py``
is a module like any other: a package that imports its submodule, and that submodule importing the
package back (``from saddle.plotting import colour`` inside ``saddle/plotting/escape.py``), is a circle.

Also checked here: every module can be imported first, in a fresh interpreter (a package's
``__init__.py`` runs before any of its submodules, which a graph of the named modules does not show);
``saddle.load`` reads folders without importing the code that runs experiments; and the core never
imports torch or jax (NumPy, Numba and the optional CuPy are its array libraries).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "saddle"
FORBIDDEN = ("torch", "jax", "jaxlib")


# ----------------------------------------------------------------------------- the checker


def modules(package: Path) -> dict[str, Path]:
    """Every module of ``package`` (a folder holding ``__init__.py``) by dotted name; a package is named
    by its folder (``saddle.store`` for ``saddle/store/__init__.py``)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str) -> list[tuple[str, int]]:
    """(what is imported, line) for every import statement of the module ``name`` at ``path``, anywhere
    in it; relative imports resolved, ``from X import y`` given as ``X.y``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found += [(f"{base}.{alias.name}" if alias.name != "*" else base, node.lineno) for alias in node.names]
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (each import named by the longest module it names:
    ``from saddle.store import sweep`` is ``saddle.store.sweep``, ``from saddle.store import StoreError``
    is ``saddle.store``)."""
    names = modules(package)

    def own(dotted: str) -> str | None:
        while dotted and dotted not in names:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for imported, _ in _imports(path, name):
            target = own(imported)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def shortest_circle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One shortest circle through the component's first module, as the modules along it (first = last)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    following.append(w)
        frontier = following
    raise ValueError(f"{component} is not a circle")


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    return f"{', '.join(component)}; for example {' -> '.join(shortest_circle(component, graph))}"


# ----------------------------------------------------------------------------- saddle


def test_saddle_has_no_import_circles():
    graph = import_graph(PACKAGE)
    assert "saddle.store" in graph and "saddle.kernels.cpu" in graph  # the walk found the package
    found = cycles(graph)
    assert not found, "import circles (every import counts, function-local and TYPE_CHECKING ones too):\n" + "\n".join(
        _describe(c, graph) for c in found
    )


def test_the_core_never_imports_torch_or_jax():
    offending = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}"
        for name, path in modules(PACKAGE).items()
        for imported, line in _imports(path, name)
        if imported.split(".")[0] in FORBIDDEN
    ]
    assert not offending, "\n".join(offending)


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Importing ``saddle.store.sweep`` runs ``saddle/__init__.py`` and ``saddle/store/__init__.py`` first,
    and its own import of ``saddle.sweep.config`` runs ``saddle/sweep/__init__.py``: an ``__init__.py``
    that imported back what is being imported would fail here, whichever module comes first.  One
    interpreter; saddle's modules are dropped from ``sys.modules`` before each (its libraries stay)."""
    names = [n for n in modules(PACKAGE) if not n.endswith("__main__")]
    script = textwrap.dedent(f"""
        import importlib, sys, traceback
        failed = []
        for name in {names!r}:
            for loaded in [m for m in sys.modules if m == "saddle" or m.startswith("saddle.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as err:
                failed.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
        print("\\n".join(failed))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.stdout.strip(), "modules that cannot be imported first:\n" + run.stdout


def test_load_does_not_import_the_code_that_runs_experiments():
    """``saddle.load`` sits below ``run_escape`` and ``run_sweep``: reading an escape folder and a sweep
    folder back imports neither saddle.escape nor saddle.sweep.run (nor Matplotlib)."""
    script = textwrap.dedent("""
        import sys
        import saddle
        escape = saddle.load("docs/results/default")
        sweep = saddle.load("docs/results/sweep-seed-question")
        assert escape.by_m and sweep.summary["median_steps"].size, (escape, sweep)
        print(" ".join(m for m in ("saddle.escape", "saddle.sweep.run", "matplotlib") if m in sys.modules))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == [], f"saddle.load imported {run.stdout.strip()}"


# ----------------------------------------------------------------------------- the checker, on a package of its own


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pkg"


def test_the_checker_finds_the_circles_of_a_small_package(tmp_path):
    """A package importing its submodule that imports the package back (under TYPE_CHECKING), and two
    modules importing each other from inside functions, one by a relative import, are two circles; a
    package that imports its submodules, which import each other one way, is none."""
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.figures import draw\n",
            "pkg/figures.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg import Palette
                def draw():
                    pass
            """,
            "pkg/run.py": """
                def run():
                    from .store import save
            """,
            "pkg/store/__init__.py": "",
            "pkg/store/save.py": """
                def save():
                    from pkg import run
            """,
            "pkg/sub/__init__.py": "from pkg.sub import a, b\n",
            "pkg/sub/a.py": "from . import b\nimport numpy\n",
            "pkg/sub/b.py": "from pkg.figures import draw\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.run"] == {"pkg.store.save"}  # `from .store import save`: the submodule
    assert graph["pkg.store.save"] == {"pkg.run"}  # `from pkg import run`: the module, not the package
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}  # numpy is not the package's
    assert cycles(graph) == [["pkg", "pkg.figures"], ["pkg.run", "pkg.store.save"]]
    assert _describe(["pkg", "pkg.figures"], graph) == "pkg, pkg.figures; for example pkg -> pkg.figures -> pkg"


def test_the_checker_finds_no_circle_where_imports_go_one_way(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "def __getattr__(name):\n    from pkg import run\n    return run\n",
            "pkg/common.py": "",
            "pkg/run.py": "from pkg.common import *\nfrom pkg.store import save\n",
            "pkg/store/__init__.py": "from pkg.store.save import save\n",
            "pkg/store/save.py": "from ..common import *\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.store.save"] == {"pkg.common"}
    assert cycles(graph) == []
