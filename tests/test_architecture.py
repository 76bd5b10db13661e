"""The layering rules of the Python layer, checked on the installed package's source:
only ``_backends/`` reaches the compiled modules or names a backend; there is no import cycle; an
in-memory call leaves Dask (and the module that uses it) unimported."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ledkde_fast

PACKAGE = Path(ledkde_fast.__file__).parent
BACKEND_NAMES = {"cpp", "numba", "reference", "cuda"}
COMPILED = {"ledkde_fast._core", "ledkde_fast._core_cuda"}


def _modules():
    """(dotted name, parsed tree) of every Python module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path.name == "__init__.py", ast.parse(path.read_text(), filename=str(path))


def _imports(name, is_package, tree, known):
    """Every module imported anywhere in the tree (function-level imports included), absolute:
    ``from p import x`` imports the module p.x when there is one, else p."""
    here = name if is_package else name.rsplit(".", 1)[0]
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            yield from subs or [base]


def _runtime_nodes(tree):
    """ast.walk without the bodies of ``if TYPE_CHECKING:`` (imports for type checkers only)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _graph():
    modules = {name: (is_package, tree) for name, is_package, tree in _modules()}
    graph = {}
    known = set(modules) | COMPILED
    for name, (is_package, tree) in modules.items():
        graph[name] = {dep for dep in _imports(name, is_package, tree, known) if dep in known}
    return graph


def test_only_the_backends_import_the_compiled_modules():
    offenders = {name: sorted(deps & COMPILED) for name, deps in _graph().items()
                 if deps & COMPILED and not name.startswith("ledkde_fast._backends")}
    assert not offenders


def test_no_module_outside_the_backends_compares_a_backend_name():
    offenders = []
    for name, _, tree in _modules():
        if name.startswith("ledkde_fast._backends"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for operand in [node.left, *node.comparators]:
                    values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                    if any(isinstance(v, ast.Constant) and v.value in BACKEND_NAMES for v in values):
                        offenders.append(f"{name}:{node.lineno}")
    assert not offenders


def test_the_import_graph_has_no_cycle():
    graph = {name: deps - COMPILED for name, deps in _graph().items()}
    # a package's __init__ is imported before its submodules: an edge into the top package is a cycle
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(path[path.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_in_memory_calls_leave_dask_unimported():
    code = ("import sys, numpy as np, ledkde_fast as lk\n"
            "lk.empirical_denoiser(np.zeros((2, 3)), np.ones((5, 3)), 0.5)\n"
            "lk.smoothed_score(np.zeros((2, 3)), np.ones((5, 3)), 0.5, 0.1, n_kernel=4)\n"
            "lk.nearest_neighbors(np.zeros((2, 3)), np.ones((5, 3)), 2)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')\n"
            "             or m == 'ledkde_fast.distributed'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_cpu_backend_offers_every_operation():
    from ledkde_fast._backends import OPERATIONS, available_backends, get_backend

    for name in set(available_backends()) & {"cpp", "numba", "reference"}:
        module = get_backend(name)
        assert [op for op in OPERATIONS if not callable(getattr(module, op, None))] == [], name


def test_a_missing_operation_is_an_error_not_a_fallback(monkeypatch):
    import types

    from ledkde_fast import _backends

    partial = types.ModuleType("ledkde_fast._backends.partial")  # a backend without a kNN kernel
    reference = _backends.get_backend("reference")
    monkeypatch.setattr(_backends, "get_backend", lambda backend="auto": partial if backend == "partial" else reference)
    with pytest.raises(ValueError, match="backend 'partial' does not offer knn_select; backends that do: .*reference"):
        _backends.operation("partial", "knn_select")


def test_the_version_is_defined_once():
    import importlib.metadata

    version = importlib.metadata.version("ledkde_fast")
    assert ledkde_fast.__version__ == version
    citation = Path(__file__).parents[1] / "CITATION.cff"
    assert f"\nversion: {version}\n" in citation.read_text()
