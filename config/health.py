"""``GET /api/health/``: is each part answering? 200, or 503 naming the failing part."""

from __future__ import annotations

from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.celery import app as celery_app
from config.redis import get_redis

WORKER_PING_TIMEOUT_S = 0.5

HealthOut = inline_serializer(
    "Health",
    {
        "database": serializers.CharField(),
        "redis": serializers.CharField(),
        "workers": serializers.IntegerField(),
    },
)


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as exc:  # the point is to report any failure, whatever it is
        return f"error: {type(exc).__name__}: {exc}"[:200]
    return "ok"


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _workers() -> int:
    try:
        return len(celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_S) or [])
    except Exception:
        return 0


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: HealthOut, 503: HealthOut}, tags=["health"])
    def get(self, request: Request) -> Response:
        body = {
            "database": _check(_select_one),
            "redis": _check(get_redis().ping),
            "workers": _workers(),
        }
        healthy = body["database"] == "ok" and body["redis"] == "ok"
        return Response(body, status=200 if healthy else 503)
