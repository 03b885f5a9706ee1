"""API tokens: stored only as digests, listed, revoked one by one or all but the current one
(issue 17.3). On the code before this change every test here failed: tokens were stored as
issued (a database dump handed out working tokens), and there was no way to list or revoke
them (``/api/auth/tokens/`` was a 404).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import httpx
import pytest
from django.db import connection

from social.models import ApiToken, Post, User
from tests.conftest import PASSWORD


def login(base: str, user: dict[str, object]) -> str:
    answer = httpx.post(
        f"{base}/api/auth/login/", json={"username": user["username"], "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def test_no_token_is_stored_as_issued(make_user, live_server_url):
    user = make_user()
    second = login(live_server_url, user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM social_apitoken")
        stored = repr(cursor.fetchall())
    for token in (user["token"], second):
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_the_token_list_shows_each_login_and_which_one_is_asking(make_user, live_server_url):
    user = make_user()
    second = login(live_server_url, user)
    answer = httpx.get(f"{live_server_url}/api/auth/tokens/", headers=bearer(second))
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == 2
    assert [item["current"] for item in items] == [True, False]  # newest first
    for item in items:
        assert set(item) == {"id", "created", "last_used", "expires", "current"}
        assert datetime.fromisoformat(item["expires"]) > datetime.fromisoformat(item["created"])
        assert not any(token in str(item) for token in (user["token"], second))
    assert items[0]["last_used"] is not None  # this very request used it


def test_revoking_one_token_ends_it_everywhere_and_only_it(make_user, live_server_url):
    author, user = make_user(), make_user()
    second = login(live_server_url, user)
    post = httpx.post(
        f"{live_server_url}/api/posts/", json={"body": "x"}, headers=bearer(author["token"])
    ).json()
    like = f"{live_server_url}/api/posts/{post['id']}/like/"
    assert httpx.post(like, headers=bearer(user["token"])).status_code == 200  # fast path
    items = httpx.get(f"{live_server_url}/api/auth/tokens/", headers=bearer(second)).json()
    first_id = next(i["id"] for i in items["items"] if not i["current"])

    answer = httpx.delete(f"{live_server_url}/api/auth/tokens/{first_id}/", headers=bearer(second))
    assert answer.status_code == 204
    assert httpx.delete(like, headers=bearer(user["token"])).status_code == 401
    assert httpx.get(f"{live_server_url}/api/me/", headers=bearer(user["token"])).status_code == 401
    assert httpx.get(f"{live_server_url}/api/me/", headers=bearer(second)).status_code == 200
    assert Post.objects.get(pk=post["id"]).like_count == 1
    again = httpx.delete(f"{live_server_url}/api/auth/tokens/{first_id}/", headers=bearer(second))
    assert again.status_code == 404 and again.json()["error"] == "not_found"


def test_nobody_lists_or_revokes_another_users_tokens(make_user, live_server_url):
    alice, mallory = make_user(), make_user()
    alice_id = ApiToken.objects.get(user_id=alice["id"]).pk
    answer = httpx.delete(
        f"{live_server_url}/api/auth/tokens/{alice_id}/", headers=bearer(mallory["token"])
    )
    assert answer.status_code == 404
    assert (
        httpx.get(f"{live_server_url}/api/me/", headers=bearer(alice["token"])).status_code == 200
    )
    mine = httpx.get(f"{live_server_url}/api/auth/tokens/", headers=bearer(mallory["token"]))
    assert alice_id not in [item["id"] for item in mine.json()["items"]]


def test_revoking_the_others_keeps_only_the_one_asking(make_user, live_server_url):
    user = make_user()
    others = [login(live_server_url, user) for _ in range(2)]
    keep = login(live_server_url, user)
    answer = httpx.delete(f"{live_server_url}/api/auth/tokens/", headers=bearer(keep))
    assert answer.status_code == 200 and answer.json() == {"revoked": 3}
    for token in [user["token"], *others]:
        me = httpx.get(f"{live_server_url}/api/me/", headers=bearer(token))
        assert me.status_code == 401
    assert httpx.get(f"{live_server_url}/api/me/", headers=bearer(keep)).status_code == 200
    assert ApiToken.objects.filter(user_id=user["id"]).count() == 1


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "9" * 40, "1.5"])
def test_a_malformed_or_unknown_token_id_is_a_json_404(make_user, live_server_url, bad):
    user = make_user()
    answer = httpx.delete(
        f"{live_server_url}/api/auth/tokens/{bad}/", headers=bearer(user["token"])
    )
    assert answer.status_code == 404 and answer.json()["error"]


def test_the_token_calls_are_in_the_schema(live_server_url):
    paths = httpx.get(f"{live_server_url}/api/schema/", params={"format": "json"}).json()["paths"]
    assert "200" in paths["/api/auth/tokens/"]["get"]["responses"]
    assert "200" in paths["/api/auth/tokens/"]["delete"]["responses"]
    assert "204" in paths["/api/auth/tokens/{token_id}/"]["delete"]["responses"]


def test_the_tokens_of_a_deleted_user_go_with_it(transactional_db):
    from social.tokens import token_issue

    user = User.objects.create(username="gone")
    token_issue(user=user)
    user.delete()
    assert not ApiToken.objects.exists()
