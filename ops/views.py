"""The ops page (``/ops/``, staff only), its JSON (``/ops/json/``) and ``/metrics``.

A snapshot waits half a second for the workers' answers; each request runs in a thread of
the web process's pool (config/asgi.py), so the wait holds that thread only.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from social.models import User
from social.tokens import user_for_key

from .metrics import registry
from .snapshot import snapshot_get

POLL_EVERY_MS = 2000


@staff_member_required
def ops_page(request: HttpRequest) -> HttpResponse:
    return render(request, "ops/index.html", {"poll_every_ms": POLL_EVERY_MS})


def _is_staff(request: HttpRequest) -> bool:
    """A staff member's session (the page's own fetch) or API token (a script's)."""
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    user: User | AnonymousUser | None = (
        user_for_key(key.strip()) if kind == "Token" else request.user
    )
    return bool(user and user.is_active and user.is_staff)


def ops_json(request: HttpRequest) -> JsonResponse:
    if not _is_staff(request):
        return JsonResponse(
            {"error": "forbidden", "detail": "the ops view is for staff: log in at /admin/ "
             "or send a staff member's Authorization: Token <token>"},
            status=403,
        )  # fmt: skip
    return JsonResponse(snapshot_get().as_dict())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Open to any scraper unless ``METRICS_TOKEN`` is set; then it wants
    ``Authorization: Bearer <token>`` (Prometheus' ``authorization`` scrape setting)."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
