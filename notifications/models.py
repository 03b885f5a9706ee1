"""Mail preferences and how far each post's likes have been mailed to its author."""

from __future__ import annotations

from django.db import models

from social.models import Post, User


class MailSettings(models.Model):
    """A person's mail preferences; no row means the defaults (like mails on).

    The address itself is Django's ``User.email``: the one every Django tool already knows.
    """

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="mail_settings"
    )
    like_emails = models.BooleanField(
        default=True, help_text="Mail me when people like my posts (one mail per burst)."
    )

    class Meta:
        verbose_name_plural = "mail settings"

    def __str__(self) -> str:
        return f"mail settings of {self.user_id}"


class LikeMailMark(models.Model):
    """The highest like id of this post already reported to its author (the watermark).

    A mail reports the likes above it and moves it, under a row lock, in the transaction
    that sends: a task that runs twice, or two tasks of overlapping windows, send each like
    at most once.
    """

    post = models.OneToOneField(Post, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_like_id = models.BigIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"post {self.post_id}: mailed up to like {self.last_like_id}"


# --- notifications: "bob and 3 others liked your post" ------------------------------------


class Notification(models.Model):
    """One grouped notification: what the recipient sees as one line.

    Mastodon 4.3 stores a row per activity (each favourite) with a ``group_key``
    (``favourite-<status>-<hour bucket>``) and groups at read time with a recursive query.
    Here the group is the row (one per (recipient, post) for likes, one unread row per
    recipient for follows) and each activity is a ``NotificationActor`` under it: a page is
    a plain keyset read of groups, and ``actors_count`` moves in the statements that insert
    or delete actors, so it never needs a count over a hot post's likes.

    The unique constraints are what keep two concurrent likes of one post to one row: the
    services upsert against them (``INSERT … ON CONFLICT``). Follows group while unread: at
    most one unread follow row per recipient; once read, the next follow starts a new one.
    """

    class Kind(models.TextChoices):
        LIKE = "like"
        FOLLOW = "follow"

    # Indexed by the page index below (its first column).
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The liked post (likes only); its deletion takes its notifications with it.
    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField()
    read = models.BooleanField(default=False)
    actors_count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "post"],
                condition=models.Q(kind="like"),
                name="notification_like_per_post",
            ),
            models.UniqueConstraint(
                fields=["recipient"],
                condition=models.Q(kind="follow", read=False),
                name="notification_follow_unread",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="follow", post__isnull=True)
                | models.Q(kind="like", post__isnull=False),
                name="notification_kind_post",
            ),
        ]
        indexes = [
            # A page: a recipient's notifications, newest first.
            models.Index(fields=["recipient", "-updated_at", "-id"], name="notification_page_idx"),
            # The unread count (the bell): only unread rows are in it.
            models.Index(
                fields=["recipient"],
                name="notification_unread_idx",
                condition=models.Q(read=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} notification {self.pk} for {self.recipient_id}"


class NotificationActor(models.Model):
    """One activity of a group: this person liked the post / followed, at ``at``."""

    # Indexed by the unique constraint (its first column); ``actor`` by its own index, for an
    # unfollow's look-up and a deleted user's cascade.
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    actor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "actor"], name="notification_actor_once"
            )
        ]
        indexes = [
            # The newest three of a group (``actors``), and an unlike's or unfollow's lookup.
            models.Index(fields=["notification", "-at"], name="notification_actor_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} in notification {self.notification_id}"
