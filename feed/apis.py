"""HTTP API for what shapes feeds: posts, follows, and the feed itself. Thin views."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, THROTTLED, validated, validated_query, viewer
from config.exceptions import Invalid
from config.throttling import FollowRateThrottle, PostRateThrottle
from social import selectors as social_selectors
from social.render import post_json
from social.serializers import PostIn, PostOut

from . import activity, fanout, selectors, services, store
from .serializers import FeedPageOut, FeedQueryIn, FollowOut


class PostCreateApi(APIView):
    throttle_classes = [PostRateThrottle]

    @extend_schema(request=PostIn, responses={201: PostOut, **THROTTLED}, tags=["posts"])
    def post(self, request: Request) -> Response:
        data = validated(PostIn, request)
        post = services.post_publish(author=viewer(request), body=data["body"])
        return Response(post_json(post, liked_by_me=False), status=201)


class PostApi(APIView):
    """Read a post (anyone); delete one's own (rate-limited per user with posting: the
    ``post`` scope, CONTRACT "posting, following and deleting per user")."""

    def get_permissions(self) -> list[Any]:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    def get_throttles(self) -> list[Any]:
        return [PostRateThrottle()] if self.request.method == "DELETE" else []

    @extend_schema(responses={200: PostOut, **ERRORS}, tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        post = social_selectors.post_get(post_id=post_id)
        liked = request.user.is_authenticated and bool(
            fanout.liked_pairs([(request.user.pk, post.pk)])
        )
        return Response(post_json(post, liked_by_me=liked))

    @extend_schema(
        request=None,
        responses={204: None, **THROTTLED},
        tags=["posts"],
        description="Deletes your own post (403 for anyone else's): its likes go with it, "
        "and it leaves every feed, live (``feed.remove``).",
    )
    def delete(self, request: Request, post_id: int) -> Response:
        services.post_delete(user=viewer(request), post_id=post_id)
        return Response(status=204)


class FollowApi(APIView):
    throttle_classes = [FollowRateThrottle]

    @extend_schema(request=None, responses={200: FollowOut, **THROTTLED}, tags=["social"])
    def put(self, request: Request, username: str) -> Response:
        followee = social_selectors.user_get(username=username)
        services.follow(follower=viewer(request), followee=followee)
        return Response({"following": True})

    @extend_schema(request=None, responses={200: FollowOut, **THROTTLED}, tags=["social"])
    def delete(self, request: Request, username: str) -> Response:
        followee = social_selectors.user_get(username=username)
        services.unfollow(follower=viewer(request), followee=followee)
        return Response({"following": False})


class FeedApi(APIView):
    @extend_schema(parameters=[FeedQueryIn], responses={200: FeedPageOut, **ERRORS}, tags=["feed"])
    def get(self, request: Request) -> Response:
        query = validated_query(FeedQueryIn, request)
        activity.feed_read(user_id=viewer(request).pk)  # back after a while: rebuilt first
        try:
            page = selectors.feed_page(
                viewer_id=viewer(request).pk, limit=query["limit"], before=query.get("before")
            )
        except store.BadCursor:
            raise Invalid("before: not a cursor this feed gave out") from None
        return Response(asdict(page))
