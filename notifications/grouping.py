"""Grouped notifications, the write side: "bob and 3 others liked your post", "bob and 2 others
followed you" (CONTRACT.md, "Notifications"). The services of ``Notification`` (``services``
holds the like mail, which stays as it was).

Where they come from, all through the one pipeline and after commit:

- a like: the like kind's completion hook (``feed.fanout.after_done("like", …)``, set in
  ``NotificationsConfig.ready``), with the batch of likes that reached every feed;
- an unlike: the removal's hook (``feed.fanout.after_removed``), once its items left the
  feeds;
- a follow or unfollow: ``feed.services.after_follow``, after the follow's commit.

The model is Mastodon 4.3's grouped notifications with the group stored: Mastodon writes a
row per favourite with a ``group_key`` (``favourite-<status>-<hour bucket>``) and groups at
read time; here a ``Notification`` row is the group (one per (recipient, post) for likes, one
unread one per recipient for follows) and a ``NotificationActor`` row is each activity.

Every write is a fixed number of statements for a whole batch and safe under concurrency:
the group is upserted against its unique constraint (two likes of one post at once make one
row) and stays locked until commit; actors go in with ``ON CONFLICT DO NOTHING`` and
``actors_count`` moves by what really went in or out, in the same statement. A run that
adds nothing (a redelivered batch) changes nothing: no unread flag, no live event. Group rows
are locked in one order, ``(recipient, post, id)``, by adds, removals and marking read
alike; a writer outside that order (a post's deletion cascading) can still deadlock with
one, and the victim runs again (``_run``). Nobody is notified of their own like (a follow
of oneself cannot exist). A group whose last actor left is deleted; its live event says
``actors_count: 0``.

Changed groups are pushed to their recipients' sockets (``notification``, with the unread
count) after the transaction commits, for the recipients online, best effort.

Known gap, shared with the like mail: a worker killed between a batch's "done" and its hooks
loses that batch's notifications (the like stays, the sweeper does not re-run a done like).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone
from psycopg.errors import DeadlockDetected

from feed import live, store
from social.models import User
from social.render import iso

from . import selectors

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

    from feed.fanout import Happening

log = logging.getLogger(__name__)

_N = "notifications_notification"
_A = "notifications_notificationactor"

# The likes of a batch, as rows.
_LIKES = """unnest(%(likes)s::bigint[], %(actors)s::bigint[], %(posts)s::bigint[],
    %(ats)s::timestamptz[]) AS v(like_id, actor_id, post_id, at)"""

# One group per (author, post) liked by someone else, created or locked, in lock order.
# Only likes that still stand count (an unlike may have come first).
_LIKE_GROUPS_SQL = f"""
WITH src AS (
    SELECT p.author_id AS recipient_id, v.post_id, max(v.at) AS at
    FROM {_LIKES}
    JOIN social_post p ON p.id = v.post_id
    JOIN likes_like l ON l.id = v.like_id
    WHERE v.actor_id <> p.author_id
    GROUP BY p.author_id, v.post_id
)
INSERT INTO {_N} (recipient_id, kind, post_id, updated_at, read, actors_count)
SELECT recipient_id, 'like', post_id, at, false, 0 FROM src ORDER BY recipient_id, post_id
ON CONFLICT (recipient_id, post_id) WHERE kind = 'like' DO UPDATE SET kind = EXCLUDED.kind
RETURNING id
"""

# The one unread follow group of the followee, created or locked, if the follow stands.
_FOLLOW_GROUP_SQL = f"""
INSERT INTO {_N} (recipient_id, kind, post_id, updated_at, read, actors_count)
SELECT f.followee_id, 'follow', NULL, f.created_at, false, 0
FROM social_follow f WHERE f.follower_id = %(follower)s AND f.followee_id = %(followee)s
ON CONFLICT (recipient_id) WHERE kind = 'follow' AND NOT read DO UPDATE SET kind = EXCLUDED.kind
RETURNING id
"""

# Actors in, and each group moved by what went in: to the top, unread, counted.
_ACTORS_ADD_SQL = f"""
WITH new AS (
    INSERT INTO {_A} (notification_id, actor_id, at)
    {{rows}}
    ON CONFLICT (notification_id, actor_id) DO NOTHING
    RETURNING notification_id, at
)
UPDATE {_N} n
SET actors_count = n.actors_count + c.k, updated_at = GREATEST(n.updated_at, c.at), read = false
FROM (SELECT notification_id, count(*) AS k, max(at) AS at FROM new GROUP BY notification_id) c
WHERE n.id = c.notification_id
RETURNING n.id, n.recipient_id
"""
_LIKE_ACTORS = f"""SELECT n.id, v.actor_id, max(v.at)
    FROM {_LIKES}
    JOIN likes_like l ON l.id = v.like_id
    JOIN {_N} n ON n.id = ANY(%(groups)s) AND n.post_id = v.post_id
    WHERE v.actor_id <> n.recipient_id
    GROUP BY n.id, v.actor_id ORDER BY n.id, v.actor_id"""
_FOLLOW_ACTORS = """SELECT %(group)s, f.follower_id, f.created_at FROM social_follow f
    WHERE f.follower_id = %(follower)s AND f.followee_id = %(followee)s"""

# Removals: lock the groups (same order as the adds), take the actors out unless the like or
# follow is back (a like, unlike, like whose removal runs last), count them out.
_UNLIKE_LOCK_SQL = f"""
SELECT id FROM {_N} WHERE kind = 'like' AND post_id = ANY(%(posts)s)
ORDER BY recipient_id, post_id, id FOR UPDATE
"""
_UNFOLLOW_LOCK_SQL = f"""
SELECT n.id FROM {_N} n
WHERE n.recipient_id = %(followee)s AND n.kind = 'follow'
  AND EXISTS (SELECT 1 FROM {_A} a WHERE a.notification_id = n.id AND a.actor_id = %(follower)s)
