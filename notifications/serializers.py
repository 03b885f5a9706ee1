"""Shapes of ``/api/me/notifications/``."""

from __future__ import annotations

from rest_framework import serializers


class MailPreferencesOut(serializers.Serializer):
    email = serializers.EmailField(allow_blank=True)
    like_emails = serializers.BooleanField()


class MailPreferencesIn(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    like_emails = serializers.BooleanField(required=False)
