"""Writes that change other people's feeds: posting, following, unfollowing.

Each calls the ``social`` service that changes the rows, and queues the feed work only
after commit (nothing is queued for a row that may still roll back).
"""

from __future__ import annotations

from django.db import transaction

from social import services as social_services
from social.models import Post, User

from . import tasks


def post_publish(*, author: User, body: str) -> Post:
    with transaction.atomic():
        post = social_services.post_create(author=author, body=body)
        transaction.on_commit(lambda: tasks.fanout_post.delay(post.pk), robust=True)
    return post


def follow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_create(follower=follower, followee=followee):
            transaction.on_commit(
                lambda: tasks.follow_backfill.delay(follower.pk, followee.pk), robust=True
            )


def unfollow(*, follower: User, followee: User) -> None:
    with transaction.atomic():
        if social_services.follow_delete(follower=follower, followee=followee):
            transaction.on_commit(
                lambda: tasks.follow_undo.delay(follower.pk, followee.pk), robust=True
            )
