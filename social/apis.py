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
from config.exceptions import Invalid, NotFound
from config.throttling import LoginRateThrottle, RegisterRateThrottle

from . import access, selectors, services, tokens
from .models import ApiToken
from .serializers import (
    AuthOut,
    CredentialsIn,
    MeOut,
    PageQueryIn,
    PostPageOut,
    ProfileListOut,
    ProfileOut,
    TokenListOut,
    TokensRevokedOut,
)
from .tokens import token_issue


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
        "(revoked at once; the other logins' tokens keep working) or the session. The "
        "sockets opened with it are closed (code 4401) within a second.",
    )
    def post(self, request: Request) -> Response:
        user = viewer(request)
        if isinstance(request.auth, ApiToken):
            tokens.token_revoke(user=user, token_id=request.auth.pk)
            logout(request._request)
        else:
            # The session ends before its sockets hear of it: a page whose socket closes
            # goes straight to the log-in page, which must not find the session still alive.
            session_key = request._request.session.session_key
            logout(request._request)
            if session_key:
                digest = access.session_digest(session_key)
                access.ended(access.AccessEnd(user_id=user.pk, session_digest=digest))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _current_token(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


class TokensApi(APIView):
    """The signed-in user's API tokens: one per login, each ended alone."""

    @extend_schema(
        operation_id="auth_tokens_list",
        responses={200: TokenListOut, **ERRORS},
        tags=["auth"],
        description="Your live API tokens, newest first (never the tokens themselves: only "
        "their digests are stored).",
    )
    def get(self, request: Request) -> Response:
        current = _current_token(request)
        items = [
            {
                "id": token.pk,
                "created": token.created,
                "last_used": token.last_used,
                "expires": tokens.expires_at(token),
                "current": token.pk == current,
            }
            for token in tokens.tokens_of(user=viewer(request))
        ]
        return Response(TokenListOut({"items": items}).data)

    @extend_schema(
        operation_id="auth_tokens_revoke_others",
        request=None,
        responses={200: TokensRevokedOut, **ERRORS},
        tags=["auth"],
        description="Revoke every token but the one this request was made with (signed in by "
        "session: every token); their sockets close (code 4401).",
    )
    def delete(self, request: Request) -> Response:
        revoked = tokens.tokens_revoke_others(user=viewer(request), keep_id=_current_token(request))
        return Response({"revoked": revoked})


class TokenApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **ERRORS},
        tags=["auth"],
        description="Revoke one of your tokens (this one too, if named): it stops working at "
        "once and its sockets close (code 4401). 404 when you have no such token.",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        if not tokens.token_revoke(user=viewer(request), token_id=token_id):
            raise NotFound(f"you have no token {token_id}")
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
