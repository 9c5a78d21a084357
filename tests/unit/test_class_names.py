"""Names that say one thing: no two classes in ``rag_core`` share a name, so that a reader (and
an import) never has to ask which ``Generation`` is meant, and no import alias exists only to
dodge a clash."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _classes(path: Path) -> Iterator[str]:
    """The name of every class ``path`` defines, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ClassDef):
            yield node.name


def duplicate_class_names(package: Path) -> dict[str, list[str]]:
    """Class name -> the modules (relative to the package's parent) that each define one,
    for every name defined more than once."""
    where: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for name in _classes(path):
            where.setdefault(name, []).append(str(path.relative_to(package.parent)))
    return {name: files for name, files in sorted(where.items()) if len(files) > 1}


def test_no_two_classes_of_rag_core_share_a_name() -> None:
    assert duplicate_class_names(ROOT / "rag_core") == {}


def test_the_finder_names_each_module_of_a_shared_name(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("class Tokens:\n    class Inner:\n        pass\n")
    (package / "sub" / "b.py").write_text("class Tokens:\n    pass\n\nclass Inner:\n    pass\n")
    (package / "c.py").write_text("class Alone:\n    pass\n")
    assert duplicate_class_names(package) == {
        "Inner": ["pkg/a.py", "pkg/sub/b.py"], "Tokens": ["pkg/a.py", "pkg/sub/b.py"]}


def test_no_class_of_rag_core_is_imported_under_another_name() -> None:
    """``from rag_core.config import Generation as Generation_``: an alias that only renames a
    class of the package to avoid another of the same name (a class of a library, such as
    starlette's ``HTTPException`` beside FastAPI's, is not ours to rename)."""
    ours = {name for path in (ROOT / "rag_core").rglob("*.py") for name in _classes(path)}
    renamed = []
    for path in sorted((ROOT / "rag_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rag_core"):
                renamed += [f"{path.relative_to(ROOT)}: {a.name} as {a.asname}"
                            for a in node.names
                            if a.asname and a.asname != a.name and a.name in ours]
    assert renamed == []
