"""docs/question-walk.md stays true to the code: every part its table names exists, and the
settings sections named for it are the ones its constructor (or signature) is annotated with.

A part "holds" a section when a parameter of its ``__init__`` (a dataclass: its init fields;
a function: its parameters) is annotated with that section's class, directly, inside a union or
``Annotated``, or one level down in a dataclass it receives (a bundle such as ``LayerSections``).
``Parts`` and ``Settings`` are named as such: they carry every section."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import inspect
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from rag_core.config import SECTIONS, Settings
from rag_core.parts import Parts

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "docs" / "question-walk.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([\w.]+)`\s*\|([^|]*)\|([^|]*)\|\s*$")
WHOLE = {"Parts": Parts, "Settings": Settings}
NONE = "—"


def rows() -> list[tuple[str, str, frozenset[str]]]:
    """(step, dotted name, sections named) for each row of the walk's table."""
    found = []
    for line in WALK.read_text().splitlines():
        match = ROW.match(line)
        if match:
            step, name, cell, _ = match.groups()
            names = [n.strip().strip("`") for n in cell.split(",")]
            found.append((step, name, frozenset(n for n in names if n and n != NONE)))
    return found


def resolve(dotted: str) -> Any:
    """The object ``dotted`` names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise LookupError(dotted)


class _Unknown(type):
    """A name the module does not define: anything asked of it is itself."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return cls

    def __getitem__(cls, item: Any) -> Any:
        return cls


def _checking_imports(module: Any) -> dict[str, Any]:
    """The names ``module`` imports under ``if TYPE_CHECKING:`` (its annotations use them)."""
    names: dict[str, Any] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            imports = [s for s in node.body if isinstance(s, ast.Import | ast.ImportFrom)]
            exec(compile(ast.Module(imports, []), module.__name__, "exec"), names)  # noqa: S102
    return names


class _Names(dict[str, Any]):
    def __init__(self, module: Any) -> None:
        super().__init__()
        self.module = {**_checking_imports(module), **vars(module)}

    def __missing__(self, name: str) -> Any:
        if name in self.module:
            return self.module[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        return _Unknown(name, (), {})


def _evaluated(annotation: Any, module: Any) -> Any:
    if isinstance(annotation, str):
        return eval(annotation, {}, _Names(module))  # noqa: S307 - our own annotations
    return annotation


def annotations(obj: Any) -> list[Any]:
    """The evaluated annotations of what constructing (or calling) ``obj`` takes."""
    module = inspect.getmodule(obj)
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        raw = [f.type for f in dataclasses.fields(obj) if f.init]
    else:
        target = obj.__init__ if inspect.isclass(obj) else obj
        raw = [p.annotation for p in inspect.signature(target).parameters.values()
               if p.annotation is not inspect.Parameter.empty]
    return [_evaluated(a, module) for a in raw]


def _sections_in(tp: Any, depth: int) -> set[str]:
    if isinstance(tp, list):
        return set().union(*(_sections_in(t, depth) for t in tp))
    for name, whole in WHOLE.items():
        if tp is whole:
            return {name}
    for name, section in SECTIONS.items():
        if tp is section:
            return {name}
    found: set[str] = set()
    for arg in typing.get_args(tp):
        found |= _sections_in(arg, depth)
    if depth == 0 and inspect.isclass(tp) and dataclasses.is_dataclass(tp):
        found |= set().union(*(_sections_in(a, 1) for a in annotations(tp)))
    return found


def held(obj: Any) -> frozenset[str]:
    return frozenset(set().union(*(_sections_in(a, 0) for a in annotations(obj))))


def test_the_walk_has_a_table_that_names_the_sections() -> None:
    table = rows()
    assert len(table) >= 20
    numbered = [line for line in WALK.read_text().splitlines() if re.match(r"^\|\s*\d", line)]
    assert len(numbered) == len(table), "every row: step | `module.Name` | sections | what"
    named = set().union(*(s for _, _, s in table))
    assert named - set(SECTIONS) - set(WHOLE) == set(), "only sections, Parts or Settings"
    assert [int(step) for step, _, _ in table] == sorted(int(step) for step, _, _ in table)


@pytest.mark.parametrize(("step", "dotted", "named"), rows(),
                         ids=[f"{step}-{dotted}" for step, dotted, _ in rows()])
def test_each_part_exists_and_holds_the_sections_the_walk_names(
        step: str, dotted: str, named: frozenset[str]) -> None:
    obj = resolve(dotted)
    assert inspect.isclass(obj) or callable(obj), dotted
    assert held(obj) == named, f"step {step}: {dotted} holds {sorted(held(obj))}"


def test_the_reading_sees_a_bundle_and_a_whole() -> None:
    """The rule itself, on parts whose constructors are known: a bundle of sections is read
    through, ``Parts`` is named as a whole."""
    from rag_core.cache.layers import CacheLayers
    from rag_core.pipeline import Pipeline

    assert held(CacheLayers) == {"caches", "embedding", "decisions"}
    assert held(Pipeline) == {"Parts"}
