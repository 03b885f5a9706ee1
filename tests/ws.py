"""A small WebSocket client for tests (the ``websockets`` library's sync client)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect


def ws_connect(
    url: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    **options: Any,
) -> ClientConnection:
    """Open a socket; ``options`` go to ``websockets.sync.client.connect`` (sock, max_queue)."""
    headers = {}
    if token:
        headers["Authorization"] = f"Token {token}"
    if cookie:
        headers["Cookie"] = cookie
    return connect(url, additional_headers=headers, origin=origin, open_timeout=10, **options)  # type: ignore[arg-type]


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def receive_until(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read messages until one matches; returns it and everything read before it."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        message = receive(ws, timeout=max(0.01, deadline - time.monotonic()))
        if match(message):
            return message, seen
        seen.append(message)


def drain(ws: ClientConnection, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Everything that arrives until the socket has been quiet for ``quiet`` seconds."""
    messages = []
    while True:
        try:
            messages.append(receive(ws, timeout=quiet))
        except TimeoutError:
            return messages
