"""Where a question's limits are counted: Redis (one Lua script, shared by every process and
server) or this process (``LocalCounter``, the same rules, while Redis fails).

``check`` does everything for one question atomically: it drops the places in flight whose lease
ended, then refuses when the user has their most in flight (``in_flight``), when a window has no
room (its name), or when everyone's questions in flight are at the cap (``busy``: the caller may
wait in the fair queue and ask again); otherwise it counts the question in every window and
takes a place in flight under ``token`` until ``release`` (or the lease's end, should the
process die first). A refused question is counted nowhere. An ask with an empty token and no
caps counts the windows and takes no place (``QuestionGate.count``); one with no windows takes a
place and counts nothing (``QuestionGate.place``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from rag_core.limits.policy import WindowCount
from rag_core.redis_kv import keys
from rag_core.redis_kv.client import RedisClient

Status = Literal["admitted", "in_flight", "window", "busy"]
GLOBAL = "global_hour"  # the window of everyone's questions (RAG_MAX_QUERIES_PER_HOUR)


@dataclass(frozen=True)
class Window:
    """A window to check: its name, size (s), limit, and whose (None: everyone's)."""

    name: str
    size: int
    limit: int
    user: bool = True


@dataclass(frozen=True)
class Ask:
    user: str
    token: str
    now: float
    windows: tuple[Window, ...]
    user_max_in_flight: int  # 0: no cap
    max_concurrent: int  # 0: no cap
    lease_s: float


@dataclass(frozen=True)
class Outcome:
    status: Status
    counts: tuple[WindowCount, ...] = ()  # as the question met them (itself not counted)
    refused: str | None = None  # the window without room
    user_in_flight: int = 0
    all_in_flight: int = 0
    token: str = ""  # the place in flight an admitted question holds


class LimitCounter(Protocol):
    def check(self, ask: Ask) -> Outcome: ...

    def release(self, user: str, token: str) -> None: ...

    def uncount(self, ask: Ask) -> None: ...


def _numbered(window: Window, now: float) -> tuple[int, float]:
    """The number of the fixed window ``now`` is in, and the seconds since it began."""
    number = math.floor(now / window.size)
    return number, now - number * window.size


def _outcome(ask: Ask, code: int, refused: int, all_in: int, user_in: int,
             counts: list[int]) -> Outcome:
    made = []
    for i, window in enumerate(ask.windows):
        elapsed = _numbered(window, ask.now)[1]
        made.append(WindowCount(window.name, window.size, window.limit, counts[2 * i],
                                counts[2 * i + 1], elapsed))
    status: Status = ("admitted", "in_flight", "window", "busy")[code]  # type: ignore[assignment]
    return Outcome(status, tuple(made), ask.windows[refused - 1].name if refused else None,
                   user_in, all_in, ask.token)


# KEYS: everyone's places in flight, the user's, then each window's current and previous count.
# ARGV: now, lease end, token (empty: count the windows, take no place), max in flight (all),
# max in flight (user), windows, then each
# window's size, limit and seconds elapsed. Replies: code (0 admitted, 1 in_flight, 2 window,
# 3 busy), the refused window (1-based), in flight (all, user), each window's two counts.
CHECK = """
local now = tonumber(ARGV[1])
local max_all = tonumber(ARGV[4])
local max_user = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local all_in = redis.call('ZCARD', KEYS[1])
local user_in = redis.call('ZCARD', KEYS[2])
local code = 0
local refused = 0
if max_user > 0 and user_in >= max_user then code = 1 end
local counts = {}
for i = 0, n - 1 do
  local size = tonumber(ARGV[7 + 3 * i])
  local limit = tonumber(ARGV[8 + 3 * i])
  local elapsed = tonumber(ARGV[9 + 3 * i])
  local cur = tonumber(redis.call('GET', KEYS[3 + 2 * i]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[4 + 2 * i]) or '0')
  counts[#counts + 1] = cur
  counts[#counts + 1] = prev
  if refused == 0 and prev * (size - elapsed) / size + cur + 1 > limit then refused = i + 1 end
end
if code == 0 and refused > 0 then code = 2 end
if code == 0 and max_all > 0 and all_in >= max_all then code = 3 end
if code == 0 then
  for i = 0, n - 1 do
    redis.call('INCR', KEYS[3 + 2 * i])
    redis.call('PEXPIRE', KEYS[3 + 2 * i], 2000 * tonumber(ARGV[7 + 3 * i]))
  end
  if ARGV[3] ~= '' then
    local lease_ms = math.ceil((tonumber(ARGV[2]) - now) * 1000) + 1000
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
    redis.call('PEXPIRE', KEYS[1], lease_ms)
    redis.call('PEXPIRE', KEYS[2], lease_ms)
  end
end
local reply = {code, refused, all_in, user_in}
for i = 1, #counts do reply[#reply + 1] = counts[i] end
return reply
"""


def trip(ask: Ask) -> tuple[list[str], list[str | int]]:
    """The keys and arguments of ``CHECK`` for ``ask``: what ``RedisCounter.check`` sends,
    alone or in another read's round trip (``QuestionGate.counting``)."""
    window_keys: list[str] = []
    args: list[str | int] = [repr(ask.now), repr(ask.now + ask.lease_s), ask.token,
                             ask.max_concurrent, ask.user_max_in_flight, len(ask.windows)]
    for window in ask.windows:
        number, elapsed = _numbered(window, ask.now)
        who = ask.user if window.user else None
        window_keys += [keys.limit_window(who, window.name, number),
                        keys.limit_window(who, window.name, number - 1)]
        args += [window.size, window.limit, repr(elapsed)]
    return [keys.limit_in_flight(None), keys.limit_in_flight(ask.user), *window_keys], args


def outcome_of(ask: Ask, reply: Sequence[object]) -> Outcome:
    """``CHECK``'s reply to ``ask`` as an ``Outcome`` (its elements are integers)."""
    numbers = [_integer(x) for x in reply]
    return _outcome(ask, numbers[0], numbers[1], numbers[2], numbers[3], numbers[4:])


def _integer(raw: object) -> int:
    if isinstance(raw, int | str | bytes):
        return int(raw)
    raise TypeError(f"not an integer in CHECK's reply: {type(raw).__name__}")


class RedisCounter:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._check = client.register_script(CHECK)

    def check(self, ask: Ask) -> Outcome:
        keys_of, args = trip(ask)
        return outcome_of(ask, self._check(keys=keys_of, args=args))

    def uncount(self, ask: Ask) -> None:
        """Take back what ``check`` counted for ``ask`` (a question refused its place)."""
        pipe = self.client.pipeline(transaction=False)
        for window in ask.windows:
            who = ask.user if window.user else None
            pipe.decr(keys.limit_window(who, window.name, _numbered(window, ask.now)[0]))
        pipe.execute()

    def release(self, user: str, token: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(keys.limit_in_flight(None), token)
        pipe.zrem(keys.limit_in_flight(user), token)
        pipe.execute()


@dataclass
class LocalCounter:
    """The same rules in this process: what a process counts while Redis fails."""

    counts: dict[tuple[str | None, str, int], int] = field(default_factory=dict)
    flights: dict[str | None, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, ask: Ask) -> Outcome:
        with self.lock:
            for tokens in self.flights.values():
                for token in [t for t, end in tokens.items() if end <= ask.now]:
                    del tokens[token]
            everyone = self.flights.setdefault(None, {})
            own = self.flights.setdefault(ask.user, {})
            code = 1 if 0 < ask.user_max_in_flight <= len(own) else 0
            refused, found = 0, []
            for i, window in enumerate(ask.windows):
                number, elapsed = _numbered(window, ask.now)
                who = ask.user if window.user else None
                cur = self.counts.get((who, window.name, number), 0)
                prev = self.counts.get((who, window.name, number - 1), 0)
                found += [cur, prev]
                if not refused and prev * (window.size - elapsed) / window.size + cur + 1 \
                        > window.limit:
                    refused = i + 1
            if code == 0 and refused:
                code = 2
            if code == 0 and 0 < ask.max_concurrent <= len(everyone):
                code = 3
            if code == 0:
                self._count(ask)
                if ask.token:  # empty: the windows counted, no place taken
                    everyone[ask.token] = own[ask.token] = ask.now + ask.lease_s
            return _outcome(ask, code, refused, len(everyone), len(own), found)

    def _count(self, ask: Ask) -> None:
        for window in ask.windows:
            number = _numbered(window, ask.now)[0]
            who = ask.user if window.user else None
            self.counts[(who, window.name, number)] = \
                self.counts.get((who, window.name, number), 0) + 1
        # only the current and previous windows are ever read
        oldest = {w.name: _numbered(w, ask.now)[0] - 1 for w in ask.windows}
        for key in [k for k in self.counts if k[2] < oldest.get(k[1], k[2])]:
            del self.counts[key]

    def uncount(self, ask: Ask) -> None:
        with self.lock:
            for window in ask.windows:
                who = ask.user if window.user else None
                key = (who, window.name, _numbered(window, ask.now)[0])
                if self.counts.get(key, 0) > 0:
                    self.counts[key] -= 1

    def release(self, user: str, token: str) -> None:
        with self.lock:
            self.flights.get(None, {}).pop(token, None)
            own = self.flights.get(user)
            if own is not None:
                own.pop(token, None)
                if not own:
                    del self.flights[user]
