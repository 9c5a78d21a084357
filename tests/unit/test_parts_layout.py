"""Who takes the whole ``Parts``: below the edge a class or function takes the parts it uses, not
the container. ``MAY_TAKE_PARTS`` names each function (or ``__init__``) that still takes
``Parts`` whole, with its reason; the list only shrinks (as ``MAY_TAKE_SETTINGS`` does for
``Settings`` in ``test_settings_layout.py``). A function that reads one part or two takes those.

Issue 78 counted 29 signatures; 26 were left when this test came in (three of them narrowed
since), each listed with the parts it reads (attributes of its ``Parts`` argument, or of
``self.parts``), so that the next change can narrow it. The list held 30 when the limits moved
into ``parts.py``; eleven that read one part or two took those then (19 left)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MAY_TAKE_PARTS = {
    # the edges and the builders: they hold every part by design
    "rag_core/app.py:create_app": "the app's edge: builds routes and middleware from every part",
    "rag_core/parts.py:_under": "a builder: the same parts under other settings",
    "rag_core/parts.py:with_settings": "a builder: a sweep's variant of the parts",
    "rag_core/parts.py:variant": "a builder: every variant the harness and benchmarks run",
    "rag_core/pipeline.py:Pipeline.__init__": "the pipeline drives every step and hands each "
                                              "its parts: the container's reader below the edge",
    # ingestion: writes a note through every part that holds it
    "rag_core/ingest/ingestion.py:ingest_notes": "store, embedder, caches, counter, settings",
    "rag_core/ingest/ingestion.py:ingest_path": "passes them on to ingest_notes",
    "rag_core/ingest/sync.py:sync_folder": "store and settings, and ingest_notes's parts",
    "rag_core/ingest/restore.py:restore": "the store, and ingest_notes's parts",
    "rag_core/api/write_quota.py:charged_ingest": "passes them on to ingest_notes",
    # reads two or three parts: to narrow to those
    "rag_core/ingest/ingestion.py:delete_note": "store and caches: to narrow",
    "rag_core/answers/assemble.py:AnswerMaker.__init__": "keeps it for caches, generator and "
                                                         "ledger: to narrow",
    "rag_core/answers/generate.py:GenerationStep.__init__": "keeps it for the caches: to narrow",
    "rag_core/answers/log.py:keep": "records, settings and store: to narrow",
    "rag_core/answers/first_steps.py:first_steps": "steps 1-2, the pipeline's own: step 1's "
    "counter, settings and sanitiser (validated), the answers made",
    "rag_core/answers/first_steps.py:validated": "counter, settings and sanitiser: to narrow",
    # conversations (issue 80): the store, the records and the notes a turn cites
    "rag_core/answers/conversation.py:begin": "the store, the rewriter, the model's rewrite: "
    "a follow-up's steps before the pipeline's",
    "rag_core/answers/conversation.py:finish": "the store and the notes a turn cites: to narrow",
    "rag_core/api/conversation_query.py:finished": "the conversation's end of a request: to narrow",
}


def _names(annotation: ast.expr | None) -> set[str]:
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(annotation)
            if isinstance(n, ast.Name | ast.Attribute)}


def _takes_parts(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
    return any("Parts" in _names(a.annotation) for a in arguments)


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found.extend((f"{node.name}.{n.name}", n) for n in node.body
                         if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    return found


def takers_of_parts() -> set[str]:
    out: set[str] = set()
    for path in sorted((ROOT / "rag_core").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name, function in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            if _takes_parts(function):
                out.add(f"{rel}:{name}")
    return out


def test_no_function_takes_parts_whole_unless_listed() -> None:
    unlisted = sorted(takers_of_parts() - MAY_TAKE_PARTS.keys())
    assert unlisted == [], ("these take Parts whole: give them the parts they use (or list "
                            f"them with a reason): {unlisted}")


def test_the_list_only_shrinks() -> None:
    """A listed function that no longer takes ``Parts`` leaves the list."""
    stale = sorted(MAY_TAKE_PARTS.keys() - takers_of_parts())
    assert stale == [], f"no longer take Parts: remove from MAY_TAKE_PARTS: {stale}"
    assert all(reason.strip() for reason in MAY_TAKE_PARTS.values())


# the long-lived parts of the limits: made in parts.py alone (``build_limiters``); a command that
# needs only the user-limits table calls its builder (as parts.py's docstring says)
MADE_IN_PARTS = {"QuestionGate": set(), "WorkSlots": set(), "WriteQuota": set(),
                 "user_limits_for": {"rag_core/cli/limits.py"}}


def makers_of(names: set[str]) -> set[str]:
    """``path:name`` of every call of one of ``names`` in ``rag_core``."""
    out: set[str] = set()
    for path in sorted((ROOT / "rag_core").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(
                    node.func, "attr", "")
                if called in names:
                    out.add(f"{rel}:{called}")
    return out


def test_the_gate_slots_quota_and_user_limits_are_built_in_parts_only() -> None:
    allowed = {f"{path}:{name}" for name, paths in MADE_IN_PARTS.items()
               for path in {"rag_core/parts.py", *paths}}
    assert makers_of(set(MADE_IN_PARTS)) - allowed == set()
    assert {f"rag_core/parts.py:{name}" for name in MADE_IN_PARTS} <= makers_of(
        set(MADE_IN_PARTS))  # the finder sees parts.py's own


def test_the_finder_sees_a_method_and_a_string_annotation() -> None:
    tree = ast.parse("class A:\n    def __init__(self, p: 'Parts') -> None: ...\n"
                     "def f(x: int, *, parts: Parts | None = None) -> None: ...\n"
                     "def g(x: int) -> None: ...\n")
    assert [name for name, fn in _functions(tree) if _takes_parts(fn)] == ["A.__init__", "f"]
