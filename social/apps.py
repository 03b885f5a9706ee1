from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "social"
    verbose_name = "Social graph and posts"

    def ready(self) -> None:
        # An account switched off (the admin saves the model) or deleted: its sockets close
        # (social.access says why on the model rather than in a service).
        from django.db.models.signals import post_delete, post_save

        from . import access
        from .models import User

        post_save.connect(access.user_saved, sender=User, dispatch_uid="access-user-saved")
        post_delete.connect(access.user_deleted, sender=User, dispatch_uid="access-user-deleted")
