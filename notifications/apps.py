from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_delete


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # A like's mail and notification follow once its fan-out completed (the like's
        # outbox then covers them too): hooks on the pipeline's like kind. An unlike takes
        # its actor out once its removal ran; follows change notifications after commit.
        from feed import fanout
        from feed import services as feed_services

        from .grouping import (
            follow_notification_change,
            like_notifications_add,
            like_notifications_remove,
        )
        from .services import like_mails_schedule

        fanout.after_done("like", like_mails_schedule)
        fanout.after_done("like", like_notifications_add)
        fanout.after_removed("like", like_notifications_remove)
        feed_services.after_follow(follow_notification_change)
        # A post's deletion (whoever deletes it: the author through feed.services, the
        # admin) takes its notifications first, telling their recipients' open pages.
        pre_delete.connect(_post_notifications_delete, sender="social.Post", weak=False)


def _post_notifications_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    from .grouping import post_notifications_delete

    post_notifications_delete(post_ids=[instance.pk])
