"""The bell and the notifications page in Chromium, against the real stack: the bell counts
up live (header and tab title), the page groups likes per post and follows, marks them read
when opened (the bell clears), and keeps itself live.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.conftest import wait_until

from .helpers import PHONE, OpenPage, create_post, expect_live, follow, screenshot


def test_the_bell_counts_up_live_and_clears_on_the_notifications_page(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    author = make_user()
    bob, carol, dave = make_user(), make_user(), make_user()
    post = create_post(api, author, "A walk by the river this morning")

    page = open_page(author)
    expect_live(page)
    count = page.get_by_test_id("bell-count")
    expect(count).to_be_hidden()

    for liker in (bob, carol):
        assert api(liker).post(f"/api/posts/{post['id']}/like/").status_code == 200
    expect(count).to_have_text("1")  # two likes of one post: one notification
    wait_until(
        lambda: (
            [i["actors_count"] for i in api(author).get("/api/notifications/").json()["items"]]
            == [2]
        )
    )
    follow(api, dave, author)
    expect(count).to_have_text("2")
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "bell-desktop")

    page.get_by_test_id("bell").click()
    expect(page).to_have_url(re.compile(r"/notifications/$"))
    items = page.get_by_test_id("notification")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_text(re.compile(f"{dave['username']} followed you"))
    expect(items.nth(1)).to_have_text(
        re.compile(f"{carol['username']} and {bob['username']} liked your post")
    )
    expect(items.nth(1).get_by_role("link", name="your post")).to_have_attribute(
        "href", f"/p/{post['id']}/"
    )
    expect(page.get_by_test_id("bell-count")).to_be_hidden()  # opened: read
    expect(page).to_have_title("Notifications · Likefeed")
    assert api(author).get("/api/me/").json()["unread_notifications"] == 0
    screenshot(page, "notifications-desktop")

    # Live on the page: a third like moves the post's notification to the top.
    erin = make_user()
    api(erin).post(f"/api/posts/{post['id']}/like/")
    expect(items.nth(0)).to_have_text(
        re.compile(f"{erin['username']} and 2 others liked your post")
    )
    expect(items).to_have_count(2)

    # A follow after the page was read starts a new group at the top; an unlike changes
    # the like notification where it is (it does not move it up).
    frank = make_user()
    follow(api, frank, author)
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_have_text(re.compile(f"{frank['username']} followed you"))
    api(bob).delete(f"/api/posts/{post['id']}/like/")
    expect(items.nth(1)).to_have_text(
        re.compile(f"{erin['username']} and {carol['username']} liked your post")
    )
    expect(items.nth(0)).to_have_text(re.compile(f"{frank['username']} followed you"))


def test_the_notifications_page_at_phone_width(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    author = make_user()
    post = create_post(api, author, "Pictures from the weekend market, more tomorrow")
    for liker in [make_user() for _ in range(4)]:
        api(liker).post(f"/api/posts/{post['id']}/like/")
    wait_until(
        lambda: (
            [i["actors_count"] for i in api(author).get("/api/notifications/").json()["items"]]
            == [4]
        )
    )
    follow(api, make_user(), author)
    page = open_page(author, path="/", viewport=PHONE)
    expect(page.get_by_test_id("bell-count")).to_have_text("2")
    screenshot(page, "bell-phone")
    page.get_by_test_id("bell").click()
    items = page.get_by_test_id("notification")
    expect(items).to_have_count(2)
    expect(items.filter(has_text="and 3 others liked your post")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    screenshot(page, "notifications-phone")


def test_older_notifications_load_as_the_list_is_scrolled(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    author, liker = make_user(), make_user()
    posts = [create_post(api, author, f"post number {i}") for i in range(23)]
    for post in posts:
        api(liker).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: len(api(author).get("/api/notifications/?limit=100").json()["items"]) == 23)
    page = open_page(author, path="/notifications/")
    items = page.get_by_test_id("notification")
    expect(items.first).to_have_text(re.compile("liked your post"))
    page.get_by_test_id("notifications-more").scroll_into_view_if_needed()
    expect(items).to_have_count(23)
    expect(page.get_by_test_id("notifications-more")).to_be_hidden()
    expect(items.last).to_contain_text("post number 0")
