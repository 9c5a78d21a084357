"""One user's keys out of Redis (single server or cluster): every cache layer, the layers'
indexes of the user, the notes version, the write quota, and the cost ledger's day keys, whose
spend goes to the anonymous key of the same day first (the day's global key is left as it is,
so the global cap stays right). A last sweep takes any other key that names the user (its id
or the 16-character hash the cache keys use) as a part of its name: keys added later (limits)
go too.

Errors of Redis propagate: an erasure that could not reach Redis is not done, and is run again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from rag_core.cache.layers import CacheLayers
from rag_core.costs.totals import KEY_TTL_S
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import (
    cost_day_of,
    cost_user_key,
    layer_index,
    layer_users,
    notes_version_key,
    user_index,
    user_prefix,
)
from rag_core.store.sql.erasure import ANONYMOUS_USER

LAYERS = ("query", "stale", "semantic", "embedding", "context", "version")
_PARTS = re.compile(r"[:{}\n]")

# KEYS[1] the user's ledger of a day, KEYS[2] the anonymous one of the same day (one slot).
# Money and counts are added to the anonymous key; reservations stay in the global key until
# their generations settle. ARGV[1]: the TTL.
_MOVE_DAY = """
local v = redis.call('HGETALL', KEYS[1])
for i = 1, #v, 2 do
  local f = v[i]
  if f == 'spent' or f == 'saved' then
    redis.call('HINCRBYFLOAT', KEYS[2], f, v[i + 1])
  elseif f == 'requests' or f == 'input_tokens' or f == 'output_tokens' then
    redis.call('HINCRBY', KEYS[2], f, v[i + 1])
  end
end
if #v > 0 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return redis.call('DEL', KEYS[1])
"""


def user_hash16(user_id: str) -> str:
    """The hash of a user id that cache keys carry (``keys._h``)."""
    return hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def names_user(key: str, user_id: str) -> bool:
    """Whether a key names the user: its id or its cache hash as one part of the name."""
    parts = set(_PARTS.split(key))
    return (user_id in parts or user_hash16(user_id) in parts
            or f":u:{user_id}:" in key or key.endswith(f":u:{user_id}")
            or f"{{{user_id}}}" in key)


def _scan(client: RedisClient, pattern: str) -> Iterator[str]:
    for key in client.scan_iter(match=pattern, count=1000):
        yield key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)


def erase_keys(client: RedisClient | None, caches: CacheLayers, user_id: str) -> int:
    """Every key of the user out of Redis (or of the in-process layers when there is no
    Redis); the number of keys and entries removed."""
    removed = caches.purge_user(user_id)  # query, stale, context, semantic
    embedding = getattr(caches.embedding, "purge", caches.embedding.clear)
    removed += int(embedding(user_prefix("embedding", user_id)))
    if client is None:
        return removed
    hashed = user_hash16(user_id)
    for layer in LAYERS:
        removed += int(client.delete(user_index(layer, user_id)))
        client.zrem(layer_users(layer), hashed)
        index = layer_index(layer)  # lines of entries gone already, named by the user's hash
        lines = [m for m, _ in client.zscan_iter(index, match=f"*{hashed}*", count=1000)]
        if lines:
            client.zrem(index, *lines)
    removed += int(client.delete(notes_version_key(user_id)))
    move = client.register_script(_MOVE_DAY)
    for key in list(_scan(client, cost_user_key("*", user_id))):  # the user's, any day
        day = cost_day_of(key)
        if cost_user_key(day, user_id) == key:
            removed += int(move(keys=[key, cost_user_key(day, ANONYMOUS_USER)],
                                args=[KEY_TTL_S]))
    for pattern in (f"*{user_id}*", f"*{hashed}*"):
        for key in list(_scan(client, pattern)):
            if names_user(key, user_id):
                removed += int(client.delete(key))
    return removed


def keys_naming(client: RedisClient, user_id: str) -> list[str]:
    """The keys that still name the user (the erasure's check, and its test's)."""
    found = []
    for pattern in (f"*{user_id}*", f"*{user_hash16(user_id)}*"):
        found += [k for k in _scan(client, pattern) if names_user(k, user_id)]
    return sorted(set(found))
