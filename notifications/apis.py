"""``/api/me/notifications/`` (where mail goes, the like-mail opt-out), ``/api/notifications/``
(grouped notifications, marking them read) and ``/api/me/`` with the unread count. Thin."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, validated, validated_query, viewer
from social.apis import MeApi as SocialMeApi

from . import grouping, selectors, services
from .serializers import (
    MailPreferencesIn,
    MailPreferencesOut,
    MeWithUnreadOut,
    NotificationPageOut,
    NotificationsQueryIn,
)


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


class NotificationsApi(APIView):
    @extend_schema(
        parameters=[NotificationsQueryIn],
        responses={200: NotificationPageOut, **ERRORS},
        tags=["notifications"],
        description="Grouped notifications, most recently changed first, and the unread count.",
    )
    def get(self, request: Request) -> Response:
        query = validated_query(NotificationsQueryIn, request)
        page = selectors.notifications_page(
            user_id=viewer(request).pk, limit=query["limit"], before=query.get("before")
        )
        return Response(asdict(page))


class NotificationsReadApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **ERRORS},
        tags=["notifications"],
        description="Everything up to now is read.",
    )
    def post(self, request: Request) -> Response:
        grouping.notifications_read(user=viewer(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(SocialMeApi):
    """``/api/me/`` with the bell's count: ``social`` is the ground floor and does not know
    notifications, so the count is added here, above it."""

    @extend_schema(responses={200: MeWithUnreadOut, **ERRORS}, tags=["auth"])
    def get(self, request: Request) -> Response:
        response = super().get(request)
        response.data["unread_notifications"] = selectors.unread_count(user_id=viewer(request).pk)
        return response
