"""Shapes of ``/api/me/notifications/`` (mail preferences) and ``/api/notifications/``."""

from __future__ import annotations

from rest_framework import serializers

from social.serializers import MeOut, PostOut, UserRefOut


class MailPreferencesOut(serializers.Serializer):
    email = serializers.EmailField(allow_blank=True)
    like_emails = serializers.BooleanField()


class MailPreferencesIn(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    like_emails = serializers.BooleanField(required=False)


# --- grouped notifications (CONTRACT.md, "Notifications") ------------------------------------


class NotificationsQueryIn(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    # Strict: exactly what ``next`` said (no trimming), else a 400.
    before = serializers.CharField(required=False, max_length=100, trim_whitespace=False)


class NotificationOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["like", "follow"])
    actors = UserRefOut(many=True, help_text="The newest (at most 3), newest first.")
    actors_count = serializers.IntegerField()
    post = PostOut(allow_null=True, help_text="The liked post (likes); null for follows.")
    updated_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class NotificationPageOut(serializers.Serializer):
    items = NotificationOut(many=True)
    next = serializers.CharField(allow_null=True)
    unread = serializers.IntegerField()


class MeWithUnreadOut(MeOut):
    unread_notifications = serializers.IntegerField()
