"""A test's question tag leaves what the question asks unchanged for every language rule."""

from __future__ import annotations

import pytest

from rag_core.text import named, nlp
from tests.tags import question_tag


@pytest.mark.parametrize("question", ["Who was Mama Ngozi?", "Who is Doris?",
                                      "What did the pastor say about Haran?"])
def test_a_tag_adds_no_name_no_content_word_and_no_number(question: str) -> None:
    plain = nlp.facts(question)
    for _ in range(50):
        tagged = f"{question} ({question_tag()})"
        facts = nlp.facts(tagged)
        assert (facts.names, facts.content) == (plain.names, plain.content), tagged
        assert named.question_values(tagged) == frozenset(), tagged
