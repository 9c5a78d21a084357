"""What a reader derives from a document (an HTML page's keywords, a PDF's or a Word file's
properties, a heading taken as the title) fitted to a note's rules instead of refusing the
note: the limits of ``rag_core.ingest.fields`` are for what a user writes, and a user who did
not write a value cannot fix it.

- Characters a field may not hold (control, format, private-use, unassigned) are taken out.
- A title longer than a note keeps (``MAX_TITLE_KEPT``) is cut at a word; one over the title's
  limit is then bounded as every long title is (``rag_core.ingest.notes.bound_title``: whole in
  the body, shortened where it is repeated).
- A speaker over its limit, a tag over its limit or one past the number allowed is dropped
  (Texinfo writes each page's title as its one keyword: a sentence, not a tag).

Each fitting is recorded (``Draft.dropped``); the folder reader counts them in the ingest
summary and logs them once per file.
"""

from __future__ import annotations

import unicodedata

from rag_core.ingest.fields import LIMITS
from rag_core.ingest.notes import MAX_TITLE_KEPT
from rag_core.ingest.readers.draft import Draft
from rag_core.safety.normalise import BIDI_CONTROLS, UNREADABLE_CATEGORIES


def visible(text: str) -> str:
    """``text`` without the characters a field may not hold, spaces collapsed."""
    kept = "".join(" " if unicodedata.category(c) in UNREADABLE_CATEGORIES or
                   c in BIDI_CONTROLS else c for c in text)
    return " ".join(kept.split())


def fit(draft: Draft) -> Draft:
    """``draft`` with its derived fields fitted (see the module), what was changed recorded
    in ``draft.dropped``."""
    if draft.title:
        title = visible(draft.title)
        if len(title) > MAX_TITLE_KEPT:
            cut = title[:MAX_TITLE_KEPT]
            title = cut[: cut.rindex(" ")] if " " in cut[MAX_TITLE_KEPT // 2:] else cut
            draft.dropped.append(f"title shortened from {len(draft.title):,} characters")
        draft.title = title or None
    if draft.author:
        author = visible(draft.author)
        if len(author) > LIMITS["speaker"].chars:
            draft.dropped.append(f"author of {len(author):,} characters dropped (at most "
                                 f"{LIMITS['speaker'].chars})")
            author = ""
        draft.author = author or None
    limit = LIMITS["tags"]
    tags: list[str] = []
    for tag in draft.tags:
        value = visible(tag)
        if not value or value in tags:
            continue
        if len(value) > limit.chars:
            draft.dropped.append(f"tag of {len(value)} characters dropped (at most "
                                 f"{limit.chars})")
        elif len(tags) >= limit.items:
            draft.dropped.append(f"tag past the {limit.items} allowed dropped")
        else:
            tags.append(value)
    draft.tags = tags
    return draft
