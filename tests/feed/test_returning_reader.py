"""Mastodon's rule through the real stack (web process, Celery workers, PostgreSQL, Redis):
the fan-out skips a follower away for longer than FEED_ACTIVE_DAYS, and their first feed
read (or their first socket: the bell of any page) rebuilds the feed to what the contract
says it holds."""

from __future__ import annotations

import time
import uuid
from typing import cast

from config.redis import get_redis
from feed import store
from tests.conftest import wait_until
from tests.ws import ws_connect


def feed_ids(api, user) -> list[str]:
    return [
        item["id"] for item in api(user).get("/api/feed/", params={"limit": 100}).json()["items"]
    ]


def in_redis(user, post) -> bool:
    return get_redis().zscore(store.feed_key(user["id"]), f"p:{post['id']}") is not None


def test_a_reader_away_is_skipped_and_finds_their_feed_rebuilt_on_return(make_user, api):
    author, liker, stranger, other = make_user(), make_user(), make_user(), make_user()
    back, control = make_user(), make_user()  # control: followed the same, never away
    for reader in (back, control):
        for followee in (author, liker, other):
            api(reader).put(f"/api/users/{followee['username']}/follow/")
    old = api(author).post("/api/posts/", json={"body": "before the absence"}).json()
    wait_until(lambda: in_redis(back, old) and in_redis(control, old))

    # Away for 15 days (the stack runs with FEED_ACTIVE_DAYS 14).
    get_redis().set(store.seen_key(back["id"]), int(time.time() - 15 * 86400))
    own = api(back).post("/api/posts/", json={"body": "my own, while away"}).json()
    by_author = api(author).post("/api/posts/", json={"body": "followed author"}).json()
    liked = api(stranger).post("/api/posts/", json={"body": "liked by a followee"}).json()
    api(liker).post(f"/api/posts/{liked['id']}/like/")
    # Liked twice by followees, once each, the newest like moves it up: one item.
    api(other).post(f"/api/posts/{by_author['id']}/like/")
    expected = [f"p:{by_author['id']}", f"p:{liked['id']}", f"p:{own['id']}", f"p:{old['id']}"]
    wait_until(lambda: feed_ids(api, control)[:3] == [expected[0], expected[1], f"p:{old['id']}"])

    # The fan-out skipped the reader away: none of the new items was written for them.
    assert not in_redis(back, by_author) and not in_redis(back, liked)
    # (One's own post is written all the same: the author's own feed is not fanned out to.)

    # Back: the first read rebuilds the feed from the people they follow, in the request.
    items = api(back).get("/api/feed/", params={"limit": 100}).json()["items"]
    assert [i["id"] for i in items] == expected  # each once, newest activity first
    by_id = {i["id"]: i for i in items}
    assert by_id[f"p:{liked['id']}"]["kind"] == "like"
    assert by_id[f"p:{liked['id']}"]["actor"]["id"] == liker["id"]
    assert by_id[f"p:{by_author['id']}"]["kind"] == "post"
    assert by_id[f"p:{by_author['id']}"]["likers"] == [
        {"id": other["id"], "username": other["username"]}
    ]
    # The control reader's feed (fanned out on write) says the same, apart from own posts.
    assert [i for i in feed_ids(api, control) if i != f"p:{own['id']}"] == [
        i for i in expected if i != f"p:{own['id']}"
    ]
    # Seen now: the next fan-out writes their feed again, live.
    seen = get_redis().get(store.seen_key(back["id"]))
    assert seen is not None and float(seen) > time.time() - 60
    newer = api(author).post("/api/posts/", json={"body": "after the return"}).json()
    wait_until(lambda: in_redis(back, newer))
    assert feed_ids(api, back)[0] == f"p:{newer['id']}"


