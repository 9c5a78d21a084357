"""Two counts of ``rag_core`` that only go down (issue 78): lines that name ``Any``, and imports
of ``rag_core`` made inside a function. Each ceiling is the count when the test came in; lower
it with the change that lowers the count. The issue's targets are under 250 and under 60.

``Any`` hides a shape the code knows: a record is a ``JsonObject``, a part a Protocol, a row a
TypedDict. An import inside a function hides an edge of the import graph; one that stays says
why on its line (an optional extra, or a cycle the layout cannot otherwise break, or what a
lazy import keeps off a path that does not need it): ``# optional extra: ...``, ``# cycle:
...``, ``# lazy: ...``, on the import's line or on the comment right above a group of them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_ANY_LINES = 200  # target: under 250
MAX_IMPORTS_IN_FUNCTIONS = 24  # target: under 60
_ANY = re.compile(r"\bAny\b")
_REASON = re.compile(r"#\s*(lazy|optional extra|cycle):")


def _sources() -> list[Path]:
    return sorted((ROOT / "rag_core").rglob("*.py"))


def any_lines() -> int:
    """Lines naming ``Any``, as ``grep -rn '\\bAny\\b' rag_core --include=*.py | wc -l``."""
    return sum(1 for path in _sources()
               for line in path.read_text(encoding="utf-8").splitlines() if _ANY.search(line))


def _is_project_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] == "rag_core"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "rag_core" for alias in node.names)
    return False


def _imports_in_functions(tree: ast.Module) -> list[ast.stmt]:
    seen: dict[int, ast.stmt] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            seen.update((id(n), n) for n in ast.walk(function)
                        if isinstance(n, ast.Import | ast.ImportFrom) and _is_project_import(n))
    return list(seen.values())


def imports_in_functions(tree: ast.Module) -> int:
    """Project imports inside a function (nested functions counted once)."""
    return len(_imports_in_functions(tree))


def _says_why(lines: list[str], row: int) -> bool:
    """A reason on the import's line, or in the comment right above its group of imports."""
    if _REASON.search(lines[row]):
        return True
    row -= 1
    while row >= 0 and lines[row].lstrip().startswith(("from ", "import ")):
        row -= 1
    while row >= 0 and lines[row].lstrip().startswith("#"):
        if _REASON.search(lines[row]):
            return True
        row -= 1
    return False


def imports_without_a_reason(source: str) -> list[int]:
    """The lines of the project imports inside a function that do not say why."""
    lines = source.splitlines()
    return sorted(n.lineno for n in _imports_in_functions(ast.parse(source))
                  if not _says_why(lines, n.lineno - 1))


def test_any_lines_stay_under_their_ceiling() -> None:
    count = any_lines()
    assert count <= MAX_ANY_LINES, (f"{count} lines of rag_core name Any (at most "
                                    f"{MAX_ANY_LINES}): type the new ones")


def test_imports_in_functions_stay_under_their_ceiling() -> None:
    count = sum(imports_in_functions(ast.parse(p.read_text(encoding="utf-8")))
                for p in _sources())
    assert count <= MAX_IMPORTS_IN_FUNCTIONS, (
        f"{count} imports of rag_core sit inside functions (at most "
        f"{MAX_IMPORTS_IN_FUNCTIONS}): import at the top, or say why on the line")


def test_each_import_left_in_a_function_says_why() -> None:
    silent = {str(p.relative_to(ROOT)): rows for p in _sources()
              if (rows := imports_without_a_reason(p.read_text(encoding="utf-8")))}
    assert silent == {}, "say why on the line (# lazy: / # optional extra: / # cycle:), or " \
                         "import at the top"


def test_a_reason_is_read_on_the_line_or_above_its_group() -> None:
    source = ("def f():\n    from rag_core.a import b  # lazy: only here\n"
              "    # cycle: a imports this module\n    from rag_core.c import d\n"
              "    from rag_core.e import f\n"
              "    # a comment that gives no reason\n    from rag_core.g import h\n"
              "    x = 1\n    from rag_core.i import j\n")
    assert imports_without_a_reason(source) == [7, 9]


def test_the_counters_count_what_they_name() -> None:
    tree = ast.parse("import rag_core\n"
                     "def f():\n    from rag_core.x import y\n    import json\n"
                     "    def g():\n        import rag_core.z\n"
                     "class A:\n    def m(self):\n        from . import w\n")
    assert imports_in_functions(tree) == 2
    assert _ANY.search("x: Any") and not _ANY.search("Anything, many")
