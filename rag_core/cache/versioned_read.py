"""The notes version and the value it names, read in one round trip: ``get`` from a thread
(redis-py's script), ``aget`` from the event loop (``redis_kv.loop_script``), both deciding
and counting what they read in one place (``_decided``).

The script reads a key that it was not handed in ``KEYS``: a Redis Cluster (where the two keys
live in different slots) refuses that, so both say "not here" (``None``) for a cluster client,
and the caller makes two GETs. So they do after any ``ResponseError`` (scripting disabled or
forbidden by an ACL): the script is then not tried again by this process. A Redis that cannot be
reached counts as a failed read of the version, exactly as the first GET would have.

``aget`` answers only what it can decide from one reply: anything else (no version in Redis yet,
a version with its owner, a failed or refused trip) is None, uncounted, and the caller reads the
long way (``get``, in a thread), which counts, repairs and fails open. ``aget`` may carry a
script run before the read in the same trip (``redis_kv.joined``: the request limits' windows
of ``POST /v1/query``).
"""

from __future__ import annotations

import logging
from typing import cast

from rag_core.cache.fail_open import warn
from rag_core.cache.owned_cache import OwnedRedisCache
from rag_core.cache.redis_cache import RedisCache
from rag_core.redis_kv.client import REDIS_ERRORS
from rag_core.redis_kv.codec import reply_bytes
from rag_core.redis_kv.joined import Arg, First, joined, joined_args
from rag_core.redis_kv.loop_script import LoopScript
from rag_core.redis_kv.redis_py import RedisCluster, ResponseError
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.cache")

Read = tuple[bytes | None, bytes | None]  # (version, value) as read

# The notes version, then the value of the key that it names: one round trip instead of two.
# The key is ``ARGV[1] .. version .. ARGV[2]`` (``keys.VersionSlot``); a version that is not a
# bare integer (``value@owner``, written in a cluster) names nothing, and the caller reads it
# the long way, where ``OwnedRedisCache`` judges it. A value equal to ARGV[4] says that the
# body lives under ``ARGV[3] .. version .. ARGV[2]`` (``answer_codec.IN_STALE``): read there.
_GET_VERSIONED = """
local version = redis.call('GET', KEYS[1])
if not version then return {false, false} end
if not string.match(version, '^%-?%d+$') then return {version, false} end
local value = redis.call('GET', ARGV[1] .. version .. ARGV[2])
if value and ARGV[3] ~= '' and value == ARGV[4] then
  value = redis.call('GET', ARGV[3] .. version .. ARGV[2])
end
return {version, value}
"""


class VersionedRead:
    """Reads a version (``versions``, an ``OwnedRedisCache``) and the value it names in
    ``values`` with one script on a single Redis server."""

    def __init__(self, versions: OwnedRedisCache, values: RedisCache) -> None:
        if versions.client is not values.client:
            raise ValueError("the version and the values must live on one Redis")
        self.versions = versions
        self.values = values
        self.usable = not isinstance(versions.client, RedisCluster)
        self._script = versions.client.register_script(_GET_VERSIONED)
        # the same script from the event loop (None for a client whose URL is not known)
        self.on_loop = LoopScript.of(versions.client, _GET_VERSIONED) if self.usable else None
        self._with: dict[str, LoopScript] = {}  # a script run first, joined (``aget``)

    def get(self, version_key: str, head: str, tail: str, twin: tuple[str, bytes] = ("", b"")
            ) -> Read | None:
        """``(version, value)``: the version as stored when it is a bare integer (counted as a
        hit or miss of ``versions``) and the value of ``head + version + tail`` (counted in
        ``values``; None without a version). ``twin``: (head, marker): a value equal to the
        marker is read from ``head + version + tail`` instead. None: read them the long way."""
        if not self.usable:
            return None
        try:
            raw_version, raw_value = self._script(keys=[version_key],
                                                  args=[head, tail, twin[0], twin[1]])
        except ResponseError as exc:
            self.usable = False
            logs.log_event(log, logging.WARNING, "the one-trip L1 read cannot run on this "
                           "Redis; reading the version and the answer apart",
                           error=type(exc).__name__)
            return None
        except REDIS_ERRORS as exc:
            self.versions._count("errors")
            warn(self.versions.layer, exc)
            return self.versions._counted(None), None
        return self._decided(raw_version, raw_value)

    async def aget(self, version_key: str, head: str, tail: str,
                   twin: tuple[str, bytes] = ("", b""), first: First | None = None
                   ) -> Read | None:
        """``get`` from the event loop, for a reply that decides: a version and its value (or
        its absence); None, uncounted, for anything else (see the module's text). ``first``:
        a script run before the read in its round trip (``redis_kv.joined``: the request
        limits' windows), whose reply it settles first (a refusal raised there ends the read
        unread); one that cannot run on this server runs alone first (``First.alone``); after
        a failed trip it is the caller's to run."""
        if not self.usable or self.on_loop is None:
            return None
        read: tuple[list[str], list[Arg]] = ([version_key], [head, tail, *twin])
        carried = first.trip(self.versions.client) if first is not None else None
        if first is not None and carried is None:
            first.alone()
        if first is None or carried is None:
            reply = await self.on_loop.run(1, *read[0], *read[1])
        else:
            both = await self._joined(first.script).run(*joined_args(carried, read))
            if both is None:
                return None
            first.settle(cast("list[object]", both[0]))
            reply = cast("list[bytes | str | None]", both[1]) if len(both) > 1 else None
        if reply is None or reply[0] is None:
            return None
        return self._decided(*reply)

    def _joined(self, script: str) -> LoopScript:
        """The loop's runner of ``script`` then this read, in one round trip."""
        found = self._with.get(script)
        if found is None:
            found = LoopScript(self.versions.client, joined(script, _GET_VERSIONED),
                               self.on_loop.url if self.on_loop is not None else "")
            self._with[script] = found
        return found

    def _decided(self, raw_version: bytes | str | None, raw_value: bytes | str | None
                 ) -> Read | None:
        """One reply of the script, counted: None when its version names nothing here."""
        if raw_version is not None and not _integer(raw_version):
            return None  # a value with its owner: OwnedRedisCache decides
        version = self.versions._counted(reply_bytes(raw_version))
        if version is None:
            return None, None
        return version, self.values._counted(reply_bytes(raw_value))


def _integer(raw: object) -> bool:
    """A version as ``str(int)`` writes it: the key the script named is the key Python names."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return text == str(int(text))
    except ValueError:
        return False
