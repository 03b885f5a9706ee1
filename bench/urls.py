"""The bench's URLconf (``bench.settings``): the project's URLs plus the baselines.

``make bench`` compares the real like endpoint, side by side on the same server, with

- ``POST /api/bench/textbook/posts/<id>/like/``: the textbook like view (``bench.textbook``:
  ``get_or_create`` in a transaction, ``F()`` update, ``.delay()`` on commit);
- ``GET /api/bench/bare/``: a bare Django JSON view, the ceiling of the app and server: the
  same middleware, URL resolution and server, and no work at all.

They are not part of the contract: the application's URLconf (``config.urls``) never routes
them, and the image does not ship ``bench/``.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path

from bench.textbook import TextbookLikeApi
from config import urls as project_urls


def bare_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


# Before the project's: its catch-all under api/ answers 404 to anything it does not route.
urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "api/bench/textbook/posts/<id:post_id>/like/",
        TextbookLikeApi.as_view(),
        name="bench-textbook",
    ),
    path("api/bench/bare/", bare_json, name="bench-bare"),
    *project_urls.urlpatterns,
]
