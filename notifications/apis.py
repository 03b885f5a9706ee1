"""``/api/me/notifications/``: where mail goes and whether likes are mailed (the opt-out)."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, validated, viewer

from . import services
from .serializers import MailPreferencesIn, MailPreferencesOut


class MailPreferencesApi(APIView):
    @extend_schema(responses={200: MailPreferencesOut, **ERRORS}, tags=["notifications"])
    def get(self, request: Request) -> Response:
        return Response(asdict(services.mail_preferences_get(user=viewer(request))))

    @extend_schema(
        request=MailPreferencesIn, responses={200: MailPreferencesOut, **ERRORS},
        tags=["notifications"],
    )  # fmt: skip
    def patch(self, request: Request) -> Response:
        data = validated(MailPreferencesIn, request)
        prefs = services.mail_preferences_update(user=viewer(request), **data)
        return Response(asdict(prefs))
