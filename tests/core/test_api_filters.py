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
