"""Domain errors and the one place that maps them (and DRF's own) to JSON answers.

Services raise these; views never build error responses by hand. Every error body is
``{"error": "<code>", "detail": "<what is wrong>"}`` plus ``"fields"`` for validation errors.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.parsers import PayloadTooLarge

log = logging.getLogger(__name__)


class DomainError(Exception):
    """An expected refusal of a request; carries the HTTP status it maps to."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class Invalid(DomainError):
    code = "invalid"


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"


def is_api(request: HttpRequest) -> bool:
    """Whether the contract's rule holds for this request: everything under /api/ is JSON."""
    return request.path.startswith("/api/")


def error_json(*, code: str, detail: str, status_code: int) -> JsonResponse:
    """The one error body, for answers given outside DRF (middleware, Django's handlers)."""
    return JsonResponse({"error": code, "detail": detail}, status=status_code)


# A client told 503 may retry after this many seconds (the header makes it machine-readable).
RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = (
    "the database is unavailable; try again (likes and follows are safe to repeat)"
)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        # PostgreSQL cannot be reached (down, restarting, no free connection within
        # DB_POOL_TIMEOUT): nothing was stored, so say so plainly instead of a 500. A write
        # whose commit was cut off may in fact be stored; likes and follows are idempotent,
        # so the client's retry is safe either way. Never a 2xx for what was not stored.
        log.warning("answering 503, database unavailable: %s", exc)
        exc = ServiceUnavailable(DATABASE_UNAVAILABLE)
    if isinstance(exc, DomainError):
        answer = Response({"error": exc.code, "detail": exc.detail}, status=exc.status_code)
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            answer["Retry-After"] = str(RETRY_AFTER_S)
        return answer
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    body: dict[str, Any] = {
        "error": exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid"
    }
    if isinstance(exc.detail, dict | list):
        body["detail"] = _first_message(exc.detail)
        body["fields"] = exc.detail
    else:
        body["detail"] = str(exc.detail)
    response.data = body
    return response


def _first_message(detail: Any) -> str:
    """A one-line summary of a nested DRF validation error, naming the field."""
    if isinstance(detail, dict):
        for field, inner in detail.items():
            message = _first_message(inner)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)
