"""``rag-core local-llm``: a real small model on CPU behind the OpenAI protocol
(``rag_core.devservers``)."""

from __future__ import annotations

import argparse

from rag_core.cli.args import env_settings
from rag_core.devservers.local_server import serve_local


def cmd_local_llm(args: argparse.Namespace) -> int:
    serve_local(args.port, host=args.host, state_dir=env_settings().services.state_dir,
                threads=args.threads,
                quantize=args.quantize)
    return 0
