"""The one write path of the Redis cache layers: store-if-current and the bound, in one script.

Every cache write (an answer in ``rag:query`` and ``rag:stale``, a semantic entry, a question's
embedding) goes through :meth:`Writer.write`, which runs one Lua script on a single Redis
server:

1. **store only if current**: when the write names a notes version key and the version it was
   made from, nothing is written unless that key still holds that version. A generation that
   read a note before its DELETE and finishes after it finds the new version there and stores
   nothing (the DELETE writes the version before it purges, so an answer written before that
   is purged and one written after it is refused).
2. **the bound**: each layer keeps an index (a sorted set scored by expiry time,
   ``keys.layer_index``); after each write the script drops the index lines whose time has
   passed (and their entries), then the oldest lines past the layer's bound (and their
   entries). A layer therefore never holds more than its bound, whatever the traffic, and the
   ledger (which no script here touches) never meets an eviction.

A Redis Cluster refuses a script whose keys live in different slots: there the same steps run
as separate commands (:meth:`Writer._write_apart`), version check first; the check and the
write are then not one atomic step, which a single server gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import semantic_line_key
from rag_core.redis_kv.redis_py import RedisCluster

Outcome = Literal["written", "not_current"]

# The index of a layer (KEYS or ARGV name ``index``) and, in its slot (one hash tag:
# ``keys.layer_index``), each user's index (``index:u:<user>``, the member's user part) and
# the users by how many entries each holds (``index:users``). ``over`` takes out of them the
# lines whose time has passed, the writer's oldest past its share while others hold entries,
# then, while the layer is over its bound, the oldest line of its biggest holder (the writer
# when it holds as many as any): one user's flood evicts its own entries first. It returns
# the members taken out; their entries are dropped by the caller.
_INDEX = """
local function owner(member)
  return string.match(member, '^[^:]+:[^:]+:u:([^:]+):') or '-'
end
local function unindex(index, member)
  redis.call('ZREM', index, member)
  local who = owner(member)
  if redis.call('ZREM', index .. ':u:' .. who, member) == 1 then
    if tonumber(redis.call('ZINCRBY', index .. ':users', -1, who)) <= 0 then
      redis.call('ZREM', index .. ':users', who)
    end
  end
end
local function index_add(index, member, expiry, bound)
  redis.call('ZADD', index, expiry, member)
  local who = owner(member)
  if bound > 0 and redis.call('ZADD', index .. ':u:' .. who, expiry, member) == 1 then
    redis.call('ZINCRBY', index .. ':users', 1, who)
  end
  return who
end
local function over(index, who, now, bound, share)
  local out = {}
  local function take(member)
    unindex(index, member)
    out[#out + 1] = member
  end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 64)) do
    take(m)
  end
  if bound <= 0 then return out end
  local mine = index .. ':u:' .. who
  local held = redis.call('ZCARD', mine)
  if held > share and redis.call('ZCARD', index) > held then
    for _, m in ipairs(redis.call('ZRANGE', mine, 0, held - share - 1)) do take(m) end
  end
  local rounds = 0
  while redis.call('ZCARD', index) > bound and rounds < 1000 do
    rounds = rounds + 1
    local victim = who
    local top = redis.call('ZREVRANGE', index .. ':users', 0, 0, 'WITHSCORES')
    local own = tonumber(redis.call('ZSCORE', index .. ':users', who)) or 0
    if top[1] and tonumber(top[2]) > own then victim = top[1] end
    local oldest = redis.call('ZRANGE', index .. ':u:' .. victim, 0, 0)
    if not oldest[1] then oldest = redis.call('ZRANGE', index, 0, 0) end
    take(oldest[1])
  end
  return out
end
"""

# KEYS[1]: the notes version key (ignored when ARGV[1] is '').
# Per write i (0-based): KEYS[2+3i] the entry's key (a string, or the hash of a semantic scope),
# KEYS[3+3i] the hash of its index lines (semantic) or the entry's key again, KEYS[4+3i] the
# layer's index. ARGV[1]: the expected version ('' = unconditional); ARGV[2]: now (seconds).
# Per write: ARGV[3+6i] the hash field ('' = a string key), ARGV[4+6i] the value,
# ARGV[5+6i] the TTL (s), ARGV[6+6i] the layer's bound (<= 0: none), ARGV[7+6i] the line,
# ARGV[8+6i] the most entries one user may hold while others hold entries.
# An index member is the key itself, or ``scope .. "\n" .. field`` for a hash field.
_WRITE = _INDEX + """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local now = tonumber(ARGV[2])
local function drop(member)
  local sep = string.find(member, '\\n', 1, true)
  if sep then
    local scope = string.sub(member, 1, sep - 1)
    local field = string.sub(member, sep + 1)
    redis.call('HDEL', scope, field)
    redis.call('HDEL', scope .. ':idx', field)
  else
    redis.call('UNLINK', member)
  end
