"""Baseline endpoints for ``make bench`` only: never routed unless ``BENCH_BASELINES`` is on.

``make bench`` compares the real like endpoint, side by side on the same server, with

- ``POST /api/bench/textbook/posts/<id>/like/``: the textbook like view (``likes.textbook``:
  ``get_or_create`` in a transaction, ``F()`` update, ``.delay()`` on commit);
- ``GET /api/bench/bare/``: a bare Django JSON view, the ceiling of the app and server: the
  same middleware, URL resolution and server, and no work at all.

They are not part of the contract and are left out of the OpenAPI schema.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path

from likes.textbook import TextbookLikeApi


def bare_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns: list[URLPattern] = [
    path(
        "bench/textbook/posts/<id:post_id>/like/", TextbookLikeApi.as_view(), name="bench-textbook"
    ),
    path("bench/bare/", bare_json, name="bench-bare"),
]
