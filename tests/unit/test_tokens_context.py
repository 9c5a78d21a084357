from rag_core import tokens
from rag_core.context import select_context
from rag_core.llm.prompt import build_prompt, format_note_block
from rag_core.tokens import default_counter
from rag_core.types import Chunk


def chunk(n: int, words: int, score: float = 0.9) -> Chunk:
    return Chunk(chunk_id=f"n{n}:0", note_id=f"n{n}", user_id="u", ordinal=0,
                 text=" ".join(["grace"] * words), score=score,
                 metadata={"title": f"Note {n}", "speaker": "Pastor A", "date": "2024-01-07",
                           "series": "S", "scripture": ["John 3:16"], "tags": ["grace"]})


def test_count_is_a_real_tokenizer_not_characters() -> None:
    counter = default_counter()
    # WordPiece splits a rare word into several pieces and keeps a common word whole.
    assert counter.count("grace") == 1
    assert counter.count("Habakkuk") > 1
    assert counter.count("") == 0


def test_truncate_cuts_at_token_boundary() -> None:
    counter = default_counter()
    text, cut = counter.truncate("one two three four five six", 3)
    assert cut and text == "one two three"
    same, cut2 = counter.truncate("one two", 3)
    assert not cut2 and same == "one two"


def test_context_respects_budget_and_order() -> None:
    counter = default_counter()
    chunks = [chunk(i, 150, score=1 - i / 10) for i in range(1, 8)]
    context = select_context(chunks, counter, 1200)
    assert context.tokens <= 1200
    assert [c.note_id for c in context.chunks] == [c.note_id for c in chunks[: len(context.chunks)]]
    assert 1 <= len(context.chunks) < len(chunks)


def test_context_includes_metadata() -> None:
    text = format_note_block(1, chunk(1, 5))
    for part in ("[1] Note 1", "Pastor A", "2024-01-07", "John 3:16"):
        assert part in text


def test_oversized_best_chunk_is_cut_not_dropped() -> None:
    counter = default_counter()
    context = select_context([chunk(1, 3000)], counter, 200)
    assert len(context.chunks) == 1
    assert context.tokens == counter.count(context.blocks[0]) <= 200


def test_skips_a_chunk_that_does_not_fit_but_keeps_smaller_ones() -> None:
    counter = default_counter()
    chunks = [chunk(1, 100), chunk(2, 500), chunk(3, 50)]
    context = select_context(chunks, counter, 260)
    assert [c.note_id for c in context.chunks] == ["n1", "n3"]


def test_budget_counts_exactly_the_blocks_the_prompt_sends() -> None:
    """Two owners of one rendering: the budget counted ``format_source`` while the prompt sent
    ``format_note_block`` (longer: the note tags), so a full context overran its budget."""
    counter = default_counter()
    chunks = [chunk(i, 60, score=1 - i / 10) for i in range(1, 9)]
    context = select_context(chunks, counter, 400)
    prompt = build_prompt("What about grace?", context.chunks, 100, blocks=context.blocks)
    user_message = prompt.messages[1]["content"]
    for block in context.blocks:
        assert block in user_message
    assert context.tokens == sum(counter.count(b) for b in context.blocks) <= 400


def test_memoised_and_long_counts_are_the_tokenizers_counts() -> None:
    counter = default_counter()
    short = "Ruth gleaned barley in the fields of Boaz until the end of the harvest."
    long = short * 200  # past the memoised length (2048 characters)
    for text in (short, short, long):
        assert counter.count(text) == len(
            counter.tokenizer.encode(text, add_special_tokens=False).ids)
    assert counter.count(long) > 200 * counter.count(short) - 200


def test_a_long_prompt_counted_twice_in_a_row_is_encoded_once() -> None:
    counter = default_counter()
    prompt = " ".join(f"note{i} says the harvest came in week {i}" for i in range(400))
    assert len(prompt) > tokens._MEMO_CHARS  # a whole prompt, not a chunk
    messages = [{"role": "user", "content": prompt}]
    before = tokens._count_long.cache_info()
    first = counter.count_messages(messages)  # billing, before the call
    again = counter.count_messages(messages)  # the call's usage, after it
    after = tokens._count_long.cache_info()
    encoded = len(counter.tokenizer.encode(prompt, add_special_tokens=False).ids)
    assert first == again == encoded
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert counter.count(prompt + " more") == encoded + 1  # another text is counted afresh


def test_ascii_text_has_at_most_one_token_per_character() -> None:
    """The bound ``truncate`` relies on to leave short ASCII questions to the budget without
    the tokenizer: every printable ASCII character, runs of punctuation and digits, words past
    the WordPiece word limit and random ASCII text count at most their length in tokens."""
    import random
    import string

    counter = default_counter()
    tokenizer = counter.tokenizer
    rng = random.Random(7)
    texts = [*string.printable, string.punctuation * 3, "1" * 40 + "." * 40, "x" * 300,
             "[CLS] [SEP] [UNK] [MASK] [PAD]", "don't-stop e.g. U.S.A. 3.14159 a/b\\c"]
    texts += ["".join(rng.choice(string.printable) for _ in range(rng.randint(1, 80)))
              for _ in range(2_000)]
    for text in texts:
        assert len(tokenizer.encode(text, add_special_tokens=False).ids) <= len(text), text
    for text in texts[-200:]:  # the shortcut gives what the tokenizer's own path gives
        for budget in (len(text), len(text) + 5):
            assert counter.truncate(text, budget) == (text, False)
            assert counter.count(text) <= budget


def test_a_long_text_counted_by_its_lines_has_the_tokenizers_count() -> None:
    """Past the memoised length a text with line breaks is counted line by line (the
    WordPiece tokenizer's tokens never span whitespace): the sum is the whole text's count,
    for notes' prompts and for text that mixes accents, CJK, controls, tabs and long words."""
    import random

    counter = default_counter()
    assert tokens._lines_add_up(counter._path)
    rng = random.Random(11)
    alphabet = "abc déf ÉCOLE 神の愛 naïve \t\r\x00\u200b don't 3.14 [UNK] ##ing ‑—…" + "x" * 120
    texts = ["\n".join("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
                       for _ in range(rng.randint(2, 40))) for _ in range(200)]
    chunks = [chunk(i, 120, score=1 - i / 20) for i in range(1, 12)]
    prompt = build_prompt("What about grace?", chunks, 100)
    texts += [str(m["content"]) for m in prompt.messages]
    for text in (t for t in texts if len(t) > tokens._MEMO_CHARS):
        assert counter.count(text) == len(
            counter.tokenizer.encode(text, add_special_tokens=False).ids)


def test_a_new_prompt_encodes_only_the_lines_earlier_prompts_did_not_have() -> None:
    counter = default_counter()
    chunks = [chunk(i, 120, score=1 - i / 20) for i in range(30, 36)]
    first = str(build_prompt("Who gleaned barley?", chunks, 100).messages[1]["content"])
    counter.count(first)
    second = str(build_prompt("Where was Boaz?", chunks, 100).messages[1]["content"])
    assert len(second) > tokens._MEMO_CHARS
    before = tokens._count.cache_info()
    assert counter.count(second) == len(
        counter.tokenizer.encode(second, add_special_tokens=False).ids)
    after = tokens._count.cache_info()
    new_lines = {line for line in second.split("\n") if line} - set(first.split("\n"))
    assert after.misses - before.misses == len(new_lines)
