from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # A like's mail is scheduled once its fan-out completed (the like's outbox then
        # covers the mail too): a hook on the pipeline's like kind.
        from feed import fanout

        from .services import like_mails_schedule

        fanout.after_done("like", like_mails_schedule)
