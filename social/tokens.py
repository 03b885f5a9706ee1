"""API tokens with an end: one per login, revoked by logout, expired by age, stored hashed.

Why not django-rest-knox, whose design this follows (a token per login, so each client logs
out alone; an expiry; a digest stored instead of the token; knox's ``LogoutView`` deletes the
token it was called with): the like fast path (``likes.asgi``) checks a token inside its one
SQL statement, and the socket handshake reads tokens too. Knox looks a token up by a key
prefix and then compares digests in Python, and expects its own views; here a token is one
row found by its digest, checked the same way in the ORM (``TokenAuth``, ``token_for_key``)
and in SQL (``LIVE_SQL``).

Only the SHA-256 of a token is stored (``token_digest``): a copy of the database (a backup, a
replica, a leaked dump) hands out no working token. A token is 160 random bits, so a plain
digest without salt or stretching is enough (nobody can try 2^160 guesses; salting protects
low-entropy secrets such as passwords). The digest is computed here, in the process: the
token itself never reaches PostgreSQL, its logs or ``pg_stat_statements``.

A token is live while its owner is active and it is younger than ``settings.TOKEN_TTL``
seconds. Older logins' tokens keep working until they are logged out, revoked or expire, as
knox's do: a login on one device must not log the others out.

When a token, a session or an account ends, its open sockets close (``social.access``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import access
from .models import ApiToken, User

# The condition of the live token ``t`` of user ``u`` in SQL, with ``live_params(key)``:
# the token's digest, its age under ``TOKEN_TTL``, an active owner. One indexed lookup.
LIVE_SQL = (
    "t.digest = %(token_digest)s "
    "AND t.created > now() - make_interval(secs => %(ttl)s) AND u.is_active"
)


def token_digest(key: str) -> str:
    """What is stored of a token, and looked up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def live_params(key: str) -> dict[str, Any]:
    """The parameters of ``LIVE_SQL`` for a token."""
    return {"token_digest": token_digest(key), "ttl": settings.TOKEN_TTL}


def live_since() -> datetime:
    """Tokens created after this instant are live (``TOKEN_TTL``)."""
    return timezone.now() - timedelta(seconds=settings.TOKEN_TTL)


def expires_at(token: ApiToken) -> datetime:
    return token.created + timedelta(seconds=settings.TOKEN_TTL)


def token_issue(*, user: User) -> str:
    """A new token for ``user`` (each login gets its own); the user's expired tokens go.
    The token is returned once, here: only its digest is kept."""
    ApiToken.objects.filter(user=user, created__lte=live_since()).delete()
    key = secrets.token_hex(20)  # 160 bits, as DRF's Token.generate_key
    ApiToken.objects.create(digest=token_digest(key), user=user)
    return key


def tokens_of(*, user: User) -> list[ApiToken]:
    """The user's live tokens, newest first."""
    return list(
        ApiToken.objects.filter(user=user, created__gt=live_since()).order_by("-created", "-pk")
    )


def token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens: it stops working everywhere from the next request
    (nothing caches it) and its sockets close. False when the user has no such token."""
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
        if deleted:
            access.ended(access.AccessEnd(user_id=user.pk, token_id=token_id))
    return bool(deleted)


def tokens_revoke_others(*, user: User, keep_id: int | None) -> int:
    """Revoke every token of the user but ``keep_id`` (the one the request came with, if
    any); their sockets close. Returns how many were revoked."""
    with transaction.atomic():
        others = ApiToken.objects.filter(user=user)
        if keep_id is not None:
            others = others.exclude(pk=keep_id)
        doomed = list(others.values_list("pk", flat=True))
        ApiToken.objects.filter(pk__in=doomed).delete()
        for token_id in doomed:
            access.ended(access.AccessEnd(user_id=user.pk, token_id=token_id))
    return len(doomed)


def _live(key: str) -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user").filter(
        digest=token_digest(key), created__gt=live_since(), user__is_active=True
    )


def token_for_key(key: str) -> ApiToken | None:
    """A live token with its active owner (``token.user``), else None."""
    return _live(key).first()


async def atoken_for_key(key: str) -> ApiToken | None:
    """``token_for_key`` for async code."""
    return await _live(key).afirst()


def user_for_key(key: str) -> User | None:
    """The active owner of a live token, else None."""
    token = token_for_key(key)
    return token.user if token else None


async def auser_for_key(key: str) -> User | None:
    """``user_for_key`` for async code."""
    token = await atoken_for_key(key)
    return token.user if token else None


# Seen-in-use marks are written at most this often per token: a request's cost stays a read.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenAuth(TokenAuthentication):
    """DRF's ``Authorization: Token <key>`` against live ``ApiToken`` rows: an unknown,
    revoked or expired token, or an inactive owner, is DRF's 401 "Invalid token.".
    Marks the token used (to the minute; the like fast path does not mark it)."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        token = token_for_key(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.last_used is None or now - token.last_used > LAST_USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
            token.last_used = now
        return token.user, token
