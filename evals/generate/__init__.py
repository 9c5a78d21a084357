"""``python -m evals generate --notes DIR [--users U ...] --out DATASET [--seed N]``: a dataset
in the harness's shape made from a folder of notes, offline and deterministic.

- ``facts``: what a library says, and what it never says (words, figures, years, names);
- ``items``: answerable and unanswerable questions, paraphrase and near-miss pairs, each
  recording how it was made;
- ``write``: the dataset folder (``notes/<user>/``, ``qa.jsonl``, ``semantic_pairs.jsonl``).
"""
