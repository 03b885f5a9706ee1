"""Domain errors and the one place that maps them (and DRF's own) to JSON answers.

Services raise these; views never build error responses by hand. Every error body is
``{"error": "<code>", "detail": "<what is wrong>"}`` plus ``"fields"`` for validation errors.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


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


class Invalid(DomainError):
    code = "invalid"


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"error": exc.code, "detail": exc.detail}, status=exc.status_code)
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
