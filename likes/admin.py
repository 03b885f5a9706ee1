from django.contrib import admin

from .models import Like


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "post", "created_at", "fanned_out_at")
    raw_id_fields = ("user", "post")
    list_filter = ("fanned_out_at",)
