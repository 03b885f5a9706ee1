"""Small helpers every API view shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from drf_spectacular.utils import inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

if TYPE_CHECKING:
    from social.models import User

# Every 4xx/5xx answer: a code, a sentence saying what is wrong, and per-field details.
# (Built inline: a Serializer subclass cannot declare a field named "fields".)
ErrorOut = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    },
)

# The error answers every endpoint may give, for the OpenAPI schema (503: the database is
# unavailable, see config.exceptions).
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 503: ErrorOut}
# ...and those of rate-limited endpoints (config.throttling): 429 with Retry-After.
THROTTLED = {**ERRORS, 429: ErrorOut}


def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate the request body; a 400 naming the field otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def validated_query(
    serializer_class: type[serializers.Serializer], request: Request
) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def viewer(request: Request) -> User:
    """The authenticated user of a request that the view's permission let through."""
    assert request.user.is_authenticated, "view reached without authentication"
    return cast("User", request.user)


class JsonErrors(APIView):
    """For views whose success is not JSON (the schema's YAML, Swagger's page): their
    refusals still are, as everything under /api/. Without it a ``POST /api/docs/`` was a
    500 (the HTML renderer has no template for a 405) and the schema's 405 was YAML."""

    def handle_exception(self, exc: Exception) -> Response:
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class SchemaApi(JsonErrors, SpectacularAPIView):
    http_method_names = ["get", "head"]


class SwaggerApi(JsonErrors, SpectacularSwaggerSplitView):
    """Swagger UI without inline script or style, as the Content-Security-Policy wants: the
    split view serves its start-up script at ``?script=``, and the page's styles are a file
    (``frontend/swagger_ui.html``)."""

    http_method_names = ["get", "head"]
    template_name = "frontend/swagger_ui.html"
