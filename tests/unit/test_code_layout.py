"""The layout of the code holds what the README promises: no import cycle (also none hidden inside
a function or behind ``if TYPE_CHECKING:``), packages that never import each other both ways, a
deployed app that never imports the development servers, few modules at the top of each package
root, files short enough to read at once, and classes small enough to hold one state (a class
near the limit is named in a warning, so that it is split before its file is trimmed)."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rag_core", "evals", "loadtests")
MAX_LINES = 400
MAX_TOP_MODULES = 15
MAX_CLASS_LINES = 200
WARN_CLASS_LINES = 180  # a class over this is named in a warning: split it before the limit
CLASS_PACKAGES = ("rag_core", "evals")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(module: str, path: Path) -> Iterator[str]:
    """Every project module that ``module`` imports, wherever the import statement sits."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``, mod
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _graph() -> dict[str, set[str]]:
    return {m: set(_imported(m, p)) for m, p in MODULES.items()}


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _room(module: str) -> str:
    """A module's room: its top package and the first name below it (``rag_core.cache``)."""
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(GRAPH) == []


def test_no_two_packages_import_each_other() -> None:
    rooms: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        rooms.setdefault(_room(module), set()).update(
            _room(t) for t in targets if _room(t) != _room(module))
    assert _cycles(rooms) == []


def test_the_cycle_finder_finds_a_hidden_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_an_import_inside_a_function_counts(tmp_path: Path) -> None:
    source = "def f():\n    from rag_core.parts import Parts\n"
    (tmp_path / "m.py").write_text(source)
    assert "rag_core.parts" in set(_imported("rag_core.x", tmp_path / "m.py"))


def _closure(start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_deployed_app_never_imports_the_development_servers() -> None:
    reached = _closure("rag_core.app")
    assert not {m for m in reached if m.startswith("rag_core.devservers")}


@pytest.mark.parametrize("package", ["rag_core", "evals"])
def test_few_modules_sit_at_the_top_of_a_package(package: str) -> None:
    top = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_files_stay_short_enough_to_read_at_once() -> None:
    long = {}
    for folder in (*PACKAGES, "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}


def _class_sizes(path: Path) -> Iterator[tuple[str, int]]:
    """Every class in a file (nested ones too) and its lines, from ``class`` to its last line."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None
            yield node.name, node.end_lineno - node.lineno + 1


def _classes_over(lines: int) -> dict[str, int]:
    return {f"{path.relative_to(ROOT)}:{name}": size
            for package in CLASS_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            for name, size in _class_sizes(path) if size > lines}


def test_the_class_measure_counts_from_class_to_its_last_line(tmp_path: Path) -> None:
    source = "class A:\n    x = 1\n\n    def f(self):\n        class B:\n            pass\n"
    (tmp_path / "m.py").write_text(source)
    assert dict(_class_sizes(tmp_path / "m.py")) == {"A": 6, "B": 2}


# warnings are errors in this suite; a class in the band is reported, not failed
@pytest.mark.filterwarnings("default:.*split it by the states it holds")
def test_classes_stay_small_enough_to_hold_one_state() -> None:
    near = {k: v for k, v in _classes_over(WARN_CLASS_LINES).items() if v <= MAX_CLASS_LINES}
    for name, size in sorted(near.items()):
        warnings.warn(f"{name} has {size} lines (limit {MAX_CLASS_LINES}): split it by the "
                      "states it holds before it grows", stacklevel=1)
    assert _classes_over(MAX_CLASS_LINES) == {}
