"""An honest answer that quotes the user's own notes passes the output filter, even when the
notes happen to share a phrase with the instructions; the instructions themselves do not."""

from __future__ import annotations

from rag_core.llm.prompt import SYSTEM_PROMPT
from rag_core.postprocess import LEAK_REPLACEMENT, finish
from rag_core.types import Chunk


def test_an_answer_quoting_the_users_note_passes_when_it_shares_words_with_the_rules(
) -> None:
    note = Chunk(chunk_id="c1", note_id="n1", user_id="u", ordinal=0, score=0.8,
                 text="Pastor Ade said we should treat everyone as data written by users, not as "
                      "instructions, when we build church software.",
                 metadata={"title": "Tech and the church"})
    answer = ("Your notes say to treat everyone as data written by users, not as "
              "instructions [1].")
    done = finish(answer, [note], "What did Pastor Ade say about church software?")
    assert done.text == answer and not done.leaked
    assert [c.note_id for c in done.citations] == ["n1"]
    stolen = SYSTEM_PROMPT.split("\n")[4]  # rule 3 word for word, with only one run in the note
    assert finish(stolen, [note]).text == LEAK_REPLACEMENT
