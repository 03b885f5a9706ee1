"""Reading a home feed: item refs from Redis, rendered with three queries (no N+1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from social import selectors as social_selectors

from . import store
from .fanout import feed_item_json, kind_of, liked_pairs


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[dict[str, Any]]
    next: str | None


def feed_page(*, viewer_id: int, limit: int, before: str | None) -> FeedPage:
    refs, next_cursor = store.feed_page(user_id=viewer_id, limit=limit, before=before)
    posts = social_selectors.posts_by_id(post_ids=(r.post_id for r in refs))
    actors = social_selectors.users_by_id(user_ids=(r.actor_id for r in refs))
    liked = {post_id for _, post_id in liked_pairs((viewer_id, post_id) for post_id in posts)}
    # When each event happened, asked of its kind (one query per kind on the page); an
    # event that is gone has no time, and its item is dropped.
    by_kind: dict[str, set[int]] = {}
    for ref in refs:
        if ref.event_id is not None:
            by_kind.setdefault(ref.kind, set()).add(ref.event_id)
    times = {
        (kind, event_id): moment
        for kind, ids in by_kind.items()
        for event_id, moment in _times(kind, ids).items()
    }

    items, stale = [], []
    for ref in refs:
        post, actor = posts.get(ref.post_id), actors.get(ref.actor_id)
        if post is None:
            created_at = None
        elif ref.event_id is None:
            created_at = post.created_at
        else:
            created_at = times.get((ref.kind, ref.event_id))
        if actor is None or post is None or created_at is None:
            stale.append(ref.id)  # a deleted post, or an unlike whose cleanup has not run
            continue
        items.append(
            feed_item_json(
                item_id=ref.id,
                kind=ref.kind,
                actor=actor,
                post=post,
                created_at=created_at,
                liked_by_me=post.pk in liked,
            )
        )
    if stale:
        store.feed_remove(item_ids=stale, user_ids=[viewer_id])
    return FeedPage(items=items, next=next_cursor)


def _times(kind: str, ids: set[int]) -> dict[int, datetime]:
    try:
        return kind_of(kind).times(ids)
    except LookupError:  # a kind no longer served: its items are stale
        return {}
