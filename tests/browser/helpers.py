"""Small helpers shared by the browser tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Locator, Page, ViewportSize, expect

T = TypeVar("T")

SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP: ViewportSize = {"width": 1200, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

OpenPage = Callable[..., Page]
"""The ``open_page`` fixture: ``open_page(user=None, path="/", viewport=DESKTOP, context=None)``."""


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def wait_for(page: Page, predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """Let Playwright deliver its events until ``predicate()`` is truthy; return it.

    For state kept in the test process (requests a route holds, frames a socket received):
    route handlers and ``page.on`` callbacks run only while Playwright has the thread, so a
    plain ``time.sleep`` loop would never see them. What the page shows is waited for with
    ``expect`` instead. Not a timing assertion: the timeout bounds the wait for an outcome
    that must happen.
    """
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        page.wait_for_timeout(20)
    return value


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG under tests/browser/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled")
    return path


DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def doc_screenshot(page: Page, name: str) -> Path | None:
    """The README's pictures (docs/screenshots/<name>.png), taken only when
    ``LIKEFEED_SCREENSHOTS=1`` so that a test run does not change the committed tree.

    Saved as 256-colour PNGs (Pillow's quantize): a UI of flat colours loses nothing seen,
    and each file stays well under 100 KB."""
    if os.environ.get("LIKEFEED_SCREENSHOTS") != "1":
        return None
    from PIL import Image

    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, animations="disabled", caret="hide")
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


# --- through the API, as another person would act ---------------------------------------------


def follow(api: Any, follower: dict[str, Any], followee: dict[str, Any]) -> None:
    answer = api(follower).put(f"/api/users/{followee['username']}/follow/")
    assert answer.json() == {"following": True}


def create_post(api: Any, author: dict[str, Any], body: str) -> dict[str, Any]:
    answer = api(author).post("/api/posts/", json={"body": body})
    assert answer.status_code == 201, answer.text
    return answer.json()


# --- what the page shows ----------------------------------------------------------------------


def expect_live(page: Page) -> None:
    status = page.get_by_test_id("live-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_text("Live")


def feed_items(page: Page, text: str | None = None) -> Locator:
    items = page.get_by_test_id("feed-item")
    return items if text is None else items.filter(has_text=text)


def like_button(page: Page, post_id: int) -> Locator:
    return page.locator(f'[data-testid="like-button"][data-post-id="{post_id}"]')


def like_count(page: Page, post_id: int) -> Locator:
    return page.locator(f'[data-testid="like-count"][data-post-id="{post_id}"]')
