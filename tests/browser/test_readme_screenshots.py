"""The README's pictures, from the real stack: one person's home feed, a post's page and
the notifications page, at desktop (1280x800) and phone (390x844) widths.

A test in its own right: it builds one small scene (a few people who follow each other,
post and like, with readable names) and checks that each page shows it (a post liked by two
people you follow once with both, the likers of your post, grouped notifications, the bell's
count). With ``LIKEFEED_SCREENSHOTS=1`` it also writes docs/screenshots/*.png (helpers'
``doc_screenshot``); otherwise it writes nothing, so CI leaves the tree as it was.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, ViewportSize, expect

from tests.conftest import wait_until

from .helpers import PHONE, OpenPage, create_post, doc_screenshot, expect_live, follow

DESKTOP_SHOT: ViewportSize = {"width": 1280, "height": 800}


def both_widths(page: Page, name: str) -> None:
    page.set_viewport_size(DESKTOP_SHOT)
    doc_screenshot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    doc_screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP_SHOT)


def like(api: Any, user: dict[str, Any], post: dict[str, Any]) -> None:
    assert api(user).post(f"/api/posts/{post['id']}/like/").status_code == 200


def test_the_readme_pictures_show_the_product(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    # Fixed, readable names: each test starts from an emptied database.
    maya, leo, sam, priya, noah = (make_user(n) for n in ("maya", "leo", "sam", "priya", "noah"))
    for followee in (leo, sam, priya):
        follow(api, maya, followee)
    follow(api, noah, maya)

    cake = create_post(api, noah, "Does anyone have a good recipe for lemon drizzle cake?")
    create_post(api, sam, "The bakery on 5th does half-price sourdough after 6 pm. You're welcome.")
    ride = create_post(api, leo, "Finished the coast ride: 62 km, one flat tyre, zero regrets.")
    mine = create_post(api, maya, "Trying Likefeed: post, follow, and watch the likes arrive live.")
    for liker in (leo, priya):
        like(api, liker, cake)  # noah is not followed: his post comes in through their likes
    for liker in (sam, priya, maya):
        like(api, liker, ride)
    for liker in (leo, sam, priya):
        like(api, liker, mine)
    wait_until(lambda: api(maya).get("/api/me/").json()["unread_notifications"] == 2)

    home = open_page(maya, viewport=DESKTOP_SHOT)
    expect_live(home)
    cake_card = home.locator(f'[data-testid="feed-item"][data-post-id="{cake["id"]}"]')
    expect(cake_card).to_have_count(1)
    expect(cake_card.get_by_test_id("social-context")).to_have_text("liked by priya and leo")
    expect(home.get_by_test_id("bell-count")).to_have_text("2")
    home.evaluate("window.scrollTo(0, 0)")
    both_widths(home, "home")

    post_page = open_page(maya, path=f"/p/{ride['id']}/", viewport=DESKTOP_SHOT)
    expect(post_page.get_by_test_id("liker")).to_have_count(3)
    expect(post_page.get_by_test_id("liker").first).to_have_attribute("data-username", "maya")
    expect_live(post_page)
    both_widths(post_page, "post")

    notifications = open_page(maya, path="/notifications/", viewport=DESKTOP_SHOT)
    items = notifications.get_by_test_id("notification")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_text(re.compile("priya and 2 others liked your post"))
    expect(items.nth(1)).to_have_text(re.compile("noah followed you"))
    both_widths(notifications, "notifications")
