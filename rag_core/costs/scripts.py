"""The cost ledger's Lua scripts: each runs atomically in Redis, on the two keys of one day (the
user's ledger and the global one, in one hash slot).

A day key carries ``seeded`` once its ``spent`` was taken from PostgreSQL (the durable record):
a Redis that restarted empty, or evicted the key, must not start the day at $0. ``seeded`` holds
a mark of the server that seeded it (its ``run_id`` on a single server, the master's
``host:port`` in a cluster: ``rag_core.redis_kv.client.slot_owner``): a server restarted from its
file, or a replica promoted after a failover, may lack the last commits, so a key seeded through
another server is seeded again (never lowered).
``reserved`` never goes below 0 (a restart loses reservations whose commits still arrive).
"""

RESERVE = """
if redis.call('HGET', KEYS[1], 'seeded') ~= ARGV[5]
    or redis.call('HGET', KEYS[2], 'seeded') ~= ARGV[5] then
  return {-1}
end
local us = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local ur = math.max(0, tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0'))
local gs = tonumber(redis.call('HGET', KEYS[2], 'spent') or '0')
local gr = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'reserved') or '0'))
local est = tonumber(ARGV[1])
if us + ur + est > tonumber(ARGV[2]) or us >= tonumber(ARGV[2]) then
  return {0, 'user', tostring(us + ur)}
end
if gs + gr + est > tonumber(ARGV[3]) or gs >= tonumber(ARGV[3]) then
  return {0, 'global', tostring(gs + gr)}
end
redis.call('HSET', KEYS[1], 'reserved', tostring(ur + est))
redis.call('HSET', KEYS[2], 'reserved', tostring(gr + est))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {1, tostring(us + ur + est), tostring(gs + gr + est)}
"""

# ARGV: the user's and everyone's recorded spend of the day (PostgreSQL), the key TTL, the
# master's mark, then the user's and everyone's reservations that the seeding process holds
# open (made in a Redis that then lost them: their commits are still to come, so they count).
# A key that counted commits before it was seeded keeps the larger figure.
SEED = """
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'seeded') ~= ARGV[4] then
    local now = tonumber(redis.call('HGET', key, 'spent') or '0')
    local held = math.max(tonumber(redis.call('HGET', key, 'reserved') or '0'),
                          tonumber(ARGV[4 + i] or '0'))
    redis.call('HSET', key, 'spent', tostring(math.max(now, tonumber(ARGV[i]))), 'seeded',
               ARGV[4], 'reserved', tostring(held))
    redis.call('EXPIRE', key, ARGV[3])
  end
end
return 1
"""

# A user's day key that Redis no longer holds (lost, evicted, or its user erased while a
# generation was in flight) is left absent: its next reservation seeds it from PostgreSQL,
# which holds this commit already. The global key is settled always.
_SETTLE = """
local user_held = redis.call('EXISTS', KEYS[1]) == 1
local function settle(key, est, actual)
  if key == KEYS[1] and not user_held then return end
  local r = math.max(0, tonumber(redis.call('HGET', key, 'reserved') or '0') - est)
  redis.call('HSET', key, 'reserved', tostring(r))
  if actual > 0 then redis.call('HINCRBYFLOAT', key, 'spent', actual) end
end
"""

# ARGV: estimate, actual cost, requests, input tokens, output tokens
COMMIT = _SETTLE + """
settle(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
settle(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[2], 'requests', ARGV[3])
if user_held then
  redis.call('HINCRBY', KEYS[1], 'requests', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'input_tokens', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'output_tokens', ARGV[5])
end
return 1
"""

# ARGV: estimate
RELEASE = _SETTLE + """
settle(KEYS[1], tonumber(ARGV[1]), 0)
settle(KEYS[2], tonumber(ARGV[1]), 0)
return 1
"""

# What happened in process while Redis was unreachable, added back when it returns: spend
# (a key that is not seeded takes it from PostgreSQL instead, which already holds it) and
# reservations made in Redis that could not be settled there. ARGV: spent, reserved to drop.
MERGE = """
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, 'seeded') == 1 then
    redis.call('HINCRBYFLOAT', key, 'spent', ARGV[1])
  end
  local r = math.max(0, tonumber(redis.call('HGET', key, 'reserved') or '0') - tonumber(ARGV[2]))
  redis.call('HSET', key, 'reserved', tostring(r))
end
return 1
"""
