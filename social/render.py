"""The JSON shapes of CONTRACT.md for users and posts, as plain dicts.

One function per shape, used by the API views and by the fan-out alike, so a post looks the
same in an HTTP answer and on the socket. (DRF serializers in ``*/schemas.py`` describe these
shapes for the OpenAPI schema; tests check the two agree.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import Post, User


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as DRF renders datetimes."""
    value = moment.isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def user_ref(user: User) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username}


def post_json(post: Post, *, liked_by_me: bool) -> dict[str, Any]:
    return {
        "id": post.pk,
        "author": user_ref(post.author),
        "body": post.body,
        "created_at": iso(post.created_at),
        "like_count": post.like_count,
        "likes_version": post.likes_version,
        "liked_by_me": liked_by_me,
    }
