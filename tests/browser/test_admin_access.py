"""Every role enters the admin (docs/roles.md); a person never given a role does not: not through its
login form, and not with a signed-in session."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By

from accounts.models import Role, SessionKind, UserSession
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, open_admin, path_of
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.browser


def test_a_person_without_a_role_is_refused_at_the_admin_login(browser, live_server, user_of):
    person = UserFactory(username="vera", password=PASSWORD)  # never given a role: no group, not staff

    admin_login(browser, live_server, username="vera", password=PASSWORD)

    assert path_of(browser) == reverse("admin:login")
    assert browser.find_elements(By.CSS_SELECTOR, ".errornote"), "the form says why it refused"
    assert browser.find_element(By.ID, "id_username").get_attribute("value") == "vera"
    screenshot(browser, "admin-login-refused")
    assert not UserSession.objects.filter(user=person, kind=SessionKind.BROWSER).exists()

    open_admin(browser, live_server, "index")
    assert path_of(browser) == reverse("admin:login")
    assert browser.current_url.endswith("?next=" + reverse("admin:index"))


def test_a_signed_in_person_without_a_role_is_sent_to_the_login_where_a_viewer_enters(
    browser, live_server, user_of
):
    """Signed in elsewhere (a real session and its UserSession row), a person without a role still
    gets no admin page; the viewer beside them shows that the same kind of session does open it."""

    def sign_in_with_session_of(user) -> None:
        client = Client()
        client.force_login(user)
        browser.delete_all_cookies()
        browser.add_cookie(
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "path": "/",
            }
        )
        open_admin(browser, live_server, "index")

    open_admin(browser, live_server, "login")  # cookies can be set only for the page's site
    sign_in_with_session_of(UserFactory(password=PASSWORD))
    assert path_of(browser) == reverse("admin:login")

    sign_in_with_session_of(user_of(Role.VIEWER))
    assert path_of(browser) == reverse("admin:index")
