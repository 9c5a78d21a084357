"""Two scripts in one round trip: ``first`` with its own keys and arguments, then ``second``
with the rest, run only when ``first`` lets it through (its reply's first element is 0).

The exact lookup of ``POST /v1/query`` carries the request limits' windows this way
(``limits.counters.CHECK`` then ``cache.versioned_read``'s read): each script keeps its one
text and its one reader of its reply; joined, each runs as a Lua function whose parameters
shadow ``KEYS`` and ``ARGV``, so its text is the same as when it runs alone. ``First`` is what
the caller of such a read hands it: the first script, its keys and arguments, and the reader of
its reply (which may raise, ending the read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

Arg = str | bytes | int
Reply = Sequence[object]


class First(Protocol):
    """A script run before a read in the read's round trip."""

    script: ClassVar[str]

    def trip(self, client: object) -> tuple[list[str], list[Arg]] | None:
        """Its keys and arguments on ``client``'s server; None: it cannot run there (``alone``
        then runs it its own way before the read)."""
        ...

    def alone(self) -> None:
        """Its part made its own way, before a read that cannot carry it (it may raise: the
        read is then not made)."""
        ...

    def settle(self, reply: Reply) -> None:
        """Its reply read (it may raise: the read's part is then not read)."""
        ...


_JOIN = """
local function first_part(KEYS, ARGV)
{first}
end
local function second_part(KEYS, ARGV)
{second}
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local k1, a1, k2, a2 = {{}}, {{}}, {{}}, {{}}
for i = 1, #KEYS do
  if i <= nk then k1[#k1 + 1] = KEYS[i] else k2[#k2 + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i - 2 <= na then a1[#a1 + 1] = ARGV[i] else a2[#a2 + 1] = ARGV[i] end
end
local reply = first_part(k1, a1)
if reply[1] ~= 0 then return {{reply}} end
return {{reply, second_part(k2, a2)}}
"""


def joined(first: str, second: str) -> str:
    """The script that runs ``first``, then ``second`` when ``first``'s reply begins with 0;
    its reply: ``{first's}`` or ``{first's, second's}``."""
    return _JOIN.format(first=first.strip(), second=second.strip())


def joined_args(first: tuple[list[str], list[Arg]], second: tuple[list[str], list[Arg]]
                ) -> list[Arg]:
    """EVALSHA's arguments of the joined script (the number of keys first)."""
    (keys1, args1), (keys2, args2) = first, second
    return [len(keys1) + len(keys2), *keys1, *keys2, len(keys1), len(args1), *args1, *args2]
