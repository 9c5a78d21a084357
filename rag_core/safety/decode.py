"""Encoded payloads made readable, so that the pattern families can look inside them.

``decodings(text)`` returns the readable texts hidden in ``text``: base64 and hex runs, runs of
8-bit binary and of Morse code, the text with percent-encoding, ``\\x``/``\\u`` escapes and HTML
character references decoded in place, and the whole text read in rot13, backwards letter by
letter, and with its words in reverse order (an obedient model asked for "the words above
backwards" writes them last word first). A
decoding counts only when it is mostly printable text with letters (random base64-looking
words decode to noise and are dropped). rot13 and reversal always "decode"; on an honest
question they give gibberish that no pattern matches.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import urllib.parse

_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
_BINARY = re.compile(r"(?:[01]{8}[ ,]?){4,}")
_ESCAPES = re.compile(r"\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}")
_PLUS = re.compile(r"(?:[\w.~-]+\+)+[\w.~%-]+|\S*%[0-9A-Fa-f]{2}\S*")
_ENTITY = re.compile(r"&#x?[0-9A-Fa-f]{2,6};|&[a-z]{2,8};")
_MORSE = re.compile(r"(?:[.\-]{1,7}[ /]+){5,}[.\-]{1,7}")
_MORSE_CODES = (".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - "
                "..- ...- .-- -..- -.-- --.. ----- .---- ..--- ...-- ....- ..... -.... --... "
                "---.. ----.")
MORSE = dict(zip(_MORSE_CODES.split(), "abcdefghijklmnopqrstuvwxyz0123456789", strict=True))
MIN_PRINTABLE = 0.9


def readable(raw: bytes) -> str | None:
    """``raw`` as text when it is UTF-8, mostly printable and has at least three letters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\t")
    letters = sum(1 for c in text if c.isalpha())
    if printable / len(text) < MIN_PRINTABLE or letters < 3:
        return None
    return text


def _base64(token: str) -> str | None:
    token = token.rstrip("=")
    padded = token + "=" * (-len(token) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = readable(decode(padded))
        except (binascii.Error, ValueError):
            continue
        if text is not None:
            return text
    return None


def _hex(token: str) -> str | None:
    digits = re.sub(r"[ :]", "", token)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return readable(bytes.fromhex(digits))
    except ValueError:
        return None


def _binary(token: str) -> str | None:
    bits = re.findall(r"[01]{8}", token)
    return readable(bytes(int(b, 2) for b in bits))


def _escape(match: re.Match[str]) -> str:
    return chr(int(match.group(0)[2:], 16))


def _morse(token: str) -> str | None:
    words = []
    for word in re.split(r"\s*/\s*|\s{2,}", token.strip()):
        letters = [MORSE.get(code) for code in word.split()]
        if not letters or None in letters:
            return None
        words.append("".join(str(c) for c in letters))
    return " ".join(words)


def inline(text: str) -> str:
    """``text`` with percent-encoding (form style too: ``+`` for a space), ``\\x``/``\\u``
    escapes and HTML character references decoded in place (the rest of the text kept)."""
    text = _PLUS.sub(lambda m: urllib.parse.unquote_plus(m.group(0)), text)
    text = _ESCAPES.sub(_escape, text)
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


def decodings(text: str) -> list[str]:
    """Readable texts hidden in ``text`` (see the module docstring), without repeats."""
    found: list[str | None] = []
    found += [_base64(m.group(0)) for m in _B64.finditer(text)]
    found += [_hex(m.group(0)) for m in _HEX.finditer(text)]
    found += [_binary(m.group(0)) for m in _BINARY.finditer(text)]
    found += [_morse(m.group(0)) for m in _MORSE.finditer(text)]
    found.append(inline(text))
    found.append(codecs.encode(text, "rot13"))
    found.append(text[::-1])
    found.append(" ".join(reversed(text.split())))
    return list(dict.fromkeys(t for t in found if t and t != text))
