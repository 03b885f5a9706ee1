"""Deleting posts is rate-limited per user, with posting (CONTRACT: "posting, following and
deleting per user"; the ``post`` scope, ``THROTTLE_RATE_POST``)."""

from __future__ import annotations

import json
import uuid

from django.test import Client, override_settings

from social.models import Post, User
from social.tokens import token_issue

LIMIT = 3


def user() -> User:
    return User.objects.create_user(
        username=f"d{uuid.uuid4().hex[:10]}", password="pw-Likefeed-123"
    )


@override_settings(THROTTLE_RATES={"like": "120/min", "login": "3/min", "register": "3/hour",
                                   "post": f"{LIMIT}/min", "follow": "3/min",
                                   "admin_login": "3/min"})  # fmt: skip
def test_deleting_is_limited_per_user_and_reading_a_post_is_not(db):
    author = user()
    posts = [Post.objects.create(author=author, body=f"p{i}") for i in range(2 * LIMIT + 1)]
    client = Client(HTTP_AUTHORIZATION=f"Token {token_issue(user=author)}")
    # Counters are per user id and outlive a test within their minute (ids repeat after the
    # suite's flushes), so: a refusal within twice the limit, as tests/test_hostile_limits.py.
    answers = [client.delete(f"/api/posts/{p.pk}/") for p in posts]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses and set(statuses) <= {204, 429}, statuses
    refusal = answers[statuses.index(429)]
    assert json.loads(refusal.content)["error"] == "throttled" and int(refusal["Retry-After"]) >= 1
    assert all(client.get(f"/api/posts/{p.pk}/").status_code in (200, 404) for p in posts)
