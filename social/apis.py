"""HTTP API for accounts, profiles and reading posts. Thin: validate, call, shape."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth import authenticate, login, logout
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ERRORS, THROTTLED, validated, validated_query, viewer
from config.exceptions import Invalid
from config.throttling import LoginRateThrottle, RegisterRateThrottle

from . import selectors, services
from .models import ApiToken
from .serializers import (
    AuthOut,
    CredentialsIn,
    MeOut,
    PageQueryIn,
    PostPageOut,
    ProfileListOut,
    ProfileOut,
)
from .tokens import token_issue, token_revoke


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(request=CredentialsIn, responses={201: AuthOut, **THROTTLED}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = validated(CredentialsIn, request)
        user, token = services.user_create(username=data["username"], password=data["password"])
        return Response({"id": user.pk, "username": user.username, "token": token}, status=201)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        request=CredentialsIn,
        responses={200: AuthOut, **THROTTLED},
        tags=["auth"],
        description="Each login answers a new API token (the earlier ones keep working until "
        "logged out or TOKEN_TTL seconds after they were issued) and sets a session cookie.",
    )
    def post(self, request: Request) -> Response:
        data = validated(CredentialsIn, request)
        username = selectors.user_login_name(username=data["username"])
        user = authenticate(request._request, username=username, password=data["password"])
        if user is None:
            raise Invalid("wrong username or password")
        login(request._request, user)
        token = token_issue(user=user)  # a new one per login: each client logs out alone
        return Response({"id": user.pk, "username": user.username, "token": token})


class LogoutApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **ERRORS},
        tags=["auth"],
        description="Ends what the request was authenticated with: the API token it sent "
        "(revoked at once; the other logins' tokens keep working) and the session.",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            token_revoke(key=request.auth.key)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: MeOut, **ERRORS}, tags=["auth"])
    def get(self, request: Request) -> Response:
        profile = asdict(selectors.user_profile(user=viewer(request), viewer_id=None))
        del profile["is_following"]
        return Response(profile)


class UserApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProfileOut, **ERRORS}, tags=["social"])
    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_get(username=username)
        viewer_id = request.user.pk if request.user.is_authenticated else None
        profile = asdict(selectors.user_profile(user=user, viewer_id=viewer_id))
        profile["is_following"] = bool(profile["is_following"])
        return Response(profile)


class UserPostsApi(APIView):
    """A person's posts, newest first (their profile page lists them)."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[PageQueryIn], responses={200: PostPageOut, **ERRORS}, tags=["social"]
    )
    def get(self, request: Request, username: str) -> Response:
        query = validated_query(PageQueryIn, request)
        user = selectors.user_get(username=username)
        viewer_id = request.user.pk if request.user.is_authenticated else None
        page = selectors.user_posts_page(
            user=user, viewer_id=viewer_id, limit=query["limit"], before=query.get("before")
        )
        return Response(asdict(page))


class UserSuggestionsApi(APIView):
    """Who to follow: the most-followed accounts the viewer does not follow yet."""

    @extend_schema(
        operation_id="users_suggested",
        parameters=[OpenApiParameter("suggested", int, description="1: who to follow")],
        responses={200: ProfileListOut, **ERRORS},
        tags=["social"],
    )
    def get(self, request: Request) -> Response:
        profiles = selectors.users_suggested(viewer_id=viewer(request).pk)
        return Response({"items": [asdict(p) for p in profiles]})
