"""Writes to the social graph and posts. Each service owns its transaction.

These only change rows. What a change means for other people's feeds (fan-out, backfill)
is added by ``feed.services``, which calls these: ``social`` imports neither ``likes`` nor
``feed``.
"""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from config.exceptions import Invalid

from .models import POST_BODY_MAX, Follow, Post, User
from .tokens import token_issue
from .usernames import mixed_script


def user_create(*, username: str, password: str) -> tuple[User, str]:
    """Register an account; returns it with its API token.

    The name is stored in NFKC (as Django's ``normalize_username`` does); a name mixing
    scripts is refused, and one whose key (``social.usernames``) is taken is "taken" even
    when it differs in case, width or by a look-alike letter (the unique key decides)."""
    username = User.normalize_username(username)
    if mixed_script(username):
        raise Invalid(f"username: {username!r} mixes alphabets; use letters of one")
    user = User(username=username)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid("password: " + " ".join(exc.messages)) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            token = token_issue(user=user)
    except IntegrityError:
        raise Invalid(f"username: {username!r} is taken") from None
    return user, token


def follow_create(*, follower: User, followee: User) -> bool:
    """Follow someone; True when the follow is new (idempotent otherwise)."""
    if follower.pk == followee.pk:
        raise Invalid("you cannot follow yourself")
    _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    return created


def follow_delete(*, follower: User, followee: User) -> bool:
    """Stop following; True when a follow was removed (idempotent otherwise)."""
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    return deleted > 0


def post_create(*, author: User, body: str) -> Post:
    if not body.strip():
        raise Invalid("body: a post needs some text")
    if len(body) > POST_BODY_MAX:
        raise Invalid(f"body: at most {POST_BODY_MAX} characters (this one has {len(body)})")
    # Owed a fan-out until the pipeline marks it (``social.outbox``): the caller queues it
    # after commit, and the sweeper re-queues it if that message is lost.
    return Post.objects.create(author=author, body=body, fanned_out_at=None)


def post_delete(*, post: Post) -> None:
    """Delete a post; its likes go with it (and whatever else hangs on the post: the
    ``on_delete=CASCADE`` of each model that points at it). Who may is the caller's check."""
    post.delete()
