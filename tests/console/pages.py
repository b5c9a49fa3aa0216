"""The console as a user sees it: what to click and type, and what to wait for."""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import PASSWORD

from .conftest import WAIT_SECONDS


class Console:
    def __init__(self, driver, base_url: str):
        self.driver = driver
        self.base_url = base_url
        self.wait = WebDriverWait(driver, WAIT_SECONDS)

    def open(self, fragment: str = "") -> "Console":
        self.driver.get(f"{self.base_url}/console/{fragment}")
        self.element("#login-form")
        return self

    def element(self, css: str):
        return self.wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def present(self, css: str):
        return self.wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, css)))

    def all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for_text(self, css: str, text: str):
        try:
            self.wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        except TimeoutException:
            shown = [element.text for element in self.all(css)]
            raise AssertionError(f"{text!r} never appeared in {css}: it shows {shown!r}; "
                                 f"the status line says {self.all('#status')[0].text!r}") from None
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_until_shown(self, read, expected, what: str):
        """Wait until ``read()`` (which reads the page) returns ``expected``: for a list that is
        re-rendered after the text looked for is already there, such as a re-sort."""
        last = []

        def matches(_driver):
            try:
                last[:] = [read()]
            except StaleElementReferenceException:  # re-rendered while being read
                return False
            return last[0] == expected
        try:
            self.wait.until(matches)
        except TimeoutException:
            raise AssertionError(f"{what} never became {expected!r}: it shows {last[0] if last else None!r}") from None

    def select(self, css: str, value: str) -> None:
        Select(self.element(css)).select_by_value(value)

    def choose_language(self, code: str) -> None:
        self.select("#language", code)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Signs in with the keyboard alone: type, Tab to the password, Enter to submit."""
        username_box = self.element("#username")
        self.wait.until(lambda d: d.switch_to.active_element == username_box, "the username box has no focus")
        username_box.send_keys(username)
        username_box.send_keys(Keys.TAB)
        self.driver.switch_to.active_element.send_keys(password, Keys.ENTER)
        self.element("#queue-filters")

    def sign_in_to(self, landing: str, username: str, password: str = PASSWORD) -> None:
        """Signs in an official whose first screen is not the queue (the privacy officer)."""
        self.element("#username").send_keys(username)
        self.element("#password").send_keys(password, Keys.ENTER)
        self.element(landing)

    def go(self, fragment: str) -> None:
        self.driver.execute_script("location.hash = arguments[0]", fragment)

    def notice(self, text: str) -> None:
        self.wait_for_text("#status", text)

    def fill(self, css: str, text: str) -> None:
        box = self.element(css)
        box.clear()
        box.send_keys(text)

    def click(self, css: str) -> None:
        self.wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def press(self, *keys) -> None:
        self.driver.switch_to.active_element.send_keys(*keys)

    def focused(self):
        return self.driver.switch_to.active_element

    def double_click(self, css: str) -> None:
        button = self.wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, css)))
        ActionChains(self.driver).double_click(button).perform()

    def accept_confirmation(self) -> str:
        alert = self.wait.until(seen.alert_is_present())
        text = alert.text
        alert.accept()
        return text