ORDER BY n.recipient_id, n.post_id, n.id FOR UPDATE
"""
_ACTORS_REMOVE_SQL = f"""
WITH gone AS ({{delete}} RETURNING a.notification_id)
UPDATE {_N} n SET actors_count = n.actors_count - c.k
FROM (SELECT notification_id, count(*) AS k FROM gone GROUP BY notification_id) c
WHERE n.id = c.notification_id
RETURNING n.id, n.recipient_id
"""
_UNLIKE_DELETE = f"""DELETE FROM {_A} a
    USING {_N} n, unnest(%(actors)s::bigint[], %(posts)s::bigint[]) AS v(actor_id, post_id)
    WHERE n.id = ANY(%(groups)s) AND n.post_id = v.post_id
      AND a.notification_id = n.id AND a.actor_id = v.actor_id
      AND NOT EXISTS (
          SELECT 1 FROM likes_like l WHERE l.user_id = v.actor_id AND l.post_id = v.post_id
      )"""
_UNFOLLOW_DELETE = f"""DELETE FROM {_A} a
    WHERE a.notification_id = ANY(%(groups)s) AND a.actor_id = %(follower)s
      AND NOT EXISTS (
          SELECT 1 FROM social_follow f
          WHERE f.follower_id = %(follower)s AND f.followee_id = %(followee)s
      )"""

# Marking read locks in the same order too (a batch of likes may be locking the same rows).
_READ_SQL = f"""
UPDATE {_N} SET read = true WHERE id IN (
    SELECT id FROM {_N} WHERE recipient_id = %(user)s AND NOT read AND updated_at <= %(now)s
    ORDER BY recipient_id, post_id, id FOR UPDATE
)
"""

# A group left without actors goes (with the last one).
_EMPTY_DELETE_SQL = f"""
DELETE FROM {_N} n WHERE n.id = ANY(%(groups)s) AND n.actors_count <= 0
  AND NOT EXISTS (SELECT 1 FROM {_A} a WHERE a.notification_id = n.id)
