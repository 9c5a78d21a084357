"""``rag-core local-llm``: a real instruction-tuned model behind the OpenAI protocol, offline.

Serves ``/v1/chat/completions`` (plain and streamed), ``/v1/models`` and ``/health`` with
SmolLM2-135M-Instruct on CPU (``rag_core.devservers.local_model``), in the same wire shapes as the
mock LLM (``rag_core.devservers.openai_protocol``). The ``hf`` generator reaches it through
``RAG_LLM_BASE_URL=http://host:port/v1`` exactly as it would reach TGI or vLLM.

The model loads before the server accepts connections, so ``/health`` answering means ready.
Requests are answered one at a time (a 135M model on two cores has no room for more); a
client that goes away mid-stream stops its generation.

``start_local_llm`` runs it as a child process with its own log file (tests, notebooks).
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from rag_core.devservers import openai_protocol as wire
from rag_core.devservers.local_model import MODEL_ID, Completion, LocalModel, gguf_path
from rag_core.devservers.serving import run_foreground
from rag_core.procs import free_port, stop_group, wait_http
from rag_core.types import JsonObject


class _End:
    """The worker's last item: generation is over."""


_END = _End()


def create_local_app(model: LocalModel, model_id: str = MODEL_ID) -> FastAPI:
    app = FastAPI(title="rag_core local LLM", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.model = model
    app.state.counts = {"requests": 0, "completed": 0, "cancelled": 0, "bad_requests": 0}

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> Response | JsonObject:
        app.state.counts["requests"] += 1
        try:
            chat = wire.parse_request(await request.json())
        except (ValueError, wire.BadRequest) as exc:
            app.state.counts["bad_requests"] += 1
            return wire.error_response(400, str(exc) or "bad request", "invalid_request")
        cid = wire.new_completion_id()
        if not chat.stream:
            done = await run_in_threadpool(model.complete, chat.messages, chat.max_tokens)
            app.state.counts["completed"] += 1
            return wire.completion_body(cid, model_id, done.text, _usage(done),
                                        done.finish_reason)
        return wire.sse_response(_stream(app, request, chat, cid, model_id))

    @app.get("/v1/models")
    async def models() -> JsonObject:
        return wire.models_body(model_id)

    @app.get("/health")
    async def health() -> JsonObject:
        return {"status": "ok", "model": model_id, "quantize": model.quantize,
                "load_s": model.info.seconds, "converted_now": model.info.converted}

    @app.get("/admin/stats")
    async def stats() -> JsonObject:
        return dict(app.state.counts)

    return app


def _usage(done: Completion) -> dict[str, int]:
    return wire.usage_dict(done.prompt_tokens, done.completion_tokens)


async def _stream(app: FastAPI, request: Request, chat: wire.CompletionRequest, cid: str,
                  model_id: str) -> AsyncIterator[bytes]:
    """Generation in a worker thread; pieces cross over through a queue. The worker stops at
    the next token when the client has gone (``cancel``)."""
    model: LocalModel = app.state.model
    pieces: queue.Queue[str | Completion | Exception | _End] = queue.Queue()
    cancel = threading.Event()

    def work() -> None:
        try:
            for item in model.stream(chat.messages, chat.max_tokens, cancel.is_set):
                pieces.put(item)
        except Exception as exc:  # reported to the client as a stream error
            pieces.put(exc)
        finally:
            pieces.put(_END)

    worker = threading.Thread(target=work, name="local-llm-generate", daemon=True)
    worker.start()
    ended = False
    try:
        yield wire.role_event(cid, model_id)
        while True:
            item = await asyncio.to_thread(pieces.get)
            if isinstance(item, _End):
                ended = True
                break
            if isinstance(item, Exception):
                ended = True
                yield wire.error_event(f"generation failed: {type(item).__name__}")
                return
            if isinstance(item, Completion):
                app.state.counts["completed"] += 1
                for event in wire.final_events(cid, model_id, _usage(item), item.finish_reason):
                    yield event
                continue
            yield wire.chunk_event(cid, model_id, {"content": item})
    finally:
        if not ended:  # the client went away: stop generating for nobody
            cancel.set()
            app.state.counts["cancelled"] += 1


# --- running it -----------------------------------------------------------------------------


def serve_local(port: int, host: str = "127.0.0.1", *, state_dir: str | Path,
                threads: int = 1, quantize: str = "none") -> None:
    """Load (converting once under ``state_dir``) and serve until interrupted.
    ``LocalModelMissing`` (a coded error) before anything loads when the weights are absent."""
    gguf_path()
    model = LocalModel(state_dir, threads=threads, quantize=quantize)
    print(f"local LLM {MODEL_ID} ({quantize}) loaded in {model.info.seconds:.1f} s "
          f"({'converted now' if model.info.converted else 'from ' + model.info.folder}); "
          f"serving on http://{host}:{port}/v1", flush=True)
    run_foreground(create_local_app(model), host, port)


@contextmanager
def start_local_llm(state_dir: str | Path, log_file: str | Path, *, threads: int = 1,
                    quantize: str = "none", timeout_s: float = 600.0) -> Iterator[str]:
    """``with start_local_llm(state_dir, log) as url:`` a ``rag-core local-llm`` child process
    on a free port; ``url`` has no ``/v1``. The first start converts the model (about a
    minute); the deadline is generous because the machine may be busy."""
    port = free_port()
    log_path = Path(log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "RAG_STATE_DIR": str(state_dir)}
    with open(log_path, "ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag_core", "local-llm", "--port", str(port),
             "--threads", str(threads), "--quantize", quantize], env=env, stdout=handle,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout_s, proc=proc, log=log_path)
        yield url
    finally:
        stop_group(proc)


