from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path, register_converter

from feed import apis as feed_apis
from likes import apis as likes_apis
from notifications import apis as notifications_apis
from ops import views as ops_views
from social import apis as social_apis

from . import errors
from .api import SchemaApi, SwaggerApi
from .health import HealthApi
from .throttling import throttled_admin_login


class IdConverter:
    """A positive id that fits PostgreSQL's bigint: larger numbers are a 404, not a 500."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

api = [
    path("auth/register/", social_apis.RegisterApi.as_view(), name="register"),
    path("auth/login/", social_apis.LoginApi.as_view(), name="login"),
    path("auth/logout/", social_apis.LogoutApi.as_view(), name="logout"),
    path("auth/tokens/", social_apis.TokensApi.as_view(), name="tokens"),
    path("auth/tokens/<id:token_id>/", social_apis.TokenApi.as_view(), name="token"),
    path("me/", notifications_apis.MeApi.as_view(), name="me"),  # social's, with the bell
    path(
        "me/notifications/", notifications_apis.MailPreferencesApi.as_view(), name="notifications"
    ),
    path("notifications/", notifications_apis.NotificationsApi.as_view(), name="notification-list"),
    path(
        "notifications/read/",
        notifications_apis.NotificationsReadApi.as_view(),
        name="notifications-read",
    ),
    path("users/", social_apis.UserSuggestionsApi.as_view(), name="user-suggestions"),
    path("users/<str:username>/", social_apis.UserApi.as_view(), name="user"),
    path("users/<str:username>/follow/", feed_apis.FollowApi.as_view(), name="follow"),
    path("users/<str:username>/posts/", social_apis.UserPostsApi.as_view(), name="user-posts"),
    path("posts/", feed_apis.PostCreateApi.as_view(), name="post-create"),
    path("posts/<id:post_id>/", feed_apis.PostApi.as_view(), name="post"),
    path("posts/<id:post_id>/like/", likes_apis.LikeApi.as_view(), name="like"),
    path("posts/<id:post_id>/likes/", likes_apis.PostLikesApi.as_view(), name="post-likes"),
    path("feed/", feed_apis.FeedApi.as_view(), name="feed"),
    path("health/", HealthApi.as_view(), name="health"),
    path("schema/", SchemaApi.as_view(), name="schema"),
    path("docs/", SwaggerApi.as_view(url_name="api:schema"), name="swagger-ui"),
]


urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", include((api, "api"))),
    re_path(r"^api/(?P<rest>.*)$", errors.api_not_found),
    # The admin's log-in, limited per address and username (config.throttling).
    path("admin/login/", throttled_admin_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("ops/", include("ops.urls")),
    path("metrics", ops_views.metrics_view, name="metrics"),  # Prometheus' default path
    path("", include("frontend.urls")),
]

# Django's error pages, in the one JSON format under /api/ (config.errors).
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
