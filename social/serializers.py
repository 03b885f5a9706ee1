"""Input validation and the OpenAPI description of the social endpoints' shapes.

Answers are built by ``social.render`` (plain dicts, shared with the fan-out); the output
serializers here describe those shapes for drf-spectacular, and the contract tests check
every answer against the served schema.
"""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from .models import POST_BODY_MAX


class CredentialsIn(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class AuthOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    token = serializers.CharField()


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    created = serializers.DateTimeField()
    last_used = serializers.DateTimeField(
        allow_null=True, help_text="when a view last accepted it, to the minute; null: never"
    )
    expires = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="the token this request was made with")


class TokenListOut(serializers.Serializer):
    items = TokenOut(many=True)


class TokensRevokedOut(serializers.Serializer):
    revoked = serializers.IntegerField()


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    followers_count = serializers.IntegerField()
    following_count = serializers.IntegerField()


class ProfileOut(MeOut):
    is_following = serializers.BooleanField()


class ProfileListOut(serializers.Serializer):
    items = ProfileOut(many=True)


class UserRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class PostIn(serializers.Serializer):
    body = serializers.CharField(max_length=POST_BODY_MAX, trim_whitespace=False, allow_blank=True)


class PostOut(serializers.Serializer):
    id = serializers.IntegerField()
    author = UserRefOut()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    like_count = serializers.IntegerField()
    likes_version = serializers.IntegerField(
        help_text="Grows with every change of this post's likes: show a count only if its "
        "version is newer than the one on screen."
    )
    liked_by_me = serializers.BooleanField()


class PageQueryIn(serializers.Serializer):
    """``?limit=&before=`` of a newest-first list (strict: a bad cursor is a 400)."""

    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    before = serializers.CharField(
        required=False, max_length=400, help_text="the `next` of the previous page"
    )


class PostPageOut(serializers.Serializer):
    items = PostOut(many=True)
    next = serializers.CharField(allow_null=True)