RETURNING id, recipient_id, kind, updated_at, read
"""

_Gone = tuple[int, int, str, Any, bool]  # id, recipient, kind, updated_at, read
_Changes = tuple[list[tuple[int, int]], list[_Gone]]  # (group, recipient) changed; gone


def _ids(cursor: CursorWrapper, sql: str, params: dict[str, Any]) -> list[int]:
    cursor.execute(sql, params)
    return [row[0] for row in cursor.fetchall()]


def _changed(cursor: CursorWrapper, sql: str, params: dict[str, Any]) -> list[tuple[int, int]]:
    cursor.execute(sql, params)
    return [(nid, recipient) for nid, recipient in cursor.fetchall()]


def _likes_params(likes: Sequence[Happening]) -> dict[str, Any]:
    return {
        "likes": [h.id for h in likes],
        "actors": [h.actor_id for h in likes],
        "posts": [h.post_id for h in likes],
        "ats": [h.created_at for h in likes],
    }


def like_notifications_add(likes: Sequence[Happening]) -> None:
    """These likes reached every feed (the like kind's ``after_done`` hook): each adds its
    actor to its post's notification (created at need), which moves to the top, unread.
    Three statements for the whole batch."""
    if not likes:
        return
    params = _likes_params(likes)

    def write(cursor: CursorWrapper) -> _Changes:
        params["groups"] = _ids(cursor, _LIKE_GROUPS_SQL, params)
        if not params["groups"]:
            return [], []  # only likes of one's own posts, or gone
        changed = _changed(cursor, _ACTORS_ADD_SQL.format(rows=_LIKE_ACTORS), params)
        return changed, _empty_delete(cursor, params["groups"])

    _publish(*_run(write))


def like_notifications_remove(items: Sequence[tuple[int, int, int]]) -> None:
    """Unlikes (``(like id, actor, post)``; the ``after_removed`` hook of the like kind):
    each takes its actor out of its post's notification, which goes with the last one."""
    if not items:
        return
    params: dict[str, Any] = {
        "actors": [actor for _, actor, _ in items],
        "posts": [post for _, _, post in items],
    }

    def write(cursor: CursorWrapper) -> _Changes:
        params["groups"] = _ids(cursor, _UNLIKE_LOCK_SQL, params)
        if not params["groups"]:
            return [], []
        changed = _changed(cursor, _ACTORS_REMOVE_SQL.format(delete=_UNLIKE_DELETE), params)
        return changed, _empty_delete(cursor, [nid for nid, _ in changed])

    _publish(*_run(write))


def follow_notification_change(*, follower_id: int, followee_id: int, following: bool) -> None:
    """A follow (``feed.services.after_follow``, after its commit) joins the followee's unread
    follow notification; an unfollow takes the follower out of theirs."""
    params: dict[str, Any] = {"follower": follower_id, "followee": followee_id}

    def write(cursor: CursorWrapper) -> _Changes:
        if following:
            groups = _ids(cursor, _FOLLOW_GROUP_SQL, params)
            if not groups:
                return [], []  # unfollowed meanwhile
            params["group"] = groups[0]
            changed = _changed(cursor, _ACTORS_ADD_SQL.format(rows=_FOLLOW_ACTORS), params)
        else:
            params["groups"] = groups = _ids(cursor, _UNFOLLOW_LOCK_SQL, params)
            if not groups:
                return [], []
            changed = _changed(cursor, _ACTORS_REMOVE_SQL.format(delete=_UNFOLLOW_DELETE), params)
        return changed, _empty_delete(cursor, groups)

    _publish(*_run(write))


DEADLOCK_ATTEMPTS = 3


def _run(write: Callable[[CursorWrapper], _Changes]) -> _Changes:
    """Run ``write`` in a transaction of its own, again if PostgreSQL picked it as a
    deadlock's victim. Group rows are always locked in one order here, but other writers
    (a post's deletion cascading to its notifications) do not follow it; a deadlock then
    costs a retry rather than a lost notification. Inside a caller's transaction (tests)
    it runs once: an aborted outer transaction cannot be retried from in here."""
    attempts = 1 if connection.in_atomic_block else DEADLOCK_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                return write(cursor)
        except OperationalError as exc:
            if attempt == attempts or not isinstance(exc.__cause__, DeadlockDetected):
                raise
            log.info("notifications: deadlock victim, attempt %d of %d", attempt, attempts)
    raise AssertionError("unreachable")


# (Django's CASCADE is done by the ORM, not the database: the actors go first, by hand.)
_POST_DELETE_SQL = f"""
WITH doomed AS (
    SELECT id FROM {_N} WHERE kind = 'like' AND post_id = ANY(%(posts)s)
    ORDER BY recipient_id, post_id, id FOR UPDATE
), actors AS (
    DELETE FROM {_A} WHERE notification_id IN (SELECT id FROM doomed)
)
DELETE FROM {_N} WHERE id IN (SELECT id FROM doomed)
RETURNING id, recipient_id, kind, updated_at, read
"""


def post_notifications_delete(*, post_ids: Sequence[int]) -> None:
    """These posts are being deleted: their notifications go now, and their recipients'
    open pages hear so (``actors_count: 0``) once the caller's transaction commits. (The
    foreign key's cascade would delete them too, but silently: nobody could tell the pages
    which ones went.) For the post's deletion service to call before it deletes the rows."""
    if not post_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_POST_DELETE_SQL, {"posts": list(post_ids)})
        gone: list[_Gone] = list(cursor.fetchall())
    if gone:
        transaction.on_commit(lambda: _publish([], gone), robust=True)


