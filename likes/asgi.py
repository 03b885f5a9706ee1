"""The like endpoint's hot path, answered in the event loop without Django's HTTP handler.

``POST`` / ``DELETE /api/posts/<id>/like/`` with ``Authorization: Token <key>`` (how scripts,
apps and load generators call the API) is served here: one SQL statement on an asyncio
connection (``likes.services.like_set_by_token``) and a JSON answer. Under ASGI, Django's
handler costs more than the like itself: each request crosses its middleware and hops to a
worker thread several times, and every sync view in a process runs on one thread, so a
view's database round trips queue behind each other (``make bench`` measures it, README).

Everything else goes to Django unchanged: browsers (session cookie and CSRF check), a
missing or malformed header, an unknown token or post (Django answers those errors, in the
one error format), any other path or method, and every request when the like view has
throttles configured (this path does not throttle, so it steps aside rather than bypass
them). The answer is the one ``likes.apis.LikeApi`` gives: same body, status and headers.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from . import services

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LIKE_PATH = re.compile(r"/api/posts/([0-9]{1,18})/like/")

# What Django's middleware and DRF add to the view's answer (SecurityMiddleware,
# XFrameOptionsMiddleware, and APIView's Allow).
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"allow", b"POST, DELETE, OPTIONS"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@functools.cache
def fast_path_enabled() -> bool:
    """On by default (``LIKE_FAST_PATH``); off whenever the like view throttles."""
    from .apis import LikeApi

    return bool(getattr(settings, "LIKE_FAST_PATH", True)) and not LikeApi().get_throttles()


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
                    state = await services.like_set_by_token(
                        token=token, post_id=int(match[1]), liked=scope["method"] == "POST"
                    )
                    if state is not None:
                        await _answer(send, asdict(state))
                        return
        await app(scope, receive, send)

    return asgi


async def _answer(send: Send, body: dict[str, Any]) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [*_HEADERS, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
