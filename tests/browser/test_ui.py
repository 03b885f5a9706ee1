"""The web UI in a real browser against the real stack: HTTP → Celery → Redis → WebSocket → page.

Each test creates its own people, so tests do not depend on each other or on their order.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Route, WebSocketRoute, expect

from tests.conftest import wait_until

from .helpers import (
    PHONE,
    OpenPage,
    create_post,
    expect_live,
    feed_items,
    follow,
    like_button,
    like_count,
    screenshot,
    unique,
    wait_for,
)

pytestmark = pytest.mark.stack

PENDING = re.compile(r"\bis-pending\b")


# --- accounts ---------------------------------------------------------------------------------


def test_sign_up_log_out_and_log_in_again(open_page: OpenPage) -> None:
    username, password = unique("newbie"), "pw-Likefeed-123"
    page = open_page(path="/signup/")

    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("link", name=f"@{username}")).to_be_visible()
    expect(page.get_by_text("Your feed is empty")).to_be_visible()
    expect_live(page)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto("/")  # the feed needs a session again
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))

    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong username or password")

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("link", name=f"@{username}")).to_be_visible()


def test_sign_up_with_a_taken_name_says_so(open_page: OpenPage, make_user: Any) -> None:
    taken = make_user()
    page = open_page(path="/signup/")
    page.get_by_label("Username").fill(taken["username"])
    page.get_by_label("Password").fill("pw-Likefeed-123")
    page.get_by_role("button", name="Sign up").click()
    error = page.get_by_test_id("username-error")
    expect(error).to_have_text(re.compile(r"is taken"))
    expect(error).to_have_attribute("role", "alert")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/signup/$"))


def test_sign_up_shows_the_rules_first_and_a_refusal_under_its_field(
    open_page: OpenPage,
) -> None:
    """The password rules are the server's validators' own (shown before typing); a password
    they refuse is said under the password field, and the username's mark goes."""
    page = open_page(path="/signup/")
    rules = page.locator("#password-rules li")
    expect(rules.filter(has_text="at least 8 characters")).to_have_count(1)
    expect(rules.filter(has_text="entirely numeric")).to_have_count(1)
    expect(page.get_by_test_id("password-error")).to_be_hidden()

    page.get_by_label("Username").fill(unique("newbie"))
    page.get_by_label("Password").fill("12345678")
    page.get_by_role("button", name="Sign up").click()
    error = page.get_by_test_id("password-error")
    expect(error).to_contain_text("entirely numeric")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page.get_by_test_id("username-error")).to_be_hidden()
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "signup-phone", full_page=True)

    page.get_by_label("Password").fill("pw-Likefeed-123")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/$"))


# --- composer ---------------------------------------------------------------------------------