def notifications_read(*, user: User) -> int:
    """Everything up to now is read (the bell clears); returns how many were unread. A
    follow after this starts a new follow notification."""
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL, {"user": user.pk, "now": timezone.now()})
        return cursor.rowcount


def _empty_delete(cursor: CursorWrapper, groups: list[int]) -> list[_Gone]:
    if not groups:
        return []
    cursor.execute(_EMPTY_DELETE_SQL, {"groups": groups})
    return list(cursor.fetchall())


def _publish(changed: list[tuple[int, int]], gone: list[_Gone]) -> None:
    """Push the changes to the recipients' open pages, best effort: the rows are committed
    and are the truth (a reload shows them), so a failure here is logged and never fails
    the fan-out task that called the hook."""
    try:
        _push(changed, gone)
    except Exception:
        log.exception("notifications: could not push %d changes live", len(changed) + len(gone))


def _push(changed: list[tuple[int, int]], gone: list[_Gone]) -> None:
    """Push each changed notification to its recipient with their unread count (a gone one
    as itself with no actors), if the recipient is online: for the others nothing is built.
    One presence look-up, four queries and one pipelined round trip for the batch."""
    online = store.online_among([r for _, r in changed] + [row[1] for row in gone])
    if not online:
        return
    gone = [row for row in gone if row[1] in online]
    gone_ids = {row[0] for row in gone}
    rendered = selectors.notifications_json(
        selectors.notifications_by_id(
            nid for nid, recipient in changed if recipient in online and nid not in gone_ids
        )
    )
    for nid, recipient_id, kind, updated_at, read in gone:
        rendered.append(
            (
                recipient_id,
                {
                    "id": nid, "kind": kind, "actors": [], "actors_count": 0, "post": None,
                    "updated_at": iso(updated_at), "read": read,
                },
            )
        )  # fmt: skip
    if not rendered:
        return
    unread = selectors.unread_counts(user_ids={recipient for recipient, _ in rendered})
    live.publish(
        live.notification(user_id=recipient, notification=item, unread=unread[recipient])
        for recipient, item in rendered
    )
