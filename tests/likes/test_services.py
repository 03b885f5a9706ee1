"""The like service under real concurrency: many threads, each its own PostgreSQL connection.

(Over HTTP the live server may serialise requests; here the statements truly race.)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from likes import services
from likes.models import Like
from social.models import Post, User


@pytest.fixture
def post(transactional_db):
    author = User.objects.create(username="author")
    return Post.objects.create(author=author, body="race me")


def race(n: int, action) -> list:
    """Run ``action(i)`` in n threads released at once; each thread closes its connection."""
    barrier = threading.Barrier(n)

    def run(i: int):
        try:
            barrier.wait(timeout=30)
            return action(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_forty_concurrent_likes_of_one_pair_store_one_row_and_all_answer_the_truth(post):
    fan = User.objects.create(username="fan")
    answers = race(40, lambda _: services.like_create(user_id=fan.pk, post_id=post.pk))
    assert {(a.liked, a.like_count) for a in answers} == {(True, 1)}
    assert Like.objects.filter(post=post).count() == 1
    assert Post.objects.get(pk=post.pk).like_count == 1


def test_concurrent_likes_by_many_users_count_each_once(post):
    fans = User.objects.bulk_create([User(username=f"fan{i}") for i in range(30)])
    answers = race(30, lambda i: services.like_create(user_id=fans[i].pk, post_id=post.pk))
    assert sorted(a.like_count for a in answers)[-1] == 30
    assert Post.objects.get(pk=post.pk).like_count == Like.objects.filter(post=post).count() == 30


def test_a_concurrent_like_unlike_storm_ends_with_count_equal_to_rows(post):
    fans = User.objects.bulk_create([User(username=f"fan{i}") for i in range(6)])

    def act(i: int):
        user_id = fans[i % len(fans)].pk
        call = services.like_create if (i // len(fans)) % 2 == 0 else services.like_delete
        return call(user_id=user_id, post_id=post.pk)

    race(36, act)
    assert Post.objects.get(pk=post.pk).like_count == Like.objects.filter(post=post).count()


def test_a_version_names_one_count_and_each_change_has_its_own_version(post):
    """likes_version moves in the statement that moves the count: under a real concurrent
    storm, answers with one version agree on the count, versions one apart differ by one
    like, and the last version is the stored count's (so a page that shows only newer
    versions never shows a count backwards or a like twice)."""
    fans = User.objects.bulk_create([User(username=f"fan{i}") for i in range(8)])

    def act(i: int):
        user_id = fans[i % len(fans)].pk
        call = services.like_create if (i * 7 // len(fans)) % 2 == 0 else services.like_delete
        return call(user_id=user_id, post_id=post.pk)

    answers = race(48, act)
    by_version: dict[int, set[int]] = {}
    for a in answers:
        by_version.setdefault(a.likes_version, set()).add(a.like_count)
    assert all(len(counts) == 1 for counts in by_version.values()), by_version
    count_at = {v: counts.pop() for v, counts in by_version.items()}
    for v, count in count_at.items():
        if v - 1 in count_at:
            assert abs(count - count_at[v - 1]) == 1, (v, count_at)
    stored = Post.objects.get(pk=post.pk)
    assert stored.likes_version >= max(count_at)
    assert count_at.get(stored.likes_version, stored.like_count) == stored.like_count
    assert stored.like_count == Like.objects.filter(post=post).count()
    assert len(count_at) > 1  # the storm did change things


def test_unknown_post_is_a_domain_not_found(transactional_db):
    from config.exceptions import NotFound

    fan = User.objects.create(username="fan")
    with pytest.raises(NotFound):
        services.like_create(user_id=fan.pk, post_id=10**15)
    with pytest.raises(NotFound):
        services.like_delete(user_id=fan.pk, post_id=10**15)