def test_composer_counts_characters_and_refuses_before_the_server(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    me = make_user()
    page = open_page(me)
    composer, submit = page.get_by_test_id("composer"), page.get_by_test_id("post-submit")
    counter = page.locator("[data-counter]")

    expect(counter).to_have_text("500 characters left")
    expect(submit).to_be_disabled()  # empty
    composer.fill("   ")
    expect(submit).to_be_disabled()  # blank
    composer.fill("x" * 501)
    expect(counter).to_have_text("1 character too many")
    expect(submit).to_be_disabled()  # over the limit
    screenshot(page, "composer-over-limit")
    composer.fill("é" * 500)
    expect(counter).to_have_text("0 characters left")
    expect(submit).to_be_enabled()

    body = f"My first post {unique('')}"
    composer.fill(body)
    expect(counter).to_have_text(f"{500 - len(body)} characters left")
    submit.click()

    mine = feed_items(page, body)
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("You posted")
    expect(composer).to_have_value("")
    post_id = int(mine.get_attribute("data-post-id") or 0)
    assert api(me).get(f"/api/posts/{post_id}/").json()["body"] == body


# --- live feed --------------------------------------------------------------------------------


def test_follower_sees_posts_and_likes_arrive_live(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    follow(api, bob, alice)
    page = open_page(bob)
    expect_live(page)

    body = f"Hello Bob {unique('')}"
    post = create_post(api, alice, body)
    expect(feed_items(page, body)).to_have_count(1)
    expect(feed_items(page, body)).to_contain_text(f"{alice['username']} posted")

    carols = create_post(api, carol, f"Carol's thoughts {unique('')}")
    api(alice).post(f"/api/posts/{carols['id']}/like/")
    liked = feed_items(page).and_(
        page.locator(f'[data-kind="like"][data-post-id="{carols["id"]}"]')
    )
    expect(liked).to_have_count(1)
    expect(liked).to_contain_text(f"liked by {alice['username']}")
    expect(liked).to_contain_text(carols["body"])
    expect(liked).to_contain_text(carol["username"])

    # Both arrived without a reload, each once.
    ids = feed_items(page).evaluate_all("items => items.map(i => i.dataset.itemId)")
    assert len(ids) == len(set(ids)) == 2
    expect(feed_items(page).first).to_have_attribute("data-post-id", str(carols["id"]))
    expect(feed_items(page).last).to_have_attribute("data-post-id", str(post["id"]))
    screenshot(page, "feed-live")


def test_new_items_keep_the_reading_position_and_show_a_pill(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    for n in range(8):
        create_post(api, alice, f"Older post {n}\n" + "A line to make this post tall.\n" * 4)
    page = open_page(bob)
    expect(feed_items(page)).to_have_count(8)
    expect_live(page)

    page.evaluate("window.scrollTo(0, 900)")
    reading_id = feed_items(page).nth(4).get_attribute("data-item-id")
    reading = page.locator(f'[data-item-id="{reading_id}"]')
    before = reading.bounding_box()

    create_post(api, alice, f"Fresh news {unique('')}")
    pill = page.get_by_test_id("new-pill")
    expect(pill).to_have_text("↑ 1 new")
    screenshot(page, "new-pill")
    after = reading.bounding_box()
    assert before and after and abs(after["y"] - before["y"]) <= 1, (before, after)
    expect(feed_items(page)).to_have_count(9)

    pill.click()
    # Functions, not expressions: Playwright evals an expression inside the page, which the
    # Content-Security-Policy refuses (no 'unsafe-eval').
    page.wait_for_function("() => window.scrollY === 0")
    expect(pill).to_be_hidden()
    expect(feed_items(page).first).to_contain_text("Fresh news")


# --- likes ------------------------------------------------------------------------------------


def test_like_shows_at_once_and_the_server_answer_is_applied(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"Like me {unique('')}")
    page = open_page(bob)
    button, count = like_button(page, post["id"]), like_count(page, post["id"])
    expect(count).to_have_text("0")

    held: list[Route] = []
    page.route("**/api/posts/*/like/", lambda route: held.append(route))  # answered later
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(count).to_have_text("1")
    expect(button).to_have_class(PENDING)  # the person sees the like is on its way
    wait_for(page, lambda: held)
    held[0].continue_()
    page.unroute("**/api/posts/*/like/")

    # Pending was shown, so its end is the server's answer drawn.
    expect(button).not_to_have_class(PENDING)
    expect(count).to_have_text("1")
    assert len(held) == 1  # one click, one request
    server = api(bob).get(f"/api/posts/{post['id']}/").json()
    assert server["liked_by_me"] is True and server["like_count"] == 1

    # Keyboard: a real <button>, Space toggles it. The key press draws pending before it
    # returns (likes.js draws it when the request starts), so once the unlike's answer has
    # reached the page, the end of pending is that answer applied.
    button.focus()
    with page.expect_response(lambda r: "/like/" in r.url and r.request.method == "DELETE"):
        page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button).not_to_have_class(PENDING)
    expect(count).to_have_text("0")
    assert api(bob).get(f"/api/posts/{post['id']}/").json()["like_count"] == 0


def test_the_pending_like_is_drawn_calmly_and_without_motion_when_asked(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    """Pending is a slow breath of the heart that starts only after 0.25 s (a quick answer
    shows nothing), and a still, paler heart for people who asked for reduced motion."""
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"Pending {unique('')}")
    page = open_page(bob)
    button = like_button(page, post["id"])
    heart = button.locator(".heart path")
    page.route("**/api/posts/*/like/", lambda route: None)  # held for the rest of the test

    button.click()
    expect(button).to_have_class(PENDING)
    style = "e => { const s = getComputedStyle(e); return [s.animationName, s.animationDelay]; }"
    assert heart.evaluate(style) == ["pulse", "0.25s"]

    page.emulate_media(reduced_motion="reduce")
    assert heart.evaluate(style)[0] == "none"
    expect(heart).to_have_css("opacity", "0.45")


def test_rapid_toggling_settles_on_the_server_count(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"Click me fast {unique('')}")
    api(carol).post(f"/api/posts/{post['id']}/like/")  # someone else's like is in the count
    page = open_page(bob)
    button, count = like_button(page, post["id"]), like_count(page, post["id"])
    expect(count).to_have_text("1")

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.method) if "/like/" in r.url else None)
    for _ in range(5):
        button.click(delay=0)

    # Five clicks: the person ends wanting the like. The button is pending from the first
    # click (drawn before it returns) until the answer that agrees is drawn: once it is not,
    # the page has settled and shows the server's truth.
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).not_to_have_class(PENDING)
    server = api(bob).get(f"/api/posts/{post['id']}/").json()
    assert server["liked_by_me"] is True
    assert server["like_count"] == 2
    expect(count).to_have_text(str(server["like_count"]))
    assert 1 <= len(requests) <= 5, requests  # one in flight at a time, not one per click


