"""Limits people expect (issue 17), in process with small rates: the login limit cannot be
dodged by a forged X-Forwarded-For or by spelling the username another way; sign-up (per
address), posting and following (per user) and the admin's log-in are limited; each refusal
is a 429 with Retry-After in the one error format."""

from __future__ import annotations

import json
import random
import time
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from django.test import Client, override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from social.models import User
from social.tokens import token_issue

LIMIT = 3
RATES = {
    "like": "120/min",
    "login": f"{LIMIT}/min",
    "register": f"{LIMIT}/hour",
    "post": f"{LIMIT}/min",
    "follow": f"{LIMIT}/min",
    "admin_login": f"{LIMIT}/min",
}
small_limits = override_settings(THROTTLE_RATES=RATES)


def an_address() -> str:
    """A client address of this test's own (counters outlive a test within their window)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def assert_throttled(answer: Any, window: int) -> None:
    assert answer.status_code == 429, (answer.status_code, answer.content[:300])
    assert answer["Content-Type"].startswith("application/json")
    body = json.loads(answer.content)
    assert body["error"] == "throttled" and body["detail"]
    assert 1 <= int(answer["Retry-After"]) <= window


def in_one_window(window: int, needed_s: float = 10.0) -> None:
    """Start a strict count at least ``needed_s`` before the limit's window ends. The limits
    are fixed windows (config/throttling.py): a run of attempts that straddles a boundary is
    counted in two windows and may rightly pass, so a test that expects the refusal at
    exactly ``limit + 1`` attempts waits out the last seconds of a window first (CI saw one
    such example cross a minute boundary: 400 where it expected the 429)."""
    left = window - time.time() % window
    if left < needed_s:
        time.sleep(left + 0.05)


def first_refusal(send: Callable[[int], Any], attempts: int) -> Any:
    for i in range(attempts):
        answer = send(i)
        if answer.status_code == 429:
            return answer
        assert answer.status_code < 500, answer.content
    return None


def make_user(name: str | None = None) -> User:
    return User.objects.create_user(
        username=name or f"l{uuid.uuid4().hex[:10]}", password="pw-Likefeed-123"
    )


def login(client: Client, username: str, password: str = "wrong", **extra: Any) -> Any:
    return client.post(
        "/api/auth/login/",
        data={"username": username, "password": password},
        content_type="application/json",
        **extra,
    )


# --- the login limit -----------------------------------------------------------------------


@small_limits
def test_a_forged_x_forwarded_for_does_not_buy_fresh_login_attempts(db):
    victim = make_user()
    client = Client(REMOTE_ADDR=an_address())
    refusal = first_refusal(
        lambda i: login(client, victim.username, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"),
        2 * LIMIT + 1,
    )
    assert_throttled(refusal, 60)
    # ...and the right password is refused too while the address is locked out.
    answer = login(client, victim.username, "pw-Likefeed-123", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert answer.status_code == 429


def test_with_trusted_proxies_the_address_they_name_is_counted(db, settings):
    # (pytest-django's fixture only: mixed with override_settings, it restores the wrong one)
    settings.THROTTLE_RATES = RATES
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    victim = make_user()
    proxy = an_address()
    # Behind one trusted proxy: each client address has its own count...
    for i in range(LIMIT):
        answer = login(
            Client(REMOTE_ADDR=proxy), victim.username, HTTP_X_FORWARDED_FOR=f"1.2.3.{i}"
        )
        assert answer.status_code == 400
    # ...and what a client prepends to the header is not what is counted.
    forged = [f"9.9.9.{i}, 5.6.7.8" for i in range(2 * LIMIT + 1)]
    refusal = first_refusal(
        lambda i: login(Client(REMOTE_ADDR=proxy), victim.username, HTTP_X_FORWARDED_FOR=forged[i]),
        len(forged),
    )
    assert_throttled(refusal, 60)
    # A header that names no address falls back to the peer: never a key of its text.
    assert login(
        Client(REMOTE_ADDR=proxy), victim.username, HTTP_X_FORWARDED_FOR="x" * 5000
    ).status_code in (400, 429)


def spellings(name: str) -> st.SearchStrategy[str]:
    """Ways of writing ``name`` that log-in takes as ``name``: case, surrounding white space,
    full-width letters."""

    def spell(flags: list[tuple[bool, bool]], before: str, after: str) -> str:
        letters = [
            (unicodedata.normalize("NFKC", c) if not wide else chr(ord(c) - 0x21 + 0xFF01))
            if c.isascii() and c.isalnum()
            else c
            for c, (_, wide) in zip(name, flags, strict=True)
        ]
        letters = [c.upper() if up else c for c, (up, _) in zip(letters, flags, strict=True)]
        return before + "".join(letters) + after

    flags = st.lists(
        st.tuples(st.booleans(), st.booleans()), min_size=len(name), max_size=len(name)
    )
    space = st.sampled_from(["", " ", "\t", "  ", "\n"])
    return st.builds(spell, flags, space, space)


@small_limits
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_spelling_of_a_username_shares_its_login_count(data, db):
    victim = make_user(f"dave{uuid.uuid4().hex[:6]}")
    client = Client(REMOTE_ADDR=an_address())
    in_one_window(60)
    for _ in range(LIMIT):
        variant = data.draw(spellings(victim.username))
        assert login(client, variant).status_code == 400
    # Spent: neither the plain name nor any other spelling gets a fresh count.
    assert_throttled(login(client, victim.username), 60)
    assert_throttled(login(client, data.draw(spellings(victim.username)), "pw-Likefeed-123"), 60)


def test_any_spelling_of_a_username_logs_in_to_that_account(db):
    user = make_user("Dave" + uuid.uuid4().hex[:6])
    for spelling in (user.username.lower(), f" {user.username.upper()}\t", user.username):
        answer = login(Client(REMOTE_ADDR=an_address()), spelling, "pw-Likefeed-123")
        assert answer.status_code == 200, answer.content
        assert json.loads(answer.content)["id"] == user.pk


# --- limits on sign-up, posting, following, the admin's log-in ------------------------------


@small_limits
def test_sign_ups_are_limited_per_address(db):
    client = Client(REMOTE_ADDR=an_address())

    def register(_: int) -> Any:
        name = f"r{uuid.uuid4().hex[:10]}"
        return client.post(
            "/api/auth/register/",
            data={"username": name, "password": "pw-Likefeed-123"},
            content_type="application/json",
        )

    refusal = first_refusal(register, 2 * LIMIT + 1)
    assert_throttled(refusal, 3600)
    # Another address still signs up.
    other = Client(REMOTE_ADDR=an_address()).post(
        "/api/auth/register/",
        data={"username": f"r{uuid.uuid4().hex[:10]}", "password": "pw-Likefeed-123"},
        content_type="application/json",
    )
    assert other.status_code == 201


def token_client(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")


@small_limits
def test_posting_is_limited_per_user(db):
    author, other = make_user(), make_user()
    client = token_client(author)
    refusal = first_refusal(
        lambda i: client.post("/api/posts/", {"body": f"p{i}"}, content_type="application/json"),
        2 * LIMIT + 1,
    )
    assert_throttled(refusal, 60)
    answer = token_client(other).post("/api/posts/", {"body": "x"}, content_type="application/json")
    assert answer.status_code == 201


@small_limits
def test_following_and_unfollowing_are_limited_per_user(db):
    follower, followee = make_user(), make_user()
    client = token_client(follower)
    path = f"/api/users/{followee.username}/follow/"
    refusal = first_refusal(
        lambda i: client.put(path) if i % 2 == 0 else client.delete(path), 2 * LIMIT + 1
    )
    assert_throttled(refusal, 60)


@small_limits
def test_admin_log_in_attempts_are_limited_per_address_and_username(db):
    staff = User.objects.create_superuser(
        username=f"s{uuid.uuid4().hex[:8]}", password="pw-Likefeed-123"
    )
    client = Client(REMOTE_ADDR=an_address())
    refusal = first_refusal(
        lambda i: client.post(
            "/admin/login/",
            {
                "username": f" {staff.username.upper()} " if i % 2 else staff.username,
                "password": "no",
            },
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ),
        2 * LIMIT + 1,
    )
    assert_throttled(refusal, 60)
    # The admin's own page is untouched otherwise.
    assert Client(REMOTE_ADDR=an_address()).get("/admin/login/").status_code == 200


# --- over HTTP: what the server in front of Django does with the header counts too ----------

LIVE_LOGIN_LIMIT = 10  # THROTTLE_RATE_LOGIN's default: the live stack runs with it


def test_over_http_a_forged_x_forwarded_for_does_not_buy_fresh_login_attempts(
    live_server_url, make_user
):
    """The finding as the issue made it, against the real server. uvicorn trusts
    X-Forwarded-For from 127.0.0.1 unless started with ``--no-proxy-headers`` (its
    ``FORWARDED_ALLOW_IPS`` default), and rewrites the peer's address from it before Django
    sees the request, so the web server must leave the header to ``TRUSTED_PROXY_COUNT``."""
    import httpx

    victim = make_user()

    def attempt(i: int) -> Any:
        return httpx.post(
            f"{live_server_url}/api/auth/login/",
            json={"username": victim["username"], "password": "wrong"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )

    assert_throttled_http(first_refusal(attempt, 2 * LIVE_LOGIN_LIMIT + 1), 60)


def assert_throttled_http(answer: Any, window: int) -> None:
    assert answer is not None, "never throttled: a forged X-Forwarded-For bought fresh attempts"
    assert answer.status_code == 429
    assert answer.json()["error"] == "throttled"
    assert 1 <= int(answer.headers["Retry-After"]) <= window
