"""The browser tests' own helpers (no browser needed)."""

import os

import pytest

from tests.browser.chromium import browsers_missing, screenshot


class FakeDriver:
    def __init__(self):
        self.calls = 0

    def get_screenshot_as_png(self) -> bytes:
        self.calls += 1
        return b"\x89PNG\r\n\x1a\nfake"


def test_screenshots_are_not_taken_without_a_directory(monkeypatch):
    monkeypatch.delenv("SCREENSHOT_DIR", raising=False)
    driver = FakeDriver()
    assert screenshot(driver, "admin-index") is None
    monkeypatch.setenv("SCREENSHOT_DIR", "  ")
    assert screenshot(driver, "admin-index") is None
    assert driver.calls == 0


def test_screenshots_are_saved_as_png_files_in_the_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("SCREENSHOT_DIR", str(tmp_path / "shots"))
    path = screenshot(FakeDriver(), "caption-queue")
    assert path == tmp_path / "shots" / "caption-queue.png"
    assert path.read_bytes() == b"\x89PNG\r\n\x1a\nfake"


@pytest.mark.parametrize("name", ["", "../escape", "Upper", "with space", "a/b", "x.png"])
def test_screenshot_names_are_plain_file_names(monkeypatch, tmp_path, name):
    monkeypatch.setenv("SCREENSHOT_DIR", str(tmp_path))
    with pytest.raises(ValueError):
        screenshot(FakeDriver(), name)
    assert os.listdir(tmp_path) == []


def test_missing_browsers_are_named(tmp_path):
    present = tmp_path / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    absent = str(tmp_path / "chromedriver")
    assert browsers_missing(str(present), str(present)) is None
    reason = browsers_missing(str(present), absent)
    assert absent in reason and str(present) not in reason
    not_executable = tmp_path / "plain"
    not_executable.write_text("")
    assert str(not_executable) in browsers_missing(str(not_executable), str(present))
