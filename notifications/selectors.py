"""Reading notifications: a page, the unread count, and the JSON of CONTRACT.md's Notification.

A page is four queries whatever its length: the groups (keyset on ``(updated_at, id)``, the
post and its author joined), the newest three active actors of every group on it (one
``LATERAL`` query), ``liked_by_me`` of their posts, and the unread count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from config.exceptions import Invalid
from feed.fanout import liked_pairs
from social.render import iso, post_json

from .models import Notification

ACTORS_SHOWN = 3

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"([0-9]{1,17})\.([0-9]{1,18})")  # ASCII digits only
_MAX_US = (datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[dict[str, Any]]
    next: str | None
    unread: int


def _cursor(row: Notification) -> str:
    return f"{(row.updated_at - _EPOCH) // timedelta(microseconds=1)}.{row.pk}"


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    """``<µs since the epoch>.<id>``, as ``_cursor`` writes it; anything else is a 400."""
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match[1]) > _MAX_US:
        raise Invalid("before: not a cursor this list gave out")
    return _EPOCH + timedelta(microseconds=int(match[1])), int(match[2])


def unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, read=False, actors_count__gt=0).count()


def unread_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """The unread count of each of these people, in one query."""
    ids = set(user_ids)
    rows = (
        Notification.objects.filter(recipient_id__in=ids, read=False, actors_count__gt=0)
        .values_list("recipient_id")
        .order_by()
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({uid: n for uid, n in rows})
    return counts


def notifications_page(*, user_id: int, limit: int, before: str | None) -> NotificationPage:
    rows = Notification.objects.select_related("post__author").filter(
        recipient_id=user_id, actors_count__gt=0
    )
    if before is not None:
        at, pk = _parse_cursor(before)
        rows = rows.filter(Q(updated_at__lt=at) | Q(updated_at=at, pk__lt=pk))
    page = list(rows.order_by("-updated_at", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return NotificationPage(
        items=[item for _, item in notifications_json(page)],
        next=_cursor(page[-1]) if more else None,
        unread=unread_count(user_id=user_id),
    )


# The newest active actors of each group: one query for the whole page.
_ACTORS_SQL = f"""
SELECT g.id, s.id, s.username
FROM unnest(%s::bigint[]) AS g(id)
CROSS JOIN LATERAL (
    SELECT u.id, u.username, a.at, a.id AS aid
    FROM notifications_notificationactor a JOIN social_user u ON u.id = a.actor_id
    WHERE a.notification_id = g.id AND u.is_active
    ORDER BY a.at DESC, a.id DESC
    LIMIT {ACTORS_SHOWN}
) s
ORDER BY g.id, s.at DESC, s.aid DESC
"""


def _actors(notification_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if not notification_ids:
        return found
    with connection.cursor() as cursor:
        cursor.execute(_ACTORS_SQL, [list(notification_ids)])
        for nid, uid, username in cursor.fetchall():
            found.setdefault(nid, []).append({"id": uid, "username": username})
    return found


def notifications_json(rows: Sequence[Notification]) -> list[tuple[int, dict[str, Any]]]:
    """(recipient id, Notification JSON) of each row whose actors are not all deactivated,
    in the rows' order (posts and authors must be loaded: ``select_related``)."""
    actors = _actors([row.pk for row in rows])
    liked = liked_pairs((row.recipient_id, row.post_id) for row in rows if row.post_id)
    out = []
    for row in rows:
        shown = actors.get(row.pk)
        if not shown:
            continue  # every actor left or was deactivated
        post = row.post
        out.append(
            (
                row.recipient_id,
                {
                    "id": row.pk,
                    "kind": row.kind,
                    "actors": shown,
                    "actors_count": row.actors_count,
                    "post": None
                    if post is None
                    else post_json(post, liked_by_me=(row.recipient_id, post.pk) in liked),
                    "updated_at": iso(row.updated_at),
                    "read": row.read,
                },
            )
        )
    return out


def notifications_by_id(ids: Iterable[int]) -> list[Notification]:
    return list(Notification.objects.select_related("post__author").filter(pk__in=set(ids)))
