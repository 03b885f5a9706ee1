"""Who may open ``/ws/``: a logged-in browser (session cookie, same origin) or a script with
``Authorization: Token <key>``. Anonymous handshakes are refused by the consumer; a foreign
``Origin`` is refused here, always.

Browsers always send ``Origin``, and cookies are what a cross-site page could abuse, so an
``Origin`` must be one of ``ALLOWED_HOSTS`` (Channels' ``AllowedHostsOriginValidator``). A
handshake without ``Origin`` comes from a non-browser client; it is let through only to be
authenticated by its token (a cookie alone is not enough then).

A socket lives no longer than what opened it: the handshake notes which token (its id and
expiry) or which session it was authenticated by, and when that ends (``social.access``:
a logout, a revoked token, a deactivated or deleted account) ``access_end_publish`` tells
the user's sockets, which close those it concerns with ``CLOSE_ACCESS_ENDED``; a token's
expiry closes its sockets by their own timer (``feed.consumers``).
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from social import access
from social.tokens import atoken_for_key, expires_at

from . import live

Scope = dict[str, Any]

# The close code of a socket whose access ended (token logged out, revoked or expired;
# session logged out; account deactivated or deleted): 4000-4999 are the application's
# (RFC 6455 7.4.2), and 4401 reads as HTTP's 401. Reconnecting with the same credentials
# is refused; the client signs in again.
CLOSE_ACCESS_ENDED = 4401


def access_end_publish(end: access.AccessEnd) -> None:
    """Tell the user's sockets, wherever they are served, that some access of theirs ended
    (registered with ``social.access.on_end`` by ``feed.apps``): one message to the user's
    group, which every socket of theirs is in; each decides whether it is concerned."""
    live.publish(
        [live.access_ended(user_id=end.user_id, token=end.token_id, session=end.session_digest)]
    )


def access_ended_for(scope: Scope, message: dict[str, Any]) -> bool:
    """Whether an ``access.ended`` message ends the access this socket was opened with."""
    if message.get("token") is None and message.get("session") is None:
        return True  # the account itself
    if message.get("token") is not None:
        return bool(message["token"] == scope.get("api_token_id"))
    session = scope.get("session")
    key = getattr(session, "session_key", None) if scope.get("api_token_id") is None else None
    return key is not None and access.session_digest(key) == message["session"]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def _user_for_token(key: str) -> Any:
    """The owner of a live token (social.tokens), else anonymous."""
    return (await _token_scope(key))["user"]


async def _token_scope(key: str) -> Scope:
    """What a token puts in the scope: its owner (anonymous for a token that is not live),
    and the token's id and expiry, which the socket lives by."""
    token = await atoken_for_key(key)
    if token is None:
        return {"user": AnonymousUser()}
    return {"user": token.user, "api_token_id": token.pk, "api_token_expires": expires_at(token)}


class TokenAuthMiddleware:
    """Sets ``scope["user"]`` (and the token's id and expiry) from ``Authorization: Token
    <key>``, when that header is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        header = _header(scope, b"authorization")
        if header is not None:
            kind, _, key = header.decode("latin1").partition(" ")
            found = await _token_scope(key.strip()) if kind == "Token" else {}
            scope = {**scope, "user": AnonymousUser(), **found}
        return await self.app(scope, receive, send)


def websocket_guard(app: Any) -> Any:
    with_origin = AllowedHostsOriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(app)))
    token_only = TokenAuthMiddleware(app)

    async def guard(scope: Scope, receive: Any, send: Any) -> Any:
        if _header(scope, b"origin") is None and _header(scope, b"authorization") is not None:
            return await token_only(dict(scope, user=AnonymousUser()), receive, send)
        return await with_origin(scope, receive, send)

    return guard
