"""Sign-in, sessions and one's own account: /api/v1/auth/.

Every role, viewers included, may use these on their own account; API keys may not (the views
have no `api_scope`, so ApiKeyScopes refuses keys).
"""

from axes.conf import settings as axes_settings
from axes.utils import reset as axes_reset
from django.contrib.auth import authenticate, logout, update_session_auth_hash
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_serializers import (
    LoginSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    SessionSerializer,
    TokenSerializer,
)
from accounts.lockout import lockout_response
from accounts.models import SessionKind, UserSession
from accounts.permissions import ApiKeyScopes
from accounts.request_meta import request_meta
from accounts.services.sessions import (
    session_create,
    session_rekey,
    session_revoke,
    session_revoke_all,
)
from accounts.services.users import user_change_password, user_update_profile
from accounts.time_zones import time_zone_activate_for
from core.api.pagination import NewestFirstCursorPagination

# Own-account endpoints: any signed-in role (viewers too), never an API key.
SELF_SERVICE = [IsAuthenticated, ApiKeyScopes]
BAD_CREDENTIALS = "Unable to sign in with these credentials."  # the same whether or not the account exists


def current_session(request) -> UserSession | None:
    """The UserSession the request authenticated with: its bearer token, or its browser session."""
    if isinstance(request.auth, UserSession):
        return request.auth
    if request.auth is None and request.user.is_authenticated:
        row = getattr(request._request, "browser_session", None)
        if row is not None and row.user_id == request.user.pk:
            return row
    return None


def _is_browser(request) -> bool:
    return request.auth is None and getattr(request._request, "browser_session", None) is not None


class LoginView(APIView):
    authentication_classes = []  # a stale or revoked token must not stand in the way of signing in
    permission_classes = [AllowAny]
    rate_limit_scope = "auth"  # anonymous: counted per IP address (accounts.throttling)

    def get_authenticate_header(self, request):
        # Without authentication classes DRF would turn a 401 into a 403.
        return "Bearer"

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenSerializer},
        auth=[],
        summary="Sign in with a username or email and a password; returns a bearer token",
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"].strip()
        if "@" in username:
            username = username.lower()  # emails match case-insensitively: count them as one account
        password = serializer.validated_data["password"]
        # The underlying HttpRequest: django-axes reads and flags it, and counts the failure.
        user = authenticate(request=request._request, username=username, password=password)
        if getattr(request._request, "axes_locked_out", False):
            return lockout_response(request._request)
        if user is None:
            raise exceptions.AuthenticationFailed(BAD_CREDENTIALS)
        token, session = session_create(user=user, kind=SessionKind.API, meta=request_meta(request))
        if axes_settings.AXES_RESET_ON_SUCCESS:
            axes_reset(ip=request_meta(request).ip_address, username=username, ip_or_username=True)
        return Response(TokenSerializer({"token": token, "expires_at": session.expires_at}).data)


class LogoutView(APIView):
    permission_classes = SELF_SERVICE

    @extend_schema(request=None, responses={204: None}, summary="Revoke the session making this request")
    def post(self, request):
        session = current_session(request)
        if _is_browser(request):
            logout(request._request)  # revokes the browser session's row (accounts.signals)
        elif session is not None:
            session_revoke(session=session, actor=request.user, request=request, reason="logout")
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    permission_classes = SELF_SERVICE

    @extend_schema(
        request=None, responses={204: None}, summary="Revoke every session of the caller, API and browser"
    )
    def post(self, request):
        browser = _is_browser(request)
        session_revoke_all(user=request.user, actor=request.user, request=request, reason="logout_all")
        if browser:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionPagination(NewestFirstCursorPagination):
    ordering = ("-last_activity", "-pk")


@extend_schema(summary="The caller's own active sessions (every role sees only their own)")
class SessionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = SessionSerializer
    permission_classes = SELF_SERVICE
    pagination_class = SessionPagination
    filter_backends = []
    # Any id segment reaches the view, so a malformed id is this view's JSON 404 (not a URL miss).
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return UserSession.objects.none()
        return UserSession.objects.filter(
            user=self.request.user, is_active=True, expires_at__gt=timezone.now()
        ).order_by("-last_activity", "-pk")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        session = current_session(self.request)
        context["current_session_id"] = session.pk if session is not None else None
        return context

    @extend_schema(summary="Revoke one of the caller's sessions")
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        session_revoke(session=instance, actor=self.request.user, request=self.request)


class MeView(GenericAPIView):
    serializer_class = MeSerializer
    permission_classes = SELF_SERVICE
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(summary="The caller's account")
    def get(self, request):
        return Response(self.get_serializer(request.user).data)

    @extend_schema(summary="Change the caller's email, full name, avatar URL or time zone")
    def patch(self, request):
        serializer = self.get_serializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = user_update_profile(user=request.user, data=serializer.validated_data, request=request)
        time_zone_activate_for(user)  # the answer already speaks the zone just chosen
        return Response(self.get_serializer(user).data)


class PasswordView(APIView):
    permission_classes = SELF_SERVICE
    rate_limit_scope = "auth"  # it checks the current password: limited like sign-in

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={204: OpenApiResponse(description="Changed; every other session was revoked.")},
        summary="Change the caller's password; every other session is revoked",
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        keep = current_session(request)
        user_change_password(
            user=request.user,
            current_password=serializer.validated_data["current_password"],
            new_password=serializer.validated_data["new_password"],
            keep_session=keep,
            request=request,
        )
        if _is_browser(request):
            # Keep this browser signed in under the new password; its key changes, the row follows.
            update_session_auth_hash(request._request, request.user)
            session_rekey(session=keep, session_key=request._request.session.session_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
