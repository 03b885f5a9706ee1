"""Live push over ``/ws/``, against the live server and real workers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import PASSWORD, wait_until
from tests.ws import drain, receive, receive_until, ws_connect


@pytest.fixture
def ws_url(live_stack):
    return live_stack.ws_url


def is_type(kind):
    return lambda message: message["type"] == kind


def test_anonymous_handshake_is_refused(ws_url, live_server_url):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(ws_url, origin=live_server_url)
    assert refused.value.response.status_code == 403


def test_bad_token_is_refused(ws_url, live_server_url):
    with pytest.raises(InvalidStatus):
        ws_connect(ws_url, token="not-a-token")


def test_foreign_origin_is_refused_even_with_valid_credentials(ws_url, make_user, live_server_url):
    user = make_user()
    with pytest.raises(InvalidStatus):
        ws_connect(ws_url, token=user["token"], origin="http://evil.example")
    cookie = login_cookie(live_server_url, user)
    with pytest.raises(InvalidStatus):
        ws_connect(ws_url, cookie=cookie, origin="http://evil.example")
    with pytest.raises(InvalidStatus):
        ws_connect(ws_url, cookie=cookie)  # a cookie without an Origin is not a browser's


def login_cookie(base_url, user):
    answer = httpx.post(
        f"{base_url}/api/auth/login/", json={"username": user["username"], "password": PASSWORD}
    )
    return f"sessionid={answer.cookies['sessionid']}"


def test_session_cookie_from_the_same_origin_is_accepted(ws_url, make_user, api, live_server_url):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    with ws_connect(
        ws_url, cookie=login_cookie(live_server_url, fan), origin=live_server_url
    ) as ws:
        ws.send('{"type": "subscribe", "posts": []}')
        api(author).post("/api/posts/", json={"body": "live!"})
        message, _ = receive_until(ws, is_type("feed.item"))
        assert message["item"]["post"]["body"] == "live!"


def test_followers_get_feed_items_with_seq_rising_by_one(ws_url, make_user, api):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        posts = [api(author).post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(5)]
        got = [receive_until(ws, is_type("feed.item"))[0] for _ in posts]
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    # Each post is fanned out by its own task, and two worker processes may finish them in
    # either order: seq follows delivery order, so every post arrives once, in some order.
    assert sorted(m["item"]["post"]["id"] for m in got) == [p["id"] for p in posts]
    item = got[0]["item"]
    assert item["kind"] == "post" and item["actor"]["id"] == author["id"]
    assert item["id"] == f"p:{posts[0]['id']}"


def test_liker_is_told_when_the_fan_out_reached_everyone(ws_url, make_user, api):
    author, liker = make_user(), make_user()
    fans = [make_user() for _ in range(3)]
    for f in fans:
        api(f).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    with ws_connect(ws_url, token=liker["token"]) as ws:
        api(liker).post(f"/api/posts/{post['id']}/like/")
        delivered, _ = receive_until(ws, is_type("like.delivered"))
    assert delivered["post_id"] == post["id"] and delivered["followers"] == 3
    assert isinstance(delivered["ms"], float) and delivered["ms"] >= 0


def test_chunked_fan_out_tells_the_liker_once_with_every_follower_counted(ws_url, make_user, api):
    author, celebrity = make_user(), make_user()
    fans = [make_user() for _ in range(9)]  # above the test stack's threshold of 6
    for f in fans:
        api(f).put(f"/api/users/{celebrity['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    with ws_connect(ws_url, token=celebrity["token"]) as ws:
        api(celebrity).post(f"/api/posts/{post['id']}/like/")
        delivered, _ = receive_until(ws, is_type("like.delivered"))
        assert delivered["followers"] == 9
        assert [m for m in drain(ws) if m["type"] == "like.delivered"] == []


def test_subscribed_posts_get_live_counts(ws_url, make_user, api):
    author, viewer, liker = make_user(), make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "count me"}).json()
    other = api(author).post("/api/posts/", json={"body": "not watched"}).json()
    with ws_connect(ws_url, token=viewer["token"]) as ws:
        ws.send(f'{{"type": "subscribe", "posts": [{post["id"]}]}}')
        # Subscribing answers each new post's current count first.
        assert receive_until(ws, is_type("post.likes"))[0]["like_count"] == 0
        api(liker).post(f"/api/posts/{other['id']}/like/")
        api(liker).post(f"/api/posts/{post['id']}/like/")
        message, _ = receive_until(ws, is_type("post.likes"))
        assert message == {
            "type": "post.likes", "post_id": post["id"], "like_count": 1, "likes_version": 1
        }  # fmt: skip
        api(liker).delete(f"/api/posts/{post['id']}/like/")
        message, _ = receive_until(ws, is_type("post.likes"))
        assert message == {
            "type": "post.likes", "post_id": post["id"], "like_count": 0, "likes_version": 2
        }  # fmt: skip
        ws.send('{"type": "subscribe", "posts": []}')
        # The socket handles messages in order, so the answer to a message sent after the
        # unsubscribe says it is done (a quiet spell would not: under load it may not be).
        ws.send('{"type": "dance"}')
        receive_until(ws, is_type("error"))
        api(liker).post(f"/api/posts/{post['id']}/like/")
        assert [m for m in drain(ws) if m["type"] == "post.likes"] == []


def test_resume_replays_missed_events_once_in_order_then_continues_live(ws_url, make_user, api):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        api(author).post("/api/posts/", json={"body": "seen"})
        first, _ = receive_until(ws, is_type("feed.item"))
    assert first["seq"] == 1
    # Offline: three more events happen.
    missed = [
        api(author).post("/api/posts/", json={"body": f"missed {i}"}).json()["id"] for i in range(3)
    ]
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 1}')
        replayed = [receive(ws) for _ in range(3)]
        live = api(author).post("/api/posts/", json={"body": "live again"}).json()["id"]
        after, _ = receive_until(ws, is_type("feed.item"))
        rest = drain(ws)
    assert [m["seq"] for m in replayed] == [2, 3, 4]
    # Each post has its own fan-out task and two worker processes may finish them in either
    # order: the replay follows the seqs, and holds every missed post once.
    assert sorted(m["item"]["post"]["id"] for m in replayed) == missed
    assert (after["seq"], after["item"]["post"]["id"]) == (5, live)
    assert [m for m in rest if m["type"] == "feed.item"] == []


def test_a_socket_that_never_resumes_gets_events_after_its_handshake(ws_url, make_user, api):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    api(author).post("/api/posts/", json={"body": "before"})
    wait_until(lambda: api(fan).get("/api/feed/").json()["items"])  # fanned out before we connect
    with ws_connect(ws_url, token=fan["token"]) as ws:
        api(author).post("/api/posts/", json={"body": "after"})
        message, _ = receive_until(ws, is_type("feed.item"))
        assert message["item"]["post"]["body"] == "after"
        assert [m for m in drain(ws) if m["type"] == "feed.item"] == []


def test_a_resume_that_arrives_late_still_gets_every_event_once_in_order(ws_url, make_user, api):
    """A client on a slow link (a phone: its ``resume`` reaches the server an RTT after the
    handshake's answer, a second here) while events keep coming: it gets the one it missed
    before the socket opened and the ones since, each once, in seq order. With a start
    grace shorter than that second, delivery began at the handshake's seq without the
    client, and the late resume replayed what the socket had just sent (CI saw it once as
    159 missed and 169 doubled events in tests/cluster's web-kill scenario)."""
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    api(author).post("/api/posts/", json={"body": "while away"})
    wait_until(lambda: len(api(fan).get("/api/feed/").json()["items"]) == 1)  # seq 1, logged
    with ws_connect(ws_url, token=fan["token"]) as ws:
        opened = time.monotonic()
        for i in range(2):
            api(author).post("/api/posts/", json={"body": f"live {i}"})
        wait_until(lambda: len(api(fan).get("/api/feed/").json()["items"]) == 3)  # published
        time.sleep(max(0.0, opened + 1.0 - time.monotonic()))
        ws.send('{"type": "resume", "after": 0}')
        got = [m for m in drain(ws, quiet=1.0) if is_feed_event(m)]
    assert [m["seq"] for m in got] == [1, 2, 3]


def is_feed_event(message):
    return message["type"] in ("feed.item", "feed.remove")


def test_unlike_unfollow_and_delete_remove_the_item_live_and_resume_replays_it(
    ws_url, make_user, api
):
    author, liker, fan, writer = make_user(), make_user(), make_user(), make_user()
    api(fan).put(f"/api/users/{liker['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    item_id = f"p:{post['id']}"
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        api(liker).post(f"/api/posts/{post['id']}/like/")
        placed, _ = receive_until(ws, is_feed_event)
        assert (placed["type"], placed["seq"], placed["item"]["id"]) == ("feed.item", 1, item_id)
        assert placed["item"]["likers"] == [{"id": liker["id"], "username": liker["username"]}]
        api(liker).delete(f"/api/posts/{post['id']}/like/")  # unlike: nothing keeps it
        removed, _ = receive_until(ws, is_feed_event)
        assert removed == {"type": "feed.remove", "seq": 2, "id": item_id}
        api(liker).post(f"/api/posts/{post['id']}/like/")
        assert receive_until(ws, is_feed_event)[0]["seq"] == 3
        api(fan).delete(f"/api/users/{liker['username']}/follow/")  # unfollow
        assert receive_until(ws, is_feed_event)[0] == {
            "type": "feed.remove", "seq": 4, "id": item_id,
        }  # fmt: skip
        api(fan).put(f"/api/users/{writer['username']}/follow/")
        own = api(writer).post("/api/posts/", json={"body": "soon gone"}).json()
        assert receive_until(ws, is_feed_event)[0]["seq"] == 5
    # Deleted while the page is away: resume replays the removal.
    assert api(writer).delete(f"/api/posts/{own['id']}/").status_code == 204
    assert api(fan).get("/api/feed/").json()["items"] == []  # a page read skips it at once
    # The removal's fan-out (which logs the event) is done once the feed no longer holds it.
    wait_until(lambda: own["id"] not in _feed_in_redis(fan["id"]), timeout=60)
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        replayed = [receive_until(ws, is_feed_event)[0] for _ in range(6)]
    assert [(m["type"], m["seq"]) for m in replayed] == [
        ("feed.item", 1), ("feed.remove", 2), ("feed.item", 3), ("feed.remove", 4),
        ("feed.item", 5), ("feed.remove", 6),
    ]  # fmt: skip
    assert replayed[-1]["id"] == f"p:{own['id']}"


def test_an_item_a_feed_read_finds_stale_is_removed_live_once(ws_url, make_user, api):
    """A read that meets an item nothing keeps (here one no change ever placed: a stranger's
    post written straight into the feed, so no removal of its own will come) takes it out
    with its ``feed.remove``, which the user's open page gets; a second read finds nothing
    more to remove. (A delete's removal could reach a feed after a read had taken the item
    out quietly, and then nothing told the user's other pages.)"""
    from feed import store

    stranger, fan = make_user(), make_user()
    post = api(stranger).post("/api/posts/", json={"body": "not for fan"}).json()
    item_id = store.post_item_id(post_id=post["id"])
    store.feed_add_quietly(user_id=fan["id"], items=[(item_id, 1.0)])
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        assert api(fan).get("/api/feed/").json()["items"] == []
        removed, _ = receive_until(ws, is_feed_event)
        assert removed == {"type": "feed.remove", "seq": 1, "id": item_id}
        assert api(fan).get("/api/feed/").json()["items"] == []
        assert [m for m in drain(ws) if is_feed_event(m)] == []
    assert post["id"] not in _feed_in_redis(fan["id"])


def _feed_in_redis(user_id: int) -> list[int]:
    """The post ids the user's feed holds in Redis (not what a page read shows)."""
    from feed import store

    return store.feed_post_ids(user_id=user_id)


def test_an_unlike_that_leaves_the_item_updates_its_likers_live_and_resume_replays_it(
    ws_url, make_user, api
):
    """Issue 15: an unlike by one of two followed likers (and by a liker of a followed
    author's post) keeps the item, and the open page is told its new "liked by" line: a
    ``feed.item`` of the same id, exactly the item a page read now shows."""
    author, alice, bob, fan = make_user(), make_user(), make_user(), make_user()
    for followee in (alice, bob):
        api(fan).put(f"/api/users/{followee['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "liked by two"}).json()
    item_id = f"p:{post['id']}"
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        for liker in (alice, bob):
            api(liker).post(f"/api/posts/{post['id']}/like/")
            placed, _ = receive_until(ws, is_feed_event)
            assert (placed["type"], placed["item"]["likers"][0]["id"]) == ("feed.item", liker["id"])
        assert placed["item"]["likers_count"] == 2
        api(bob).delete(f"/api/posts/{post['id']}/like/")  # alice still likes it
        updated, _ = receive_until(ws, is_feed_event)
        assert (updated["type"], updated["seq"], updated["item"]["id"]) == ("feed.item", 3, item_id)
        (shown,) = api(fan).get("/api/feed/").json()["items"]
        assert updated["item"] == shown  # what a reload shows, "liked by" alice alone
        assert (shown["kind"], shown["actor"]["id"], shown["likers_count"]) == (
            "like", alice["id"], 1,
        )  # fmt: skip
        assert shown["likers"] == [{"id": alice["id"], "username": alice["username"]}]

        # A followed author's post: the last followed liker's unlike keeps it, updated.
        api(fan).put(f"/api/users/{author['username']}/follow/")
        api(alice).delete(f"/api/posts/{post['id']}/like/")
        updated, _ = receive_until(ws, is_feed_event)
        assert (updated["type"], updated["seq"]) == ("feed.item", 4)
        (shown,) = api(fan).get("/api/feed/").json()["items"]
        assert updated["item"] == shown
        assert (shown["kind"], shown["likers"], shown["likers_count"]) == ("post", [], 0)
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 2}')
        replayed = [receive_until(ws, is_feed_event)[0] for _ in range(2)]
    assert [(m["type"], m["seq"], m["item"]["likers_count"]) for m in replayed] == [
        ("feed.item", 3, 1), ("feed.item", 4, 0),
    ]  # fmt: skip


def test_an_unfollow_that_leaves_the_item_updates_it_live(ws_url, make_user, api):
    """Unfollowing one of two followed likers (or a post's author, while someone followed
    likes it) keeps the item; the open page gets it as a reload would show it."""
    author, alice, bob, fan = make_user(), make_user(), make_user(), make_user()
    for followee in (author, alice, bob):
        api(fan).put(f"/api/users/{followee['username']}/follow/")
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        post = api(author).post("/api/posts/", json={"body": "liked by two"}).json()
        receive_until(ws, is_feed_event)
        for liker in (alice, bob):
            api(liker).post(f"/api/posts/{post['id']}/like/")
            receive_until(ws, is_feed_event)  # seq 2, 3: each like moves the item up
        api(fan).delete(f"/api/users/{bob['username']}/follow/")
        updated, _ = receive_until(ws, is_feed_event)
        (shown,) = api(fan).get("/api/feed/").json()["items"]
        assert (updated["type"], updated["seq"], updated["item"]) == ("feed.item", 4, shown)
        assert (shown["kind"], shown["likers_count"], shown["likers"][0]["id"]) == (
            "post", 1, alice["id"],
        )  # fmt: skip
        api(fan).delete(f"/api/users/{author['username']}/follow/")  # alice keeps it
        updated, _ = receive_until(ws, is_feed_event)
        (shown,) = api(fan).get("/api/feed/").json()["items"]
        assert (updated["type"], updated["seq"], updated["item"]) == ("feed.item", 5, shown)
        assert (shown["kind"], shown["actor"]["id"]) == ("like", alice["id"])


def test_resume_past_the_kept_log_is_told_resume_gap(ws_url, make_user, api):
    from config.redis import get_redis
    from feed import store

    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    for i in range(3):
        api(author).post("/api/posts/", json={"body": f"p{i}"})
    r = get_redis()
    wait_until(lambda: r.xlen(store.events_key(fan["id"])) == 3)
    r.xtrim(
        store.events_key(fan["id"]), minid="3-0", approximate=False
    )  # the log lost seqs 1 and 2
    with ws_connect(ws_url, token=fan["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        gap, before = receive_until(ws, is_type("resume.gap"))
        assert gap == {"type": "resume.gap", "after": 0, "oldest": 3} and before == []
        assert receive_until(ws, is_feed_event)[0]["seq"] == 3  # then what is kept
        ws.send('{"type": "resume", "after": 3}')  # nothing missed: no gap
        ws.send('{"type": "dance"}')
        assert receive_until(ws, is_type("error"))[1] == []
    for after in (1, 100):  # 100: ahead of the counter (Redis lost its data)
        r.delete(store.events_key(fan["id"]))  # the log expired as a whole
        last = int(r.get(store.seq_key(fan["id"])) or 0)
        with ws_connect(ws_url, token=fan["token"]) as ws:
            ws.send(f'{{"type": "resume", "after": {after}}}')
            gap, _ = receive_until(ws, is_type("resume.gap"))
            assert gap == {"type": "resume.gap", "after": after, "oldest": last + 1}
            api(author).post("/api/posts/", json={"body": "live"})
            assert receive_until(ws, is_feed_event)[0]["seq"] >= 4  # and live goes on


MALFORMED = [
    "not json",
    "[]",
    '{"type": "dance"}',
    '{"type": "resume", "after": -1}',
    '{"type": "resume", "after": "1"}',
    '{"type": "subscribe", "posts": "all"}',
    '{"type": "subscribe", "posts": [1.5]}',
    '{"type": "subscribe", "posts": ' + str(list(range(500))) + "}",
    "x" * 20000,
]


def test_malformed_messages_get_an_error_and_the_socket_stays_open(ws_url, make_user):
    user = make_user()
    with ws_connect(ws_url, token=user["token"]) as ws:
        for bad in MALFORMED:
            ws.send(bad)
            message, _ = receive_until(ws, is_type("error"))
            assert message["detail"]
        ws.send('{"type": "subscribe", "posts": [1]}')
        assert [m for m in drain(ws, quiet=0.3) if m["type"] == "error"] == []


def test_a_burst_of_concurrent_handshakes_is_all_served(ws_url, make_user):
    users = [make_user() for _ in range(5)]

    def connect(i: int) -> int:
        with ws_connect(ws_url, token=users[i % len(users)]["token"]) as ws:
            ws.send('{"type": "subscribe", "posts": [1, 2, 3]}')
            ws.send('{"type": "dance"}')
            return 1 if receive_until(ws, is_type("error"))[0] else 0

    with ThreadPoolExecutor(50) as pool:
        assert sum(pool.map(connect, range(200))) == 200


def test_the_server_pings_idle_sockets_so_proxies_keep_them_open(ws_url, make_user):
    """The heartbeat is WebSocket-level pings from the server (uvicorn --ws-ping-interval;
    1 s in the test stack, WS_HEARTBEAT_S in make run), answered by any client library."""
    import logging

    frames: list[str] = []

    class Frames(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            frames.append(record.getMessage())

    user = make_user()
    logger = logging.getLogger("websockets.client")
    handler, level = Frames(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with ws_connect(ws_url, token=user["token"]) as ws:
            wait_until(lambda: any(f.startswith("< PING") for f in frames), timeout=10)
            ws.send('{"type": "dance"}')  # still open and answering after the pings
            assert receive(ws)["type"] == "error"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert any(f.startswith("> PONG") for f in frames)


def test_me_like_keeps_every_tab_and_device_of_the_liker_in_step(
    ws_url, make_user, api, live_server_url
):
    """Mastodon #28125: a like in one tab did not show in the others. Both edges (the
    event-loop path for a token, the view for a browser's cookie) tell every socket of the
    liker, and nobody else's."""
    author, fan, other = make_user(), make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "in step"}).json()
    url = f"/api/posts/{post['id']}/like/"
    cookie = login_cookie(live_server_url, fan)
    with (
        ws_connect(ws_url, token=fan["token"]) as phone,
        ws_connect(ws_url, cookie=cookie, origin=live_server_url) as tab,
        ws_connect(ws_url, token=other["token"]) as stranger,
    ):
        for ws in (phone, tab, stranger):
            ws.send('{"type": "subscribe", "posts": []}')
        liked = api(fan).post(url).json()  # a token: the event loop's path
        for ws in (phone, tab):
            message, _ = receive_until(ws, is_type("me.like"))
            assert message == {"type": "me.like", **liked}
        assert liked["likes_version"] == 1
        api(fan).post(url)  # changes nothing: nothing to tell
        with httpx.Client(base_url=live_server_url, timeout=10) as browser:
            browser.post(
                "/api/auth/login/", json={"username": fan["username"], "password": PASSWORD}
            )
            csrf = {"X-CSRFToken": browser.cookies["csrftoken"], "Origin": live_server_url}
            unliked = browser.delete(url, headers=csrf).json()  # the cookie: the view's path
        assert unliked == {"post_id": post["id"], "liked": False, "like_count": 0,
                           "likes_version": 2}  # fmt: skip
        for ws in (phone, tab):
            message, before = receive_until(ws, is_type("me.like"))
            assert message == {"type": "me.like", **unliked}
            assert [m for m in before if m["type"] == "me.like"] == []  # the repeat sent none
        assert [m for m in drain(stranger) if m["type"] == "me.like"] == []
