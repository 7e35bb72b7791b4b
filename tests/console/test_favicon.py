"""The site's icon: named by every admin page, and at /favicon.ico for pages that name none."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_to_the_icon_which_exists(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/core/favicon.svg"
    icon = finders.find("core/favicon.svg")
    assert icon, "the icon is a static file"
    with open(icon, encoding="utf-8") as svg:
        assert svg.read().startswith("<svg ")


ICON = '<link rel="icon" href="/static/core/favicon.svg" type="image/svg+xml">'


def test_admin_pages_name_the_icon(client, admin_client):
    assert ICON in client.get("/admin/login/").content.decode()
    index = admin_client.get("/admin/")
    assert index.status_code == 200
    assert ICON in index.content.decode()
