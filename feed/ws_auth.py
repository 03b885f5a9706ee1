"""Who may open ``/ws/``: a logged-in browser (session cookie, same origin) or a script with
``Authorization: Token <key>``. Anonymous handshakes are refused by the consumer; a foreign
``Origin`` is refused here, always.

Browsers always send ``Origin``, and cookies are what a cross-site page could abuse, so an
``Origin`` must be one of ``ALLOWED_HOSTS`` (Channels' ``AllowedHostsOriginValidator``). A
handshake without ``Origin`` comes from a non-browser client; it is let through only to be
authenticated by its token (a cookie alone is not enough then).
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from social.tokens import auser_for_key

Scope = dict[str, Any]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def _user_for_token(key: str) -> Any:
    """The owner of a live token (social.tokens), else anonymous."""
    return await auser_for_key(key) or AnonymousUser()


class TokenAuthMiddleware:
    """Sets ``scope["user"]`` from ``Authorization: Token <key>``, when that header is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        header = _header(scope, b"authorization")
        if header is not None:
            kind, _, key = header.decode("latin1").partition(" ")
            scope = dict(
                scope,
                user=await _user_for_token(key.strip()) if kind == "Token" else AnonymousUser(),
            )
        return await self.app(scope, receive, send)


def websocket_guard(app: Any) -> Any:
    with_origin = AllowedHostsOriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(app)))
    token_only = TokenAuthMiddleware(app)

    async def guard(scope: Scope, receive: Any, send: Any) -> Any:
        if _header(scope, b"origin") is None and _header(scope, b"authorization") is not None:
            return await token_only(dict(scope, user=AnonymousUser()), receive, send)
        return await with_origin(scope, receive, send)

    return guard
