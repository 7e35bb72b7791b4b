"""How the OpenAPI schema describes this project's two credentials (drf-spectacular extensions,
registered by importing this module: accounts.apps). Without them every operation's security
list left them out, and `check --deploy` warned twice per view (drf_spectacular.W001)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `POST /api/v1/auth/login/`: `Authorization: Bearer <token>`.",
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key with its scopes: `Authorization: Api-Key <key>`.",
        }
