"""The layout of the code holds what the README promises: no import cycle (also none hidden inside
a function or behind ``if TYPE_CHECKING:``), packages that never import each other both ways, a
deployed app that never imports the development servers, few modules at the top of each package
root, files short enough to read at once, classes small enough to hold one state (a file or a
class near its limit is printed as the next to split, so that it is split before it is trimmed),
no module of ``rag_core/decisions/`` over 300 lines, and code outside the package (evals/,
benchmarks/, loadtests/) importing only the rag_core modules listed in ``OUTSIDE_MAY_IMPORT``.
Who holds or takes the whole ``Settings``: ``tests/unit/test_settings_layout.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rag_core", "evals", "loadtests")
MAX_LINES = 400
NEXT_FILE_LINES = 350  # a file over this is printed as the next to split, before the limit
MAX_TOP_MODULES = 15
MAX_CLASS_LINES = 200
NEXT_CLASS_LINES = 150  # a class over this is printed as the next to split, before the limit
MAX_DECISION_MODULE_LINES = 300  # rag_core/decisions/: no module over this (no total budget)
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


def _file_sizes() -> dict[str, int]:
    return {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
            for folder in (*PACKAGES, "tests", "benchmarks")
            for path in sorted((ROOT / folder).rglob("*.py"))}


def test_files_stay_short_enough_to_read_at_once() -> None:
    assert {name: n for name, n in _file_sizes().items() if n > MAX_LINES} == {}


def test_no_module_of_the_decisions_is_over_its_budget() -> None:
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for path in sorted((ROOT / "rag_core" / "decisions").rglob("*.py"))}
    assert sizes, "rag_core/decisions/ has no module: the rule reads the wrong folder"
    assert {name: n for name, n in sizes.items() if n > MAX_DECISION_MODULE_LINES} == {}


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


def test_classes_stay_small_enough_to_hold_one_state() -> None:
    assert _classes_over(MAX_CLASS_LINES) == {}


def next_to_split() -> list[str]:
    """The files and classes near their limit, largest first: what to split next, by the
    concerns or states they hold (never by shortening comments or joining lines)."""
    files = {name: n for name, n in _file_sizes().items() if NEXT_FILE_LINES < n <= MAX_LINES}
    classes = {name: n for name, n in _classes_over(NEXT_CLASS_LINES).items()
               if n <= MAX_CLASS_LINES}
    return ([f"file {name}: {n} of {MAX_LINES} lines"
             for name, n in sorted(files.items(), key=lambda kv: -kv[1])]
            + [f"class {name}: {n} of {MAX_CLASS_LINES} lines"
               for name, n in sorted(classes.items(), key=lambda kv: -kv[1])])


def test_the_next_to_split_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    near = next_to_split()
    with capsys.disabled():  # shown on every run, not only when a test fails
        print(f"\nnext to split ({len(near)}: files over {NEXT_FILE_LINES} lines, classes over "
              f"{NEXT_CLASS_LINES}):")
        for line in near:
            print(f"  {line}")
    for line in near:  # each within its limit: over it, the size tests above fail instead
        size, limit = (int(n) for n in line.rsplit(": ", 1)[1].split()[:3:2])
        assert size <= limit, line


# --- what code outside the package may import ---------------------------------------------------

OUTSIDE = ("evals", "benchmarks", "loadtests")
# Every rag_core module that code in OUTSIDE imports (at the top or inside a function), and why.
# Variants of the service (another generator, other settings, fresh caches, a reset breaker) come
# from rag_core.parts: a module that only assembled parts by hand has no entry.
OUTSIDE_MAY_IMPORT: dict[str, str] = {
    # the edges: settings, parts, the pipeline, the servers
    "rag_core.config": "Settings and its sections: every run is configured by them",
    "rag_core.config.fixed": "the fixed values a benchmark names or lifts (statement timeout)",
    "rag_core.config.settings": "the service's own reading of RAG_* variables: the harness "
                                "reads the team's settings (environment, env files) with it",
    "rag_core.parts": "every part and every variant of the service (parts.variant)",
    "rag_core.pipeline": "Pipeline: what the harness asks questions through",
    "rag_core.services": "the embedded PostgreSQL and Redis a run starts and stops",
    "rag_core.procs": "ports, waiting for a server, CPU counts, stopping process groups",
    "rag_core.types": "the values that cross the pipeline's edge (Note, TokenUsage, Citation)",
    "rag_core.answer": "the answer the pipeline returns (Answer): what the harness scores",
    "rag_core.errors": "the coded errors a dataset check reports (InvalidNote)",
    "rag_core.app": "bench_app measures the ASGI app itself",
    "rag_core.api.auth": "tokens for the load test and app benchmarks, and their verification cost",
    "rag_core.api.query_route": "bench_app times the route's answer body apart from the pipeline",
    "rag_core.api.schemas": "bench_app builds the route's request body",
    "rag_core.telemetry.metrics": "the metrics registry the app benchmarks read",
    "rag_core.telemetry.logs": "the JSON log lines the app benchmark times",
    "rag_core.telemetry.tracing": "the span helpers the tracing benchmark times",
    "rag_core.telemetry.sdk_export": "bench_tracing exports through the SDK's batch processor",
    "rag_core.heap": "benchmarks settle the app they serve as rag-core serve's workers do",
    "rag_core.telemetry.light": "bench_tracing makes the service's own spans, discarded or sent",
    # writing notes
    "rag_core.ingest.ingestion": "notes into a store, as the CLI and the API write them",
    "rag_core.ingest.notes": "the size a note file may have (dataset checks)",
    "rag_core.ingest.readers": "reading a folder of notes in every format, as the CLI does",
    "rag_core.ingest.sync": "bench_sync times a sync as `rag-core sync` runs it",
    "rag_core.ingest.chunking": "chunks and content hashes of corpora written in bulk",
    # what is measured one part at a time
    "rag_core.embedding": "the Embedder protocol, embedders of other backends, vector numerics",
    "rag_core.embedding.runtimes": "bench_embed measures each runtime on its own",
    "rag_core.tokens": "bench_embed counts tokens as the pipeline does",
    "rag_core.store.base": "Store and the bulk write rows of corpora",
    "rag_core.store.filters": "bench_filters times searches with filters",
    "rag_core.store.pgvector": "the retrieval benchmark's type of the store it loads",
    "rag_core.store.searching": "the per-user scan limit the retrieval benchmark reports",
    "rag_core.store.sql": "the retrieval benchmark runs the store's SQL on its own",
    "rag_core.store.sql.search": "bench_pg_search times the search SQL alone",
    "rag_core.cache.layers": "the cache benchmarks' type of the layers they load",
    "rag_core.cache.answer_codec": "bench_redis_capacity sizes answers as the cache stores them",
    "rag_core.cache.shares": "bench_cache_fairness reads each user's share of a layer",
    "rag_core.cache.semantic": "the semantic decision's policy that the calibration varies",
    "rag_core.redis_kv.client": "a Redis client of the benchmarks' own servers, and its type",
    "rag_core.redis_kv.codec": "bench_redis_capacity writes entries as the layers encode them",
    "rag_core.redis_kv.keys": "keys of the layers a benchmark fills or a replay empties",
    "rag_core.redis_kv.writes": "bench_redis_capacity writes through the layers' write script",
    "rag_core.conversations.store": "the conversation store the Redis sizing fills and measures",
    "rag_core.conversations.turns": "the turns the conversation sizing writes, and a golden "
    "conversation's history in the shape a turn keeps",
    "rag_core.costs.billing": "the generators the service bills nothing for (notebook 03)",
    "rag_core.costs.ledger": "prices of tokens, the ledger's day, its type in the benchmarks",
    "rag_core.costs.reporting": "the backup drill reads each user's spend as the report does",
    "rag_core.costs.totals": "the TTL of the ledger's totals, which the capacity bench checks",
    # the decisions the harness measures, ablates and calibrates
    "rag_core.decisions.relevance": "the no-context decision the calibration varies",
    "rag_core.decisions.note_facts": "the facts rule of the no-context decision, measured alone",
    "rag_core.decisions.semantic_rules": "the semantic rules the decisions eval ablates",
    "rag_core.decisions.semantic_canonical": "the strict canonical form, one design compared",
    "rag_core.text.nlp": "word analysis shared with the coverage study",
    "rag_core.conversations.rules": "notebook 01 scores the rules' rewrite of golden follow-ups",
    "rag_core.text.named": "follow-up accuracy compares the names, years and passages asked",
    "rag_core.text.quantities": "the wording probe writes numbers as the decision reads them",
    # generation and its safety
    "rag_core.llm": "a generator that settings name (compare_generators' candidates)",
    "rag_core.llm.base": "the Generator protocol that the harness's recorders implement",
    "rag_core.llm.hf": "the hosted model's client that generate --writer llm asks for questions",
    "rag_core.llm.failures": "a misconfigured endpoint, reported by generate --writer llm",
    "rag_core.llm.prompt": "the prompt whose echo and leaks the safety eval looks for",
    "rag_core.postprocess": "the output guard, measured on streamed and whole answers",
    "rag_core.safety.guard": "the question and note checks the safety eval measures",
    "rag_core.safety.note_guard": "note checks on generated datasets",
    "rag_core.safety.leak": "bench_safety_cpu times the leak check",
    "rag_core.safety.prefilter": "bench_safety_cpu times the prefilter",
    "rag_core.safety.sanitiser": "bench_safety_cpu times the sanitiser",
    # the development servers the harness runs the service against
    "rag_core.devservers.mock_server": "the mock LLM server of the load tests and outages",
    "rag_core.devservers.mock_app": "the mock LLM app in process (compare_generators)",
    "rag_core.devservers.local_model": "the local model the generator comparison runs",
    "rag_core.devservers.local_server": "the local model's server",
}


def _outside_imports() -> dict[str, set[str]]:
    """rag_core module -> the files outside the package that import it."""
    found: dict[str, set[str]] = {}
    for folder in OUTSIDE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            for target in _imported(module, path):
                if target.split(".")[0] == "rag_core":
                    found.setdefault(target, set()).add(str(path.relative_to(ROOT)))
    return found


def test_code_outside_the_package_imports_only_listed_modules() -> None:
    found = _outside_imports()
    unlisted = {m: sorted(files) for m, files in found.items() if m not in OUTSIDE_MAY_IMPORT}
    assert not unlisted, (
        f"{sorted(unlisted)} imported from {unlisted}: code outside rag_core/ imports only the "
        "modules of OUTSIDE_MAY_IMPORT (tests/unit/test_code_layout.py). A variant of the "
        "service belongs in rag_core/parts.py (parts.variant); if the module is really needed, "
        "add it there with one line saying why.")


def test_the_list_names_no_module_that_nothing_imports() -> None:
    unused = sorted(set(OUTSIDE_MAY_IMPORT) - set(_outside_imports()))
    assert not unused, f"{unused}: no longer imported from outside; take them off the list"
