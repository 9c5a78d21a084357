"""Tags that make a test's question unique without changing what it asks."""

from __future__ import annotations

import random
import string


def question_tag(pairs: int = 4) -> str:
    """A word of alternating letters and digits ("k7q2m9x4"), which the language rules read as
    neither a number the notes must give (rag_core.text.quantities) nor a word the notes
    must cover (the coverage rule): a tag of letters alone is a content word that is in no note,
    and the question is refused whenever the tag happens to embed far from every note.

    The tag still moves a question's embedding: a short one near the similarity floor is then
    refused now and then ("Who was Mama Ngozi?" in 11 of 200 tags, its best cosine down to 0.245
    against the floor 0.25). Tag specific questions, whose best cosine sits well above it."""
    return "".join(random.choice(string.ascii_lowercase) + random.choice(string.digits)
                   for _ in range(pairs))
