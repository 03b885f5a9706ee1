"""The fan-out, end to end through real Celery workers: likes, posts, follows reach feeds."""

from __future__ import annotations

import functools
import json

from tests.conftest import wait_until


def feed(api, user, **params):
    return api(user).get("/api/feed/", params=params).json()


def feed_ids(api, user):
    return [item["id"] for item in feed(api, user, limit=100)["items"]]


def liked_once_in(api, user):
    items = feed(api, user)["items"]
    return items if items and items[0]["likers_count"] == 1 else None


def test_a_post_and_a_like_reach_every_followers_feed_as_one_item(make_user, api):
    author, liker = make_user(), make_user()
    followers = [make_user() for _ in range(3)]
    for f in followers:
        api(f).put(f"/api/users/{liker['username']}/follow/")
        api(f).put(f"/api/users/{author['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "fan me out"}).json()
    api(liker).post(f"/api/posts/{post['id']}/like/")

    for f in followers:
        items = wait_until(functools.partial(liked_once_in, api, f))
        assert len(items) == 1  # the post once, with who of the people followed like it
        (item,) = items
        assert (item["id"], item["kind"], item["actor"]["id"]) == (
            f"p:{post['id']}", "post", author["id"],
        )  # fmt: skip
        assert item["likers"] == [{"id": liker["id"], "username": liker["username"]}]
        assert item["post"]["like_count"] == 1
    # One's own post is in one's own feed, after a reload too.
    assert [i["id"] for i in feed(api, author)["items"]] == [f"p:{post['id']}"]


def test_a_post_liked_by_two_followees_shows_once_and_a_new_like_moves_it_up(make_user, api):
    author, first, second, fan = make_user(), make_user(), make_user(), make_user()
    for followee in (first, second):
        api(fan).put(f"/api/users/{followee['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "liked twice"}).json()
    api(first).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed_ids(api, fan) == [f"p:{post['id']}"])
    api(second).post(f"/api/posts/{post['id']}/like/")
    item = wait_until(
        lambda: (lambda i: i and i[0]["likers_count"] == 2 and i[0])(feed(api, fan)["items"])
    )
    assert len(feed(api, fan)["items"]) == 1
    assert (item["kind"], item["actor"]["id"]) == ("like", second["id"])  # the newest liker
    assert [u["id"] for u in item["likers"]] == [second["id"], first["id"]]  # newest first
    # A post by someone followed, liked later: the like moves the same item to the top.
    other = make_user()
    api(fan).put(f"/api/users/{other['username']}/follow/")
    newer = api(other).post("/api/posts/", json={"body": "newer"}).json()
    wait_until(lambda: feed_ids(api, fan) == [f"p:{newer['id']}", f"p:{post['id']}"])
    third = make_user()
    api(fan).put(f"/api/users/{third['username']}/follow/")
    api(third).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed_ids(api, fan) == [f"p:{post['id']}", f"p:{newer['id']}"])
    top = feed(api, fan)["items"][0]
    assert top["likers_count"] == 3 and top["actor"]["id"] == third["id"]


def test_liked_by_me_is_per_follower(make_user, api):
    author, liker, fan = make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    api(fan).post(f"/api/posts/{post['id']}/like/")
    api(liker).post(f"/api/posts/{post['id']}/like/")
    item = wait_until(lambda: feed(api, fan)["items"])[0]
    assert item["post"]["liked_by_me"] is True and item["post"]["like_count"] == 2


def test_unlike_removes_the_item_when_nothing_else_keeps_it(make_user, api):
    author, liker, fan = make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    api(liker).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed_ids(api, fan))
    api(liker).delete(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed_ids(api, fan) == [])
    # Two followed likers: the first unlike leaves it (one still likes it), the last takes it.
    other = make_user()
    api(fan).put(f"/api/users/{other['username']}/follow/")
    for who in (liker, other):
        api(who).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed(api, fan)["items"] and feed(api, fan)["items"][0]["likers_count"] == 2)
    api(liker).delete(f"/api/posts/{post['id']}/like/")
    item = wait_until(
        lambda: (lambda i: i and i[0]["likers_count"] == 1 and i[0])(feed(api, fan)["items"])
    )
    assert item["actor"]["id"] == other["id"]
    api(other).delete(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed_ids(api, fan) == [])


