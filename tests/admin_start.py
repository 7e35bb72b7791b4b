"""Checks shared by the tests of the admin's start forms and progress panels (core.admin_start,
core.admin_progress)."""

import re

from django.utils.html import escape

from accounts.roles import sync_role_groups
from accounts.services.users import user_set_role
from tests.factories.accounts import UserFactory


def user_with_role(role: str, **fields):
    """A user of `role` with its group (and staff flag) who can sign into the admin."""
    sync_role_groups()
    return user_set_role(user=UserFactory(**fields), role=role)


def form_of(response):
    return response.context["adminform"].form


def assert_error_next_to(response, field: str) -> None:
    """The form came back (no redirect) with an error on `field`, shown in that field's row."""
    assert response.status_code == 200, response.status_code
    errors = form_of(response).errors
    assert field in errors, dict(errors)
    html = response.content.decode()
    row = re.search(rf'<div class="form-row errors[^"]*\bfield-{re.escape(field)}\b', html) or re.search(
        rf'class="[^"]*\bfield-{re.escape(field)}\b[^"]*\berrors\b', html
    )
    assert row, f"no error shown in the row of {field}"
    for message in errors[field]:
        assert escape(message) in html


def progress_json(client, url_name: str, pk):
    from django.urls import reverse

    return client.get(reverse(f"admin:{url_name}_progress", args=[pk]))
