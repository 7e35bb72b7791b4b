"""/api/v1/platforms/connections/: the caller's platform connections (everyone's for moderators
and admins). Thin: validation in serializers, every write in platforms.services."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_meta import request_meta
from platforms import oauth, services
from platforms.api.serializers import (
    DisconnectResultSerializer,
    OAuth2StartResultSerializer,
    OAuth2StartSerializer,
    OAuthStartedSerializer,
    OAuthStartSerializer,
    PlatformConnectionCreateSerializer,
    PlatformConnectionSerializer,
    PlatformConnectionUpdateSerializer,
    VerifyResultSerializer,
)
from platforms.errors import ConnectionNotFound
from platforms.models import PlatformConnection
from platforms.oauth2 import oauth2_start
from platforms.selectors import connection_list

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@extend_schema_view(
    list=extend_schema(summary="List platform connections"),
    retrieve=extend_schema(summary="A platform connection"),
    create=extend_schema(
        summary="Add a platform connection",
        request=PlatformConnectionCreateSerializer,
        responses={201: PlatformConnectionSerializer},
    ),
    update=extend_schema(
        summary="Replace a platform connection (credentials left out are kept)",
        request=PlatformConnectionUpdateSerializer,
        responses={200: PlatformConnectionSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a platform connection (credentials left out are kept)",
        request=PlatformConnectionUpdateSerializer,
        responses={200: PlatformConnectionSerializer},
    ),
    destroy=extend_schema(summary="Delete a platform connection"),
)
class PlatformConnectionViewSet(viewsets.ModelViewSet):
    api_scope = "platforms"
    queryset = PlatformConnection.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = PlatformConnectionSerializer
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    filterset_fields = ["platform_type", "is_active", "is_default"]
    ordering_fields = ["created_at", "name"]

    def get_queryset(self):
        return connection_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return PlatformConnectionCreateSerializer
        if self.action in ("update", "partial_update"):
            return PlatformConnectionUpdateSerializer
        return PlatformConnectionSerializer

    def _respond(self, connection, status_code=status.HTTP_200_OK) -> Response:
        return Response(PlatformConnectionSerializer(connection).data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_create(
            user=request.user, actor=request.user, meta=request_meta(request), **serializer.validated_data
        )
        return self._respond(connection, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        connection = self.get_object()
        serializer = self.get_serializer(connection, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        connection = services.connection_update(
            connection=connection,
            data=dict(serializer.validated_data),
            actor=request.user,
            meta=request_meta(request),
        )
        return self._respond(connection)

    def destroy(self, request, *args, **kwargs):
        services.connection_delete(
            connection=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Make this the default connection (the previous default is cleared)",
        request=None,
        responses={200: PlatformConnectionSerializer},
    )
    @action(detail=True, methods=["post"], url_path="set-default")
    def set_default(self, request, *args, **kwargs):
        connection = services.connection_set_default(
            connection=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return self._respond(connection)

    @extend_schema(
        summary="Check the access token with the platform (Mastodon API verify_credentials)",
        request=None,
        responses={
            200: VerifyResultSerializer,
            502: OpenApiResponse(
                response=ERROR_REF,
                description="The platform timed out, failed (5xx, 429) or answered with malformed JSON.",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, *args, **kwargs):
        account = services.connection_verify(
            connection=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return Response(VerifyResultSerializer({"ok": True, "account": account.as_dict()}).data)

    @extend_schema(
        summary="Disconnect: delete the connection and revoke its token at the instance",
        description="POST /oauth/revoke at the instance with the application's client id and secret "
        "(connections made by signing in). The connection is deleted either way; `revoked` false and "
        "`problem` say when the instance did not confirm (or the token was pasted: nothing to revoke with).",
        request=None,
        responses={200: DisconnectResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def disconnect(self, request, *args, **kwargs):
        result = oauth.connection_disconnect(
            connection=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        answer = {"revoked": result.revoked, "problem": result.problem}
        return Response(DisconnectResultSerializer(answer).data)


class OAuth2StartView(APIView):
    """POST /api/v1/platforms/oauth2/start/: begin connecting X or LinkedIn by signing in there."""

    api_scope = "platforms"

    @extend_schema(
        summary="Start connecting X or LinkedIn by OAuth 2.0 (authorisation code with PKCE)",
        request=OAuth2StartSerializer,
        responses={200: OAuth2StartResultSerializer},
    )
    def post(self, request):
        from platforms.views import oauth2_redirect_uri

        serializer = OAuth2StartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = None
        if serializer.validated_data.get("connection") is not None:
            connection = (
                connection_list(user=request.user).filter(pk=serializer.validated_data["connection"]).first()
            )
            if connection is None:
                raise ConnectionNotFound()
        url = oauth2_start(
            user=request.user,
            platform_type=serializer.validated_data["platform_type"],
            redirect_uri=oauth2_redirect_uri(),
            connection=connection,
        )
        return Response(OAuth2StartResultSerializer({"authorize_url": url}).data)


class OAuthStartView(APIView):
    """POST /api/v1/platforms/oauth/start/: begin signing in with a fediverse account."""

    api_scope = "platforms"

    @extend_schema(
        summary="Begin signing in with a fediverse account (OAuth at the instance)",
        description="Registers this project at the instance once (POST /api/v1/apps), then returns the "
        "instance's authorize URL (with PKCE when the instance announces S256). The person opens it in "
        "a browser signed in here as the same user; the callback stores the connection.",
        request=OAuthStartSerializer,
        responses={
            200: OAuthStartedSerializer,
            502: OpenApiResponse(response=ERROR_REF, description="The instance could not be reached."),
        },
    )
    def post(self, request):
        serializer = OAuthStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        url = oauth.oauth_sign_in_start(
            user=request.user, meta=request_meta(request), **serializer.validated_data
        )
        return Response(
            OAuthStartedSerializer({"authorize_url": url, "redirect_uri": oauth.oauth_redirect_uri()}).data
        )
