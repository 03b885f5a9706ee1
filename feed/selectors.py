"""Reading a home feed: post items from Redis, rendered with two queries (no N+1).

A feed member names a post only (``p:<post>``); what the item says about it (``kind``,
``actor``, ``likers``, ``likers_count``, ``created_at``) is computed here, for the whole
page at once: the posts with their authors (one query), then their context for the reader
(one grouped query: the people the reader follows who like each post, newest first, how
many, the reader's own likes, whether the reader follows each author;
``fanout.post_contexts``). So a page costs the same number of queries whatever its size.

An item whose reason to be there is gone (the post was deleted; the reader follows neither
its author nor anyone who likes it, and it is not theirs) is dropped from the page and from
Redis with its ``feed.remove`` (``fanout.unfeed_stale``): the removal where the change
happens (``fanout.unfeed``) tells open pages too, and whichever reaches the feed first
does, once. Members written before a post
had one item (``ItemRef.legacy``: one per like) are rewritten as the post's item as pages
meet them (its first, newest, one kept; the others dropped), so feeds survive the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from social import selectors as social_selectors

from . import store
from .fanout import NOTHING, feed_item_json, post_contexts, unfeed_stale


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[dict[str, Any]]
    next: str | None


def feed_page(*, viewer_id: int, limit: int, before: str | None) -> FeedPage:
    refs, next_cursor = store.feed_page(user_id=viewer_id, limit=limit, before=before)
    posts = social_selectors.posts_by_id(post_ids=(r.post_id for r in refs))
    contexts = post_contexts((viewer_id, p.pk, p.author_id) for p in posts.values())

    items, stale, seen, rewritten = [], [], set(), []
    gone: list[str] = []  # post items with no reason to be there: removed with their event
    for ref in refs:
        post = posts.get(ref.post_id)
        context = contexts.get((viewer_id, ref.post_id), NOTHING)
        if ref.post_id in seen:  # a second member for one post: only an old-style one
            if ref.legacy:
                stale.append(ref.id)
            continue
        if post is None or not context.kept:
            (stale if ref.legacy else gone).append(ref.id)  # deleted, or nothing keeps it
            continue
        seen.add(ref.post_id)
        if ref.legacy:
            stale.append(ref.id)
            rewritten.append((store.post_item_id(post_id=ref.post_id), float(ref.score)))
        if not post.author.is_active:
            continue  # hidden while the author is deactivated, back if they return
        items.append(feed_item_json(post=post, context=context, liked_by_me=context.liked_by_me))
    store.feed_add_quietly(user_id=viewer_id, items=rewritten)
    if stale:
        store.feed_remove(item_ids=stale, user_ids=[viewer_id])
    if gone:
        unfeed_stale(user_id=viewer_id, item_ids=gone)
    return FeedPage(items=items, next=next_cursor)
