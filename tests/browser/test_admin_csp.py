"""The Django admin under the Content-Security-Policy, in Chromium (issue 17.5): its pages
load with no violation reported and their scripts work (the changelist's select-all and
action counter, the change form's date shortcuts, the related-object lookup), so the admin
needs no looser policy than the rest of the site.

On the code before this change the likes changelist failed: its recount buttons' forms
carried an inline ``style="display:inline"``, which ``style-src 'self'`` refuses (a
violation, and the two buttons stacked instead of standing in the toolbar).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from social.models import Post, User
from tests.browser.test_csp import RECORD
from tests.conftest import ROOT


@dataclass
class Admin:
    context: BrowserContext
    user_id: int


@pytest.fixture
def admin(browser: Browser, live_server_url: str, make_user: Any) -> Iterator[Admin]:
    """A superuser's browser, signed in through the admin's own log-in form."""
    user = make_user()
    User.objects.filter(pk=user["id"]).update(is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", user["username"])
    page.fill("#id_password", user["password"])
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()
    page.close()
    yield Admin(context, user["id"])
    context.close()


def visit(context: BrowserContext, path: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    answer = page.goto(path)
    assert answer is not None and answer.ok, (path, answer and answer.status)
    assert answer.header_value("Content-Security-Policy")
    page.wait_for_load_state("networkidle")
    assert not errors, errors
    return page


def no_violations(page: Page) -> None:
    violations = page.evaluate("window.__violations")
    assert violations == [], (page.url, violations)


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/social/user/", "/admin/social/post/", "/admin/likes/like/"]
)
def test_admin_changelists_load_without_violations_and_their_script_works(
    admin: Admin, path: str
) -> None:
    Post.objects.create(author_id=admin.user_id, body="in the admin")
    page = visit(admin.context, path)
    no_violations(page)
    if path != "/admin/":
        toggle = page.locator("#action-toggle")
        if toggle.count():  # actions.js: select all, and the counter follows
            toggle.check()
            expect(page.locator(".action-counter")).to_contain_text("selected")
    if path == "/admin/likes/like/":
        buttons = page.locator(".object-tools button")
        expect(buttons).to_have_count(2)
        tops = [box["y"] for box in (b.bounding_box() for b in buttons.all()) if box]
        assert len(set(tops)) == 1, tops  # side by side in the toolbar, as styled
        page.screenshot(path=str(ROOT / "var" / "admin-likes-1280.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ROOT / "var" / "admin-likes-390.png"))
    no_violations(page)


def test_the_user_change_form_and_its_widgets_work_under_the_policy(admin: Admin) -> None:
    page = visit(admin.context, f"/admin/social/user/{admin.user_id}/change/")
    # DateTimeShortcuts.js adds "Today" / "Now" links and the calendar and clock buttons.
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()
    page.locator(".datetimeshortcuts a", has_text="Today").first.click()
    # SelectFilter2.js turns the permissions list into its two-box chooser.
    expect(page.locator(".selector").first).to_be_attached()
    no_violations(page)
    page.screenshot(path=str(ROOT / "var" / "admin-user-change.png"))


def test_the_post_add_form_lookup_opens_under_the_policy(admin: Admin) -> None:
    page = visit(admin.context, "/admin/social/post/add/")
    expect(page.locator("#lookup_id_author")).to_be_visible()  # RelatedObjectLookups.js
    with page.expect_popup() as popup:
        page.click("#lookup_id_author")
    lookup = popup.value
    lookup.wait_for_load_state("networkidle")
    expect(lookup.locator("#result_list")).to_be_visible()
    no_violations(page)
    no_violations(lookup)
