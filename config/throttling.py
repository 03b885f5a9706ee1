"""Rate limits kept in Redis: per-user likes and login attempts, answered 429 + Retry-After.

Why not DRF's ``SimpleRateThrottle``: it keeps a list of timestamps in the cache and does a
read, then a write (two round trips, and two concurrent requests can both read the old list
and both pass). This is a fixed-window counter: one pipelined ``INCR`` + ``EXPIRE`` per
request, atomic in Redis, so the like hot path pays one round trip (~0.1 ms) and the limit
holds under concurrency. The price of fixed windows: a client can send up to twice the limit
across a window boundary; for abuse control that is fine.

Rates are settings (``THROTTLE_RATES``, ``"<count>/<period>"``, e.g. ``"120/min"``, the periods
spelled as DRF spells them: s, sec, second, m, min, minute, h, hour, d, day), checked when the
settings load (``config.settings.env.parse_rate``), so a wrong one stops the process at start
instead of answering every request 500. ``THROTTLE_EXEMPT_USERS`` lists usernames that are
never throttled (a trailing ``*`` matches a prefix: ``"loadtest-*"``), so a load test needs a
setting, not a code change.

When Redis does not answer, a throttle either lets the request through (``fail_open``: the
like endpoint, whose truth is PostgreSQL and which must keep accepting likes through a Redis
outage) or refuses it with a 503 (login: brute-force protection is not switched off by
taking Redis down).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config.exceptions import ServiceUnavailable
from config.redis import get_async_redis, get_redis
from config.settings.env import parse_rate

log = logging.getLogger(__name__)


def is_exempt(username: str) -> bool:
    for pattern in settings.THROTTLE_EXEMPT_USERS:
        if pattern.endswith("*") and username.startswith(pattern[:-1]):
            return True
        if username == pattern:
            return True
    return False


def _window(*, scope: str, ident: str, window: int) -> tuple[str, float]:
    """The counter's key for this window, and when the window ends."""
    now = time.time()
    slot = int(now // window)
    return f"{settings.REDIS_PREFIX}:throttle:{scope}:{ident}:{slot}", (slot + 1) * window - now


def hit(*, scope: str, ident: str, limit: int, window: int) -> float | None:
    """Count one request of ``ident`` in ``scope``; None if allowed, else seconds to wait."""
    key, left = _window(scope=scope, ident=ident, window=window)
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window)
    count, _ = pipe.execute()
    return None if int(count) <= limit else left


async def ahit(*, scope: str, ident: str, limit: int, window: int) -> float | None:
    """``hit`` from an event loop (the like hot path, ``likes.asgi``): the same counter."""
    key, left = _window(scope=scope, ident=ident, window=window)
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window)
    count, _ = await pipe.execute()
    return None if int(count) <= limit else left


class RedisRateThrottle(BaseThrottle):
    """A fixed-window limit per ``scope`` and identity; subclasses say who the identity is."""

    scope: str
    fail_open: bool = True

    def __init__(self) -> None:
        self.limit, self.window = parse_rate(settings.THROTTLE_RATES[self.scope])
        self._wait: float | None = None

    def ident(self, request: Request) -> str | None:
        """Who is counted; None: nobody (the request is not limited)."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        try:
            self._wait = hit(scope=self.scope, ident=ident, limit=self.limit, window=self.window)
        except redis.RedisError as exc:
            return self.unavailable(exc)
        return self._wait is None

    async def allow_ident(self, ident: str | None) -> bool:
        """``allow_request`` from an event loop, for an identity found without a DRF
        request (the like hot path): the same counter, the same Redis-down answer."""
        if ident is None:
            return True
        try:
            wait = await ahit(scope=self.scope, ident=ident, limit=self.limit, window=self.window)
        except redis.RedisError as exc:
            return self.unavailable(exc)
        return wait is None

    def unavailable(self, exc: redis.RedisError) -> bool:
        """Redis did not answer: let the request through (``fail_open``) or refuse it."""
        if self.fail_open:
            log.warning("throttle %s not applied, Redis unavailable: %s", self.scope, exc)
            return True
        raise ServiceUnavailable(
            "the rate limiter is unavailable; try again in a few seconds"
        ) from exc

    def wait(self) -> float | None:
        return self._wait


class LikeRateThrottle(RedisRateThrottle):
    """Likes and unlikes per user (``THROTTLE_RATES["like"]``)."""

    scope = "like"

    def ident(self, request: Request) -> str | None:
        user = request.user
        if not user.is_authenticated:
            return None
        return self.ident_of(user_id=user.pk, username=user.get_username())

    @staticmethod
    def ident_of(*, user_id: int, username: str) -> str | None:
        return None if is_exempt(username) else str(user_id)


async def like_allowed(*, user_id: int, username: str) -> bool:
    """``LikeRateThrottle`` for the like hot path (``likes.asgi``), which has no DRF request:
    the same throttle, counter, exemptions and fail-open."""
    throttle = LikeRateThrottle()
    return await throttle.allow_ident(throttle.ident_of(user_id=user_id, username=username))


class LoginRateThrottle(RedisRateThrottle):
    """Login attempts per (client address, username) (``THROTTLE_RATES["login"]``).

    Keyed by both, as django-axes does by default: by username alone, anyone could lock a
    victim out by failing on purpose; by address alone, one office's NAT would share a limit.
    """

    scope = "login"
    fail_open = False

    def ident(self, request: Request) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150].lower()
        if is_exempt(username):
            return None
        return f"{self.get_ident(request)}:{username}"
