"""A real SMTP server for the live stack's mail worker (aiosmtpd, on 127.0.0.1).

The SMTP server is the one true external boundary of the mail path, so this is where tests
stand in for the world: the worker's Django SMTP backend talks to it over a socket like it
would to a mail relay. ``hold()`` makes it keep every incoming mail waiting after the
client has sent it (the client sits in its DATA command, as with a slow relay) until
``release()``.
"""

from __future__ import annotations

import asyncio
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[EmailMessage] = []
        self.waiting = 0  # mails held right now
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._open.set()
        self._controller.stop()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.received if address in str(m["To"])]

    # aiosmtpd calls this for each mail, on its own event loop.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.waiting += 1
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._open.wait)
        finally:
            with self._lock:
                self.waiting -= 1
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        with self._lock:
            self.received.append(message)
        return "250 Message accepted for delivery"
