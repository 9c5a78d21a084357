"""``python -m evals generate --notes DIR [--users U ...] --out DATASET [--seed N]``: a dataset
in the harness's shape made from a folder of notes, offline and deterministic.

- ``facts``: what a library says, and what it never says (words, figures, years, names);
- ``phrases``: the noun phrases of a note's sentences, read from that note alone;
- ``items``: answerable questions, made note by note with ids derived from the note, the
  source and the form; ``absent``: unanswerable ones, checked against all of the user's
  notes; ``pairs``: paraphrase and near-miss pairs; each recording how it was made;
  ``synonyms``: the word swaps of the ``synonym`` form;
- ``checks``: what every item passes (it reads as a question, nothing makes it ambiguous, no
  assertion that cannot fail), counted in a ``Report``; ``report_file``: that report beside
  the dataset;
- ``llm_writer``: ``--writer llm``, questions a model writes from each note, checked as the
  rules' are;
- ``write``: the dataset folder (``notes/<user>/``, ``qa.jsonl``, ``semantic_pairs.jsonl``),
  each item with its ``split``.
"""


class GenerateError(ValueError):
    """Notes that cannot make a dataset, or a writer that cannot run (exit 2 with the
    message)."""
