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
