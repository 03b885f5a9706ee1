"""What the context query (``likes.selectors.post_contexts``) reads grows with the fan-out
chunk it is asked about, not with the post author's audience (issue 15: a 1,000-follower
chunk cost three times ``liked_pairs``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from likes import selectors
from social.models import Follow, Post, User
from tests.plans import explain, rows_read

pytestmark = pytest.mark.django_db


def test_which_authors_a_chunk_follows_is_read_for_the_chunks_id_range_only():
    # An author followed by 2,999 people, each of whom follows 10 more: a fan-out chunk of
    # 200 of them (a run of ascending ids, as the fan-out cuts them).
    users = User.objects.bulk_create([User(username=f"ctx{i}", password="!") for i in range(3000)])
    author, others = users[0], users[1:11]
    follows = [Follow(follower=u, followee=author) for u in users[1:]]
    follows += [Follow(follower=u, followee=o) for u in users[11:] for o in others]
    Follow.objects.bulk_create(follows)
    post = Post.objects.create(author=author, body="seen by a chunk")
    chunk = [u.pk for u in users[1000:1200]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE social_user, social_follow, social_post, likes_like")

    contexts = selectors.post_contexts(triples=[(uid, post.pk, author.pk) for uid in chunk])
    assert all(contexts[(uid, post.pk)][0] for uid in chunk)  # each follows the author

    bounds = {"lo": chunk[0], "hi": chunk[-1]}
    params: dict[str, Any] = {"u": chunk, **bounds, "p": [post.pk], "a": [author.pk]}
    # The statement's third part (UNION ALL: likers, own likes, followed authors).
    follows_part = explain(selectors._CONTEXTS_SQL, params)["Plans"][2]
    # Before: every follower of the author (2,999) or every follow of every reader (2,200),
    # each checked against the chunk's ids.
    assert rows_read(follows_part, "social_follow") <= 2 * len(chunk)
