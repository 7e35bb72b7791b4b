"""DRF permission classes shared by every API.

The defaults (settings.REST_FRAMEWORK) are: authenticated, API-key scopes respected, and
viewers read-only. Views that need more add `IsModeratorOrAdmin` or `IsAdminRole`.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiKey, Role

API_SCOPE_AREAS = ("captions", "workflows", "scraping", "generation", "platforms", "audit", "config")
API_SCOPES = tuple(f"{area}:{access}" for area in API_SCOPE_AREAS for access in ("read", "write"))


def has_any_role(user, *roles: str) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.role in roles))


def sees_everyone(user) -> bool:
    """Moderators and admins manage everyone's content; the other roles see their own."""
    return has_any_role(user, Role.ADMIN, Role.MODERATOR)


def reviews_everyone(user) -> bool:
    """Reviewers (and moderators and admins) see and act on everyone's review queues: caption
    images and drafts (docs/roles.md); for everything else a reviewer is a user."""
    return has_any_role(user, Role.ADMIN, Role.MODERATOR, Role.REVIEWER)


class ApiKeyScopes(BasePermission):
    """A request made with an API key may do only what the key's scopes allow.

    A view names its area with `api_scope = "captions"`; reads need `captions:read` (or
    `captions:write`, which implies it), writes need `captions:write`. Views without an
    `api_scope` (sign-in, key management) are not open to API keys at all.
    """

    message = "This API key's scopes do not allow this request."

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        area = getattr(view, "api_scope", None)
        if area is None:
            return False
        granted = set(request.auth.permissions or [])
        if request.method in SAFE_METHODS:
            return bool({f"{area}:read", f"{area}:write"} & granted)
        return f"{area}:write" in granted


class ViewersReadOnly(BasePermission):
    message = "Viewers have read-only access."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or getattr(request.user, "role", None) != Role.VIEWER


class IsModeratorOrAdmin(BasePermission):
    message = "Only moderators and admins may do this."

    def has_permission(self, request, view):
        return has_any_role(request.user, Role.ADMIN, Role.MODERATOR)


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        return has_any_role(request.user, Role.ADMIN)
