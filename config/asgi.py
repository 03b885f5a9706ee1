"""ASGI entry point: HTTP through Django, WebSocket ``/ws/`` through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from feed.consumers import FeedConsumer  # noqa: E402
from feed.ws_auth import websocket_guard  # noqa: E402
from likes.asgi import like_fast_path  # noqa: E402
from ops.sockets import count_sockets  # noqa: E402

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
