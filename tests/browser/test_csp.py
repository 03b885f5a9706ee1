"""The Content-Security-Policy in Chromium (issue 17): the pages load and work under it with
no violation reported, the web UI and Swagger UI included (their scripts and styles are files
of this origin; nothing inline)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from social.models import Post, User

# Every violation the page sees, recorded by a script the browser runs before the page's own
# (Playwright's init scripts are not subject to the page's policy).
RECORD = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""

PAGES = [
    ("/", "main"),
    ("/u/{username}/", "[data-testid=post-card]"),  # with the person's posts
    ("/p/{post_id}/", "[data-testid=post-card]"),  # a post's page
    ("/notifications/", "[data-notifications][aria-busy=false]"),
    ("/api/docs/", ".swagger-ui .info"),  # rendered by Swagger UI's scripts
    ("/ops/", "#queues tr"),  # filled in by the ops page's poller
    ("/login/", "form"),
]


@pytest.mark.parametrize(("path", "ready"), PAGES)
def test_pages_load_under_the_policy_without_violations(
    browser: Browser, live_server_url: str, make_user: Any, path: str, ready: str
) -> None:
    user = make_user()
    User.objects.filter(pk=user["id"]).update(is_staff=True)  # for /ops/
    post = Post.objects.create(author_id=user["id"], body="under the policy")
    context = browser.new_context(base_url=live_server_url)
    try:
        context.add_init_script(RECORD)
        login = context.request.post(
            "/api/auth/login/", data={"username": user["username"], "password": user["password"]}
        )
        assert login.ok, login.text()
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        answer = page.goto(path.format(username=user["username"], post_id=post.pk))
        assert answer is not None and answer.header_value("Content-Security-Policy")
        expect(page.locator(ready).first).to_be_attached()
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__violations")
        assert violations == [], violations
        assert not [m for m in console if "Content Security Policy" in m], console
        assert not errors, errors
    finally:
        context.close()
