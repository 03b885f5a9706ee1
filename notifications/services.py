"""Mail about likes: "alice and 3 others liked your post", one mail per burst.

The walk: a batch of likes' fan-out, once complete, calls ``like_mails_schedule`` with their
posts (in the fan-out worker, so the like request never waits for it and the fan-out is
already done; the hook is set in ``NotificationsConfig.ready``, on the pipeline's like
kind). For each post that opens
a debounce window for the post, one ``SET NX`` in Redis: the first like of a burst queues
``notifications.tasks.send_like_mail`` on the slow ``mail`` queue with a countdown of
``LIKE_MAIL_DEBOUNCE_S``; every other like inside the window only finds the window open.
When the countdown ends, the task closes the window and ``like_mail_send`` reports every
like above the post's watermark in one mail, the watermark moved in the same transaction.

Because the fan-out is what schedules the mail, the like's outbox covers the mail too: a
fan-out re-queued by the sweeper schedules it again. A lost mail task costs nothing either:
its window expires and the next like's mail reports the likes it missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from config.redis import get_redis
from likes import selectors as likes_selectors
from social.models import Post, User

from . import tasks

if TYPE_CHECKING:
    from feed.fanout import Happening
from .models import LikeMailMark, MailSettings


@dataclass(frozen=True, slots=True)
class MailPreferences:
    email: str
    like_emails: bool


def mail_preferences_get(*, user: User) -> MailPreferences:
    row = MailSettings.objects.filter(user=user).first()
    return MailPreferences(email=user.email, like_emails=row.like_emails if row else True)


def mail_preferences_update(
    *, user: User, email: str | None = None, like_emails: bool | None = None
) -> MailPreferences:
    """Change a person's address and/or whether likes are mailed to them."""
    with transaction.atomic():
        if email is not None and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        if like_emails is not None:
            MailSettings.objects.update_or_create(user=user, defaults={"like_emails": like_emails})
    return mail_preferences_get(user=user)


# --- the debounce window ------------------------------------------------------------------


def _window_key(post_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:mail:window:{post_id}"


def like_mails_schedule(likes: Sequence[Happening]) -> None:
    """These likes reached every feed: each post's author gets a mail (debounced: one call
    per post is what one call per like would do)."""
    for post_id in sorted({like.post_id for like in likes}):
        like_mail_schedule(post_id=post_id)


def like_mail_schedule(*, post_id: int) -> bool:
    """Queue a mail for the post's author about its new likes unless one is already
    waiting. True when this call queued it."""
    debounce = settings.LIKE_MAIL_DEBOUNCE_S
    # The window outlives its task's countdown: if the task is lost, the key still expires
    # and the next like opens a new window (its mail reports the likes this one missed).
    ttl = int(debounce) * 2 + 60
    if not get_redis().set(_window_key(post_id), 1, nx=True, ex=ttl):
        return False
    tasks.send_like_mail.apply_async((post_id,), countdown=debounce)
    return True


def like_mail_window_close(*, post_id: int) -> None:
    """The mail is about to be written: a like from now on opens a new window. (A like that
    lands between this and the read below is reported now; its own window's mail then
    finds nothing new and sends nothing.)"""
    get_redis().delete(_window_key(post_id))


# --- the mail ---------------------------------------------------------------------------------


def like_mail_subject(*, recent_usernames: list[str], count: int) -> str:
    """``alice liked…``, ``alice and bob liked…``, ``alice and 3 others liked your post``."""
    newest = recent_usernames[0]
    if count == 1:
        return f"{newest} liked your post"
    if count == 2 and len(recent_usernames) == 2:
        return f"{newest} and {recent_usernames[1]} liked your post"
    return f"{newest} and {count - 1} others liked your post"


def _body(*, subject: str, post: Post) -> str:
    excerpt = post.body if len(post.body) <= 140 else post.body[:139] + "…"
    site = settings.SITE_URL.rstrip("/")  # where the stack serves (config/run.py sets it)
    return (
        f"{subject}:\n\n"
        f"    {excerpt}\n\n"
        f"It has {post.like_count} like{'s' if post.like_count != 1 else ''} now. "
        f"See it and who liked it: {site}/p/{post.pk}/\n\n"
        "--\n"
        "You get this mail because likes of your posts are mailed to you, at most one mail\n"
        "per post every few minutes. To stop them: PATCH /api/me/notifications/ with\n"
        '{"like_emails": false}, or ask an admin.\n'
    )


def like_mail_send(*, post_id: int) -> bool:
    """Mail the post's author about its likes not reported yet. False when there was
    nothing to send (no new likes, no address, or the author turned like mails off; the
    watermark still moves then, so turning them back on never mails a backlog)."""
    with transaction.atomic():
        post = Post.objects.select_related("author").filter(pk=post_id).first()
        if post is None:
            return False
        mark, _ = LikeMailMark.objects.select_for_update().get_or_create(post_id=post_id)
        news = likes_selectors.likes_since(
            post_id=post_id, after_like_id=mark.last_like_id, exclude_user_id=post.author_id
        )
        if news.count == 0:
            return False
        mark.last_like_id = news.last_like_id
        prefs = mail_preferences_get(user=post.author)
        if not (prefs.email and prefs.like_emails):
            mark.save(update_fields=["last_like_id"])
            return False
        subject = like_mail_subject(recent_usernames=news.recent_usernames, count=news.count)
        # Sent inside the transaction: if the SMTP server refuses, the watermark stays where
        # it was and the task's retry reports the same likes again.
        send_mail(
            subject,
            _body(subject=subject, post=post),
            settings.DEFAULT_FROM_EMAIL,
            [prefs.email],
        )
        mark.sent_at = timezone.now()
        mark.save(update_fields=["last_like_id", "sent_at"])
    return True
