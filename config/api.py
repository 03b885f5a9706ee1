"""Small helpers every API view shares."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


class ErrorOut(serializers.Serializer):
    """Every 4xx/5xx answer: a code, a sentence saying what is wrong, and per-field details."""

    error = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(required=False)


# The error answers every endpoint may give, for the OpenAPI schema.
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


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
