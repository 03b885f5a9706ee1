"""ASGI entry point: HTTP through Django (as WSGI, in a thread pool), WebSocket ``/ws/``
through Channels, both in one uvicorn process.

**Why Django's HTTP runs as WSGI here.** Under Django's own ASGI handler a request crosses
to a worker thread and back at every middleware: ``MiddlewareMixin.__acall__`` runs each
``process_request``/``process_response`` through ``sync_to_async`` (two hops per middleware,
eight middlewares), and the handler starts and joins a new thread per request
(``ThreadSensitiveContext``). py-spy on the web process under ``make bench``'s bare view:
most of its time was thread hand-offs, and the bare view answered 155-311 req/s. The same
Django, called as WSGI by a2wsgi's thread pool (one hop per request: the whole request runs
in one pool thread), answered 721-1,262 req/s in the same runs (README, "Django's own
path"). The pool's threads also let slow views (a health check's worker ping, a big page)
run beside the rest instead of queueing on the one thread Django's ASGI handler shares.

Async views still work (Django runs them with ``async_to_sync`` in the pool thread), but
the project's HTTP views are sync: blocking in them costs one pool thread, nothing else.
What needs the event loop stays in it: the like fast path (``likes.asgi``) and the sockets.
"""

import os
from typing import cast

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_wsgi_app = get_wsgi_application()  # sets Django up before the consumers are imported

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from feed.consumers import FeedConsumer  # noqa: E402
from feed.ws_auth import websocket_guard  # noqa: E402
from likes.asgi import ASGIApp, like_fast_path  # noqa: E402
from ops.sockets import count_sockets  # noqa: E402

# Django's HTTP, as an ASGI application: every request one hop to a pool thread.
django_asgi_app = cast(
    ASGIApp,
    WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS),  # type: ignore[arg-type]
)

application = ProtocolTypeRouter(
    {
        # The like hot path is answered in the event loop; everything else by Django.
        "http": like_fast_path(django_asgi_app),
        # count_sockets: the open-socket figure of the ops page (refused handshakes never count)
        "websocket": count_sockets(
            websocket_guard(URLRouter([path("ws/", FeedConsumer.as_asgi())]))
        ),
    }
)