def test_a_failed_like_rolls_back_with_a_message(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"This like will fail {unique('')}")
    page = open_page(bob)
    button, count = like_button(page, post["id"]), like_count(page, post["id"])
    expect(count).to_have_text("0")

    held: list[Route] = []
    page.route("**/api/posts/*/like/", lambda route: held.append(route))
    button.click()
    expect(count).to_have_text("1")  # optimistic
    wait_for(page, lambda: held)
    held[0].fulfill(status=500, json={"error": "server_error", "detail": "Something broke."})

    toast = page.get_by_role("alert").filter(has_text="Could not like the post")
    expect(toast).to_be_visible()
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(count).to_have_text("0")
    expect(button).not_to_have_class(PENDING)
    screenshot(page, "like-rolled-back")
    assert api(bob).get(f"/api/posts/{post['id']}/").json()["like_count"] == 0


def test_the_liker_hears_how_far_the_like_went(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob, fan = make_user(), make_user(), make_user()
    follow(api, bob, alice)
    follow(api, fan, bob)
    post = create_post(api, alice, f"Spread the word {unique('')}")
    page = open_page(bob)
    expect_live(page)
    button = like_button(page, post["id"])
    button.click()
    # Beside the heart, for a moment, and in its title: not a toast over the feed (issue 15).
    expect(button.get_by_test_id("like-delivered")).to_have_text("→ 1 feed")
    expect(button).to_have_attribute(
        "title", re.compile(r"^1 like\. Delivered to 1 follower in \d+ ms$")
    )
    screenshot(page, "like-delivered")
    expect(page.get_by_test_id("toast")).to_have_count(0)
    expect(button.get_by_test_id("like-delivered")).to_be_hidden(timeout=8000)


def test_a_second_tab_sees_the_count_change(open_page: OpenPage, make_user: Any, api: Any) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"Two tabs {unique('')}")
    first = open_page(bob)
    second = open_page(path="/login/", context=first.context)  # listen before "/" opens its socket
    received: list[dict[str, Any]] = []
    second.on(
        "websocket", lambda ws: ws.on("framereceived", lambda f: received.append(json.loads(f)))
    )
    second.goto("/")
    expect_live(first)
    expect_live(second)
    expect(like_count(second, post["id"])).to_have_text("0")
    # The server answers a subscription with the post's count: from then on it pushes changes.
    wait_for(second, lambda: [m for m in received if m.get("post_id") == post["id"]])

    like_button(first, post["id"]).click()
    expect(like_count(second, post["id"])).to_have_text("1")
    second.reload()
    expect(like_button(second, post["id"])).to_have_attribute("aria-pressed", "true")
    expect(like_count(second, post["id"])).to_have_text("1")


# --- connection -------------------------------------------------------------------------------


