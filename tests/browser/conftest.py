"""Browser fixtures: a headless Chromium (Debian's, no download) driven by Playwright.

The stack itself (ASGI server, Celery workers, PostgreSQL, Redis) and the ``live_server_url``,
``make_user`` and ``api`` fixtures come from ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from .helpers import DESKTOP, OpenPage

CHROMIUM = os.environ.get("LIKEFEED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Web-first assertions wait this long for the page to catch up (live events go through Celery).
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser(live_stack: Any) -> Iterator[Browser]:
    """One Chromium for the module, started after the stack (``tests/conftest.py``).

    Playwright's sync API keeps an asyncio loop running on this thread, so Django would take
    pytest-django's database work between tests (the flush of ``transactional_db``) for ORM
    calls from async code and refuse them. That work is plain sync code of this test process,
    so it is allowed here, for this module only. The servers under test are separate
    processes, started before, and keep Django's check.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium or set LIKEFEED_CHROMIUM")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser, live_server_url: str) -> Iterator[OpenPage]:
    """``open_page(user=None, path="/", viewport=DESKTOP, context=None)`` → a loaded page.

    With a ``user`` (from ``make_user``) the page's context is logged in through the API first,
    so the page has a session cookie as after the log-in form. Pass ``context=page.context``
    to open a second tab of the same person. Uncaught script errors fail the test.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_(
        user: dict[str, Any] | None = None,
        path: str = "/",
        viewport: ViewportSize = DESKTOP,
        context: BrowserContext | None = None,
    ) -> Page:
        if context is None:
            context = browser.new_context(base_url=live_server_url, viewport=viewport)
            contexts.append(context)
            if user is not None:
                answer = context.request.post(
                    "/api/auth/login/",
                    data={"username": user["username"], "password": user["password"]},
                )
                assert answer.ok, answer.text()
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
