"""The admin and Swagger UI work under the Content-Security-Policy, with no violation reported.

A script injected through the DevTools protocol (not subject to the page's policy) records every
`securitypolicyviolation` event from the first moment of each page; a control proves the policy
is enforced in the browser (an inline <style> added by hand is reported).
"""

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from selenium.webdriver.common.by import By

from accounts.models import Role
from tests.browser.pages import PASSWORD, admin_login, open_page, path_of, wait

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
      `at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


@pytest.fixture
def watched(browser):
    """The browser, recording CSP violations on every page it opens during the test."""
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield browser
    browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def violations(driver) -> list[str]:
    return driver.execute_script("return window.__cspViolations || [];")


def stylesheets(driver) -> list[str]:
    return driver.execute_script("return Array.from(document.styleSheets, (s) => s.href || 'inline');")


def test_the_policy_is_enforced_in_the_browser(watched, live_server):
    open_page(watched, live_server, reverse("admin:login"))
    assert violations(watched) == []
    watched.execute_script(
        "const s = document.createElement('style'); s.textContent = 'body { color: red }';"
        "document.head.appendChild(s);"
    )
    wait(watched).until(lambda d: violations(d))
    assert any(v.startswith("style-src") for v in violations(watched)), violations(watched)


def test_every_admin_changelist_and_add_page_loads_without_a_violation(watched, live_server, user_of):
    from tests.factories.captions import ImageFactory
    from tests.factories.generation import GeneratedImageFactory
    from tests.factories.scraping import ArtifactFactory

    user_of(Role.ADMIN, username="ada")
    # Rows whose columns show thumbnails, previews, an over-long caption and extracted text.
    image = ImageFactory(generated_caption="x" * 5000)
    generated = GeneratedImageFactory()
    artifact = ArtifactFactory()
    change_pages = [
        reverse("admin:captions_image_change", args=[image.pk]),
        reverse("admin:generation_prompt_change", args=[generated.prompt.pk]),
        reverse("admin:generation_generatedimage_change", args=[generated.pk]),
        reverse("admin:scraping_artifact_change", args=[artifact.pk]),
    ]
    admin_login(watched, live_server, username="ada", password=PASSWORD)
    assert path_of(watched) == reverse("admin:index")
    assert violations(watched) == []
    assert any(sheet.endswith("core/admin.css") for sheet in stylesheets(watched))
    assert "inline" not in stylesheets(watched)

    visited = []
    for model in admin.site._registry:
        opts = model._meta
        for view in ("changelist", "add"):
            try:
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}")
            except NoReverseMatch:
                continue
            open_page(watched, live_server, url)
            if path_of(watched) != url:
                continue  # not allowed for this model (redirected or refused)
            assert violations(watched) == [], (url, violations(watched))
            visited.append(url)
    assert len(visited) > 10, visited
    for url in change_pages:
        open_page(watched, live_server, url)
        assert path_of(watched) == url
        assert violations(watched) == [], (url, violations(watched))


def test_swagger_ui_renders_the_api_under_the_policy(watched, live_server):
    open_page(watched, live_server, reverse("api-docs"))
    # Swagger UI drew the operations from the schema it fetched: its script and styles ran.
    wait(watched).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert watched.find_element(By.CSS_SELECTOR, ".info .title").text.startswith("socialdesk API")
    operation = watched.find_element(By.CSS_SELECTOR, ".opblock .opblock-summary")
    operation.click()
    wait(watched).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock.is-open .opblock-body"))
    assert violations(watched) == []
    assert "inline" not in stylesheets(watched)