def test_unfollow_takes_a_post_out_only_when_nothing_keeps_it(make_user, api):
    author, liker, fan = make_user(), make_user(), make_user()
    for followee in (author, liker):
        api(fan).put(f"/api/users/{followee['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    api(liker).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: feed(api, fan)["items"] and feed(api, fan)["items"][0]["likers_count"])
    api(fan).delete(f"/api/users/{author['username']}/follow/")
    (item,) = feed(api, fan)["items"]  # the unfollow ran in the request: liked by a followee
    assert (item["kind"], item["actor"]["id"]) == ("like", liker["id"])
    api(fan).delete(f"/api/users/{liker['username']}/follow/")
    assert feed_ids(api, fan) == []


def test_delete_a_post_answers_204_403_404_and_it_leaves_every_feed(make_user, api):
    from likes.models import Like

    author, liker, fan, liker_fan = make_user(), make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    api(liker_fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "regret"}).json()
    api(liker).post(f"/api/posts/{post['id']}/like/")
    for user in (author, fan, liker_fan):
        wait_until(lambda: feed_ids(api, user) == [f"p:{post['id']}"])  # noqa: B023

    refused = api(fan).delete(f"/api/posts/{post['id']}/")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert api(None).delete(f"/api/posts/{post['id']}/").status_code in (401, 403)
    assert api(author).get(f"/api/posts/{post['id']}/").status_code == 200
    assert api(author).delete(f"/api/posts/{post['id']}/").status_code == 204
    for answer in (
        api(author).delete(f"/api/posts/{post['id']}/"),
        api(author).get(f"/api/posts/{post['id']}/"),
        api(liker).post(f"/api/posts/{post['id']}/like/"),
    ):
        assert answer.status_code == 404 and answer.json()["detail"], answer.text
    assert not Like.objects.filter(post_id=post["id"]).exists()
    for user in (author, fan, liker_fan):
        wait_until(lambda: feed_ids(api, user) == [])  # noqa: B023
    # Out of Redis too, not only hidden by the page read.
    from config.redis import get_redis
    from feed import store

    for user in (author, fan, liker_fan):
        assert get_redis().zscore(store.feed_key(user["id"]), f"p:{post['id']}") is None


