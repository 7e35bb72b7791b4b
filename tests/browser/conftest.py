"""Fixtures for the browser tests: one headless Chromium for the whole run, users by role.

Without chromium and chromedriver the tests marked `browser` are skipped with the reason, except
when CI=true: there they fail, so a CI machine cannot pass by silently skipping them.
"""

import threading
import time

import pytest

from accounts.roles import sync_role_groups
from accounts.services.users import user_set_role
from tests.browser.chromium import browsers_missing, running_in_ci, start_chromium
from tests.browser.pages import PASSWORD
from tests.factories.accounts import UserFactory


def pytest_collection_modifyitems(config, items):
    problem = browsers_missing()
    if problem is None or running_in_ci():
        return
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browsers_required():
    problem = browsers_missing()
    if problem is not None:
        # Reached only with CI=true (otherwise these tests were skipped at collection).
        pytest.fail(f"CI=true and the browser tests cannot run: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def chromium(browsers_required, django_db_setup, live_server):
    """One browser for the run. It depends on the live server (which needs the test database to
    exist first) so that it is closed before the server stops: Chromium keeps connections alive,
    and a server thread still holding one when the server stops fails on the shared SQLite
    connection (which the server no longer shares)."""
    driver = start_chromium()
    yield driver
    driver.quit()
    _wait_for_the_servers_requests()


def _request_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.endswith("(process_request_thread)")]


def _wait_for_the_servers_requests(*, timeout: float = 10.0) -> None:
    """Until the live server has had no request in progress for a moment (a request the browser
    sent just before leaving the page may be accepted a little later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for thread in _request_threads():
            thread.join(timeout=max(deadline - time.monotonic(), 0.1))
        time.sleep(0.1)
        if not _request_threads():
            return


@pytest.fixture
def browser(chromium, live_server, transactional_db):
    """The shared Chromium, signed out: each test starts without the last one's cookies.

    Afterwards the page is left for a blank one (ending its own requests: lazy thumbnails, progress
    polling) and the live server's requests are let finish before the database is emptied: on
    PostgreSQL a request still reading a table deadlocks the TRUNCATE that empties it, and the
    next test then finds this one's rows. Depending on transactional_db orders this teardown first.
    """
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield chromium
    chromium.get("about:blank")
    _wait_for_the_servers_requests()


@pytest.fixture
def user_of(transactional_db):
    """Make an active user with a role (and its group, staff flag) who signs in with PASSWORD."""
    # The live server needs a transactional database, which is emptied after every test; the
    # groups come back with post_migrate, but syncing here does not rely on that.
    sync_role_groups()

    def make(role: str, **fields):
        return user_set_role(user=UserFactory(password=PASSWORD, **fields), role=role)

    return make
