"""Users, who follows whom, and posts: the ground floor the other apps build on."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Length, Now
from django.db.models.lookups import GreaterThanOrEqual

from .usernames import username_key

POST_BODY_MAX = 500


class User(AbstractUser):
    """A Likefeed account (Django's user, swappable from day one).

    ``username_key`` is the name's identity (``social.usernames.username_key``): unique, so
    ``Alice``, a full-width ``alice`` and one with a Cyrillic ``a`` cannot sit beside
    ``alice``, whichever way an account is made (sign-up, ``createsuperuser``, the admin).
    Null only for rows written around the ORM (the load test's ``COPY``): those log in by
    their exact name.
    """

    # null, not "": rows without a key must not collide with each other.
    username_key = models.CharField(max_length=150, unique=True, null=True, editable=False)  # noqa: DJ001
    # How many follow this account and how many it follows, kept by PostgreSQL itself: a
    # statement trigger on social_follow (migration 0007) moves them in the transaction that
    # inserts or deletes follows, however they are written (the services, bulk_create, the
    # load test's COPY, a deleted account's cascade), one UPDATE per statement. What "who to
    # follow" ranks by without counting every follow (``social.selectors.users_suggested``).
    followers_count = models.IntegerField(default=0, db_default=0, editable=False)
    following_count = models.IntegerField(default=0, db_default=0, editable=False)

    class Meta(AbstractUser.Meta):
        indexes = [
            # "Who to follow": the most followed accounts that may be suggested, in order.
            models.Index(
                models.F("followers_count").desc(),
                "username",
                name="user_suggest_idx",
                condition=models.Q(is_active=True, is_staff=False, is_superuser=False),
            ),
        ]

    def validate_unique(self, exclude: Collection[str] | None = None) -> None:
        """The admin's forms refuse a look-alike of a taken name as they refuse a taken name
        (the database's constraint would otherwise answer them with an IntegrityError)."""
        super().validate_unique(exclude)
        taken = User.objects.filter(username_key=username_key(self.username)).exclude(pk=self.pk)
        if taken.exists():
            raise ValidationError({"username": "A user with a name this similar already exists."})

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Derived from the username, so kept here rather than in each service that writes
        # a user: a key out of step with its name would let a look-alike in.
        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_key"}
        super().save(*args, **kwargs)


class Follow(models.Model):
    # No single-column indexes: (follower, followee) is the unique constraint's index and
    # (followee, follower) follow_followee_idx; each serves the lookups by its first column.
    follower = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="following_set", db_index=False
    )
    followee = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="follower_set", db_index=False
    )
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
    # (author, created_at) post_author_recent_idx serves every lookup by author.
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="posts", db_index=False)
    body = models.CharField(max_length=POST_BODY_MAX)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Denormalised: moved in the same transaction as the like rows (see likes.services).
    like_count = models.PositiveIntegerField(default=0)
    # Grows by one with every change of this post's likes, in the same statement that moves
    # ``like_count`` (likes.services): a client shows a count only when its version is newer
    # than the one on screen, so answers and events arriving out of order never move a count
    # backwards or count a like twice. A database default too, for rows written around the
    # ORM (the load test's COPY).
    likes_version = models.BigIntegerField(default=0, db_default=0)
    # The post is its own fan-out outbox (as a like is: likes.outbox): NULL while a fan-out is
    # owed (``social.outbox``). The publishing service stores NULL; rows written around it
    # (the load test's COPY, bulk fixtures, the admin) had no fan-out queued and take the
    # database's default, so a sweep never fans out a seeded history.
    fanned_out_at = models.DateTimeField(null=True, editable=False, db_default=Now())

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("body"), 1), name="post_body_not_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["author", "-created_at"], name="post_author_recent_idx"),
            # "posts owed a fan-out", oldest first, stays small: only unfinished rows.
            models.Index(
                fields=["created_at"],
                name="post_fanout_owed_idx",
                condition=models.Q(fanned_out_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_id}: {self.body[:40]}"


class ApiToken(models.Model):
    """An API token: one per login (or sign-up), as django-rest-knox issues them, so each
    client holds its own and logging out ends only that one (DRF's ``authtoken`` kept one
    per user for ever: logout left it working and every login returned it again).

    Only the token's SHA-256 is stored (``digest``; ``social.tokens`` says why that is
    enough): the token is shown once, when issued. ``id`` names it in the token list
    (``GET /api/auth/tokens/``) and to the sockets it opened.

    A token is live while ``created`` is younger than ``settings.TOKEN_TTL`` seconds
    (``live_since``): the age is checked where the token is (here, and in the like fast
    path's SQL), so shortening the setting ends the older tokens at once.
    """

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # When a view last accepted it, to the minute (``TokenAuth``); the like fast path and
    # socket handshakes do not mark it. Null: not used since it was issued.
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user_id} from {self.created:%Y-%m-%d %H:%M}"
