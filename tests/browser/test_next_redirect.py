"""The redirect after log-in, in a real browser (issue 17): a ``next`` that a browser would
follow off the site (``/\\host``, ``//host``, ...) lands on the home page; a path of the site
is followed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from .helpers import OpenPage

HOSTILE = ["/%5Cevil.example/", "//evil.example/", "/%5C%5Cevil.example", "https://evil.example/"]


def log_in(page: Any, user: dict[str, Any]) -> None:
    page.get_by_label("Username").fill(user["username"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("target", HOSTILE)
def test_log_in_never_follows_next_off_the_site(
    target: str, open_page: OpenPage, make_user: Any, live_server_url: str
) -> None:
    user = make_user()
    page = open_page(path=f"/login/?next={target}")
    log_in(page, user)
    expect(page).to_have_url(f"{live_server_url}/")


def test_log_in_follows_next_to_a_page_of_the_site(
    open_page: OpenPage, make_user: Any, live_server_url: str
) -> None:
    user, other = make_user(), make_user()
    page = open_page(path=f"/login/?next=/u/{other['username']}/")
    log_in(page, user)
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server_url)}/u/{other['username']}/$"))
