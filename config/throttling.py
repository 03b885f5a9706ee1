"""Rate limits kept in Redis, answered 429 + Retry-After: likes, posts and follows per user;
sign-ups per address; API and admin log-ins per address and username.

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

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config.exceptions import RETRY_AFTER_S, ServiceUnavailable, error_json
from config.redis import get_async_redis, get_redis
from config.settings.env import parse_rate
from social.usernames import username_key

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


def client_address(request: Request) -> str:
    """The address a limit counts: DRF's ``get_ident`` (the socket's peer, or with
    ``NUM_PROXIES`` = ``TRUSTED_PROXY_COUNT`` the address that many proxies back in
    ``X-Forwarded-For``), kept only if it is an IP address: a forged header's text never
    becomes a key, and with no proxy trusted the header is not read at all."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident.strip()))
    except ValueError:
        return str(request.META.get("REMOTE_ADDR", ""))


class PerUserRateThrottle(RedisRateThrottle):
    """A limit per signed-in user (anonymous requests are refused by the view anyway)."""

    def ident(self, request: Request) -> str | None:
        user = request.user
        if not user.is_authenticated or is_exempt(user.get_username()):
            return None
        return str(user.pk)


class LoginRateThrottle(RedisRateThrottle):
    """Login attempts per (client address, username) (``THROTTLE_RATES["login"]``).

    Keyed by both, as django-axes does by default: by username alone, anyone could lock a
    victim out by failing on purpose; by address alone, one office's NAT would share a limit.
    The username is counted as log-in finds it (``social.usernames.username_key``), so
    ``" Dave\t"``, a full-width ``DAVE`` or a look-alike spelling share ``dave``'s count;
    the address is ``client_address``.
    """

    scope = "login"
    fail_open = False

    def ident(self, request: Request) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username", "")
        username = username_key(username if isinstance(username, str) else "")[:150]
        if is_exempt(username):
            return None
        return f"{client_address(request)}:{username}"


class RegisterRateThrottle(RedisRateThrottle):
    """Sign-ups per client address (``THROTTLE_RATES["register"]``): each account brings
    its own like allowance, so unlimited sign-ups would undo every per-user limit."""

    scope = "register"
    fail_open = False

    def ident(self, request: Request) -> str | None:
        return client_address(request)


class PostRateThrottle(PerUserRateThrottle):
    """Posts per user (``THROTTLE_RATES["post"]``)."""

    scope = "post"


class FollowRateThrottle(PerUserRateThrottle):
    """Follows and unfollows per user (``THROTTLE_RATES["follow"]``)."""

    scope = "follow"


def admin_login_wait(request: HttpRequest) -> float | None:
    """``/admin/login/``'s limit (``THROTTLE_RATES["admin_login"]``), per address and
    username as ``LoginRateThrottle``: None to go on, else seconds to wait. Django's admin
    is no DRF view, so this is the same counter called from ``throttled_admin_login``."""
    limit, window = parse_rate(settings.THROTTLE_RATES["admin_login"])
    username = username_key(str(request.POST.get("username", "")))[:150]
    ident = f"{client_address(Request(request))}:{username}"
    try:
        return hit(scope="admin_login", ident=ident, limit=limit, window=window)
    except redis.RedisError as exc:
        log.warning("admin login refused, the rate limiter is unavailable: %s", exc)
        return float(RETRY_AFTER_S)


def throttled_admin_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap the admin's login view: a POST past the limit is 429 with Retry-After."""

    @functools.wraps(view)
    def login(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            wait = admin_login_wait(request)
            if wait is not None:
                answer = error_json(
                    code="throttled",
                    detail=f"too many log-in attempts; try again in {math.ceil(wait)} s",
                    status_code=429,
                )
                answer["Retry-After"] = str(max(1, math.ceil(wait)))
                return answer
        return view(request, *args, **kwargs)

    return login
