"""Users, who follows whom, and posts: the ground floor the other apps build on."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual

POST_BODY_MAX = 500


class User(AbstractUser):
    """A Likefeed account (Django's user, swappable from day one)."""


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique_pair"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        # The fan-out walks a user's followers in id order, in chunks: (followee, follower).
        indexes = [models.Index(fields=["followee", "follower"], name="follow_followee_idx")]

    def __str__(self) -> str:
        return f"{self.follower_id} → {self.followee_id}"


class Post(models.Model):
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="posts")
    body = models.CharField(max_length=POST_BODY_MAX)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Denormalised: moved in the same transaction as the like rows (see likes.services).
    like_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("body"), 1), name="post_body_not_empty"
            ),
        ]
        indexes = [models.Index(fields=["author", "-created_at"], name="post_author_recent_idx")]

    def __str__(self) -> str:
        return f"{self.author_id}: {self.body[:40]}"
