"""Rooms split before they fill (issue 60): the cache layers are called directly, not through a
facade; the harness's ``run`` reads as its steps; the embedded services and the ``rag-core``
command are split by concern, ``cli/main.py`` only registering the subcommand modules."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_SPLIT_LINES = 300  # rag_core/services/__init__.py and rag_core/cli/main.py


# --- no facade: the pipeline calls the layer objects themselves ---------------------------------

MAX_FORWARDS = 3  # CacheLayers may pass on this many methods one-to-one (truth, ping)


def _forwards(function: ast.FunctionDef) -> bool:
    """Its one statement passes its own parameters, unchanged, to a method of one of its
    fields (``return self.answers.get(key)``), or reads one field's attribute."""
    body = [n for n in function.body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    value = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return | ast.Expr) \
        else None
    target = value.func if isinstance(value, ast.Call) else value
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
            and isinstance(target.value.value, ast.Name) and target.value.value.id == "self"):
        return False
    if not isinstance(value, ast.Call):
        return True
    params = [a.arg for a in [*function.args.args, *function.args.kwonlyargs]][1:]
    passed = [*value.args, *(k.value for k in value.keywords)]
    return all(isinstance(p, ast.Name) for p in passed) and sorted(
        p.id for p in passed if isinstance(p, ast.Name)) == sorted(params)


def test_the_cache_layers_are_no_facade() -> None:
    path = ROOT / "rag_core" / "cache" / "layers.py"
    layers = next(n for n in ast.parse(path.read_text()).body
                  if isinstance(n, ast.ClassDef) and n.name == "CacheLayers")
    forwarding = [n.name for n in layers.body if isinstance(n, ast.FunctionDef) and _forwards(n)]
    assert len(forwarding) <= MAX_FORWARDS, forwarding


def test_the_forward_rule_sees_a_method_passed_on() -> None:
    source = ("class A:\n"
              "    def get(self, key):\n        '''doc'''\n        return self.inner.get(key)\n"
              "    def put(self, key, value):\n        self.inner.put(key, value=value)\n"
              "    def more(self, key):\n        return self.inner.get(key, 2)\n"
              "    def held(self):\n        return self.inner.truth\n")
    cls = ast.parse(source).body[0]
    assert isinstance(cls, ast.ClassDef)
    found = {n.name: _forwards(n) for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert found == {"get": True, "put": True, "more": False, "held": True}


def test_the_harness_run_reads_as_plan_execute_judge_report() -> None:
    tree = ast.parse((ROOT / "evals" / "runner.py").read_text())
    run = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run")
    assert run.end_lineno is not None and run.end_lineno - run.lineno + 1 <= 60
    called = [n.func.id for n in ast.walk(run)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    steps = ["make_plan", "start_run", "execute_notebooks", "judge_notebooks", "write_run_report"]
    assert [c for c in called if c in steps] == steps



def test_the_services_and_the_command_are_split_by_concern() -> None:
    sizes = {name: len((ROOT / name).read_text().splitlines())
             for name in ("rag_core/services/__init__.py", "rag_core/cli/main.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_SPLIT_LINES} == {}


def test_the_command_only_registers_the_modules_of_its_subcommands() -> None:
    from rag_core.cli.main import COMMANDS, command

    tree = ast.parse((ROOT / "rag_core" / "cli" / "main.py").read_text())
    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    arguments = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "add_argument"]
    assert [name for name in defined if name.startswith("cmd_")] == [] and arguments == []
    for module in COMMANDS:  # each a module of rag_core/cli/parsers/ that adds a command
        assert module.__name__.startswith("rag_core.cli.parsers.")
        added = _Recorder()
        module.register(added)
        assert added.names, f"{module.__name__} registers no subcommand"
        for name, func in zip(added.names, added.funcs, strict=True):  # each runs a function
            assert callable(command(func)), f"{name}: {func} names no function"


class _Recorder:
    """An ``add`` that keeps the names it is given."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.funcs: list[str] = []

    def __call__(self, name: str, func: str, help: str) -> argparse.ArgumentParser:
        self.names.append(name)
        self.funcs.append(func)
        return argparse.ArgumentParser(prog=name)
