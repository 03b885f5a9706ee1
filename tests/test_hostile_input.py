"""Hostile input (issue 17), each finding as a class over every endpoint, in process:
unstorable text (NUL, lone surrogates) in any part of any request is a 400 before it reaches
PostgreSQL, Redis or a throttle key; JSON too deep or too big is 400/413; a cursor that is
not one the feed gave out is 400; nothing under /api/ answers HTML (unknown paths with any
method, before the CSRF check); ``next`` after log-in never leaves the site.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config import urls
from config.parsers import JSON_MAX_DEPTH
from social.models import Post, User
from social.tokens import token_issue

METHODS = ("get", "post", "put", "patch", "delete")
UNSTORABLE = ("\x00", "\ud800", "a\x00b", "x\udfffy")
HOSTILE_NEXT = (
    "/\\evil.example/",
    "/%5Cevil.example/",
    "//evil.example/",
    "\\\\evil.example",
    "https://evil.example/",
    "http:/evil.example",
    " //evil.example",
    "\t/\\evil.example",
    "javascript:alert(1)",
    "/\\/evil.example",
    "///evil.example",
)


def api_routes() -> list[str]:
    """Every route of the API's URLconf, as a template with its parameters named."""
    routes = []
    for pattern in urls.api:
        assert isinstance(pattern, URLPattern | URLResolver)
        routes.append("/api/" + str(pattern.pattern))
    return routes


def fill(route: str, value: str) -> str:
    """The route with every parameter replaced by ``value`` (quoted as a client sends it)."""
    quoted = quote(value.encode("utf-8", "surrogatepass"), safe="")
    return re.sub(r"<(?:\w+:)?\w+>", quoted, route)


def fill_valid(route: str, *, username: str, post_id: int) -> str:
    return re.sub(r"<(\w+:)?(\w+)>", lambda m: str(post_id) if m[1] == "id:" else username, route)


@pytest.fixture
def someone(db: None) -> tuple[User, str, Post]:
    user = User.objects.create_user(username=f"h{uuid.uuid4().hex[:10]}", password="pw-x-12345")
    token = token_issue(user=user)
    post = Post.objects.create(author=user, body="hello")
    return user, token, post


def assert_json_error(answer: Any, status: int) -> None:
    assert answer.status_code == status, (answer.status_code, answer.content[:300])
    assert answer["Content-Type"].startswith("application/json"), answer["Content-Type"]
    body = json.loads(answer.content)
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]


# --- unstorable text, anywhere --------------------------------------------------------------


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", [r for r in api_routes() if "<" in r])
def test_unstorable_text_in_a_path_parameter_is_a_400_on_every_route(route, method, bad, someone):
    _, token, _ = someone
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    answer = getattr(client, method)(fill(route, bad))
    if "\x00" in bad:
        assert_json_error(answer, 400)
    else:  # a surrogate's bytes are not UTF-8: Django keeps them percent-encoded (no match)
        assert answer.status_code < 500 and answer["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("route", api_routes())
def test_unstorable_text_in_the_query_string_is_a_400_on_every_route(route, bad, someone):
    user, token, post = someone
    path = fill_valid(route, username=user.username, post_id=post.pk)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    answer = client.get(f"{path}?before={quote(bad.encode('utf-8', 'surrogatepass'))}&limit=1")
    if "\x00" in bad:
        assert_json_error(answer, 400)
    else:  # undecodable bytes become U+FFFD: harmless text, never a 500
        assert answer.status_code < 500


HEADERS = ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_X_CSRFTOKEN", "HTTP_USER_AGENT")


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("header", HEADERS)
@pytest.mark.parametrize("route", api_routes())
def test_unstorable_text_in_a_header_is_a_400_on_every_route(route, header, bad, someone):
    user, token, post = someone
    path = fill_valid(route, username=user.username, post_id=post.pk)
    value = {
        "HTTP_AUTHORIZATION": f"Token {token}{bad}",
        "HTTP_COOKIE": f"sessionid=abc{bad}def; csrftoken=x",
    }.get(header, f"v{bad}")
    extra: dict[str, Any] = {header: value}
    answer = Client().post(path, data={}, content_type="application/json", **extra)
    assert_json_error(answer, 400)


# The routes whose views read a JSON body (the others never parse one, so it reaches nothing).
BODY_READERS = ("auth/register/", "auth/login/", "me/notifications/", "posts/")


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("as_key", [False, True])
@pytest.mark.parametrize("route", api_routes())
def test_unstorable_text_in_a_json_body_is_a_400_on_every_route(route, as_key, bad, someone):
    user, token, post = someone
    path = fill_valid(route, username=user.username, post_id=post.pk)
    fields = {"username": bad, "password": bad, "body": bad, "email": bad}
    body = {bad: "x"} if as_key else fields
    raw = json.dumps(body)  # ensure_ascii: "\u0000", "\ud800" escapes, as a client sends them
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    for method in ("post", "put", "patch"):
        answer = getattr(client, method)(path, data=raw, content_type="application/json")
        if answer.status_code == 405:
            continue  # the route takes no body with this method
        if route.removeprefix("/api/") in BODY_READERS:
            assert_json_error(answer, 400)
        else:
            assert answer.status_code < 500, answer.content


def test_a_lone_surrogate_login_is_refused_before_the_throttle_key(db):
    raw = '{"username": "\\ud800dave", "password": "x"}'
    answer = Client().post("/api/auth/login/", data=raw, content_type="application/json")
    assert_json_error(answer, 400)


# --- JSON bounds -----------------------------------------------------------------------------

DEPTHS = [JSON_MAX_DEPTH + 1, 100, 1_000, 5_000, 100_000]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_json_nested_too_deep_is_a_400_never_a_recursion_error(depth, shape, someone):
    _, token, _ = someone
    close = "]" if shape == "[" else "}"
    raw = shape * depth + "1" + close * depth
    for path in ("/api/auth/login/", "/api/auth/register/", "/api/posts/"):
        answer = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
            path, data=raw, content_type="application/json"
        )
        assert_json_error(answer, 400)


