"""Per-credential rate limits: a token bucket kept in the cache as one number (GCRA, the
"generic cell rate algorithm": the bucket's theoretical arrival time).

`burst` requests may arrive at once; after that one request per 60/per_minute seconds.

* Redis cache (production): one atomic Lua script per request (one round trip, Redis' clock),
  so concurrent requests on many workers are counted exactly.
* Other caches (local memory in the demo and tests): a read and a write; two requests racing
  on different processes can both pass at the edge. Local memory is per process anyway.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.core.cache import caches

_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
local over = new_tat - now - tonumber(ARGV[2])
if over > 0 then return tostring(over) end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'EX', ARGV[3])
return '0'
"""
_GCRA_SHA = hashlib.sha1(_GCRA_LUA.encode(), usedforsecurity=False).hexdigest()


def redis_write_client(cache: Any) -> Any:
    """The `redis.Redis` client of a Django RedisCache's write server, made once per cache
    instance. Django builds a new one on every cache call, and `redis.Redis()` copies its ~200
    response callbacks into a fresh case-insensitive dict each time (~0.05 ms; the API's hot
    path made three a request). The client is thread-safe; it draws on the cache's pool."""
    inner = cache._cache
    client = inner.__dict__.get("_custos_write_client")
    if client is None:
        client = inner.get_client(write=True)  # writes always go to the first server
        inner._custos_write_client = client
    return client


def _redis_hit(cache: Any, key: str, interval: float, capacity: float) -> float:
    from redis.exceptions import NoScriptError

    full_key = cache.make_and_validate_key(key)
    client = redis_write_client(cache)
    args = [interval, capacity, math.ceil(capacity) + 1]
    try:
        over = client.evalsha(_GCRA_SHA, 1, full_key, *args)
    except NoScriptError:  # first use on this Redis: EVAL loads the script
        over = client.eval(_GCRA_LUA, 1, full_key, *args)
    return float(over.decode() if isinstance(over, bytes) else over)


def rate_limit_hit(*, key: str, per_minute: int, burst: int) -> int | None:
    """Count one request. None when allowed, else the seconds to wait (Retry-After)."""
    if per_minute <= 0:
        return None
    interval = 60.0 / per_minute
    capacity = max(1, burst) * interval
    cache = caches["default"]
    cache_key = f"custos:rl:{key}"
    if type(cache).__name__ == "RedisCache":
        over = _redis_hit(cache, cache_key, interval, capacity)
        return max(1, math.ceil(over)) if over > 0 else None
    now = time.time()
    tat = cache.get(cache_key)
    tat = now if tat is None or tat < now else float(tat)
    new_tat = tat + interval
    if new_tat - now > capacity:
        return max(1, math.ceil(new_tat - now - capacity))
    cache.set(cache_key, new_tat, timeout=math.ceil(capacity) + 1)
    return None
