"""The API's only body parser: JSON, bounded in size and depth, with text PostgreSQL and
Redis can hold.

Why not DRF's ``JSONParser`` as is: it reads the whole stream whatever its size, lets
``json`` recurse until a ``RecursionError`` (a 500) on a few thousand nested brackets, and
hands on strings with NUL bytes (PostgreSQL refuses them in text: a 500 at the query) or
lone surrogates (unencodable as UTF-8: a 500 at a Redis key or a psycopg parameter). Here
each of those is refused while parsing, before a throttle, a serializer or a service sees
the data: 413 past ``DATA_UPLOAD_MAX_MEMORY_SIZE``, 400 otherwise, in the one error format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# Deeper than any body of the contract (an object of scalars, depth 1) by far, and far below
# where the json module or a recursive walk could run out of stack.
JSON_MAX_DEPTH = 32
# What no stored text may contain: NUL (PostgreSQL's text refuses it) and the surrogate
# code points (no UTF-8 encoding: psycopg, Redis and every encoder refuse them).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class PayloadTooLarge(APIException):
    """A request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413, never read whole. (Here,
    not in ``config.exceptions``: DRF imports this module while that one is loading.)"""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "the request body is too large"


def json_depth_exceeds(raw: bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (before parsing)."""
    level = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        level += 1 if byte in b"[{" else -1
        if level > limit:
            return True
    return False


def unstorable_text(data: Any) -> bool:
    """Whether any key or string value (at any depth) holds a NUL or a lone surrogate."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class BoundedJSONParser(JSONParser):
    """``application/json`` bodies: at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, nested
    at most ``JSON_MAX_DEPTH`` deep, strict JSON (no NaN), storable text only."""

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(f"the request body is over {limit} bytes")
        if json_depth_exceeds(raw):
            raise ParseError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"malformed JSON: {exc}") from None
        if unstorable_text(data):
            raise ParseError("text with a NUL character or a lone surrogate")
        return data
