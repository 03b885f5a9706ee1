"""Property (issue 17): whatever a client sends to any endpoint (arbitrary path parameters,
query strings, bodies of arbitrary bytes or JSON nested to any depth, content types,
credentials, forwarded-for headers, any method), the answer is one the contract allows:
never a 5xx, and under /api/ always JSON (the schema and the Swagger page excepted).

Every route of the URLconf's API is walked (``config.urls.api``), plus the pages. In process
(Django's test client re-raises what a view raises, so a 500 fails with its traceback), and
a smaller run over HTTP against the live stack, through uvicorn and the like fast path
(``likes.asgi``), which the test client never reaches.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config import urls
from social.models import Post, User
from social.tokens import token_issue
from tests.conftest import PASSWORD

API_ROUTES = ["/api/" + str(p.pattern) for p in urls.api]
PAGES = ["/", "/login/", "/signup/", "/u/<str:username>/", "/admin/login/", "/metrics"]
NOT_JSON_BY_DESIGN = ("/api/docs/", "/api/schema/")  # Swagger's page, the schema's YAML
API_STATUSES = {200, 201, 204, 400, 401, 403, 404, 405, 406, 413, 415, 429}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
# The Host header: allowed, unknown (Django's DisallowedHost: a 400 from handler400), broken.
HOSTS = [None, "evil.example", "127.0.0.1:1", "[::1", "a b", "localhost:99999"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "",
]

# What browsers, scripts and odd clients ask for: the answer is JSON under /api/ whatever.
ACCEPTS = ["", "*/*", "application/json", "text/html", "text/html,application/xhtml+xml,*/*;q=0.8",
           "application/xml", "text/plain;q=0.1", "image/png"]  # fmt: skip


def encoded(text: str) -> str:
    """Text as a client puts it in a URL (lone surrogates as their would-be UTF-8 bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
contract_bodies = st.fixed_dictionaries(
    {},
    optional={
        "username": st.text(max_size=200) | st.integers(),
        "password": st.text(max_size=200),
        "body": st.text(max_size=600) | json_values,
        "email": st.text(max_size=80),
        "like_emails": json_values,
    },
).map(json.dumps)
deep = st.builds(
    lambda n, opener: opener * n + ("]" if opener == "[" else "}") * n,
    st.integers(0, 20_000),
    st.sampled_from(["[", '{"a":']),
).map(lambda s: s.replace('{"a":}', '{"a":1}'))
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(json.dumps).map(str.encode),
    contract_bodies.map(str.encode),
    deep.map(str.encode),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
segments = st.one_of(
    st.text(max_size=40), st.integers().map(str), st.sampled_from(["1", "0", "me", "..", "%"])
)
queries = st.dictionaries(
    st.sampled_from(["limit", "before", "suggested", "format", "next"]) | st.text(max_size=10),
    st.text(max_size=60) | st.integers().map(str),
    max_size=3,
)


@st.composite
def requests(draw: Any, routes: list[str]) -> dict[str, Any]:
    route = draw(st.sampled_from(routes))
    path = re.sub(r"<(?:\w+:)?\w+>", lambda _: encoded(draw(segments)), route)
    query = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in draw(queries).items())
    return {
        "route": route,
        "method": draw(st.sampled_from(METHODS)),
        "path": path + (f"?{query}" if query else ""),
        "body": draw(bodies),
        "content_type": draw(st.sampled_from(CONTENT_TYPES)),
        "auth": draw(st.sampled_from(["none", "token", "session", "garbage"])),
        "forwarded": draw(st.none() | st.text(max_size=40)),
        "accept": draw(st.sampled_from(ACCEPTS)),
        "host": draw(st.sampled_from(HOSTS)),
    }


def check(route: str, path: str, status: int, content_type: str, content: bytes) -> None:
    assert status < 500, (path, status, content[:300])
    if not path.startswith("/api/"):
        return
    assert status in API_STATUSES or (route == "/api/health/" and status == 503), (path, status)
    if route in NOT_JSON_BY_DESIGN and status == 200:
        return
    if content:
        assert content_type.startswith("application/json"), (path, status, content[:200])
        json.loads(content)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    user = User.objects.create_user(username=f"f{uuid.uuid4().hex[:10]}", password=PASSWORD)
    Post.objects.create(author=user, body="hello")
    return {"user": user, "token": token_issue(user=user)}


