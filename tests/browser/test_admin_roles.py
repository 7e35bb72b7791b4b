"""Every role in the admin (docs/roles.md): a `user` signs in through the login page and works on
their own connections only; a `viewer` reads their own and is offered no way to change anything."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from accounts.models import Role
from platforms.models import PlatformConnection
from tests.browser.chromium import screenshot
from tests.browser.pages import PASSWORD, admin_login, open_admin, open_page, path_of
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.browser


def listed_names(browser) -> set[str]:
    return {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list th.field-name a")}


def test_a_user_signs_in_and_sees_only_their_own_connection(browser, live_server, user_of):
    ulla = user_of(Role.USER, username="ulla")
    PlatformConnectionFactory(user=ulla, name="Ulla on Mastodon")
    theirs = PlatformConnectionFactory(user=user_of(Role.USER), name="Somebody else's account")

    admin_login(browser, live_server, username="ulla", password=PASSWORD)
    assert path_of(browser) == reverse("admin:index"), "a user lands on the admin index"
    apps = {
        element.get_attribute("class").split()[0].removeprefix("app-")
        for element in browser.find_elements(By.CSS_SELECTOR, "#content-main div.module[class^=app-]")
    }
    assert apps == {"platforms", "captions", "workflows", "scraping", "generation"}

    open_admin(browser, live_server, "platforms_platformconnection_changelist")
    browser.set_window_size(1280, 900)
    assert listed_names(browser) == {"Ulla on Mastodon"}
    screenshot(browser, "admin-user-own-connections")

    # Another user's connection, by its address, is not found.
    open_admin(browser, live_server, "platforms_platformconnection_change", theirs.pk)
    assert "Somebody else's account" not in browser.page_source
    assert "Not Found" in browser.title or "Not Found" in browser.page_source

    # Adding a connection offers only themselves as its owner.
    open_admin(browser, live_server, "platforms_platformconnection_add")
    owner_options = browser.find_elements(By.CSS_SELECTOR, "select#id_user option")
    assert [option.text for option in owner_options] == ["ulla"]


def test_a_viewer_reads_their_own_and_gets_no_add_save_delete_or_action(browser, live_server, user_of):
    vera = user_of(Role.VIEWER, username="vera")
    own = PlatformConnectionFactory(user=vera, name="Vera's blog")

    admin_login(browser, live_server, username="vera", password=PASSWORD)
    assert path_of(browser) == reverse("admin:index")
    assert not browser.find_elements(By.CSS_SELECTOR, "#content-main a.addlink")

    open_admin(browser, live_server, "platforms_platformconnection_changelist")
    assert listed_names(browser) == {"Vera's blog"}
    assert not browser.find_elements(By.CSS_SELECTOR, "select[name=action]")
    assert not browser.find_elements(By.CSS_SELECTOR, ".object-tools a.addlink")

    open_admin(browser, live_server, "platforms_platformconnection_change", own.pk)
    assert "Vera's blog" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, ".submit-row input[type=submit]")
    assert not browser.find_elements(By.CSS_SELECTOR, ".submit-row a.deletelink")
    screenshot(browser, "admin-viewer-reads-only")

    open_page(browser, live_server, reverse("admin:platforms_platformconnection_add"))
    assert "403" in browser.title or "Forbidden" in browser.page_source
    assert PlatformConnection.objects.filter(user=vera).count() == 1
