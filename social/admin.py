from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Follow, Post, User

admin.site.register(User, UserAdmin)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("id", "follower", "followee", "created_at")
    raw_id_fields = ("follower", "followee")


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("id", "author", "body", "like_count", "created_at")
    raw_id_fields = ("author",)
    search_fields = ("body", "author__username")
