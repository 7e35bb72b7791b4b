"""What the browser tests do in the admin, in terms Django's admin always renders: URLs by name,
form field names, action names and the stock element ids and classes (`id_username`,
`select[name=action]`, `input.action-select`, `button[name=index]`, `ul.messagelist`)."""

from urllib.parse import urlsplit

from django.urls import reverse
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 15
# Every user the browser tests make signs in with this.
PASSWORD = "browser-test password 4711"


def wait(driver: WebDriver) -> WebDriverWait:
    # A page that reloads itself (the progress panel does, once its work ends) turns the elements a
    # condition found into stale ones: look again rather than fail.
    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))


def path_of(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path


def open_page(driver: WebDriver, live_server, url: str) -> None:
    driver.get(live_server.url + url)


def open_admin(driver: WebDriver, live_server, url_name: str, *args) -> None:
    open_page(driver, live_server, reverse(f"admin:{url_name}", args=args))


def _left_behind(button: WebElement):
    def check(driver: WebDriver) -> bool:
        try:
            button.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            # Asked while the old page's document is being torn down, chromedriver answers
            # "unhandled inspector error ... Cannot find context": the page is leaving; ask again.
            if "inspector error" not in str(error.msg):
                raise
        return False

    return check


def submit(driver: WebDriver, button: WebElement) -> None:
    """Click a submit button and wait until the page it leads to has loaded."""
    button.click()
    wait(driver).until(_left_behind(button))
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def admin_login(driver: WebDriver, live_server, *, username: str, password: str) -> None:
    """Sign in through the admin's own login form, as a person would."""
    open_admin(driver, live_server, "login")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    submit(driver, driver.find_element(By.CSS_SELECTOR, "input[type=submit]"))


def row_checkbox(driver: WebDriver, pk) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'input.action-select[value="{pk}"]')


def run_action(driver: WebDriver, action: str, pks) -> None:
    """On a changelist: tick the rows, choose the action, press Go."""
    for pk in pks:
        checkbox = row_checkbox(driver, pk)
        checkbox.click()
        assert checkbox.is_selected()
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=action]")).select_by_value(action)
    submit(driver, driver.find_element(By.CSS_SELECTOR, "button[name=index]"))


def messages(driver: WebDriver, level: str) -> list[str]:
    """The texts of the admin's messages of one level (success, warning, error, info)."""
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, f"ul.messagelist li.{level}")]


def post_from_page(driver: WebDriver, url: str, fields: dict[str, str]) -> int:
    """POST a form to url with the browser's own session and the page's CSRF token, as a crafted
    form would (for actions the page offers no button for); returns the answer's status code."""
    return driver.execute_async_script(
        """
        const [url, fields, done] = arguments;
        const body = new FormData();
        body.append("csrfmiddlewaretoken", document.querySelector("input[name=csrfmiddlewaretoken]").value);
        for (const [name, value] of Object.entries(fields)) body.append(name, value);
        fetch(url, {method: "POST", body, credentials: "same-origin", redirect: "manual"})
            .then((response) => done(response.status));
        """,
        url,
        fields,
    )
