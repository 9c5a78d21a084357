"""Untrusted text made inert where it matters: note text and metadata on the way into the
prompt, and the answer's markup on the way out.

Into the prompt (``note_text``, ``note_field``):

- invisible characters deleted and NFKC applied (``normalise.clean``);
- chat-template special tokens (``<|im_start|>``, ``<|eot_id|>``, ``<|begin_of_text|>``,
  ``[INST]``, ``<<SYS>>``, ``<s>``, ...) removed: they mean nothing in a sermon note and, passed
  through, some tokenizers read them as real control tokens;
- our own delimiter tags (``<notes>``, ``</note>``, ``<question>``) turned into inert
  ``[notes]``-style text (``defuse_tags``), so a note cannot close its block;
- a line that starts like a chat role (``SYSTEM:``, ``assistant:``, ``### Instruction``) or like
  one of our source headers (``[2] ...``) gets a leading ``"- "``, so it reads as a quoted line
  of the note, not as a new turn or a new source;
- metadata fields are one line: line breaks become spaces and ``|`` (the header's separator)
  becomes ``/``, so a ``date`` cannot carry a ``SYSTEM:`` line or a forged field.

Out of the answer (``defuse_markup``): the answer is data, the note's characters as written;
escaping belongs to whatever renders it as HTML (the harness's results page does; API clients
render answers as text). Markdown images become their alt text (an image would load a URL the
moment it is shown, which is how answers are made to leak), Markdown links become
``text (url)`` (visible, not clickable; ``javascript:`` and ``data:`` targets are dropped).
Anything that looks like an HTML tag, comment or declaration is kept only when the answer quotes
it from a retrieved note: the note holds the markup, and the answer's word beside it on the same
line (the word before it or after it, citations and punctuation aside) is one of the ``NEAR``
words either side of the markup in that note. Markup the model writes on its own (an injected
``<img onerror=...>``, a ``<script>`` an attack asked for) is removed; a note's
``<MIME>/icons``, ``<placeholder>`` or ``<b>Faith</b> moved`` is answered as written. Citations
``[n]`` are left alone.

Out of the answer, unless the question asks for one (``asks_for_link``), web addresses
(``drop_links``): a planted note can ask any model to "include the link ... in every answer",
and a phishing link under the service's name is the harm, whoever wrote it. An answer to a
question about a sermon has no use for a URL the question did not ask about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rag_core.safety.normalise import clean

_SPECIAL = re.compile(
    r"<\|[^|<>\n]{1,40}\|>|\[/?\s*INST\s*\]|<<\s*/?\s*SYS\s*>>|</?s>|<\s*/?\s*(?:im_start|im_end|"
    r"endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text)\s*>",
    re.IGNORECASE)
_TAG = re.compile(r"<\s*(/?)\s*(notes?|question)\b[^>]*>", re.IGNORECASE)
_ROLE_LINE = re.compile(
    r"^(\s*)(?=(?:#{1,6}\s*|\*\*|\[)?\s*(?:system|assistant|user|developer|human|ai|bot|model|"
    r"admin|administrator|root|operator|instructions?|response|context)\b\s*(?:\*\*|\])?\s*"
    r"(?::|-{1,2}>|=>|$))|^(\s*)(?=\[\d{1,3}\])",
    re.IGNORECASE | re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*([^)\s]*)[^)\n]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(\s*([^)\s]*)[^)\n]*\)")
_HTML = re.compile(r"<(/?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?|!--.*?--|![A-Za-z][^<>]*)>", re.S)
_UNSAFE_URL = re.compile(r"^\s*(?:javascript|vbscript|data):", re.IGNORECASE)
_WEB_ADDRESS = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]"
                          r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", re.IGNORECASE)
_ASKS_FOR_LINK = re.compile(
    r"\b(?:links?|urls?|web\s*-?(?:sites?|pages?|address(?:es)?)|sites?|online|e-?mails?|"
    r"address(?:es)?|homepage|download|live\s*-?stream(?:ed)?|stream(?:ed)?|podcasts?|youtube|"
    r"videos?|recordings?)\b|(?:https?://|www\.)", re.IGNORECASE)
LINK_REMOVED = "(link removed)"
_SPACES_AROUND = re.compile(r"[ \t]{2,}")
_SENTENCE_END = ".,;:!?\"'()[]"
_CITATION = re.compile(r"\[\d{1,3}\]")
NEAR = 6  # words of a note either side of its markup where the answer's neighbour must be


def defuse_tags(text: str) -> str:
    """Turn ``</notes>``, ``<question>`` and the like inside user text into inert ``[/notes]``."""
    return _TAG.sub(lambda m: f"[{m.group(1)}{m.group(2).lower()}]", text)


def strip_special_tokens(text: str) -> str:
    """Special tokens out; each leaves a line break, so that the role name a chat template
    puts between them (``<|start_header_id|>system<|end_header_id|>``) stands on a line of its
    own and is quoted like any role line."""
    text, removed = _SPECIAL.subn("\n", text)
    if not removed:
        return text
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


@lru_cache(maxsize=2048)
def note_text(text: str) -> str:
    """A note's text as the prompt shows it (see the module docstring). Memoised: a chunk's
    text is rendered for every prompt it enters."""
    text = defuse_tags(strip_special_tokens(clean(text)))
    return _ROLE_LINE.sub(lambda m: f"{m.group(1) or m.group(2) or ''}- ", text)


def note_field(value: object) -> str:
    """One metadata value as the prompt's source header shows it: one line, no separators."""
    return _field_text(str(value))