def test_a_reader_back_whose_socket_opens_first_has_the_feed_rebuilt_at_the_handshake(
    make_user, api, live_stack
):
    """Back on a page without the feed (its bell opens a socket): the socket marks them
    seen, so the handshake rebuilds the feed; a later read must not find it stale."""
    author, back, control = make_user(), make_user(), make_user()
    for reader in (back, control):
        api(reader).put(f"/api/users/{author['username']}/follow/")
    get_redis().set(store.seen_key(back["id"]), int(time.time() - 15 * 86400))
    post = api(author).post("/api/posts/", json={"body": "while away"}).json()
    wait_until(lambda: in_redis(control, post))
    assert not in_redis(back, post)  # skipped: away

    with ws_connect(live_stack.ws_url, token=back["token"]):
        assert in_redis(back, post)  # rebuilt before the handshake was answered
        seen = get_redis().get(store.seen_key(back["id"]))
        assert seen is not None and float(seen) > time.time()  # online: seen ahead of now
    assert feed_ids(api, back)[0] == f"p:{post['id']}"


def test_a_reader_seen_recently_is_not_rebuilt_and_keeps_receiving(make_user, api):
    author, reader = make_user(), make_user()
    api(reader).put(f"/api/users/{author['username']}/follow/")
    assert feed_ids(api, reader) == []  # the read records them: seen now
    post = api(author).post("/api/posts/", json={"body": "fresh"}).json()
    wait_until(lambda: in_redis(reader, post))
    # An item that nothing keeps, written by hand, stays out of pages but is not the point:
    # no rebuild happens for a reader seen within the period (their feed is not rewritten).
    get_redis().zrem(store.feed_key(reader["id"]), f"p:{post['id']}")
    assert feed_ids(api, reader) == []


def test_the_rebuild_is_bounded_and_reads_only_since_the_last_sighting(db, settings):
    """In process, on rows made with the ORM: the newest FEED_MAX_ITEMS items, each at its
    latest activity; nothing from before the reader was last seen."""
    from datetime import timedelta

    from django.utils import timezone

    from feed import fanout
    from likes.models import Like
    from social.models import Follow, Post, User

    settings.FEED_MAX_ITEMS = 3
    suffix = uuid.uuid4().hex[:8]
    reader, author, liker, stranger = (
        User.objects.create_user(username=f"rb{name}{suffix}", password="x")
        for name in ("r", "a", "l", "s")
    )
    for followee in (author, liker):
        Follow.objects.create(follower=reader, followee=followee)
    now = timezone.now()

    def post(by: User, minutes_ago: int) -> Post:
        p = Post.objects.create(author=by, body="x")
        Post.objects.filter(pk=p.pk).update(created_at=now - timedelta(minutes=minutes_ago))
        return p

    before_absence = post(author, 60 * 24 * 20)  # 20 days ago: before last seen
    posts = [post(author, m) for m in (50, 40, 30, 20)]
    liked = post(stranger, 45)
    Like.objects.create(user=liker, post=liked, created_at=now - timedelta(minutes=5))
    Like.objects.create(user=liker, post=posts[0], created_at=now - timedelta(minutes=1))
    get_redis().delete(store.feed_key(reader.pk))
    try:
        written = fanout.feed_rebuild(user_id=reader.pk, since=now - timedelta(days=15))
        rows = get_redis().zrevrange(store.feed_key(reader.pk), 0, -1, withscores=True)
        ids = [m.decode() for m, _ in cast(list[tuple[bytes, float]], rows)]
        # Newest activity first: posts[0] liked a minute ago, `liked` 5 minutes ago, then the
        # newest post; older ones and the one from before the absence left out (bound 3).
        assert written == 3
        assert ids == [f"p:{posts[0].pk}", f"p:{liked.pk}", f"p:{posts[3].pk}"]
        score = dict((m.decode(), s) for m, s in cast(list[tuple[bytes, float]], rows))
        assert score[f"p:{posts[0].pk}"] == store.score_of(now - timedelta(minutes=1))
        assert f"p:{before_absence.pk}" not in ids
    finally:
        get_redis().delete(store.feed_key(reader.pk))
