"""The ops page (``/ops/``, staff only), its JSON (``/ops/json/``) and ``/metrics``.

The JSON and metrics views are async on purpose: a snapshot waits half a second for the
workers' answers, and Django runs every sync view of an ASGI process on one shared thread,
so a sync view here would stall every other request of the process (the like endpoint
included) while it waits. They run the snapshot in a thread of their own instead.
"""

from __future__ import annotations

import asyncio
import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from social.models import User
from social.tokens import auser_for_key

from .metrics import registry
from .snapshot import Snapshot, snapshot_get

POLL_EVERY_MS = 2000


def _snapshot_then_release() -> Snapshot:
    try:
        return snapshot_get()
    finally:
        connections.close_all()  # this worker thread's connections go back to the pool


def _metrics_then_release() -> bytes:
    try:
        return generate_latest(registry)
    finally:
        connections.close_all()


@staff_member_required
def ops_page(request: HttpRequest) -> HttpResponse:
    return render(request, "ops/index.html", {"poll_every_ms": POLL_EVERY_MS})


async def _is_staff(request: HttpRequest) -> bool:
    """A staff member's session (the page's own fetch) or API token (a script's)."""
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    user: User | AnonymousUser | None
    if kind == "Token":
        user = await auser_for_key(key.strip())
    else:
        user = await request.auser()
    return bool(user and user.is_active and user.is_staff)


async def ops_json(request: HttpRequest) -> JsonResponse:
    if not await _is_staff(request):
        return JsonResponse(
            {"error": "forbidden", "detail": "the ops view is for staff: log in at /admin/ "
             "or send a staff member's Authorization: Token <token>"},
            status=403,
        )  # fmt: skip
    snap = await asyncio.to_thread(_snapshot_then_release)
    return JsonResponse(snap.as_dict())


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Open to any scraper unless ``METRICS_TOKEN`` is set; then it wants
    ``Authorization: Bearer <token>`` (Prometheus' ``authorization`` scrape setting)."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
    body = await asyncio.to_thread(_metrics_then_release)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