@lru_cache(maxsize=16384)
def _field_text(value: str) -> str:
    """``note_field`` of a value's text (memoised: a note's fields head every block of it)."""
    text = defuse_tags(_SPECIAL.sub(" ", clean(value)))
    return re.sub(r"\s+", " ", text.replace("|", "/")).strip()


def asks_for_link(question: str) -> bool:
    """True when the question is about a link, site, address or recording."""
    return bool(_ASKS_FOR_LINK.search(question))


def drop_links(text: str) -> str:
    """Web and e-mail addresses in ``text`` replaced by ``LINK_REMOVED`` (an address alone in
    parentheses, as ``defuse_markup`` writes a Markdown link's target, with its parentheses)."""
    text = re.sub(rf"\(\s*(?:{_WEB_ADDRESS.pattern})\s*\)", LINK_REMOVED, text,
                  flags=re.IGNORECASE)
    return _WEB_ADDRESS.sub(LINK_REMOVED, text)


def defuse_markup(text: str, sources: Sequence[str] = ()) -> str:
    """The answer with Markdown images and links defused and the markup no note in ``sources``
    holds removed (module docstring); nothing is escaped."""
    def image(match: re.Match[str]) -> str:
        alt = match.group(1).strip()
        return f"(image: {alt})" if alt else "(image)"

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        if not url or _UNSAFE_URL.match(url):
            return label
        return f"{label} ({url})"

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    if "<" not in text:
        return text
    return _unwritten_markup(text, sources)


def _unwritten_markup(text: str, sources: Sequence[str]) -> str:
    held = [" ".join(s.split()) for s in sources if "<" in s]
    spans = list(_HTML.finditer(text))
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for span in spans:
        if held and _quoted(text, span.start(), span.end(), held):
            continue
        out.append(text[last:span.start()])
        last = span.end()
    out.append(text[last:])
    cleaned = "".join(out)
    return _SPACES_AROUND.sub(" ", cleaned).strip() if len(out) > 1 else text


def _quoted(text: str, start: int, end: int, held: Sequence[str]) -> bool:
    """Whether a note in ``held`` holds the markup ``text[start:end]`` with a word the answer
    has beside it on its line among the ``NEAR`` words either side of it."""
    markup = " ".join(text[start:end].split())
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    before = [w for w in map(_bare, text[line_start:start].split()) if w][-1:]
    after = [w for w in map(_bare, text[end:len(text) if line_end < 0 else line_end].split())
             if w][:1]
    beside = set(before + after)
    if not beside:
        return False
    for note in held:
        at = note.find(markup)
        while at >= 0:
            near = note[:at].split()[-NEAR:] + note[at + len(markup):].split()[:NEAR]
            if beside & {_bare(w) for w in near}:
                return True
            at = note.find(markup, at + 1)
    return False


def _bare(word: str) -> str:
    """A word without the markup, citation and punctuation around it, lower case."""
    word = _HTML.sub(" ", word)
    word = _CITATION.sub(" ", word)
    return word.strip(_SENTENCE_END + " /").lower()
