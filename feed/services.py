"""Writes that change other people's feeds: posting, deleting a post, following, unfollowing.

Each calls the ``social`` service that changes the rows, then does the feed work only after
commit (``feed.queue.on_commit``: nothing is queued or written for a row that may still roll
back): a post's fan-out through the one queueing step, a follow's small backfill right away.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from config.exceptions import Forbidden
from social import selectors as social_selectors
from social import services as social_services
from social.models import Post, User

from . import fanout, queue


def post_publish(*, author: User, body: str) -> Post:
    with transaction.atomic():
        post = social_services.post_create(author=author, body=body)
        queue.fanout_on_commit(fanout.POST.name, [post.pk])
    return post


# Other apps act on a follow or an unfollow once it is committed (notifications: "bob followed
# you"), hooked from their AppConfig.ready: feed never imports them.
# hook(follower_id=, followee_id=, following=)
_FOLLOW_HOOKS: list[Callable[..., None]] = []


def after_follow(hook: Callable[..., None]) -> None:
    if hook not in _FOLLOW_HOOKS:
        _FOLLOW_HOOKS.append(hook)


def _follow_hooks_on_commit(*, follower: User, followee: User, following: bool) -> None:
    for hook in _FOLLOW_HOOKS:
        queue.on_commit(hook, follower_id=follower.pk, followee_id=followee.pk, following=following)


def post_delete(*, user: User, post_id: int) -> None:
    """Delete one's own post (404 unknown, 403 someone else's). Its item leaves every feed
    through the pipeline's removal (``fanout.unfanout``, chunked for big accounts): the
    author's and their followers' feeds (the post kind), and the feeds of the followers of
    everyone who liked it (each kind's events about it, read before the rows go), each
    with a ``feed.remove`` for the open pages."""
    with transaction.atomic():
        post = social_selectors.post_get(post_id=post_id)
        if post.author_id != user.pk:
            raise Forbidden(f"post {post_id} is not yours to delete")
        about = fanout.events_about([post.pk])
        social_services.post_delete(post=post)
        queue.unfanout_on_commit(fanout.POST.name, [(post_id, user.pk, post_id)])
        for kind, items in about.items():
            queue.unfanout_on_commit(kind, items)


# A follow changes one feed by at most FOLLOW_BACKFILL_POSTS items: done in the request,
# after commit, so the follower's next feed read already has them (no task, no wait).


def follow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_create(follower=follower, followee=followee):
            queue.on_commit(
                fanout.follow_backfill, follower_id=follower.pk, followee_id=followee.pk
            )
            _follow_hooks_on_commit(follower=follower, followee=followee, following=True)


def unfollow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_delete(follower=follower, followee=followee):
            queue.on_commit(fanout.follow_undo, follower_id=follower.pk, followee_id=followee.pk)
            _follow_hooks_on_commit(follower=follower, followee=followee, following=False)
