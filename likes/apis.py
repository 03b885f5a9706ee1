"""The like endpoint: the hot path. One SQL statement per request (see likes.services)."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, THROTTLED, validated_query, viewer
from config.throttling import LikeRateThrottle
from social.serializers import PageQueryIn

from . import selectors, services
from .serializers import LikerPageOut, LikeStateOut


class LikeApi(APIView):
    throttle_classes = [LikeRateThrottle]

    @extend_schema(request=None, responses={200: LikeStateOut, **THROTTLED}, tags=["likes"])
    def post(self, request: Request, post_id: int) -> Response:
        return Response(asdict(services.like_create(user_id=viewer(request).pk, post_id=post_id)))

    @extend_schema(request=None, responses={200: LikeStateOut, **THROTTLED}, tags=["likes"])
    def delete(self, request: Request, post_id: int) -> Response:
        return Response(asdict(services.like_delete(user_id=viewer(request).pk, post_id=post_id)))


class PostLikesApi(APIView):
    """Who likes a post, newest first (the post page lists them)."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[PageQueryIn], responses={200: LikerPageOut, **ERRORS}, tags=["likes"]
    )
    def get(self, request: Request, post_id: int) -> Response:
        query = validated_query(PageQueryIn, request)
        page = selectors.post_likers_page(
            post_id=post_id, limit=query["limit"], before=query.get("before")
        )
        return Response(asdict(page))