def test_json_nested_within_the_bound_is_parsed(someone):
    _, token, _ = someone
    nested: Any = "x"
    for _ in range(JSON_MAX_DEPTH - 1):
        nested = [nested]
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/posts/",
        data=json.dumps({"body": "ok", "extra": nested}),
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content


def test_brackets_inside_strings_do_not_count_as_depth(someone):
    _, token, _ = someone
    body = "[" * 300 + '\\"{' * 50
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/posts/", data=json.dumps({"body": body}), content_type="application/json"
    )
    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("route", ["/api/auth/login/", "/api/posts/", "/api/nowhere/", "/api/me/"])
def test_a_body_over_the_limit_is_a_413_in_json(route, someone):
    _, token, _ = someone
    raw = b'{"body": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        route, data=raw, content_type="application/json"
    )
    assert_json_error(answer, 413)


@pytest.mark.parametrize("raw", ["{", "[1,]", "NaN", '{"body": Infinity}', "\xff", "", "nul"])
def test_malformed_json_is_a_400(raw, someone):
    _, token, _ = someone
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/posts/", data=raw.encode("latin1"), content_type="application/json"
    )
    assert_json_error(answer, 400)


# --- cursors ---------------------------------------------------------------------------------


def cursor_of(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "decoded",
    ["nan|post:1:2", "inf|post:1:2", "1_0|post:1:2", " 1|post:1:2", "1e999999|post:1:2",
     "1|post:x:2", "1|post:1", "1|like:1:2", "1|post:1:2:3:4", "1|\x00", "|", "1|post:+1:2",
     "1|post:\u0661:2", "\ud800"],
)  # fmt: skip
def test_a_cursor_the_feed_did_not_give_out_is_a_400(decoded, someone):
    _, token, _ = someone
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").get(
        "/api/feed/", {"before": cursor_of(decoded)}
    )
    assert_json_error(answer, 400)


@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(decoded=st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin1")))
def test_any_cursor_is_a_200_or_a_400(decoded, someone):
    _, token, _ = someone
    answer = Client(HTTP_AUTHORIZATION=f"Token {token}").get(
        "/api/feed/", {"before": cursor_of(decoded)}
    )
    assert answer.status_code in (200, 400), answer.content


# --- nothing under /api/ answers HTML ----------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", ["/api/nowhere/", "/api/posts/abc/", "/api/x", "/api/posts/1/x/"])
def test_an_unknown_api_path_is_a_json_404_for_every_method_even_signed_in_by_session(
    method, path, someone
):
    user, _, _ = someone
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    answer = getattr(client, method)(path, data={}, content_type="application/json")
    assert_json_error(answer, 404)


def test_a_refused_csrf_check_under_api_is_json(someone):
    user, _, _ = someone
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    answer = client.post("/api/posts/", data={"body": "x"}, content_type="application/json")
    assert_json_error(answer, 403)


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_host_under_api_is_a_json_400_with_or_without_debug(debug, settings, db):
    settings.DEBUG = debug  # DEBUG renders a SuspiciousOperation as HTML, past handler400
    answer = Client().get("/api/feed/", HTTP_HOST="evil.example")
    assert_json_error(answer, 400)
    assert Client().get("/login/", HTTP_HOST="evil.example").status_code == 400


def test_django_error_handlers_answer_json_under_api(rf):
    from config import errors

    request = rf.get("/api/whatever/")
    for answer, status in (
        (errors.bad_request(request, None), 400),
        (errors.permission_denied(request, None), 403),
        (errors.not_found(request, None), 404),
        (errors.server_error(request), 500),
        (errors.csrf_failure(request, "no token"), 403),
    ):
        assert_json_error(answer, status)


# --- the redirect after log-in -----------------------------------------------------------------


@pytest.mark.parametrize("page", ["/login/", "/signup/"])
@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_after_log_in_never_leaves_the_site(page, target, db):
    query = "next=" + quote(target, safe="/%:")  # "%5C" stays as sent: Django decodes it
    html = Client().get(f"{page}?{query}").content.decode()
    assert 'data-next="/"' in html, re.findall(r'data-next="[^"]*"', html)


@pytest.mark.parametrize("target", ["/u/bob/", "/?tab=2", "/u/a%20b/"])
def test_next_after_log_in_keeps_a_path_on_the_site(target, db):
    html = Client().get("/login/", {"next": target}).content.decode()
    assert f'data-next="{target}"' in html
