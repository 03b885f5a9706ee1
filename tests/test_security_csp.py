"""Content-Security-Policy (issue 17): every page answers with django-csp's policy, which
allows no inline script or style; tests/browser/test_csp.py loads the pages in Chromium and
listens for violations. On the code before this change no answer had the header."""

from __future__ import annotations

import pytest
from django.test import Client

from social.models import User

PAGES = [
    "/",
    "/login/",
    "/signup/",
    "/u/somebody/",
    "/notifications/",
    "/u/nobody-by-this-name/",  # a 404 page
    "/no-such-page/",
    "/api/docs/",
    "/api/docs/?script=",  # Swagger UI's start-up script (no inline script on the page)
    "/admin/login/",
    "/ops/",
    "/api/health/",
    "/api/me/",  # a JSON refusal: the header costs nothing and covers an answer rendered as HTML
]


@pytest.fixture
def staff_client(db) -> Client:
    User.objects.create(username="somebody")
    staff = User.objects.create(username="staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_answer_has_the_policy_without_inline_script_or_style(staff_client, path):
    answer = staff_client.get(path)
    assert answer.status_code < 500
    policy = dict(
        part.strip().split(" ", 1) for part in answer["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "style-src"):
        assert policy[directive] == "'self'"  # no 'unsafe-inline', no nonce, no CDN
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


@pytest.mark.parametrize(
    "path", ["/", "/login/", "/signup/", "/u/somebody/", "/api/docs/", "/ops/"]
)
def test_the_pages_have_no_inline_script_or_style(staff_client, path):
    html = staff_client.get(path, follow=True).content.decode()
    assert "<style" not in html and " style=" not in html
    assert "<script>" not in html and '<script type="module">' not in html
    assert " on" + "click=" not in html
