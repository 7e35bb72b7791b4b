"""System checks: the rate limits are well-formed and every API view's scope has one."""

from django.conf import settings
from django.core.checks import Error
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.services.rate_limits import parse_rate
from accounts.services.sessions import FingerprintAction
from accounts.throttling import DEFAULT_SCOPE


def _view_classes(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            cls = getattr(pattern.callback, "cls", None)  # DRF's as_view() keeps the view class here
            if cls is not None:
                yield cls


def check_rate_limits(app_configs=None, **kwargs) -> list[Error]:
    limits = getattr(settings, "RATE_LIMITS", None)
    if not isinstance(limits, dict):
        return [
            Error(
                "RATE_LIMITS must be a dict of endpoint scope -> rate such as '1000/h'.",
                id="accounts.E001",
            )
        ]
    errors = []
    for scope, value in limits.items():
        try:
            parse_rate(value)
        except ValueError as exc:
            errors.append(
                Error(
                    f"RATE_LIMITS[{scope!r}] = {value!r} is malformed: {exc}",
                    hint="Use '<requests>/<number?><s|m|h|d>', e.g. '10/5m' or '1000/h'.",
                    id="accounts.E002",
                )
            )
    wanted = {DEFAULT_SCOPE}
    for cls in _view_classes(get_resolver().url_patterns):
        scope = getattr(cls, "rate_limit_scope", DEFAULT_SCOPE)
        if scope is not None:
            wanted.add(scope)
    errors.extend(
        Error(
            f"No rate limit for endpoint scope {scope!r}.",
            hint=f"Add RATE_LIMITS[{scope!r}] (settings, RATE_LIMIT_* environment variables).",
            id="accounts.E003",
        )
        for scope in sorted(wanted - set(limits))
    )
    return errors


def check_session_fingerprint_action(app_configs=None, **kwargs) -> list[Error]:
    value = getattr(settings, "SESSION_FINGERPRINT_ACTION", None)
    if value in FingerprintAction.values:
        return []
    return [
        Error(
            f"SESSION_FINGERPRINT_ACTION = {value!r} is not a known action.",
            hint=f"Use one of: {', '.join(FingerprintAction.values)}.",
            id="accounts.E004",
        )
    ]
