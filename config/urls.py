from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from feed import apis as feed_apis
from likes import apis as likes_apis
from notifications import apis as notifications_apis
from ops import views as ops_views
from social import apis as social_apis

from .health import HealthApi


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
    path("me/", social_apis.MeApi.as_view(), name="me"),
    path(
        "me/notifications/", notifications_apis.MailPreferencesApi.as_view(), name="notifications"
    ),
    path("users/", social_apis.UserSuggestionsApi.as_view(), name="user-suggestions"),
    path("users/<str:username>/", social_apis.UserApi.as_view(), name="user"),
    path("users/<str:username>/follow/", feed_apis.FollowApi.as_view(), name="follow"),
    path("posts/", feed_apis.PostCreateApi.as_view(), name="post-create"),
    path("posts/<id:post_id>/", feed_apis.PostApi.as_view(), name="post"),
    path("posts/<id:post_id>/like/", likes_apis.LikeApi.as_view(), name="like"),
    path("feed/", feed_apis.FeedApi.as_view(), name="feed"),
    path("health/", HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="swagger-ui"),
]


def api_not_found(request: HttpRequest, rest: str) -> JsonResponse:
    return JsonResponse(
        {"error": "not_found", "detail": f"no endpoint at {request.path}"}, status=404
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", include((api, "api"))),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("admin/", admin.site.urls),
    path("ops/", include("ops.urls")),
    path("metrics", ops_views.metrics_view, name="metrics"),  # Prometheus' default path
    path("", include("frontend.urls")),
]
