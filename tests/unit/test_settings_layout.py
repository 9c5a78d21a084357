"""Who holds the whole ``Settings``: no class but ``Parts`` keeps it, and no function outside the
builders takes it unless ``MAY_TAKE_SETTINGS`` names it with its reason (a list that only
shrinks: a function that reads a field or two takes that section, or the values).

A builder makes a part from Settings and sits beside it: its name says so (``build_*``,
``*_for``, ``make_*``, ``of``, ``from_settings``, ``under``, ``variant``) or it returns a class
of its own module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# --- each part holds its sections of Settings, never the whole ----------------------------------

MAY_KEEP_SETTINGS = {"rag_core/parts.py:Parts"}  # the container the edges build: it is the whole


def _names(annotation: ast.expr | None) -> set[str]:
    """The plain names an annotation mentions (``Settings | None`` -> Settings, None)."""
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(annotation)
            if isinstance(n, ast.Name | ast.Attribute)}


def _keeps_settings(cls: ast.ClassDef) -> list[str]:
    """What of ``cls`` is typed ``Settings``: a field (dataclasses) or an ``__init__``
    parameter (what an instance is made with, and so may keep)."""
    found = [f"field {ast.unparse(n.target)}" for n in cls.body
             if isinstance(n, ast.AnnAssign) and "Settings" in _names(n.annotation)]
    for init in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"):
        arguments = [*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs]
        found += [f"__init__({a.arg})" for a in arguments if "Settings" in _names(a.annotation)]
    return found


def test_only_parts_keeps_the_whole_settings() -> None:
    keeping = {}
    for path in sorted((ROOT / "rag_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and (what := _keeps_settings(node)):
                keeping[f"{path.relative_to(ROOT)}:{node.name}"] = what
    assert set(keeping) == MAY_KEEP_SETTINGS, (
        f"{ {k: v for k, v in keeping.items() if k not in MAY_KEEP_SETTINGS} }: give a part only "
        "its sections of Settings (rag_core/config/), built from Settings by a function beside "
        "it (as layers_for, ledger_for, store_for, hf_generator)")


def test_the_settings_rule_sees_fields_parameters_and_quoted_types(tmp_path: Path) -> None:
    source = ("class A:\n    s: 'Settings | None'\n"
              "class B:\n    def __init__(self, x: config.Settings) -> None: ...\n"
              "class C:\n    def __init__(self, caches: Caches) -> None: ...\n")
    tree = ast.parse(source)
    found = {c.name: _keeps_settings(c) for c in tree.body if isinstance(c, ast.ClassDef)}
    assert found == {"A": ["field s"], "B": ["__init__(x)"], "C": []}


# --- functions that take the whole Settings, outside the builders --------------------------------

BUILDER_PREFIXES = ("build_", "make_")
BUILDER_SUFFIXES = ("_for",)
BUILDER_NAMES = {"of", "from_settings", "under", "variant"}
_SERVICES = "the embedded servers of the state folder and the URLs they fill in (services)"
# "path:function" -> why it takes the whole Settings. Only shrinks: a function taken off (it
# now takes a section or values) leaves the list; a new one is refused.
MAY_TAKE_SETTINGS: dict[str, str] = {
    "rag_core/answers/log.py:query_log_key": "the query log's key (observability)",
    "rag_core/api/auth.py:check_auth_settings": "auth checked with the profile beside it",
    "rag_core/api/auth.py:issue_token": "a token minted as the app verifies it (auth)",
    "rag_core/api/docs.py:docs_enabled": "whether /docs is served (services and the profile)",
    "rag_core/api/routes.py:operator_may_see": "the operator's token and the profile",
    "rag_core/app.py:create_app": "the app: an edge, it builds its parts from the whole",
    "rag_core/cli/command.py:parts_of": "every part of one command: an edge",
    "rag_core/cli/servers.py:_multiprocess_metrics": "the metrics folder of serve (state dir)",
    "rag_core/ingest/ingestion.py:stored_hash": "a note's hash names chunking and embedding",
    "rag_core/ingest/ingestion.py:_embed": "the embedding dimension of a note's chunks",
    "rag_core/telemetry/logs.py:setup_logging": "the log level (observability)",
    "rag_core/parts.py:_require_database": "the database URL the parts need (services)",
    "rag_core/parts.py:reset_breakers": "the breakers of a variant's generators",
    "rag_core/redis_kv/client.py:shared_client": "the Redis mode and URL (services)",
    "rag_core/redis_kv/keys.py:answer_shape": "the answer key names every section that shapes it",
    "rag_core/redis_kv/keys.py:query_key": "the answer key's shape, from answer_shape",
    "rag_core/safety/guard.py:validate_query": "the question's length and token budget",
    "rag_core/services/__init__.py:ensure_services": _SERVICES,
    "rag_core/services/__init__.py:resolve": _SERVICES + ": it returns Settings filled in",
    "rag_core/services/__init__.py:status": _SERVICES,
    "rag_core/services/__init__.py:stop_all": _SERVICES,
    "rag_core/services/postgres.py:start_postgres": _SERVICES,
    "rag_core/services/postgres.py:stop_postgres": _SERVICES,
    "rag_core/services/processes.py:register_process": _SERVICES,
    "rag_core/services/processes.py:unregister_process": _SERVICES,
    "rag_core/services/processes.py:stop_process": _SERVICES,
    "rag_core/services/redis_server.py:start_redis": _SERVICES,
    "rag_core/services/redis_server.py:stop_redis": _SERVICES,
}


def _is_builder(function: ast.FunctionDef | ast.AsyncFunctionDef, classes: set[str]) -> bool:
    name = function.name
    return (name.startswith(BUILDER_PREFIXES) or name.endswith(BUILDER_SUFFIXES)
            or name in BUILDER_NAMES or bool(_names(function.returns) & classes))


def _takers(tree: ast.Module) -> list[str]:
    """The functions of a module (methods too) with a parameter typed ``Settings`` that are
    not builders."""
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if (any("Settings" in _names(a.annotation) for a in arguments)
                    and not _is_builder(node, classes)):
                found.append(node.name)
    return found


def test_a_function_outside_the_builders_takes_the_whole_settings_only_when_listed() -> None:
    taking = {f"{path.relative_to(ROOT)}:{name}"
              for path in sorted((ROOT / "rag_core").rglob("*.py"))
              for name in _takers(ast.parse(path.read_text(), str(path)))}
    new = sorted(taking - set(MAY_TAKE_SETTINGS))
    assert not new, (f"{new} take the whole Settings: give them the section they read (or its "
                     "values); a builder beside its class is named build_*, *_for or of")
    gone = sorted(set(MAY_TAKE_SETTINGS) - taking)
    assert not gone, f"{gone} no longer take the whole Settings: take them off MAY_TAKE_SETTINGS"


def test_settings_has_no_flat_alias() -> None:
    """``settings.<section>.<field>`` is the one way to read a setting: no ``__getattr__`` (nor
    ``__getattribute__``) on Settings forwards a flat name, so mypy checks every read."""
    from rag_core.config import Settings

    assert {"__getattr__", "__getattribute__"} & set(vars(Settings)) == set()
    with pytest.raises(AttributeError):
        Settings().top_k  # type: ignore[attr-defined]  # noqa: B018


def test_the_reader_rule_tells_builders_from_readers() -> None:
    source = ("class Store: ...\n"
              "def store_for(s: Settings) -> Store: ...\n"
              "def make(s: Settings) -> Store: ...\n"
              "def build_x(s: 'Settings') -> int: ...\n"
              "def limit(s: Settings | None) -> int: ...\n"
              "def fine(r: Retrieval) -> int: ...\n")
    assert _takers(ast.parse(source)) == ["limit"]
