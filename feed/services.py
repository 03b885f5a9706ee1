"""Writes that change other people's feeds: posting, following, unfollowing.

Each calls the ``social`` service that changes the rows, then does the feed work only after
commit (``feed.queue.on_commit``: nothing is queued or written for a row that may still roll
back): a post's fan-out through the one queueing step, a follow's small backfill right away.
"""

from __future__ import annotations

from django.db import transaction

from social import services as social_services
from social.models import Post, User

from . import fanout, queue


def post_publish(*, author: User, body: str) -> Post:
    with transaction.atomic():
        post = social_services.post_create(author=author, body=body)
        queue.fanout_on_commit(fanout.POST.name, [post.pk])
    return post


# A follow changes one feed by at most FOLLOW_BACKFILL_POSTS items: done in the request,
# after commit, so the follower's next feed read already has them (no task, no wait).


def follow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_create(follower=follower, followee=followee):
            queue.on_commit(
                fanout.follow_backfill, follower_id=follower.pk, followee_id=followee.pk
            )


def unfollow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_delete(follower=follower, followee=followee):
            queue.on_commit(fanout.follow_undo, follower_id=follower.pk, followee_id=followee.pk)
