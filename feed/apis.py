"""HTTP API for what shapes feeds: posts, follows, and the feed itself. Thin views."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, validated, validated_query, viewer
from config.exceptions import Invalid
from social import selectors as social_selectors
from social.render import post_json
from social.serializers import PostIn, PostOut

from . import fanout, selectors, services, store
from .serializers import FeedPageOut, FeedQueryIn, FollowOut


class PostCreateApi(APIView):
    @extend_schema(request=PostIn, responses={201: PostOut, **ERRORS}, tags=["posts"])
    def post(self, request: Request) -> Response:
        data = validated(PostIn, request)
        post = services.post_publish(author=viewer(request), body=data["body"])
        return Response(post_json(post, liked_by_me=False), status=201)


class PostApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: PostOut, **ERRORS}, tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        post = social_selectors.post_get(post_id=post_id)
        liked = request.user.is_authenticated and bool(
            fanout.liked_pairs([(request.user.pk, post.pk)])
        )
        return Response(post_json(post, liked_by_me=liked))


class FollowApi(APIView):
    @extend_schema(request=None, responses={200: FollowOut, **ERRORS}, tags=["social"])
    def put(self, request: Request, username: str) -> Response:
        followee = social_selectors.user_get(username=username)
        services.follow(follower=viewer(request), followee=followee)
        return Response({"following": True})

    @extend_schema(request=None, responses={200: FollowOut, **ERRORS}, tags=["social"])
    def delete(self, request: Request, username: str) -> Response:
        followee = social_selectors.user_get(username=username)
        services.unfollow(follower=viewer(request), followee=followee)
        return Response({"following": False})


class FeedApi(APIView):
    @extend_schema(parameters=[FeedQueryIn], responses={200: FeedPageOut, **ERRORS}, tags=["feed"])
    def get(self, request: Request) -> Response:
        query = validated_query(FeedQueryIn, request)
        try:
            page = selectors.feed_page(
                viewer_id=viewer(request).pk, limit=query["limit"], before=query.get("before")
            )
        except store.BadCursor:
            raise Invalid("before: not a cursor this feed gave out") from None
        return Response(asdict(page))
