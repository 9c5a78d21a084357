"""The generator's report beside the dataset it wrote: ``generate_report.json`` and
``generate_report.md`` (kept items by form, kept pairs by kind, what the checks dropped and
why, the assertions not written because they could not fail, and the written ones that could
not: 0), and the lines ``evals generate`` prints."""

from __future__ import annotations

import json
from pathlib import Path

from evals.generate.checks import Report

JSON_NAME = "generate_report.json"
MD_NAME = "generate_report.md"


def as_json(report: Report) -> dict[str, object]:
    return {"kept_by_form": dict(sorted(report.kept.items())),
            "pairs_kept_by_kind": dict(sorted(report.pairs_kept.items())),
            "dropped_by_reason": dict(sorted(report.dropped.items())),
            "assertions_written": report.assertions_written,
            "assertions_not_written_by_reason":
                dict(sorted(report.assertions_not_written.items())),
            "assertions_that_cannot_fail_written": report.unsound}


def lines(report: Report) -> list[str]:
    """The report as a few lines of text (printed, and the Markdown file's lists)."""
    def counts(found: dict[str, int]) -> str:
        return ", ".join(f"{k}: {n}" for k, n in sorted(found.items())) or "none"

    return [f"kept by form: {counts(dict(report.kept))}",
            f"pairs kept by kind: {counts(dict(report.pairs_kept))}",
            f"dropped by the checks: {counts(dict(report.dropped))}",
            f"assertions written: {report.assertions_written}; not written because they could "
            f"not fail: {counts(dict(report.assertions_not_written))}; written that cannot "
            f"fail: {report.unsound}"]


def write(folder: Path, report: Report) -> None:
    (folder / JSON_NAME).write_text(json.dumps(as_json(report), indent=2) + "\n",
                                    encoding="utf-8")
    md = ["# What `evals generate` kept and dropped", "", *(f"- {line}" for line in lines(report))]
    (folder / MD_NAME).write_text("\n".join(md) + "\n", encoding="utf-8")
