"""Query filters shared by the APIs."""

import copy
from datetime import UTC

from django.core.exceptions import ValidationError
from django.http import QueryDict
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


def _filter_copy(filter_: filters.Filter) -> filters.Filter:
    clone = copy.copy(filter_)
    if filter_.method is not None:
        clone.method = filter_.method  # the setter binds a FilterMethod to the copy, not the original
    return clone


class StaticFormFilterSet(filters.FilterSet):
    """A FilterSet whose form class is built once per class rather than on every request, whose
    filters are copied shallowly, and whose bound form validates only the filters the query names.

    django-filter builds a new form class per request, creating every filter's form field (label,
    widget, choices) again, and deep-copies every filter with its choices, a noticeable share of a
    list request's time (docs/performance.md, `api_list`). Only for filter sets whose
    fields do not depend on the request (no querysets or choices computed per user): each
    request still gets filters and a form of its own, sharing only what no request changes.

    A query names one or two filters of many, and a filter with no value filters nothing, so the
    bound form holds only the fields present in the data (as each widget reads it, so a field
    split over several parameters, or a checkbox, which is never "absent", still counts). Errors
    and cleaned values are those of the full form for the fields given; an unbound form is whole.
    """

    # Form classes for the sets of fields queries have named, per filter set class; past this many
    # a new combination gets a class of its own that is not kept.
    FORM_SUBSETS_KEPT = 64

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # django-filter's FilterSet.__init__ but for the copy of the filters (a test compares the
        # attributes both set, so an upgrade that adds one is noticed).
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: _filter_copy(filter_) for name, filter_ in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_static_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._static_form_class = form_class
        return form_class

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form_class = self.get_form_class()
            if self.is_bound:
                self._form = self._form_class_for_data(form_class)(self.data, prefix=self.form_prefix)
            else:
                self._form = form_class(prefix=self.form_prefix)
        return self._form

    def _form_class_for_data(self, form_class):
        prefix = f"{self.form_prefix}-" if self.form_prefix else ""
        named = frozenset(
            name
            for name, field in form_class.base_fields.items()
            if not field.widget.value_omitted_from_data(self.data, {}, prefix + name)
        )
        if len(named) == len(form_class.base_fields):
            return form_class
        cls = type(self)
        subsets = cls.__dict__.get("_form_subsets")
        if subsets is None:
            subsets = cls._form_subsets = {}
        subset = subsets.get(named)
        if subset is None:
            fields = {name: field for name, field in form_class.base_fields.items() if name in named}
            subset = type(form_class.__name__, (form_class,), {})
            subset.base_fields = subset.declared_fields = fields
            if len(subsets) < self.FORM_SUBSETS_KEPT:
                subsets[named] = subset
        return subset
