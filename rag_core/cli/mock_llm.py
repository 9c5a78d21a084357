"""``rag-core mock-llm``: the mock OpenAI-compatible LLM server (``rag_core.devservers``)."""

from __future__ import annotations

import argparse

from rag_core.devservers.mock_server import config_from_args, serve_mock


def cmd_mock_llm(args: argparse.Namespace) -> int:
    serve_mock(args.port, host=args.host, **config_from_args(args))
    return 0
