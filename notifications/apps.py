from django.apps import AppConfig


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
