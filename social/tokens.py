"""API tokens with an end: one per login, revoked by logout, expired by age.

Why not django-rest-knox, whose design this follows (a token per login, so each client logs
out alone; an expiry; knox's ``LogoutView`` deletes the token it was called with): the like
fast path (``likes.asgi``) checks a token inside its one SQL statement, and ops, the socket
handshake and the load test's seeding read tokens by key too. Knox stores a digest with a
key prefix and expects its own views; here a token is one row, checked the same way in the
ORM (``TokenAuth``, ``user_for_key``) and in SQL (``LIVE_SQL``).

A token is live while its owner is active and it is younger than ``settings.TOKEN_TTL``
seconds. Older logins' tokens keep working until they are logged out or expire, as knox's
do: a login on one device must not log the others out.
"""

from __future__ import annotations

import binascii
import os
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .models import ApiToken, User

# The condition of a live token ``t`` of user ``u`` in SQL: ``%(ttl)s`` is ``TOKEN_TTL``.
LIVE_SQL = "t.created > now() - make_interval(secs => %(ttl)s) AND u.is_active"


def live_since() -> datetime:
    """Tokens created after this instant are live (``TOKEN_TTL``)."""
    return timezone.now() - timedelta(seconds=settings.TOKEN_TTL)


def token_issue(*, user: User) -> str:
    """A new token for ``user`` (each login gets its own); the user's expired tokens go."""
    ApiToken.objects.filter(user=user, created__lte=live_since()).delete()
    key = binascii.hexlify(os.urandom(20)).decode()  # as DRF's Token.generate_key
    ApiToken.objects.create(key=key, user=user)
    return key


def token_revoke(*, key: str) -> None:
    """The token stops working, everywhere, from the next request (nothing caches it)."""
    ApiToken.objects.filter(key=key).delete()


def _live(key: str) -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user").filter(
        key=key, created__gt=live_since(), user__is_active=True
    )


def user_for_key(key: str) -> User | None:
    """The active owner of a live token, else None."""
    token = _live(key).first()
    return token.user if token else None


async def auser_for_key(key: str) -> User | None:
    """``user_for_key`` for async code."""
    token = await _live(key).afirst()
    return token.user if token else None


class TokenAuth(TokenAuthentication):
    """DRF's ``Authorization: Token <key>`` against live ``ApiToken`` rows: an unknown,
    revoked or expired token, or an inactive owner, is DRF's 401 "Invalid token."."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        token = _live(key).first()
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        return token.user, token
