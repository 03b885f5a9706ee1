"""Hostile input and access across users, against the live stack: rate limits (429 with
Retry-After, exemption by setting), nobody acting or reading as someone else, over HTTP and
over the socket."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from likes.models import Like
from social.models import Post, User
from tests.conftest import PASSWORD, wait_until
from tests.environment import TEST_ENV
from tests.ws import drain, receive_until, ws_connect

LIKE_LIMIT = 120  # THROTTLE_RATE_LIKE's default, per minute: the suite runs with the defaults
LOGIN_LIMIT = 10


def first_refusal(send, attempts: int) -> httpx.Response | None:
    """Send up to ``attempts`` requests; the first 429, or None."""
    for _ in range(attempts):
        answer = send()
        if answer.status_code == 429:
            return answer
        assert answer.status_code in (200, 400), answer.text
    return None


def assert_throttled(answer: httpx.Response | None, window: int) -> None:
    assert answer is not None, "never throttled"
    assert answer.json()["error"] == "throttled" and answer.json()["detail"]
    assert 1 <= int(answer.headers["Retry-After"]) <= window


def toggle_like(client: httpx.Client, post_id: int):
    state = {"liked": False}

    def send() -> httpx.Response:
        state["liked"] = not state["liked"]
        return client.request("POST" if state["liked"] else "DELETE", f"/api/posts/{post_id}/like/")

    return send


def test_likes_per_user_are_rate_limited_with_429_and_retry_after(make_user, api):
    author, eager = make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    # Fixed windows: any 2 * limit + 1 requests within a minute meet a refusal.
    refusal = first_refusal(toggle_like(api(eager), post["id"]), 2 * LIKE_LIMIT + 1)
    assert_throttled(refusal, 60)
    # Only that user is limited; the count stayed true through the refusals.
    other = make_user()
    assert api(other).post(f"/api/posts/{post['id']}/like/").status_code == 200
    rows = Like.objects.filter(post_id=post["id"]).count()
    assert Post.objects.get(pk=post["id"]).like_count == rows


def test_a_load_test_user_is_exempted_by_setting(make_user, api):
    # The suite's stack runs with THROTTLE_EXEMPT_USERS="exempt-*" (tests/environment.py).
    assert TEST_ENV["THROTTLE_EXEMPT_USERS"] == "exempt-*"
    author, loader = make_user(), make_user(username=f"exempt-{uuid.uuid4().hex[:8]}")
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    assert first_refusal(toggle_like(api(loader), post["id"]), 2 * LIKE_LIMIT + 1) is None


def test_login_attempts_are_rate_limited_per_address_and_username(make_user, live_server_url):
    victim, bystander = make_user(), make_user()

    def attempt(username: str, password: str = "wrong-password") -> httpx.Response:
        return httpx.post(
            f"{live_server_url}/api/auth/login/",
            json={"username": username, "password": password},
        )

    refusal = first_refusal(lambda: attempt(victim["username"]), 2 * LOGIN_LIMIT + 1)
    assert_throttled(refusal, 60)
    # Refused even with the right password now; someone else logs in as usual.
    assert attempt(victim["username"], PASSWORD).status_code == 429
    assert attempt(bystander["username"], PASSWORD).status_code == 200


# --- nobody acts or reads as someone else ---------------------------------------------------


def test_unlike_only_ever_removes_the_callers_own_like(make_user, api):
    author, alice, mallory = make_user(), make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    api(alice).post(f"/api/posts/{post['id']}/like/")
    answer = api(mallory).request(
        "DELETE",
        f"/api/posts/{post['id']}/like/",
        json={"user_id": alice["id"], "user": alice["username"]},
        params={"user_id": alice["id"]},
    )
    assert answer.status_code == 200 and answer.json()["like_count"] == 1
    assert Like.objects.filter(post_id=post["id"], user_id=alice["id"]).exists()
    answer = api(mallory).post(f"/api/posts/{post['id']}/like/", json={"user_id": alice["id"]})
    assert set(Like.objects.filter(post_id=post["id"]).values_list("user_id", flat=True)) == {
        alice["id"],
        mallory["id"],
    }


def test_the_feed_is_always_the_callers_own(make_user, api):
    author, alice, mallory = make_user(), make_user(), make_user()
    api(alice).put(f"/api/users/{author['username']}/follow/")
    api(author).post("/api/posts/", json={"body": "for alice"})
    wait_until(lambda: api(alice).get("/api/feed/").json()["items"])
    for params in ({"user": alice["username"]}, {"user_id": alice["id"]}, {"viewer": alice["id"]}):
        assert api(mallory).get("/api/feed/", params=params).json()["items"] == []


def test_follow_cannot_be_made_on_someone_elses_behalf(make_user, api):
    alice, bob, mallory = make_user(), make_user(), make_user()
    api(mallory).put(
        f"/api/users/{bob['username']}/follow/", json={"follower": alice["id"], "follower_id": 1}
    )
    me = api(alice).get("/api/me/").json()
    assert me["following_count"] == 0
    assert api(mallory).get("/api/me/").json()["following_count"] == 1


def test_like_count_and_author_cannot_be_set_by_sending_them(make_user, api):
    alice, mallory = make_user(), make_user()
    post = api(mallory).post(
        "/api/posts/",
        json={"body": "mine", "author": {"id": alice["id"]}, "author_id": alice["id"],
              "like_count": 1000, "liked_by_me": True, "id": 1},
    ).json()  # fmt: skip
    assert post["author"]["id"] == mallory["id"] and post["like_count"] == 0
    answer = api(mallory).post(f"/api/posts/{post['id']}/like/", json={"like_count": 500})
    assert answer.json()["like_count"] == 1
    assert Post.objects.get(pk=post["id"]).like_count == 1


# --- the socket ------------------------------------------------------------------------------


@pytest.fixture
def ws_url(live_stack):
    return live_stack.ws_url


def test_a_deactivated_users_token_is_refused(ws_url, make_user):
    user = make_user()
    with ws_connect(ws_url, token=user["token"]):
        pass
    User.objects.filter(pk=user["id"]).update(is_active=False)
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(ws_url, token=user["token"])
    assert refused.value.response.status_code == 403


def test_a_socket_never_gets_another_users_events(ws_url, make_user, api):
    author, alice, mallory = make_user(), make_user(), make_user()
    api(alice).put(f"/api/users/{author['username']}/follow/")
    with ws_connect(ws_url, token=mallory["token"]) as ws:
        # Whatever it asks for, naming alice or her groups, mallory's socket stays hers.
        for message in (
            {"type": "resume", "after": 0, "user": alice["id"], "user_id": alice["id"]},
            {"type": "subscribe", "posts": [], "groups": [f"user.{alice['id']}"]},
            {"type": "join", "group": f"user.{alice['id']}"},
            {"type": "subscribe", "posts": [f"user.{alice['id']}"]},
        ):
            ws.send(json.dumps(message))
        api(author).post("/api/posts/", json={"body": "alice's news"})
        with ws_connect(ws_url, token=alice["token"]) as alice_ws:
            alice_ws.send('{"type": "resume", "after": 0}')
            receive_until(alice_ws, lambda m: m["type"] == "feed.item")  # it did go out
        # Read up to both refusals (a quiet spell alone could end before they came), then on.
        first, before = receive_until(ws, lambda m: m["type"] == "error")
        second, between = receive_until(ws, lambda m: m["type"] == "error")
        received = [*before, first, *between, second, *drain(ws)]
    assert not [m for m in received if m["type"] == "feed.item"], received
    errors = [m for m in received if m["type"] == "error"]
    assert len(errors) == 2, received  # the unknown type and the bad post ids
