"""Signing in with a fediverse account in a real browser, against the fake instance (issue 22):
the instance typed on the admin's "Connect an account" page, the application registered once, the
fake instance's consent page clicked, back on the new connection's page with the account
verified; the callback replayed or with a forged state is refused; a second person on the same
instance reuses the application; disconnecting revokes the token. No CSP violation on our pages."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from accounts.models import AuditLog, Role
from platforms.models import OAuthApplication, PlatformConnection
from tests.browser.chromium import screenshot
from tests.browser.pages import (
    PASSWORD,
    admin_login,
    messages,
    open_admin,
    open_page,
    path_of,
    run_action,
    submit,
)
from tests.browser.test_content_security_policy import violations, watched  # noqa: F401
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: browser and server both call it)
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.browser

CALLBACK = "/connections/oauth/callback/"


@pytest.fixture
def fake(httpserver, settings, live_server):
    httpserver.clear()
    fake = FakeMastodon(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    # The redirect URI registered at the instance: where this test's browser reaches the site.
    settings.PUBLIC_BASE_URL = live_server.url
    return fake


def connect(driver, live_server, fake) -> None:
    """From the connections list: "Connect an account", the instance typed, on to the instance."""
    open_admin(driver, live_server, "platforms_platformconnection_changelist")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "a.sd-connect-account"))
    assert path_of(driver) == reverse("admin:platforms_platformconnection_connect")
    Select(driver.find_element(By.NAME, "platform_type")).select_by_value("mastodon")
    driver.find_element(By.NAME, "instance_url").send_keys(fake.base_url)
    submit(driver, driver.find_element(By.NAME, "_start"))


def test_a_person_signs_in_with_their_instance_and_disconnects(watched, live_server, user_of, fake):  # noqa: F811
    browser = watched
    mira = user_of(Role.USER, username="mira")
    admin_login(browser, live_server, username="mira", password=PASSWORD)

    connect(browser, live_server, fake)
    assert violations(browser) == []  # our pages, before leaving for the instance

    # The fake instance's own consent page.
    assert browser.current_url.startswith(f"{fake.base_url}/oauth/authorize?")
    assert browser.find_element(By.ID, "consent").text == "Authorize socialdesk?"
    assert browser.find_element(By.ID, "account").text == "@alttext"
    assert fake.count("POST", "/api/v1/apps") == 1
    screenshot(browser, "fediverse-consent")
    submit(browser, browser.find_element(By.ID, "authorize"))

    # Back on the new connection's page, the account verified with the new token.
    connection = PlatformConnection.objects.get(user=mira)
    assert path_of(browser) == reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    assert any("Connected alttext@" in text for text in messages(browser, "success"))
    assert violations(browser) == []
    assert connection.username == "alttext" and connection.last_used is not None
    assert connection.access_token == fake.tokens_issued()[0]
    assert fake.count("GET", "/api/v1/accounts/verify_credentials") == 1
    assert AuditLog.objects.filter(action="connection.oauth_connected", user=mira).count() == 1

    # The callback replayed: refused, no second exchange.
    [callback] = fake.redirects
    assert callback.startswith(live_server.url + CALLBACK)
    browser.get(callback)
    assert path_of(browser) == reverse("admin:platforms_platformconnection_changelist")
    assert any("already completed" in text for text in messages(browser, "error"))
    # A forged state: refused.
    open_page(browser, live_server, f"{CALLBACK}?state=forged-state-0123456789&code=whatever")
    assert any("unknown" in text for text in messages(browser, "error"))
    assert fake.count("POST", "/oauth/token") == 1
    assert PlatformConnection.objects.count() == 1

    # Disconnecting revokes the token at the instance.
    token = connection.access_token
    open_admin(browser, live_server, "platforms_platformconnection_changelist")
    run_action(browser, "disconnect_selected", [connection.pk])
    assert any("the instance revoked its token" in text for text in messages(browser, "success"))
    assert fake.revoked == [token]
    assert not PlatformConnection.objects.exists()


def test_a_second_person_on_the_same_instance_reuses_the_application(browser, live_server, user_of, fake):
    user_of(Role.USER, username="mira")
    admin_login(browser, live_server, username="mira", password=PASSWORD)
    connect(browser, live_server, fake)
    submit(browser, browser.find_element(By.ID, "authorize"))
    assert any("Connected alttext@" in text for text in messages(browser, "success"))

    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    tom = user_of(Role.USER, username="tom")
    fake.add_account("heron")
    fake.signed_in_as = "heron"
    admin_login(browser, live_server, username="tom", password=PASSWORD)
    connect(browser, live_server, fake)
    assert browser.find_element(By.ID, "account").text == "@heron"
    submit(browser, browser.find_element(By.ID, "authorize"))

    assert any("Connected heron@" in text for text in messages(browser, "success"))
    assert fake.count("POST", "/api/v1/apps") == 1
    assert fake.consent_pages == 2
    application = OAuthApplication.objects.get()
    theirs = PlatformConnection.objects.get(user=tom)
    assert theirs.username == "heron" and theirs.client_key == application.client_id
    assert PlatformConnection.objects.count() == 2


def test_denying_at_the_instance_connects_nothing(browser, live_server, user_of, fake):
    user_of(Role.USER, username="mira")
    admin_login(browser, live_server, username="mira", password=PASSWORD)
    connect(browser, live_server, fake)
    submit(browser, browser.find_element(By.ID, "deny"))
    assert path_of(browser) == reverse("admin:platforms_platformconnection_changelist")
    assert any("You declined" in text for text in messages(browser, "error"))
    assert not PlatformConnection.objects.exists()
