"""Headless Debian Chromium for the admin's browser tests, and the screenshots the README uses.

The browser and its driver are Debian's `chromium` and `chromium-driver` packages (`.ci/run`
installs them when it can), named by path so Selenium Manager never looks for, or downloads, a
driver of its own.
"""

import os
import re
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Fixed, so layouts (and the README's screenshots) are the same on every machine.
WINDOW_SIZE = (1440, 900)
PAGE_LOAD_SECONDS = 30
SCREENSHOT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def browsers_missing(chromium: str | None = None, chromedriver: str | None = None) -> str | None:
    """Why the browser tests cannot run here, or None when both programs are in place."""
    paths = (chromium or CHROMIUM, chromedriver or CHROMEDRIVER)
    missing = [path for path in paths if not os.access(path, os.X_OK)]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
        "(.ci/run does so when run as root)"
    )


def start_chromium() -> WebDriver:
    # Belt and braces: with the driver's path given Selenium Manager is not consulted, and offline
    # it could not download anything even if it were.
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        "--no-first-run",
        "--password-store=basic",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    # No password-manager bubbles over the page (the test password is a famous one).
    options.add_experimental_option(
        "prefs",
        {
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
            "profile.password_manager_leak_detection": False,
        },
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    return driver


def screenshot(driver: WebDriver, name: str) -> Path | None:
    """Save the page as `$SCREENSHOT_DIR/<name>.png` when SCREENSHOT_DIR is set; otherwise do nothing.

    The README's admin pictures are taken this way, by the same tests that check the pages work.
    """
    if not SCREENSHOT_NAME.fullmatch(name):
        raise ValueError(f"Screenshot names are lower-case letters, digits, '-' and '_': {name!r}")
    directory = os.environ.get("SCREENSHOT_DIR", "").strip()
    if not directory:
        return None
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(driver.get_screenshot_as_png())
    return path
