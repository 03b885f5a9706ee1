"""A lean asyncio WebSocket client for ``make bench``: thousands of sockets in one process.

The push benchmark receives tens of thousands of messages a second on a machine whose two
cores also run the server, so the client must cost little per message: this one parses
server frames (unmasked, RFC 6455) by hand and hands each text message to a callback with
the time it arrived. It answers pings (the server's heartbeat) and sends masked text
frames. Nothing else of the protocol is needed here.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from typing import cast

OnText = Callable[[bytes, float], None]


class WsClient(asyncio.Protocol):
    def __init__(self, on_text: OnText) -> None:
        self.on_text = on_text
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(self.buffer[9:12])
            del self.buffer[: end + 4]
            if status != 101:
                self.opened.set_exception(ConnectionError(f"handshake answered {status}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(status)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        now = time.time()
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            if opcode == 0x1:
                self.on_text(payload, now)
            elif opcode == 0x9:
                self._send(0xA, payload)  # pong
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def close(self) -> None:
        if self.transport is not None:
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def ws_open(host: str, port: int, path: str, token: str, on_text: OnText) -> WsClient:
    """Open an authenticated socket (``Authorization: Token``, no Origin: a script)."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: WsClient(on_text), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert client.transport is not None
    client.transport.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Token {token}\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(client.opened, timeout=30)
    return client
