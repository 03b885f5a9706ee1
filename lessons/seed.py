"""A small social graph in the lessons' database, for the lessons that run Likefeed's own
tasks: likers, each followed by the same followers, posts by one author, and one like per
(liker, post) pair whose fan-out is still owed (``fanned_out_at`` NULL), as the like
endpoint leaves it. Written with ``bulk_create``: seeding is not what is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from likes.models import Like
from social.models import Follow, Post, User


@dataclass(frozen=True)
class Graph:
    author: int
    likers: list[int]
    followers: list[int]
    posts: list[int]
    likes: list[int]  # in (liker, post) order


def graph(*, tag: str, likers: int, followers: int, posts: int) -> Graph:
    """``likers x posts`` likes owed a fan-out to ``followers`` feeds each."""
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"{tag}-author", password="!")]
            + [User(username=f"{tag}-liker-{i}", password="!") for i in range(likers)]
            + [User(username=f"{tag}-follower-{i}", password="!") for i in range(followers)]
        )
        author, liker_users, follower_users = users[0], users[1 : likers + 1], users[likers + 1 :]
        Follow.objects.bulk_create(
            Follow(follower=f, followee=liker) for liker in liker_users for f in follower_users
        )
        post_rows = Post.objects.bulk_create(
            Post(author=author, body=f"{tag} post {i}", like_count=likers) for i in range(posts)
        )
        now = timezone.now()
        like_rows = Like.objects.bulk_create(
            Like(user=liker, post=post, created_at=now)
            for liker in liker_users
            for post in post_rows
        )
    return Graph(
        author=author.pk,
        likers=[u.pk for u in liker_users],
        followers=[u.pk for u in follower_users],
        posts=[p.pk for p in post_rows],
        likes=[like.pk for like in like_rows],
    )
