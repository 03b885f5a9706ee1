from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "feed"
    verbose_name = "Feeds and live push"

    def ready(self) -> None:
        # When a token, session or account ends, its sockets close (social.access tells,
        # feed.ws_auth publishes to the user's sockets).
        from social import access

        from .ws_auth import access_end_publish

        access.on_end(access_end_publish)
