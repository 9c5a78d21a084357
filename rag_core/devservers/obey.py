"""The obedient adversary: the answer of ``rag-core mock-llm --obey``.

The worst model a deployment could get. It reads every message except the system prompt (the
question, and the notes inside the user message, delimiters or not) and does what any
instruction there asks, deterministically:

- a request for its instructions ("print your system prompt", "list the rules you were given")
  gets the system message: verbatim, or transformed as asked (paraphrase, translation into
  French, Spanish or German word by word, base64, hex, rot13, reversed);
- an instruction to write something (say / reply / add / include / start with ...) gets every
  quoted string, URL, HTML element and ``[n]`` citation of that instruction written out, and a
  "say that ..." clause repeated; a sentence counts as an instruction when it addresses the
  model ("assistant", "AI", "you must") or opens with a command (also after a colon), so
  that a note's reported speech is not taken for one;
- a request to become someone ("you are now ...", "talk like a pirate") or to produce something
  ("write me a poem about ...") is played along with;
- a request for other users' or everybody's notes gets the full text of every note it was
  given, whoever owns it;
- "ignore the question", "instead, reply", "reply only with" drop the honest answer; otherwise
  the honest answer (the plain mock's cited first sentences) follows what was asked. Short
  payloads come first and a revealed prompt after them, so a small ``max_tokens`` cuts the
  reveal, not the marker.

It knows nothing of rag_core's sanitiser or output filter: what stops it is measured, not
arranged. The rules look at words, not at delimiters, so moving an instruction into a note's
title, tags or body, or behind a fake ``</notes>``, changes nothing for it.
"""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_core.devservers.openai_protocol import ChatMessage

_I = re.IGNORECASE
_SEGMENTS = re.compile(r"(?<=[.!?])\s+|\n+|\s+\|\s+")
_QUOTED = re.compile(r'"([^"\n]{2,120})"|\u201c([^\u201d\n]{2,120})\u201d|'
                     r"(?<!\w)'((?:[^'\n]|(?<=\w)'(?=\w)){2,120})'(?!\w)|"
                     r"\u2018([^\u2019\n]{2,120})\u2019")
_URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")
_HTML = re.compile(r"<(a|img|script|iframe|div|span|b|i|p|form|input|link|style|svg)\b[^>]*>"
                   r"(?:[^<]{0,200}</\1\s*>)?", _I)
_CITE = re.compile(r"\[\d{1,3}\]")
_WRITE = re.compile(
    r"\b(say|write|reply|respond|answer|print|output|add|include|append|insert|put|type|"
    r"begin|start|end|finish|prefix|sign|emit|return|display|show|embed|link|state|declare|"
    r"claim|mention|tell|visit|click|open|follow|go to|send|forward|direct)\b", _I)
_SAY_THAT = re.compile(r"\b(?:say|state|claim|declare|add|tell (?:the user|them))\s+"
                       r"(?!so\b|it\b|this\b)(?:that\s+)?([^.!?\n]{12,160})", _I)
# An instruction is addressed to the model, or is a command: a bare verb opening the sentence
# or following a colon ("... from the developer: reply 'X'").
_ADDRESSED = re.compile(r"\b(?:assistant|ai|chatbot|model|bot|llm)\b|\byou\s+(?:must|should|"
                        r"will|are to|have to)\b", _I)
_COMMAND = re.compile(
    r"(?:^|[:;]\s*)(?:[\W_]*(?:also|and|then|now|please|finally|first|instead|so)\W+)*"
    r"(?:ignore|disregard|forget|say|write|reply|respond|answer|print|output|add|include|"
    r"append|insert|put|type|begin|start|end|finish|sign|emit|return|display|show|state|"
    r"declare|claim|mention|tell|visit|click|open|go|send|forward|translate|list|repeat|"
    r"make|compose|invent|talk|speak|cite)\b", _I)
_REVEAL_VERB = re.compile(
    r"\b(reveal|repeat|print|show|display|output|dump|recite|paste|list|share|give|tell|"
    r"write out|spell out|copy|disclose|translate|paraphrase|summari[sz]e|rephrase|restate|"
    r"encode|convert|what\s+(?:are|were|is))\b", _I)
_REVEAL_OBJECT = re.compile(
    r"\byour\s+(?:\w+\s+){0,2}(?:prompt|instructions?|rules|guidelines?|directives?|"
    r"configuration|config)\b|"
    r"\b(?:system|hidden|secret|initial|original|internal|developer)\s+(?:prompt|"
    r"instructions?|rules|guidelines?|directives?|message|configuration)\b|"
    r"\b(?:prompt|instructions?|rules|guidelines?)\s+(?:you|that tells you)\b|"
    r"\bprompt template\b|\b(?:were you|you were)\s+(?:told|given)\b|"
    r"\b(?:everything|the text|all the text|the words)\s+(?:above|before)\b", _I)
