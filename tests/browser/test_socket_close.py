"""What a page does when the server closes its socket for a reason a retry cannot fix
(issue 17's close codes, issue 15 item 7): 4401, access ended (a log-out elsewhere, a revoked
token), sends the person to the log-in page, which says why and brings them back; 4429, too
many sockets of one person, stops reconnecting and says to close a tab.

Real stack, Chromium: the log-out goes through the API, the extra sockets are real ones.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from playwright.sync_api import Browser, WebSocketRoute, expect

from .helpers import PHONE, OpenPage, expect_live, screenshot


def test_a_log_out_elsewhere_sends_the_open_page_to_the_log_in_and_back(
    open_page: OpenPage, browser: Browser, make_user: Any, live_server_url: str
) -> None:
    user, other = make_user(), make_user()
    page = open_page(user, path=f"/u/{other['username']}/")
    expect_live(page)

    # A second context holding the same session (another window of that browser) logs out
    # through the API, as the page's own script does.
    second = browser.new_context(base_url=live_server_url)
    try:
        cookies = page.context.cookies()
        second.add_cookies(
            [{"name": c["name"], "value": c["value"], "url": live_server_url} for c in cookies]
        )
        csrf = next(c["value"] for c in cookies if c["name"] == "csrftoken")
        started = time.monotonic()
        answer = second.request.post("/api/auth/logout/", headers={"X-CSRFToken": csrf})
        assert answer.status == 204, answer.text()
        expect(page).to_have_url(re.compile(r"/login/\?signed_out=1&next="), timeout=3_000)
        left_after = time.monotonic() - started
    finally:
        second.close()
    assert left_after < 3, f"the page left {left_after:.1f} s after the log-out"
    expect(page.get_by_test_id("signed-out")).to_contain_text("You were signed out")
    screenshot(page, "signed-out-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "signed-out-phone")

    page.get_by_label("Username").fill(user["username"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server_url}/u/{other['username']}/")
    expect_live(page)


def test_the_bells_own_socket_leaves_too_and_a_log_out_here_is_not_signed_out(
    open_page: OpenPage, make_user: Any, live_server_url: str
) -> None:
    """The notifications page has no page socket: the bell's (notify.js) ends the same way.
    The tab that logs out itself goes to the plain log-in page, without the note."""
    user = make_user()
    leaving = open_page(user)
    expect_live(leaving)
    watching = leaving.context.new_page()
    with watching.expect_websocket():
        watching.goto("/notifications/")
    watching.wait_for_timeout(1_000)  # its handshake done: this page shows no live status
    leaving.get_by_role("button", name="Log out").click()

    expect(leaving).to_have_url(f"{live_server_url}/login/")
    expect(leaving.get_by_test_id("signed-out")).to_have_count(0)
    expect(watching).to_have_url(
        f"{live_server_url}/login/?signed_out=1&next=%2Fnotifications%2F", timeout=3_000
    )


def test_a_socket_over_the_cap_stops_reconnecting_and_says_to_close_a_tab(
    open_page: OpenPage, make_user: Any
) -> None:
    user = make_user()
    first = open_page(user)
    expect_live(first)
    # The stack's cap (WS_MAX_SOCKETS_PER_USER) minus the one the page holds: real sockets of
    # this person, kept open by the first tab.
    cap = settings.WS_MAX_SOCKETS_PER_USER  # the stack's processes read the same setting
    first.evaluate(
        """(n) => new Promise((done) => {
             window.__extra = [];
             let open = 0;
             for (let i = 0; i < n; i++) {
               const s = new WebSocket(`ws://${location.host}/ws/`);
               s.onopen = () => { if (++open === n) done(); };
               window.__extra.push(s);
             }
           })""",
        cap - 1,
    )
    opened = {"count": 0}
    second = first.context.new_page()
    second.on("websocket", lambda _socket: opened.__setitem__("count", opened["count"] + 1))
    second.goto("/")
    status = second.get_by_test_id("live-status")
    expect(status).to_have_attribute("data-state", "stopped")
    expect(status).to_have_text("Too many tabs")
    expect(second.get_by_role("alert")).to_have_text(
        re.compile("Too many open tabs: close one and reload")
    )
    second.wait_for_timeout(2_000)  # a retry would come within 0.5-1 s
    assert opened["count"] == 1, "the refused page tried again"
    screenshot(second, "too-many-tabs-desktop")
    second.set_viewport_size(PHONE)
    assert second.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(second, "too-many-tabs-phone")
    expect_live(first)  # the tab that was first keeps its socket


def test_a_session_that_ended_while_the_socket_was_down_is_signed_out_too(
    open_page: OpenPage, make_user: Any, live_server_url: str
) -> None:
    """No 4401 reaches a page whose session ended while its socket was down (expired, or
    deleted server-side): its next handshake is refused outright, the page asks /api/me/,
    and leaves for the log-in page instead of retrying forever."""
    from django.contrib.sessions.models import Session

    user = make_user()
    sockets: list[WebSocketRoute] = []
    page = open_page(user, path="/login/")  # the route must be in place before "/"

    def relay(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/$"), relay)
    page.goto("/")
    expect_live(page)
    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    assert Session.objects.filter(session_key=session_key).delete()[0] == 1
    sockets[-1].close(code=1011, reason="test: server went away")
    expect(page).to_have_url(f"{live_server_url}/login/?signed_out=1&next=%2F", timeout=5_000)
