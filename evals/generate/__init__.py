"""``python -m evals generate --notes DIR [--users U ...] --out DATASET [--seed N]``: a dataset
in the harness's shape made from a folder of notes, offline and deterministic.

- ``facts``: what a library says, and what it never says (words, figures, years, names);
- ``items``: answerable and unanswerable questions, paraphrase and near-miss pairs, each
  recording how it was made; ``synonyms``: the word swaps of the ``synonym`` form;
- ``llm_writer``: ``--writer llm``, questions a model writes from each note, checked as the
  rules' are;
- ``write``: the dataset folder (``notes/<user>/``, ``qa.jsonl``, ``semantic_pairs.jsonl``),
  each item with its ``split``.
"""


class GenerateError(ValueError):
    """Notes that cannot make a dataset, or a writer that cannot run (exit 2 with the
    message)."""
