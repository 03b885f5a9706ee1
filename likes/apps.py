from django.apps import AppConfig


class LikesConfig(AppConfig):
    name = "likes"
    verbose_name = "Likes"

    def ready(self) -> None:
        # The like kind and liked_by_me, handed to the fan-out pipeline (feed never imports
        # likes: see feed.fanout).
        from . import fanout

        fanout.register()
