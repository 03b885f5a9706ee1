"""Reading a home feed: item refs from Redis, rendered with three queries (no N+1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from likes import selectors as likes_selectors
from social import selectors as social_selectors

from . import store
from .fanout import feed_item_json


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[dict[str, Any]]
    next: str | None


def feed_page(*, viewer_id: int, limit: int, before: str | None) -> FeedPage:
    refs, next_cursor = store.feed_page(user_id=viewer_id, limit=limit, before=before)
    posts = social_selectors.posts_by_id(post_ids=(r.post_id for r in refs))
    actors = social_selectors.users_by_id(user_ids=(r.actor_id for r in refs))
    liked = likes_selectors.posts_liked_by(user_id=viewer_id, post_ids=posts)
    like_ids = [r.like_id for r in refs if r.like_id is not None]
    like_times = likes_selectors.like_times(like_ids=like_ids) if like_ids else {}

    items, stale = [], []
    for ref in refs:
        post, actor = posts.get(ref.post_id), actors.get(ref.actor_id)
        if post is None:
            created_at = None
        else:
            created_at = post.created_at if ref.like_id is None else like_times.get(ref.like_id)
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