def test_a_feed_page_is_a_fixed_number_of_queries(make_user, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from feed import selectors

    fan = make_user()
    authors = [make_user() for _ in range(3)]
    likers = [make_user() for _ in range(3)]
    for other in (*authors, *likers):
        api(fan).put(f"/api/users/{other['username']}/follow/")
    stranger = make_user()
    posts = [api(a).post("/api/posts/", json={"body": "x"}).json() for a in authors]
    liked = api(stranger).post("/api/posts/", json={"body": "liked"}).json()
    for liker in likers:
        for post in (*posts, liked):
            api(liker).post(f"/api/posts/{post['id']}/like/")

    def queries(limit):
        with CaptureQueriesContext(connection) as captured:
            page = selectors.feed_page(viewer_id=fan["id"], limit=limit, before=None)
        return len(page.items), len(captured.captured_queries)

    wait_until(lambda: queries(100)[0] == 4 and feed(api, fan)["items"][-1]["likers_count"] == 3)
    assert queries(1) == (1, 2)
    assert queries(100) == (4, 2)  # posts with authors, then every post's context


def test_relike_is_a_new_item_and_never_a_duplicate(make_user, api):
    author, liker, fan = make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    for _ in range(3):
        api(liker).post(f"/api/posts/{post['id']}/like/")
        api(liker).delete(f"/api/posts/{post['id']}/like/")
    api(liker).post(f"/api/posts/{post['id']}/like/")
    ids = wait_until(lambda: (lambda ids: len(ids) == 1 and ids)(feed_ids(api, fan)))
    assert ids == [f"p:{post['id']}"]


def test_follow_backfills_recent_posts_and_unfollow_removes_them(make_user, api):
    author, fan = make_user(), make_user()
    posts = [api(author).post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(3)]
    api(fan).put(f"/api/users/{author['username']}/follow/")
    items = wait_until(lambda: (lambda f: len(f["items"]) == 3 and f["items"])(feed(api, fan)))
    assert [i["post"]["id"] for i in items] == [p["id"] for p in reversed(posts)]  # newest first
    api(fan).delete(f"/api/users/{author['username']}/follow/")
    wait_until(lambda: feed(api, fan)["items"] == [])


def test_feed_pages_by_cursor_without_gaps_or_repeats(make_user, api):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    posts = [api(author).post("/api/posts/", json={"body": f"p{i}"}).json()["id"] for i in range(7)]
    wait_until(lambda: len(feed_ids(api, fan)) == 7)
    seen, cursor = [], None
    while True:
        page = feed(api, fan, limit=3, **({"before": cursor} if cursor else {}))
        seen += [i["post"]["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(posts))


def test_feed_refuses_bad_limits_and_cursors(make_user, api):
    fan = make_user()
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"before": "garbage!"},
        {"before": "bm9wZQ"},
    ):
        answer = api(fan).get("/api/feed/", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["detail"]
    assert api(None).get("/api/feed/").status_code in (401, 403)


def test_a_like_by_a_big_account_is_split_into_chunk_tasks_and_reaches_everyone(make_user, api):
    # The test stack splits above 6 followers, 4 per chunk task (see tests/environment.py).
    author, celebrity = make_user(), make_user()
    fans = [make_user() for _ in range(11)]
    for f in fans:
        api(f).put(f"/api/users/{celebrity['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    api(celebrity).post(f"/api/posts/{post['id']}/like/")
    for f in fans:
        wait_until(lambda: len(feed_ids(api, f)) == 1)  # noqa: B023


def test_the_sweeper_requeues_a_like_whose_fan_out_was_lost(make_user, api):
    from datetime import timedelta

    from django.utils import timezone

    from feed.tasks import sweep_owed_fanouts
    from likes.models import Like

    author, liker, fan = make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    # A like stored without its task ever reaching the broker (as in a broker outage).
    Like.objects.create(
        user_id=liker["id"], post_id=post["id"], created_at=timezone.now() - timedelta(minutes=5)
    )
    sweep_owed_fanouts.delay()
    wait_until(lambda: feed_ids(api, fan))
    wait_until(lambda: not Like.objects.filter(fanned_out_at__isnull=True).exists())


def test_above_fanout_live_all_max_live_events_go_to_the_followers_online_only(db, settings):
    """A celebrity's chunk: every follower's feed gets the item, but only the followers
    online get a live event (logged under their next seq and published), and liked_by_me
    is theirs. The chunk that completes the set marks the like fanned out."""
    import asyncio
    import time
    import uuid

    from django.utils import timezone

    from config.redis import get_redis
    from feed import fanout, store
    from likes.models import Like
    from social.models import Follow, Post, User

    settings.REDIS_PREFIX = f"lftest-{uuid.uuid4().hex[:8]}"  # keys of this test only
    settings.FANOUT_LIVE_ALL_MAX = 2
    author, celebrity = User.objects.create(username="a"), User.objects.create(username="c")
    online, away, fan = (User.objects.create(username=n) for n in ("on", "away", "fan"))
    for follower in (online, away, fan):
        Follow.objects.create(follower=follower, followee=celebrity)
    post = Post.objects.create(author=author, body="x")
    Like.objects.create(user=fan, post=post, created_at=timezone.now())  # fan likes it too
    like = Like.objects.create(user=celebrity, post=post, created_at=timezone.now())
    r = get_redis()
    for user in (online, fan):
        r.set(store.seen_key(user.pk), int(time.time()) + 60)  # a socket open: online
    try:
        fanout.fanout_range(
            kind="like", event_id=like.pk, followers=3, index=0, total=1, after=0, upto=fan.pk
        )
        item_id = store.post_item_id(post_id=post.pk)
        for follower in (online, away, fan):
            assert r.zscore(store.feed_key(follower.pk), item_id) is not None
        logged = {
            user.pk: [
                json.loads(m) for _, m in asyncio.run(store.events_after(user_id=user.pk, after=0))
            ]
            for user in (online, away, fan)
        }
        assert logged[away.pk] == [] and r.get(store.seq_key(away.pk)) is None
        for user, liked_by_me in ((online, False), (fan, True)):
            (message,) = logged[user.pk]
            assert (message["seq"], message["item"]["id"]) == (1, item_id)
            assert message["item"]["post"]["liked_by_me"] is liked_by_me
        like.refresh_from_db()
        assert like.fanned_out_at is not None
    finally:
        keys = list(r.scan_iter(match=f"{settings.REDIS_PREFIX}:*"))
        if keys:
            r.delete(*keys)


def test_a_big_accounts_deleted_post_leaves_every_feed_through_chunk_tasks(make_user, api):
    # The test stack splits above 6 followers, 4 per chunk task (tests/environment.py).
    celebrity = make_user()
    fans = [make_user() for _ in range(11)]
    for f in fans:
        api(f).put(f"/api/users/{celebrity['username']}/follow/")
    post = api(celebrity).post("/api/posts/", json={"body": "oops"}).json()
    for f in (*fans, celebrity):
        wait_until(lambda: feed_ids(api, f) == [f"p:{post['id']}"])  # noqa: B023
    assert api(celebrity).delete(f"/api/posts/{post['id']}/").status_code == 204
    from config.redis import get_redis
    from feed import store

    r = get_redis()
    for f in (*fans, celebrity):
        wait_until(lambda: r.zscore(store.feed_key(f["id"]), f"p:{post['id']}") is None)  # noqa: B023


def test_old_style_members_are_rewritten_as_the_posts_one_item(make_user, api):
    from config.redis import get_redis
    from feed import store

    author, liker, fan = make_user(), make_user(), make_user()
    for followee in (author, liker):
        api(fan).put(f"/api/users/{followee['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "from before"}).json()
    gone = api(author).post("/api/posts/", json={"body": "deleted since"}).json()
    wait_until(lambda: len(feed_ids(api, fan)) == 2)
    r, key = get_redis(), store.feed_key(fan["id"])
    r.delete(key)  # as written before one item per post: one member per event
    old = {
        f"post:{author['id']}:{post['id']}": 1000.0,
        f"like:{liker['id']}:7:{post['id']}": 2000.0,
        f"post:{author['id']}:{gone['id']}": 3000.0,
    }
    r.zadd(key, old)
    api(author).delete(f"/api/posts/{gone['id']}/")
    wait_until(lambda: feed_ids(api, fan) == [f"p:{post['id']}"])
    assert r.zrange(key, 0, -1, withscores=True) == [(f"p:{post['id']}".encode(), 2000.0)]
