"""core.api.filters: shared filter sets and fields of the APIs."""

import pytest
from django.http import QueryDict
from django_filters import rest_framework as filters

from accounts.models import Role, User
from core.api.filters import StaticFormFilterSet
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


class RoleFilter(StaticFormFilterSet):
    role = filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = User
        fields = []


class ActiveFilter(StaticFormFilterSet):
    is_active = filters.BooleanFilter()

    class Meta:
        model = User
        fields = []


def test_the_form_class_is_built_once_per_filter_set_class():
    first = RoleFilter(QueryDict("role=admin"), User.objects.all())
    second = RoleFilter(QueryDict("role=viewer"), User.objects.all())
    assert type(first.form) is type(second.form)
    assert first.form is not second.form  # each request still has a form of its own
    assert type(ActiveFilter(QueryDict(""), User.objects.all()).form) is not type(first.form)
    assert set(type(first.form).base_fields) == {"role"}


def test_filtering_and_errors_are_unchanged():
    admin = UserFactory(role=Role.ADMIN)
    UserFactory(role=Role.VIEWER)
    assert list(RoleFilter(QueryDict("role=admin"), User.objects.all()).qs) == [admin]
    bad = RoleFilter(QueryDict("role=emperor"), User.objects.all())
    assert not bad.is_valid()
    assert "role" in bad.errors
    assert RoleFilter(QueryDict("role=viewer"), User.objects.all()).is_valid()


class ActiveByMethodFilter(StaticFormFilterSet):
    active = filters.BooleanFilter(method="filter_active")

    class Meta:
        model = User
        fields = []

    def filter_active(self, queryset, name, value):
        return queryset.filter(is_active=value)


class PlainRoleFilter(filters.FilterSet):
    role = filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = User
        fields = []


def test_it_sets_what_django_filter_sets_on_a_new_filter_set():
    # The __init__ is django-filter's but for how the filters are copied: an upgrade that adds an
    # attribute shows up here.
    ours = RoleFilter(QueryDict("role=admin"), User.objects.all())
    theirs = PlainRoleFilter(QueryDict("role=admin"), User.objects.all())
    assert set(vars(ours)) == set(vars(theirs))
    assert ours.is_bound and ours.data == theirs.data and ours.form_prefix is None


def test_each_filter_set_gets_filters_of_its_own_bound_to_itself():
    first = ActiveByMethodFilter(QueryDict("active=true"), User.objects.all())
    second = ActiveByMethodFilter(QueryDict("active=false"), User.objects.all())
    one, other = first.filters["active"], second.filters["active"]
    assert one is not other and one is not ActiveByMethodFilter.base_filters["active"]
    assert one.parent is first and other.parent is second
    assert one.filter.method.__self__ is first  # the method resolves on its own filter set
    assert other.filter.method.__self__ is second
    assert not hasattr(ActiveByMethodFilter.base_filters["active"], "parent")


def test_a_method_filter_still_filters():
    active = UserFactory(is_active=True)
    inactive = UserFactory(is_active=False)
    assert list(ActiveByMethodFilter(QueryDict("active=true"), User.objects.all()).qs) == [active]
    assert list(ActiveByMethodFilter(QueryDict("active=false"), User.objects.all()).qs) == [inactive]


class RoleAndActiveFilter(StaticFormFilterSet):
    role = filters.ChoiceFilter(choices=Role.choices)
    is_active = filters.BooleanFilter()

    class Meta:
        model = User
        fields = []


def test_a_bound_form_validates_only_the_filters_the_query_names():
    admin = UserFactory(role=Role.ADMIN, is_active=True)
    viewer = UserFactory(role=Role.VIEWER, is_active=False)

    by_role = RoleAndActiveFilter(QueryDict("role=admin&unknown=1"), User.objects.all())
    assert set(by_role.form.fields) == {"role"}
    assert list(by_role.qs) == [admin]
    by_both = RoleAndActiveFilter(QueryDict("role=viewer&is_active=false"), User.objects.all())
    assert set(by_both.form.fields) == {"role", "is_active"}
    assert list(by_both.qs) == [viewer]
    nothing = RoleAndActiveFilter(QueryDict(""), User.objects.all())
    assert set(nothing.form.fields) == set() and set(nothing.qs) == {admin, viewer}
    # unbound (the browsable API, the schema): the whole form
    assert set(RoleAndActiveFilter(None, User.objects.all()).form.fields) == {"role", "is_active"}


def test_an_invalid_named_filter_is_still_an_error_naming_it():
    bad = RoleAndActiveFilter(QueryDict("is_active=maybe&role=emperor"), User.objects.all())
    assert not bad.is_valid()
    assert set(bad.errors) == {"role"}  # a NullBooleanField reads "maybe" as unknown: no filter
    prefixed = RoleAndActiveFilter(QueryDict("f-role=emperor"), User.objects.all(), prefix="f")
    assert not prefixed.is_valid() and set(prefixed.errors) == {"role"}


def test_form_classes_are_kept_per_set_of_named_filters_up_to_a_limit(monkeypatch):
    def form_class(query):
        return type(RoleAndActiveFilter(QueryDict(query), User.objects.all()).form)

    assert form_class("role=admin") is form_class("role=viewer")
    assert form_class("role=admin") is not form_class("is_active=true")
    assert form_class("role=admin&is_active=true") is RoleAndActiveFilter._static_form_class
    monkeypatch.setattr(RoleAndActiveFilter, "_form_subsets", {})
    monkeypatch.setattr(RoleAndActiveFilter, "FORM_SUBSETS_KEPT", 1)
    assert form_class("role=admin") is form_class("role=admin")
    assert form_class("is_active=true") is not form_class("is_active=true")  # past the limit
    assert len(RoleAndActiveFilter._form_subsets) == 1