end
local writes = (#KEYS - 1) / 3
for i = 0, writes - 1 do
  local key, lines, index = KEYS[2 + 3 * i], KEYS[3 + 3 * i], KEYS[4 + 3 * i]
  local field, value = ARGV[3 + 6 * i], ARGV[4 + 6 * i]
  local ttl, bound, line = tonumber(ARGV[5 + 6 * i]), tonumber(ARGV[6 + 6 * i]), ARGV[7 + 6 * i]
  local share = tonumber(ARGV[8 + 6 * i])
  local member = key
  if field == '' then
    redis.call('SET', key, value, 'EX', ttl)
  else
    redis.call('HSET', key, field, value)
    redis.call('EXPIRE', key, ttl)
    redis.call('HSET', lines, field, line)
    redis.call('EXPIRE', lines, ttl)
    member = key .. '\\n' .. field
  end
  local who = index_add(index, member, now + ttl, bound)
  for _, m in ipairs(over(index, who, now, bound, share)) do drop(m) end
end
return 1
"""

# A Redis Cluster: the index part alone, on the slot of the layer's index keys. KEYS[1]: the
# index; ARGV: the member, its expiry, now, the bound, the share. Returns the members out.
_BOUND = _INDEX + """
local who = index_add(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]))
return over(KEYS[1], who, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
"""

# Members out of a layer's index and their users' (a delete or a purge of their entries).
_UNINDEX = _INDEX + """
for _, m in ipairs(ARGV) do unindex(KEYS[1], m) end
return #ARGV
"""

# The most of a layer's bound one user may hold while other users hold entries of it.
USER_SHARE = 0.8


def user_share(bound: int) -> int:
    """The entries one user may hold of a layer bounded at ``bound`` while others hold some."""
    return max(1, int(bound * USER_SHARE)) if bound > 0 else 0


@dataclass(frozen=True)
class Put:
    """One entry to write: a string key, or a field of a semantic scope's hash (with its
    index line beside it). ``bound``: the most entries ``index`` may hold (0: no bound)."""

    key: str
    value: bytes
    ttl_s: int
    index: str
    bound: int
    field: str = ""
    line: bytes = b""

    @property
    def member(self) -> str:
        return f"{self.key}\n{self.field}" if self.field else self.key


@dataclass(frozen=True)
class Condition:
    """Write only while ``version_key`` holds exactly ``expected`` (as stored)."""

    version_key: str
    expected: bytes


class Writer:
    """Runs the write script on one Redis (or its steps one by one on a cluster). Errors of
    the client propagate: the caller fails open and counts them."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.apart = isinstance(client, RedisCluster)
        self._script = client.register_script(_WRITE)
        self._bound = client.register_script(_BOUND)
        self._unindex = client.register_script(_UNINDEX)

    def write(self, puts: Sequence[Put], now: float, condition: Condition | None = None,
              *, pipe: Any = None) -> Outcome:
        """One script run. ``pipe``: a pipeline of this client (single server) to queue the
        run on instead (its outcome is then in the pipeline's results: 1 or 0)."""
        if not puts:
            return "written"
        if self.apart:
            return self._write_apart(puts, now, condition)
        keys: list[str] = [condition.version_key if condition else puts[0].key]
        args: list[bytes | str | int | float] = [condition.expected if condition else b"", now]
        for put in puts:
            lines = semantic_line_key(put.key) if put.field else put.key
            keys += [put.key, lines, put.index]
            args += [put.field, put.value, _ttl(put), put.bound, put.line,
                     user_share(put.bound)]
        done = self._script(keys=keys, args=args, client=pipe)
        if pipe is not None:
            return "written"
        return "written" if int(done) == 1 else "not_current"

    def _write_apart(self, puts: Sequence[Put], now: float,
                     condition: Condition | None) -> Outcome:
        if condition is not None and self.client.get(condition.version_key) != condition.expected:
            return "not_current"
        for put in puts:
            pipe = self.client.pipeline(transaction=False)
            if put.field:
                lines = semantic_line_key(put.key)
                pipe.hset(put.key, put.field, put.value)
                pipe.expire(put.key, _ttl(put))
                pipe.hset(lines, put.field, put.line)
                pipe.expire(lines, _ttl(put))
            else:
                pipe.set(put.key, put.value, ex=_ttl(put))
            pipe.execute()
            doomed: Any = self._bound(keys=[put.index], args=[
                put.member, now + _ttl(put), now, put.bound, user_share(put.bound)])
            for member in doomed:
                _drop_apart(self.client.delete, self.client.hdel, _text(member))
        return "written"

    def unindex(self, index: str, members: Sequence[str | bytes]) -> None:
        """``members`` (whose entries are gone) out of the layer's ``index`` and its users'."""
        for start in range(0, len(members), 500):
            self._unindex(keys=[index], args=list(members[start:start + 500]))


def _drop_apart(delete: Callable[..., object], hdel: Callable[..., object], member: str) -> None:
    scope, sep, field = member.partition("\n")
    if sep:
        hdel(scope, field)
        hdel(semantic_line_key(scope), field)
    else:
        delete(member)


def _ttl(put: Put) -> int:
    return max(1, int(put.ttl_s))


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
