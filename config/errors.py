"""Django's own error answers, in the one error format under ``/api/``.

DRF answers what reaches an API view (``config.exceptions``); these are the answers given
before or outside one, which Django would otherwise render as HTML pages: an unknown
``/api/`` path (the catch-all of ``config.urls``), a refused CSRF check (Django's HTML 403,
``CSRF_FAILURE_VIEW``), a ``SuspiciousOperation`` such as a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` read by Django itself (``handler400``), and the 403/404/500
handlers. Outside ``/api/`` they are Django's default views, which render the site's own
``404.html``, ``500.html``, ``403.html`` and ``400.html`` (frontend/templates).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt

from config.exceptions import error_json, is_api


@csrf_exempt  # an unknown path is a 404 whatever the method, never the CSRF page's 403
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_json(code="not_found", detail=f"no endpoint at {request.path!r}", status_code=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)  # type: ignore[arg-type]
    if isinstance(exception, RequestDataTooBig):
        return error_json(code="too_large", detail="the request body is too large", status_code=413)
    return error_json(code="invalid", detail="a malformed request", status_code=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)  # type: ignore[arg-type]
    return error_json(code="permission_denied", detail="not allowed", status_code=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return api_not_found(request)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request)
    return error_json(code="error", detail="the server failed; this is a bug", status_code=500)


def csrf_failure(request: HttpRequest, reason: str = "", **kwargs: Any) -> HttpResponse:
    if not is_api(request):
        return csrf.csrf_failure(request, reason, **kwargs)
    return error_json(code="permission_denied", detail=f"CSRF: {reason}", status_code=403)
