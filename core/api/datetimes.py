"""A date-time an API caller types: with an offset or `Z` it is that instant; without one it is a
wall-clock time in the caller's time zone (the zone the request runs in, see accounts.time_zones),
or in the zone named after it in brackets, as RFC 9557 writes it: `2026-12-24T09:00:00[Asia/Tokyo]`
(with an offset too, the two must agree).

DRF's DateTimeField reads a naive value in the current zone, but a time that never happened (the
hour skipped when clocks go forward) silently becomes another hour, and one that happens twice
(the hour repeated when they go back) silently becomes the first of the two (DRF's own check for
that compares datetimes across zones, which Python answers without looking at `fold`). For a time
someone schedules, that is a post going out an hour off: refuse both instead.
"""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers


def _naive_input(value) -> datetime | None:
    """The value as a naive datetime when the caller gave no offset, else None."""
    if isinstance(value, datetime):
        return value if timezone.is_naive(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is None else None


# RFC 9557's time-zone suffix; the critical flag "!" changes nothing here (a zone is always obeyed).
ZONE_SUFFIX = re.compile(r"^(?P<time>[^\[\]]+)\[!?(?P<zone>[A-Za-z0-9_+\-/]+)\]$")


class WallClockDateTimeField(serializers.DateTimeField):
    default_error_messages = {
        "unknown_zone": "{zone} is not a time zone this server knows (an IANA name such as Europe/Berlin).",
        "zone_mismatch": "The offset {offset} is not {zone}'s at that time ({expected}).",
        "skipped": "{value} does not exist in {zone}: the clocks skip that hour. Give another time, "
        "or one with an offset.",
        "repeated": "{value} happens twice in {zone}: the clocks go back over that hour. Give the "
        "time with its offset.",
    }

    def to_internal_value(self, value):
        suffixed = ZONE_SUFFIX.match(value.strip()) if isinstance(value, str) else None
        if suffixed is None:
            return self._instant(value)
        try:
            zone = ZoneInfo(suffixed["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            self.fail("unknown_zone", zone=suffixed["zone"])
        with timezone.override(zone):
            aware = self._instant(suffixed["time"])
        given = parse_datetime(suffixed["time"].strip())  # valid: _instant parsed it
        if given is not None and given.tzinfo is not None:
            expected = given.astimezone(zone).utcoffset()
            if given.utcoffset() != expected:
                self.fail(
                    "zone_mismatch",
                    offset=_offset(given.utcoffset()),
                    zone=str(zone),
                    expected=_offset(expected),
                )
        return aware

    def _instant(self, value):
        aware = super().to_internal_value(value)
        naive = _naive_input(value)
        if naive is not None:
            zone = timezone.get_current_timezone()
            shown = naive.isoformat(sep=" ", timespec="minutes")
            if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
                self.fail("skipped", value=shown, zone=str(zone))
            if (
                naive.replace(tzinfo=zone, fold=0).utcoffset()
                != naive.replace(tzinfo=zone, fold=1).utcoffset()
            ):
                self.fail("repeated", value=shown, zone=str(zone))
        return aware


def _offset(delta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
