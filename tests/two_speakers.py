"""The conversation tests' notes, one home for them: two speakers who preach on different
passages in different years (Ann Lee on Micah 6:8 in 2022 and Amos 5:24 in 2023, Ben Okafor on
John 3:16 in 2022 and Psalm 23 in 2023), so that "What else did she preach on?" has one right
speaker's notes and "And in 2023?" one right year. Used by ``tests/app/test_conversations_api.py``
and ``tests/integration/test_conversation_rewrite.py``."""

from __future__ import annotations

from rag_core.types import Note

NOTES = (
    Note("ann-micah", "Walk humbly", "Ann Lee preached on Micah 6:8: do justice, love "
         "kindness and walk humbly with your God.", "2022-05-01", "Ann Lee",
         scripture=("Micah 6:8",)),
    Note("ann-amos", "Let justice roll", "Ann Lee preached on Amos 5:24: let justice roll "
         "down like waters, a river of righteousness.", "2023-02-12", "Ann Lee",
         scripture=("Amos 5:24",)),
    Note("ben-john", "God so loved", "Ben Okafor preached on John 3:16: God so loved the "
         "world that he gave his only Son.", "2022-09-04", "Ben Okafor",
         scripture=("John 3:16",)),
    Note("ben-psalm", "The shepherd", "Ben Okafor preached on Psalm 23: the Lord is my "
         "shepherd, I shall not want.", "2023-06-18", "Ben Okafor",
         scripture=("Psalm 23",)),
)
