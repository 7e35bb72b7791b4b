"""A person's time zone: the IANA name they chose (blank: the site's TIME_ZONE), and making it the
zone Django works in for their request.

Once a request runs in the person's zone, the admin shows every date and time in it, a form's
naive date-time is read in it, and the API's serializers read naive date-times and write their
responses in it (DRF's DateTimeField follows the current zone), with the offset, so an answer
stays one unambiguous instant.

Browser requests are switched by `UserTimeZoneMiddleware` (accounts.middleware), which also
switches back when the response is done; API requests authenticated by a token or key are
switched by the authentication class that recognised them (accounts.authentication), since DRF
authenticates inside the view, after every middleware ran.
"""

import zoneinfo
from datetime import tzinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.utils import timezone

# Names in zoneinfo's list that name no place: the host machine's own zone (differs per server)
# and the tz database's placeholders.
NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone name this server knows, sorted."""
    return tuple(sorted(zoneinfo.available_timezones() - NOT_A_PLACE))


@cache
def _known() -> frozenset[str]:
    return frozenset(time_zone_names())


def time_zone_validate(value: str) -> None:
    """Blank (the site's zone) or an IANA name such as Europe/Berlin; else ValidationError."""
    if value and value not in _known():
        raise ValidationError(
            f'"{value}" is not a time zone this server knows; use an IANA name such as Europe/Berlin.',
            code="invalid_time_zone",
        )


def user_time_zone(user) -> tzinfo:
    """The zone times are shown in for `user`: their own, else the site's."""
    name = getattr(user, "time_zone", "") or ""
    if name in _known():
        return zoneinfo.ZoneInfo(name)
    return timezone.get_default_timezone()


def time_zone_activate_for(user) -> None:
    """Make `user`'s zone the current one for the rest of this request (the site's when they
    chose none, or when nobody is signed in)."""
    if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "time_zone", ""):
        timezone.activate(user_time_zone(user))
    else:
        timezone.deactivate()
