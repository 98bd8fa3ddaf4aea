"""The Lua scripts that pair each stream command with its count, and the Redis client.

Each script does a stream command and the count that goes with it atomically, so a crash
between the two cannot make the books disagree.
"""

from __future__ import annotations

from typing import Any

from binding.errors import ConfigurationError

# KEYS: stream, meta, writer. ARGV: maxlen (0: unbounded), '~' or '=', the entry's index in
# its run, the writer key's ttl (s), then field/value pairs. The writer key holds the last
# index this producer wrote: an entry sent again after a lost reply (a Redis restart) is
# not written twice ({-1, ''}).
PRODUCE_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[3]) or '-1')
if tonumber(ARGV[3]) <= last then return {-1, ''} end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
local n = redis.call('HINCRBY', KEYS[2], 'produced', 1) - 1
local id
if tonumber(ARGV[1]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[1], '*', 'n', n, unpack(ARGV, 5))
else
  id = redis.call('XADD', KEYS[1], '*', 'n', n, unpack(ARGV, 5))
end
return {n, id}
"""

# KEYS: stream, counts. ARGV: group, consumer, count. Entries the group never got (trimmed
# before anyone read them) show as gaps in `n`: they are counted as dropped here.
READ_SCRIPT = """
local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not res then return {} end
local entries = res[1][2]
local expect = tonumber(redis.call('HGET', KEYS[2], 'next') or '0')
local skipped = 0
for _, e in ipairs(entries) do
  local f = e[2]
  for j = 1, #f, 2 do
    if f[j] == 'n' then
      local seq = tonumber(f[j + 1])
      if seq then
        if seq > expect then skipped = skipped + (seq - expect) end
        if seq + 1 > expect then expect = seq + 1 end
      end
      break
    end
  end
end
redis.call('HSET', KEYS[2], 'next', expect)
redis.call('HINCRBY', KEYS[2], 'delivered', #entries)
if skipped > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', skipped) end
return entries
"""

# KEYS: stream, counts. ARGV: group, consumer, min idle ms, cursor, count. Pending entries
# trimmed before anyone acknowledged them come back as deleted ids: counted as dropped.
CLAIM_SCRIPT = """
local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local deleted = res[3] or {}
if #deleted > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', #deleted) end
return {res[1], res[2], #deleted}
"""

# KEYS: stream, counts. ARGV: group, windows stored, windows incomplete, now (s), ids...
ACK_SCRIPT = """
local n = 0
if #ARGV >= 5 then n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 5)) end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'processed', n) end
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[2], 'windows', ARGV[2]) end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[2], 'windows_incomplete', ARGV[3]) end
redis.call('HSET', KEYS[2], 'acked_at', ARGV[4])
return n
"""

# KEYS: stream, counts, dead. ARGV: group, id, dead maxlen, then field/value pairs.
DEAD_SCRIPT = """
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
  redis.call('HINCRBY', KEYS[2], 'dead', n)
end
return n
"""

# KEYS: lease. ARGV: consumer, ttl ms.
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(url: str | None, **options: Any) -> Any:
    """A redis-py client (bytes responses) for `url`; a clear error when it is not set."""
    if not url:
        raise ConfigurationError(
            "no Redis URL: set BINDING_BROKER_URL (e.g. redis://localhost:6379/0) or pass --redis"
        )
    try:
        import redis
    except ImportError as error:  # pragma: no cover - redis is a dependency of streams
        raise ConfigurationError("sensor streams need redis-py: pip install redis") from error
    return redis.Redis.from_url(url, **options)


def client_for(redis_or_url: Any) -> Any:
    return (
        connect(redis_or_url)
        if isinstance(redis_or_url, str) or redis_or_url is None
        else redis_or_url
    )
