"""The like endpoint's hot path, answered in the event loop without Django's HTTP handler.

``POST`` / ``DELETE /api/posts/<id>/like/`` with ``Authorization: Token <key>`` (how scripts,
apps and load generators call the API) is served here: one SQL statement on an asyncio
connection (``likes.services.like_set_by_token``: the view's service and SQL runner, driven
from the event loop) and a JSON answer. Under ASGI, Django's
handler costs more than the like itself: each request crosses its middleware and hops to a
worker thread several times, and every sync view in a process runs on one thread, so a
view's database round trips queue behind each other (``make bench`` measures it, README).

The like view's rate limit applies here too (``config.throttling.like_allowed``: the same
Redis counter); a request over it goes on to the view, which answers the 429. A database
that cannot be reached is a 503 with ``Retry-After``, as in the view. Everything else goes
to Django unchanged: browsers (session cookie and CSRF check), a missing or malformed
header, an unknown token or post (Django answers those errors, in the one error format),
any other path or method, and every request when the view is given throttles this path
does not know (it steps aside rather than bypass them). The answer is the one
``likes.apis.LikeApi`` gives: same body, status and headers.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import psycopg
from csp.utils import build_policy
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from psycopg_pool import PoolTimeout

from config.exceptions import DATABASE_UNAVAILABLE, RETRY_AFTER_S
from config.throttling import LikeRateThrottle, like_allowed

from . import services

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LIKE_PATH = re.compile(r"/api/posts/([0-9]{1,18})/like/")

# The view's headers, in the view's order and spelling (tests/likes/test_like_edges.py
# compares them; lower-case, as a2wsgi passes Django's to uvicorn): DRF's content type and
# Allow (no Vary: Accept, which DRF adds only when a view has more than one renderer, and
# the API has only JSON's), XFrameOptionsMiddleware's, Content-Length (set by Django), then
# django-csp's and SecurityMiddleware's (``_tail``).
_HEAD = [
    (b"content-type", b"application/json"),
    (b"allow", b"POST, DELETE, OPTIONS"),
    (b"x-frame-options", b"DENY"),
]
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@functools.cache
def _tail() -> list[tuple[bytes, bytes]]:
    """The headers after Content-Length: django-csp's policy (CSPMiddleware sits inside
    SecurityMiddleware), then SecurityMiddleware's."""
    return [(b"content-security-policy", build_policy().encode()), *_SECURITY]


@functools.cache
def fast_path_enabled() -> bool:
    """On by default (``LIKE_FAST_PATH``); off when the like view throttles otherwise than
    by ``LikeRateThrottle``, which this path applies itself."""
    from .apis import LikeApi

    throttles = {type(throttle) for throttle in LikeApi().get_throttles()}
    return bool(getattr(settings, "LIKE_FAST_PATH", True)) and throttles <= {LikeRateThrottle}


# Who owns a token, per process, for the rate limit's key only: it never authorises. The
# like statement checks the token itself (revoked, expired, owner inactive), so a token
# ended after it was cached likes nothing and the view answers its 401.
OWNER_TTL_S = 300.0
_owners: dict[str, tuple[int, str, float]] = {}


async def _owner(token: str) -> tuple[int, str] | None:
    now = time.monotonic()
    cached = _owners.get(token)
    if cached is not None and cached[2] > now:
        return cached[0], cached[1]
    owner = await services.token_owner(token=token)
    if owner is not None:
        if len(_owners) > 100_000:
            _owners.clear()
        _owners[token] = (owner[0], owner[1], now + OWNER_TTL_S)
    return owner


def _token(scope: Scope) -> str | None:
    """The key of ``Authorization: Token <key>`` (DRF's parsing), else None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            parts = value.split()
            if len(parts) == 2 and parts[0].lower() == b"token":
                try:
                    return str(parts[1].decode())
                except UnicodeDecodeError:
                    return None
            return None
    return None


def _host_allowed(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"host":
            domain, _port = split_domain_port(value.decode("latin1"))
            return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    return False


def like_fast_path(app: ASGIApp) -> ASGIApp:
    """Wrap Django's HTTP application with the like hot path."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "DELETE"):
            match = LIKE_PATH.fullmatch(scope["path"])
            if match and fast_path_enabled():
                token = _token(scope)
                if token is not None and _host_allowed(scope):
                    try:
                        state = await _like(token, int(match[1]), scope["method"] == "POST")
                    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                        log.warning("answering 503, database unavailable: %s", exc)
                        body = {"error": "unavailable", "detail": DATABASE_UNAVAILABLE}
                        await _answer(send, body, status=503, retry_after=RETRY_AFTER_S)
                        return
                    if state is not None:
                        await _answer(send, asdict(state))
                        return
        await app(scope, receive, send)

    return asgi


async def _like(token: str, post_id: int, liked: bool) -> services.LikeState | None:
    """The like, or None where the view must answer (unknown token or post, rate limit)."""
    owner = await _owner(token)
    if owner is None or not await like_allowed(user_id=owner[0], username=owner[1]):
        return None
    return await services.like_set_by_token(token=token, post_id=post_id, liked=liked)


async def _answer(
    send: Send, body: dict[str, Any], *, status: int = 200, retry_after: int | None = None
) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [*_HEAD, (b"content-length", str(len(content)).encode()), *_tail()]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
