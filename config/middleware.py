"""The first middleware: refuse what no view, session or throttle may ever see.

A NUL byte or a lone surrogate in a path, query or header (a cookie or a token included)
would otherwise reach PostgreSQL (which refuses NUL in text: a 500 at the query, the
session lookup or the token lookup), a Redis key (unencodable: a 500 at the throttle), or
a log line. Refused here, once, before ``SessionMiddleware`` reads the cookie and before any
view, with a 400; and a body whose declared length is over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
with a 413 before anything reads it. Under ``/api/`` both in the one error format; elsewhere
as plain text. On the way out, an error under ``/api/`` that is not JSON becomes JSON.
JSON bodies are checked by ``config.parsers.BoundedJSONParser``; form bodies by Django's
forms (``ProhibitNullCharactersValidator``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from config.exceptions import error_json, is_api
from config.parsers import UNSTORABLE

# The request's own headers in META (the rest of META is the server's, not the client's).
_CLIENT_META = ("CONTENT_TYPE", "CONTENT_LENGTH", "QUERY_STRING")


def unstorable_part(request: HttpRequest) -> str | None:
    """Which part of the request holds a NUL or a lone surrogate, or None."""
    if UNSTORABLE.search(request.path):
        return "the path"
    query = request.META.get("QUERY_STRING", "")
    if UNSTORABLE.search(unquote(query, errors="replace")) or UNSTORABLE.search(query):
        return "the query string"
    for name, value in request.META.items():
        client_sent = name.startswith("HTTP_") or name in _CLIENT_META
        if client_sent and isinstance(value, str) and UNSTORABLE.search(value):
            return f"the header {name.removeprefix('HTTP_').replace('_', '-').title()}"
    return None


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() else None


class HostileInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        part = unstorable_part(request)
        if part is not None:
            detail = f"{part} holds a NUL character or a lone surrogate"
            if is_api(request):
                return error_json(code="invalid", detail=detail, status_code=400)
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = _declared_length(request)
        if limit is not None and length is not None and length > limit:
            detail = f"the request body is over {limit} bytes"
            if is_api(request):
                return error_json(code="too_large", detail=detail, status_code=413)
            return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            return _as_json(response)
        return response


# The error code of the one format for an answer that left Django's stack without one.
_CODES = {
    400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 429: "throttled", 503: "unavailable",
}  # fmt: skip
_KEPT_HEADERS = ("Retry-After", "Allow", "WWW-Authenticate")


def _is_json(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith("application/json")


def _as_json(response: HttpResponse) -> HttpResponse:
    """The last guard of "every error under /api/ is JSON": an error page that some layer
    rendered as HTML anyway (Django's DEBUG pages for a ``SuspiciousOperation`` such as an
    unknown Host, which skip ``handler400``) becomes the one format, with the same status.
    The handlers of ``config.errors`` and DRF's answer JSON first; this only catches the
    rest, and the original was already logged by ``django.request``."""
    status = response.status_code
    answer = error_json(
        code=_CODES.get(status, "error"),
        detail=f"{status} {response.reason_phrase}".lower(),
        status_code=status,
    )
    for header in _KEPT_HEADERS:
        if header in response:
            answer[header] = response[header]
    return answer
