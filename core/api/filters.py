"""Query filters shared by the APIs."""

from datetime import UTC

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: an unusual offset
    passed through unchanged is a database error (a 500) instead of a plain comparison.
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StaticFormFilterSet(filters.FilterSet):
    """A FilterSet whose form class is built once per class rather than on every request.

    django-filter builds a new form class per request, creating every filter's form field (label,
    widget, choices) again: about a tenth of a caption images list request's time (bench
    api_list). Only for filter sets whose fields do not depend on the request (no querysets or
    choices computed per user); their filters are still copied per request as django-filter does.
    """

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_static_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._static_form_class = form_class
        return form_class