@hsettings(
    max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)
@given(request=requests(API_ROUTES + PAGES))
def test_no_request_to_any_endpoint_gets_a_5xx_or_html_under_api(request, people):
    client = Client()
    headers: dict[str, Any] = {}
    if request["auth"] == "token":
        headers["HTTP_AUTHORIZATION"] = f"Token {people['token']}"
    elif request["auth"] == "garbage":
        headers["HTTP_AUTHORIZATION"] = "Token " + request["path"][-20:]
    elif request["auth"] == "session":
        client.force_login(people["user"])
    if request["forwarded"] is not None:
        headers["HTTP_X_FORWARDED_FOR"] = request["forwarded"]
    if request["accept"]:
        headers["HTTP_ACCEPT"] = request["accept"]
    if request["host"] is not None:
        headers["HTTP_HOST"] = request["host"]
    answer = client.generic(
        request["method"],
        request["path"],
        data=request["body"],
        content_type=request["content_type"],
        **headers,
    )
    check(
        request["route"],
        request["path"],
        answer.status_code,
        answer.get("Content-Type", ""),
        answer.content,
    )


@hsettings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests(API_ROUTES + PAGES))
def test_no_request_over_http_gets_a_5xx_or_html_under_api(request, live_server_url, make_user):
    token = _live_token(live_server_url, make_user)
    headers: dict[bytes, bytes] = {}
    if request["content_type"]:
        headers[b"Content-Type"] = request["content_type"].encode()
    if request["accept"]:
        headers[b"Accept"] = request["accept"].encode()
    if request["host"] is not None:
        headers[b"Host"] = request["host"].encode()
    if request["auth"] in ("token", "session"):
        headers[b"Authorization"] = f"Token {token}".encode()
    elif request["auth"] == "garbage":
        headers[b"Authorization"] = ("Token " + request["path"][-20:]).encode()
    if request["forwarded"] is not None:
        # Any bytes h11 lets a client send (no control characters, no surrounding space).
        raw = request["forwarded"].encode("utf-8", "surrogatepass")
        headers[b"X-Forwarded-For"] = bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip()
    url = httpx.URL(live_server_url + request["path"].split("?")[0])
    raw_query = request["path"].partition("?")[2].encode()
    answer = httpx.request(
        request["method"],
        url.copy_with(query=raw_query or None),
        content=request["body"],
        headers=headers,
        timeout=30,
    )
    check(
        request["route"],
        request["path"],
        answer.status_code,
        answer.headers.get("content-type", ""),
        answer.content,
    )


_tokens: dict[str, str] = {}


def _live_token(url: str, make_user: Any) -> str:
    """One user per live stack for every example (hypothesis calls the test many times)."""
    if url not in _tokens:
        _tokens[url] = make_user()["token"]
    return _tokens[url]


RAW_REQUESTS = [
    # The like fast path (likes.asgi) reads the token before Django does.
    b"POST /api/posts/1/like/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token a\x00b\r\n",
    b"POST /api/posts/1/like/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token \xed\xa0\x80\r\n",
    b"DELETE /api/posts/1%00/like/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token x\r\n",
    b"GET /api/users/a%00b/ HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /api/users/a%ED%A0%80b/ HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid=a\x00b\r\n",
    b"GET /api/feed/?before=%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token \xff\xfe\r\n",
]


@pytest.mark.parametrize("head", RAW_REQUESTS)
def test_raw_bytes_a_client_library_would_refuse_to_send_are_never_a_5xx(head, live_server_url):
    """What httpx will not send (NUL and non-UTF-8 bytes in headers), over a plain socket:
    uvicorn refuses it (400) or it reaches the app, which answers 4xx."""
    url = httpx.URL(live_server_url)
    with socket.create_connection((url.host, url.port), timeout=10) as conn:
        conn.sendall(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer else 400  # closed unanswered: refused
    assert status < 500, answer[:500]
