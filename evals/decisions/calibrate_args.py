"""``python -m evals calibrate``: both pre-LLM decisions chosen on a dataset of one's own.

On the dataset's labelled questions (``qa.jsonl``: answerable and ``expect_no_context``) the
no-context floor (``RAG_SIMILARITY_THRESHOLD``) is swept: answerable questions refused against
no-context accuracy. On its labelled pairs (``semantic_pairs.jsonl``: paraphrase and near miss)
the semantic cache's mode and threshold are swept: paraphrases reused against near misses
reused (false hits), each pair decided as a user whose cache was cleared meets it (its first
question cached, the second asked). The chosen values meet the limits: the floor with the best
no-context accuracy among those refusing at most ``--max-refused`` of the answerable questions
(the lowest such floor on a tie); the mode and threshold with the most reuse among those with at
most ``--max-false-hits`` false hits (strict, then the highest threshold, on a tie).

Written: an env file of flat ``RAG_*`` names (``--out``, default
``reports/<dataset>/calibrated.env``), a PNG of both curves and a Markdown table beside it.
Nothing reads the env file unless the service is pointed at it (``set -a; . FILE; set +a``
before ``rag-core serve``). Exit 0 when both limits are met, 1 when one is not (the file then
says which, and holds the values nearest to it), 2 for a dataset that cannot be calibrated.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("choose the no-context floor and the semantic cache's mode and threshold on a "
        "dataset's labelled questions and pairs")


def add_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--dataset", required=True, metavar="DIR",
                     help="a dataset folder: notes/<user>/, qa.jsonl with expect_no_context, "
                          "semantic_pairs.jsonl (python -m evals init-dataset writes one)")
    cmd.add_argument("--out", type=Path, metavar="FILE",
                     help="the env file (default reports/<dataset name>/calibrated.env); the "
                          "PNG and the table go beside it")
    cmd.add_argument("--max-refused", type=float, default=0.02, metavar="RATE",
                     help="most answerable questions the no-context decision may refuse "
                          "(default 0.02)")
    cmd.add_argument("--max-false-hits", type=int, default=0, metavar="N",
                     help="most near misses the semantic cache may reuse (default 0)")
    cmd.add_argument("--state-dir", metavar="DIR",
                     help="embedded services' folder (default: the harness's)")


