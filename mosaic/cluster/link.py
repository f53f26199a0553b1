"""The worker's connection to Redis, and whether Redis is reachable now.

Redis going away must not break what does not need it (media already flowing, sessions
already placed): callers wrap each command in `RedisLink.call`, which turns a connection
failure into one typed error, `ClusterUnavailable`, that signaling answers as "the service
is unavailable; try again" and that background loops just log and retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A command that takes longer than this is treated as Redis being away: a join must fail
# fast with "unavailable", not hang on a dead connection.
COMMAND_TIMEOUT_S = 2.0


class ClusterUnavailable(Exception):
    """Redis cannot be reached now."""


class RedisLink:
    """One connection pool per worker (``decode_responses=False``: bytes in, bytes out)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=COMMAND_TIMEOUT_S,
            health_check_interval=10,
        )
        # False after a failed command until one succeeds again.
        self.available = True

    async def call(self, command: Awaitable[T]) -> T:
        """Await one Redis command; a lost or silent Redis raises `ClusterUnavailable`."""
        try:
            result = await command
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            if self.available:
                log.warning("Redis is unreachable: %s", error)
            self.available = False
            raise ClusterUnavailable(str(error)) from error
        if not self.available:
            log.info("Redis is reachable again")
        self.available = True
        return result

    async def close(self) -> None:
        await self.redis.aclose()
