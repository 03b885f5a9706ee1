"""When access ends, the sockets it opened close: a token revoked (logout, or revoked from
the token list), a session logged out, an account deactivated or deleted.

``social`` is the ground floor and knows nothing of sockets: it says *that* access ended
(``ended``, after commit, so a rolled-back revocation closes nothing), and whoever serves
sockets registers what to do about it (``on_end``: ``feed`` publishes a message to the
user's sockets, which close those it concerns). A token's expiry needs no message: each
socket knows when its own token expires (``feed.consumers``).

Deactivation is caught on the model (``User.save()`` with ``is_active`` off, which is what
the admin and ``manage.py shell`` do, and ``delete()``), not in one service: accounts are
switched off from the admin, whose forms save the model directly. A bulk
``User.objects.update(is_active=False)`` sends no signal and so closes no socket: the
sockets of such users still lose every like and API call at once (tokens are checked on
every request), and close at their token's expiry.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessEnd:
    """Whose access ended: a token of the user's, a session of theirs, or (neither) all."""

    user_id: int
    token_id: int | None = None
    session_digest: str | None = None  # ``session_digest`` of the session's key


def session_digest(session_key: str) -> str:
    """A session's key travels only as this digest (the key itself is a credential)."""
    return hashlib.sha256(session_key.encode()).hexdigest()


_HOOKS: list[Callable[[AccessEnd], None]] = []


def on_end(hook: Callable[[AccessEnd], None]) -> None:
    """Call ``hook(end)`` whenever access ends (from the socket server's ``AppConfig``)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def ended(end: AccessEnd) -> None:
    """Access ended: tell the hooks once the current transaction commits (at once in
    autocommit). A hook that fails is logged (``robust``), not raised: the revocation
    itself stands."""

    def tell() -> None:
        for hook in _HOOKS:
            hook(end)

    transaction.on_commit(tell, robust=True)


# --- the account itself ----------------------------------------------------------------------


def user_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not instance.is_active and not created:
        ended(AccessEnd(user_id=instance.pk))


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    ended(AccessEnd(user_id=instance.pk))