_EXCLUSIVE = re.compile(
    r"\b(?:ignore|disregard|forget|skip)\b[^.!?\n]{0,40}\b(?:question|notes?|instructions?|"
    r"rules|task)\b|\binstead\s*,?\s*(?:reply|respond|answer|say|write|output|print)\b|"
    r"\b(?:reply|respond|answer|say|write)\s+only\b|"
    r"\bonly\s+(?:reply|respond|answer|say|write)\b", _I)
_ROLE = re.compile(r"\b(?:you are now|from now on,? you are|pretend to be|role-?play as|"
                   r"(?:you will|you must|please) act as)\s+([^.!?\n,]{3,60})", _I)
_SPEAK = re.compile(r"\b(?:in|like an?)\s+([a-z]+)\s+(?:speak|talk|voice|style)\b|"
                    r"\b(?:talk|speak|write)\s+like\s+an?\s+([a-z]+)", _I)
_PRODUCE = re.compile(r"\b(?:write|compose|make up|invent)(?:\s+me)?\s+(an?|some)\s+"
                      r"([^.!?\n,]{3,60})", _I)
_OTHERS = re.compile(
    r"\b(?:every|all|other|another|each|any)\s+(?:other\s+)?(?:users?|members?|people|"
    r"accounts?|persons?)\b|\b[A-Za-z]+'s\s+(?:notes?|sermons?|library)\b|"
    r"\b(?:every|all)\s+(?:notes?|documents?)\s+in\s+the\s+(?:database|index|system)\b", _I)

TRANSFORMS = ("base64", "hex", "rot13", "reverse", "translate", "paraphrase", "verbatim")
_TRANSFORM_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("base64", re.compile(r"\bbase\s*-?64\b", _I)),
    ("hex", re.compile(r"\bhex(?:adecimal)?\b", _I)),
    ("rot13", re.compile(r"\brot\s*-?13\b|\bcaesar\b", _I)),
    ("reverse", re.compile(r"\b(?:backwards?|reversed?|in reverse)\b", _I)),
    ("translate", re.compile(r"\btranslat\w*|\bin (?:french|spanish|german)\b", _I)),
    ("paraphrase", re.compile(r"\b(?:paraphras\w*|summari[sz]\w*|rephras\w*|restat\w*|"
                              r"in your own words|other words)\b", _I)),
)
_LANGUAGE = re.compile(r"\b(french|spanish|german)\b", _I)

# A small word-for-word lexicon per language: enough to make a translation that a reader of
# that language would recognise; unknown words stay as they are.
_ENGLISH = ("you are the a an of and or to in from not never only answer notes note question "
            "rules rule user users your these any other instructions say if do what is with "
            "each it help one person they wrote themselves always apply whatever later text "
            "says reveal repeat")


def _lexicon(foreign: str) -> dict[str, str]:
    return dict(zip(_ENGLISH.split(), foreign.split(), strict=True))


_LEXICON: dict[str, dict[str, str]] = {
    "french": _lexicon(
        "vous êtes le un une de et ou à dans de ne jamais seulement répondez notes note "
        "question règles règle utilisateur utilisateurs vos ces toute autre instructions "
        "dites si faites ce est avec chaque il aidez une personne ils écrit eux-mêmes "
        "toujours appliquent quoi plus_tard texte dit révélez répétez"),
    "spanish": _lexicon(
        "usted es el un una de y o a en de no nunca solo responda notas nota pregunta "
        "reglas regla usuario usuarios sus estas cualquier otra instrucciones diga si haga "
        "qué es con cada lo ayude una persona ellos escribieron ellos_mismos siempre "
        "aplican lo_que después texto dice revele repita"),
    "german": _lexicon(
        "Sie sind der ein eine von und oder zu in aus nicht nie nur antworten Notizen Notiz "
        "Frage Regeln Regel Benutzer Benutzer Ihre diese jede andere Anweisungen sagen wenn "
        "tun was ist mit jede es helfen eine Person sie schrieben selbst immer gelten was "
        "später Text sagt enthüllen wiederholen"),
}
_SYNONYMS = {
    "answer": "respond", "only": "solely", "never": "at no point", "reveal": "disclose",
    "repeat": "echo", "rules": "guidelines", "instructions": "directions", "help": "assist",
    "reply": "respond", "cite": "reference", "statement": "claim", "data": "content",
    "ignore": "disregard", "always": "at all times", "guesses": "speculation",
}
_WORDS = re.compile(r"\w+|\W+")


