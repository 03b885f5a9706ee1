"""The like as a kind of fanned-out event: what the fan-out pipeline (``feed.fanout``) needs
to know about likes, provided by this app so that ``feed`` never imports ``likes``.

Registered from ``LikesConfig.ready``. A like's row is its own outbox (``fanned_out_at IS
NULL``: ``likes.outbox``), so besides the task's redelivery the sweeper re-queues what is
still owed; it provides the posts' social context for feed items (who of the people a
reader follows like the post: ``_contexts``, one query) and a deleted post's likes
(``_about``: whose followers' feeds its removal visits); it moves the post's like count,
and the liker is told when every follower's feed holds it (``like.delivered``). The post's
author's mail hooks itself onto this kind (``notifications.apps``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from feed import fanout

from . import outbox, selectors

KIND = "like"


def _load(ids: Collection[int]) -> list[fanout.Happening]:
    return [
        fanout.Happening(like.id, like.user_id, like.post_id, like.created_at)
        for like in selectors.likes_facts(like_ids=ids)
        if not like.fanned_out
    ]


def _standing(ids: Collection[int]) -> set[int]:
    return selectors.likes_existing(like_ids=ids)


def _done(ids: list[int]) -> set[int]:
    return outbox.likes_outbox.mark_done(ids)


def _owed(older_than: timedelta) -> list[int]:
    return outbox.likes_outbox.owed(older_than=older_than)


def _contexts(
    triples: list[tuple[int, int, int]],
) -> dict[tuple[int, int], fanout.PostContext]:
    return {
        key: fanout.PostContext(
            follows_author=follows,
            liked_by_me=liked,
            likers=tuple(likers),
            likers_count=count,
            last_liked_at=last,
        )
        for key, (follows, liked, likers, count, last) in selectors.post_contexts(
            triples=triples
        ).items()
    }


def _about(post_ids: Collection[int]) -> list[tuple[int, int, int]]:
    return selectors.likes_of_posts(post_ids=post_ids)


def _recent(user_ids: Collection[int], since: datetime, limit: int) -> list[tuple[int, datetime]]:
    return selectors.likes_recent_by(user_ids=user_ids, since=since, limit=limit)


def _liked_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    return selectors.liked_pairs(pairs=pairs)


LIKE = fanout.Kind(
    name=KIND,
    load=_load,
    standing=_standing,
    done=_done,
    owed=_owed,
    about=_about,
    recent=_recent,
    moves_count=True,
    tells_actor=True,
)


def register() -> None:
    fanout.register_kind(LIKE)
    fanout.register_liked_pairs(_liked_pairs)
    fanout.register_contexts(_contexts)