def test_reconnect_resumes_and_shows_missed_items_exactly_once(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    sent: list[dict[str, Any]] = []
    page = open_page(bob, path="/login/")
    page.on(
        "websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(json.loads(frame)))
    )
    page.goto("/")
    expect_live(page)
    first = f"Before the outage {unique('')}"
    create_post(api, alice, first)
    expect(feed_items(page, first)).to_have_count(1)  # seen live: the page has a seq to resume from

    page.context.set_offline(True)
    status = page.get_by_test_id("live-status")
    expect(status).to_have_attribute("data-state", "offline")
    missed = [f"Missed {n} {unique('')}" for n in range(3)]
    for body in missed:
        create_post(api, alice, body)
    # Fanned out while the page was away: they can reach it only by the resume's replay.
    wait_until(lambda: len(api(bob).get("/api/feed/").json()["items"]) == 1 + len(missed))
    page.context.set_offline(False)

    expect_live(page)
    for body in missed:
        expect(feed_items(page, body)).to_have_count(1)
    resumes = [message for message in sent if message["type"] == "resume"]
    assert len(resumes) == 1 and resumes[0]["after"] >= 1, sent
    page.wait_for_timeout(1000)  # a duplicate would have had time to arrive
    for body in [first, *missed]:
        expect(feed_items(page, body)).to_have_count(1)
    texts = feed_items(page).all_inner_texts()
    order = [next(i for i, text in enumerate(texts) if body in text) for body in missed]
    assert order == sorted(order, reverse=True), texts  # newest first


def test_a_dropped_socket_reconnects(open_page: OpenPage, make_user: Any, api: Any) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    sockets: list[WebSocketRoute] = []

    page = open_page(bob, path="/login/")  # any page: the route must be in place before "/"

    def relay(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/$"), relay)
    page.goto("/")
    expect_live(page)

    # Every state the indicator takes from now on, recorded by the page itself: "reconnecting"
    # may last only the first backoff (0.25-0.5 s), too short to be sure a poll sees it.
    page.evaluate("""() => {
        const status = document.querySelector('[data-testid="live-status"]');
        window.liveStates = [];
        new MutationObserver(() => window.liveStates.push(status.dataset.state))
            .observe(status, { attributes: true, attributeFilter: ["data-state"] });
    }""")
    sockets[-1].close(code=1011, reason="test: server went away")
    page.wait_for_function(
        "() => (s => s.includes('reconnecting') && s.at(-1) === 'live')(window.liveStates)"
    )
    expect_live(page)
    assert len(sockets) == 2

    body = f"After the reconnect {unique('')}"
    create_post(api, alice, body)
    expect(feed_items(page, body)).to_have_count(1)


# --- following --------------------------------------------------------------------------------


def test_who_to_follow_gives_a_new_person_a_feed_in_two_clicks(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice = make_user()
    body = f"Welcome to Likefeed {unique('')}"
    create_post(api, alice, body)
    # Make alice the most followed account, so she tops everyone's suggestions.
    probe = make_user()
    top = api(probe).get("/api/users/?suggested=1").json()["items"]
    for _ in range(max((p["followers_count"] for p in top), default=0) + 1):
        follow(api, make_user(), alice)

    username = unique("fresh")
    page = open_page(path="/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-Likefeed-123")
    page.get_by_role("button", name="Sign up").click()  # click one
    expect(page.get_by_text("Your feed is empty")).to_be_visible()

    suggestion = page.get_by_test_id("suggestion").filter(has_text=alice["username"])
    suggestion.get_by_test_id("follow-button").click()  # click two
    expect(suggestion.get_by_test_id("follow-button")).to_have_attribute("aria-pressed", "true")
    expect(feed_items(page, body)).to_have_count(1)


def test_user_page_follow_and_unfollow(open_page: OpenPage, make_user: Any, api: Any) -> None:
    alice, bob = make_user(), make_user()
    page = open_page(bob, path=f"/u/{alice['username']}/")
    profile = page.locator("[data-profile]")
    button = profile.get_by_test_id("follow-button")
    followers = profile.get_by_test_id("followers")
    expect(followers).to_have_text("0 followers")
    expect(button).to_have_text("Follow")

    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_have_text("Following")
    expect(followers).to_have_text("1 follower")
    assert api(bob).get(f"/api/users/{alice['username']}/").json()["is_following"] is True

    button.click()
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(followers).to_have_text("0 followers")
    assert api(bob).get(f"/api/users/{alice['username']}/").json()["is_following"] is False

    own = open_page(bob, path=f"/u/{bob['username']}/")
    expect(own.get_by_text("This is you")).to_be_visible()
    expect(own.locator("[data-profile]").get_by_test_id("follow-button")).to_have_count(0)


# --- looks ------------------------------------------------------------------------------------


def test_phone_width_has_no_sideways_scroll(open_page: OpenPage, make_user: Any, api: Any) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, carol, "A rather long word: " + "supercalifragilistic" * 6)
    create_post(api, alice, "Short and sweet.")
    api(alice).post(f"/api/posts/{post['id']}/like/")
    page = open_page(bob, viewport=PHONE)
    expect(feed_items(page)).to_have_count(2)
    expect_live(page)

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone-feed")
    screenshot(page, "phone-feed-full", full_page=True)