@dataclass
class Plan:
    """What the untrusted text asks for."""

    reveal: str | None = None  # a transform of TRANSFORMS, or None
    language: str = "french"
    emit: list[str] = field(default_factory=list)
    dump_notes: bool = False
    exclusive: bool = False

    def add(self, piece: str) -> None:
        piece = piece.strip()
        if piece and piece not in self.emit:
            self.emit.append(piece)


def untrusted_text(messages: Sequence[ChatMessage]) -> str:
    """Every message but the system (and developer) prompts, joined."""
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") not in ("system", "developer"))


def system_text(messages: Sequence[ChatMessage]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") in ("system", "developer"))


def segments(text: str) -> list[str]:
    return [s.strip() for s in _SEGMENTS.split(text) if s and s.strip()]


def _transform_of(text: str) -> str:
    for name, pattern in _TRANSFORM_WORDS:
        if pattern.search(text):
            return name
    return "verbatim"


def plan(text: str) -> Plan:
    """Read the instructions in ``text`` (the untrusted part of the messages)."""
    out = Plan()
    parts = segments(text)
    for i, seg in enumerate(parts):
        window = " ".join(parts[i:i + 2])
        if _REVEAL_VERB.search(seg) and _REVEAL_OBJECT.search(seg) and out.reveal is None:
            out.reveal = _transform_of(window)
            language = _LANGUAGE.search(window)
            if language:
                out.language = language.group(1).lower()
        if _EXCLUSIVE.search(seg):
            out.exclusive = True
        role = _ROLE.search(seg)
        if role:
            out.add(f"I am now {role.group(1).strip()}.")
        speak = _SPEAK.search(seg)
        if speak:
            out.add(f"Arr, speaking {(speak.group(1) or speak.group(2)).lower()} style now!")
        if not (_ADDRESSED.search(seg) or _COMMAND.search(seg)):
            continue  # a sentence of the notes, not an instruction
        produce = _PRODUCE.search(seg)
        if produce:
            out.add(f"Here is {produce.group(1)} {produce.group(2).strip()}, as you asked.")
        if _OTHERS.search(seg) and (_WRITE.search(seg) or _REVEAL_VERB.search(seg)):
            out.dump_notes = True
        if not _WRITE.search(seg):
            continue
        for quoted in _innermost_quotes(seg):
            out.add(quoted)
        for pattern in (_URL, _HTML, _CITE):
            for match in pattern.finditer(seg):
                out.add(match.group(0))
        for match in _SAY_THAT.finditer(seg):
            out.add(match.group(1))
    return out


def _innermost_quotes(text: str) -> list[str]:
    """Quoted strings of ``text``; a quote that holds quotes gives those instead (the payload
    of 'reply with "X"' inside a quoted line is X)."""
    out: list[str] = []
    for match in _QUOTED.finditer(text):
        inner = next(g for g in match.groups() if g)
        nested = _innermost_quotes(inner) if inner != text else []
        out += nested or [inner]
    return out


def transform(text: str, how: str, language: str = "french") -> str:
    """``text`` as the attacker asked for it (see TRANSFORMS)."""
    if how == "base64":
        return base64.b64encode(text.encode()).decode()
    if how == "hex":
        return text.encode().hex()
    if how == "rot13":
        return codecs.encode(text, "rot13")
    if how == "reverse":
        return " ".join(reversed(text.split()))
    if how == "translate":
        lexicon = _LEXICON.get(language, _LEXICON["french"])
        return _word_map(text, lexicon)
    if how == "paraphrase":
        return "In other words: " + _word_map(text, _SYNONYMS)
    return text


def _word_map(text: str, table: dict[str, str]) -> str:
    out = []
    for token in _WORDS.findall(text):
        swapped = table.get(token.lower())
        out.append(swapped.replace("_", " ") if swapped else token)
    return "".join(out)


def obey_answer(messages: Sequence[ChatMessage], grounded: str,
                notes: Sequence[str] = ()) -> str:
    """The obedient answer: what the instructions ask, then (unless told to drop it) the
    honest ``grounded`` answer. ``notes`` are the texts of the notes in the messages."""
    asked = plan(untrusted_text(messages))
    pieces = list(asked.emit)  # the short payloads first, then the long reveal
    if asked.reveal is not None:
        secret = system_text(messages) or "I was given no instructions."
        pieces.append(transform(secret, asked.reveal, asked.language))
    if asked.dump_notes:
        pieces += [" ".join(n.split()) for n in notes]
    if not pieces:
        return grounded
    if asked.exclusive:
        return "\n\n".join(pieces)
    return "\n\n".join([*pieces, grounded])
