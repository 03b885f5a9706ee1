"""Auth endpoints of CONTRACT.md, over HTTP against the live server."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD


def test_register_answers_201_with_id_username_and_token(live_server_url):
    answer = httpx.post(
        f"{live_server_url}/api/auth/register/", json={"username": "newcomer", "password": PASSWORD}
    )
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "username", "token"}
    assert body["username"] == "newcomer" and body["token"]


def test_register_refuses_a_taken_name_with_a_clear_400(live_server_url, make_user):
    make_user("taken")
    answer = httpx.post(
        f"{live_server_url}/api/auth/register/", json={"username": "taken", "password": PASSWORD}
    )
    assert answer.status_code == 400
    assert "taken" in answer.json()["detail"]


def test_register_refuses_a_weak_password(live_server_url):
    answer = httpx.post(
        f"{live_server_url}/api/auth/register/", json={"username": "weak", "password": "123"}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("password:")


def test_register_names_the_missing_field(live_server_url):
    answer = httpx.post(f"{live_server_url}/api/auth/register/", json={"username": "x"})
    assert answer.status_code == 400
    assert answer.json()["fields"]["password"]


def test_register_refuses_a_body_that_is_not_json(live_server_url):
    answer = httpx.post(
        f"{live_server_url}/api/auth/register/",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "parse_error"


def test_login_gives_token_and_session_cookie(live_server_url, make_user):
    user = make_user()
    answer = httpx.post(
        f"{live_server_url}/api/auth/login/",
        json={"username": user["username"], "password": PASSWORD},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body == {"id": user["id"], "username": user["username"], "token": body["token"]}
    assert body["token"] != user["token"]  # a token per login (tests/social/test_tokens.py)
    assert "sessionid" in answer.cookies


def test_login_refuses_bad_credentials_with_400(live_server_url, make_user):
    user = make_user()
    answer = httpx.post(
        f"{live_server_url}/api/auth/login/",
        json={"username": user["username"], "password": "wrong"},
    )
    assert answer.status_code == 400
    assert answer.json()["detail"] == "wrong username or password"


def test_me_answers_the_profile_and_refuses_anonymous(live_server_url, make_user, api):
    user = make_user()
    answer = api(user).get("/api/me/")
    assert answer.json() == {
        "id": user["id"],
        "username": user["username"],
        "followers_count": 0,
        "following_count": 0,
        "unread_notifications": 0,
    }
    assert api(None).get("/api/me/").status_code in (401, 403)
    bad = httpx.get(f"{live_server_url}/api/me/", headers={"Authorization": "Token nope"})
    assert bad.status_code == 401 and bad.json()["detail"]


def test_session_writes_need_the_csrf_token_and_logout_ends_the_session(live_server_url, make_user):
    user = make_user()
    with httpx.Client(base_url=live_server_url) as browser:
        assert (
            browser.post(
                "/api/auth/login/", json={"username": user["username"], "password": PASSWORD}
            ).status_code
            == 200
        )
        assert browser.get("/api/me/").status_code == 200
        refused = browser.post("/api/posts/", json={"body": "no csrf"})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        browser.get("/login/")  # the page sets the csrftoken cookie
        csrf = {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": live_server_url + "/"}
        assert (
            browser.post("/api/posts/", json={"body": "with csrf"}, headers=csrf).status_code == 201
        )
        assert browser.post("/api/auth/logout/", headers=csrf).status_code == 204
        assert browser.get("/api/me/").status_code in (401, 403)


def test_unknown_api_path_is_a_json_404(live_server_url):
    answer = httpx.get(f"{live_server_url}/api/nope/")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_a_session_is_gone_before_its_sockets_are_told_it_ended(transactional_db, monkeypatch):
    """The page whose socket closes (4401) goes straight to the log-in page: told before the
    session was flushed, that page could still find it alive, show the logged-in header and
    open a socket of its own, which the flush then refused (a CI failure of
    tests/browser/test_socket_close.py)."""
    from django.conf import settings
    from django.contrib.sessions.backends.base import SessionBase
    from django.test import Client
    from django.utils.module_loading import import_string

    from social import access
    from social.models import User

    store: type[SessionBase] = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    alive_when_told: list[bool] = []
    monkeypatch.setattr(access, "_HOOKS", [])
    client = Client(enforce_csrf_checks=False)
    client.force_login(User.objects.create_user("leaving", password=PASSWORD))
    key = client.session.session_key
    assert key is not None
    access.on_end(lambda end: alive_when_told.append(store().exists(key)))

    # Autocommit, as in production: the hooks run as soon as the view calls ``ended``.
    assert client.post("/api/auth/logout/").status_code == 204
    assert alive_when_told == [False]
