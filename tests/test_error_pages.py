"""The site's own error pages (issue 15 item 7): outside /api/ a 404, 500, 403 or 400 is an
HTML page in the site's style (frontend/templates/404.html ...), never Django's plain or
debug page; under /api/ the same handlers answer JSON (tests/test_hostile_input.py)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from config import errors


def test_an_unknown_page_is_the_sites_404(db: None) -> None:
    answer = Client().get("/no/such/page/")
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("text/html")
    html = answer.content.decode()
    assert "There is no page here" in html
    assert 'data-testid="error-page"' in html
    assert "frontend/app.css" in html  # the site's style, its header and links
    assert 'href="/"' in html


def test_a_server_error_page_renders_without_any_context(rf: RequestFactory) -> None:
    """Django renders 500.html with an empty context (no request, no user), so the page
    may need none: it renders, in the site's style, as an anonymous visitor would see it."""
    answer = errors.server_error(rf.get("/some/page/"))
    assert answer.status_code == 500
    html = answer.content.decode()
    assert "Something went wrong on our side" in html
    assert "frontend/app.css" in html
    assert "Log in" in html


@pytest.mark.parametrize(
    ("handler", "status", "text"),
    [
        (errors.permission_denied, 403, "This page is not for you"),
        (errors.bad_request, 400, "That request did not make sense to us"),
    ],
)
def test_the_other_error_pages_are_the_sites(
    rf: RequestFactory, handler: object, status: int, text: str, db: None
) -> None:
    request = rf.get("/some/page/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    answer = handler(request, None)  # type: ignore[operator]
    assert answer.status_code == status
    assert text in answer.content.decode()


def test_under_api_an_unknown_path_stays_json(db: None) -> None:
    answer = Client().get("/api/no/such/endpoint/")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
