from django.contrib import admin

from .models import LikeMailMark, MailSettings, Notification


@admin.register(MailSettings)
class MailSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "like_emails")
    list_filter = ("like_emails",)
    raw_id_fields = ("user",)
    search_fields = ("user__username", "user__email")


@admin.register(LikeMailMark)
class LikeMailMarkAdmin(admin.ModelAdmin):
    list_display = ("post", "last_like_id", "sent_at")
    raw_id_fields = ("post",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "post", "actors_count", "read", "updated_at")
    list_filter = ("kind", "read")
    raw_id_fields = ("recipient", "post")
    search_fields = ("recipient__username",)
