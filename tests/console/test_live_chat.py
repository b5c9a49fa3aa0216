"""A citizen in one browser chats through the widget with an adviser in another, who takes the
chat from the console's queue; and the widget as an authority embeds it on its own page."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import time_machine
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import SCREENSHOTS, WAIT_SECONDS
from .pages import Console

NOTICE = "https://neuvonta.example.fi/tietosuoja"


class Widget:
    """The chat widget as a citizen sees it (the standalone page, or inside an embedding page)."""

    def __init__(self, driver):
        self.driver = driver
        # The widget redraws itself: an element read while it is replaced is looked up again.
        self.wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def root(self):
        host = self.wait.until(seen.presence_of_element_located((By.ID, "service-chat-widget")))
        return host.shadow_root if self.driver.execute_script("return !!arguments[0].shadowRoot", host) else host

    def element(self, css: str):
        def visible(_driver):
            found = self.root().find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else False
        return self.wait.until(visible, f"{css} never showed in the widget")

    def click(self, css: str) -> None:
        # Found, then redrawn before the click lands (seen on a loaded machine): find it again.
        def clicked(_driver):
            self.element(css).click()
            return True
        self.wait.until(clicked, f"{css} could not be clicked in the widget")

    def text(self, css: str) -> str:
        return self.element(css).text

    def wait_for_text(self, css: str, text: str) -> None:
        self.wait.until(lambda _d: text in " ".join(e.text for e in self.root().find_elements(By.CSS_SELECTOR, css)),
                        f"{text!r} never appeared in the widget's {css}")


def _line(client, admin):
    response = client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Kansalaisneuvonta", "chat_widget_ids": ["neuvonta"], "default_language": "fi",
        "privacy_notice_url": NOTICE})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_citizen_and_an_adviser_chat_live_from_the_widget_to_the_transcript(
        make_app, admin_for, browser, citizen_browser, serve, screenshot, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    line = _line(client, admin)
    adviser = admin_for(app, "adviser")
    client.post("/api/v1/reply-templates", headers=admin, json={
        "service_line_id": line["id"], "language": "fi", "title": "Tervehdys",
        "body": "Hei {first_name}! Olen {official_name}, autan mielelläni."})

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.wait_for_text("#waiting-chats", "No chat is waiting.")

    # The citizen opens the standalone page in Finnish and chooses to give a name.
    citizen_browser.get(f"{server.url}/chat-widget/?widget=neuvonta&lang=fi")
    widget = Widget(citizen_browser)
    assert widget.text("#scw-title") == "Chat asiakaspalveluun"
    privacy = widget.element("#scw-privacy")
    assert privacy.get_attribute("href") == NOTICE and "tietosuojaseloste" in privacy.text
    accessible(citizen_browser, "the widget's start form")
    citizen_browser.save_screenshot(str(_path("widget-start")))
    widget.click("#scw-named")
    widget.element("#scw-name").send_keys("Anna Virtanen")
    widget.element("#scw-email").send_keys("anna@example.fi")
    widget.click("#scw-start")
    widget.wait_for_text(".scw-status", "Olet jonossa")
    box = widget.element("#scw-message")
    box.send_keys("Hei! Miten haen passia?", Keys.ENTER)
    widget.wait_for_text("#scw-log", "Miten haen passia?")
    # The token is in the page's memory only: nothing in any storage that outlives the tab.
    assert citizen_browser.execute_script("return localStorage.length + sessionStorage.length") == 0
    assert citizen_browser.get_cookies() == []

    # The adviser sees the chat waiting, with its waiting time, and joins it with one click.
    console.wait_for_text("#waiting-chats", "Finnish")
    console.wait_for_text("#waiting-chats-news", "New waiting chats: 1.")
    case = client.get("/api/v1/cases", headers=admin, query_string={"channel": "chat"}).get_json()["items"][0]
    console.wait_for_text("#waiting-chats", case["reference"])
    assert console.element("#waiting-chats td.waited").text.split()[-1] in ("sec", "secs")
    screenshot("queue-waiting-chat")
    accessible(browser, "the queue with a waiting chat")
    console.click("#waiting-chats button.join-chat")
    pane = f"#chat-{client.get('/api/v1/chats', headers=admin).get_json()['items'][0]['id']}"
    console.wait_for_text(f"{pane}-log", "Miten haen passia?")

    # The adviser answers with the line's template, filled in for this case.
    console.present(f"{pane} .template-picker[data-state=loaded]")
    console.select(f"{pane}-template", console.all(f"{pane}-template option")[1].get_attribute("value"))
    console.click(f"{pane}-use-template")
    adviser_name = adviser.username.replace("adviser", "Adviser ")
    assert console.element(f"{pane}-body").get_property("value") == \
        f"Hei Anna! Olen {adviser_name}, autan mielelläni."
    console.click(f"{pane}-send")
    widget.wait_for_text("#scw-log", "autan mielelläni")
    widget.wait_for_text(".scw-status", f"{adviser_name} liittyi chattiin.")

    # The citizen's next message arrives in the console without a reload.
    widget.element("#scw-message").send_keys("Kiitos! Tarvitsenko valokuvan?")
    widget.click("#scw-send")
    console.wait_for_text(f"{pane}-log", "Tarvitsenko valokuvan?")
    accessible(citizen_browser, "the widget in a chat")
    screenshot("chat-adviser")
    citizen_browser.save_screenshot(str(_path("widget-chat")))
    accessible(browser, "the adviser's chat pane")
    console.fill(f"{pane}-body", "Tarvitset. Kuvaamo lähettää sen sähköisesti.")
    console.click(f"{pane}-send")
    widget.wait_for_text("#scw-log", "Kuvaamo lähettää sen sähköisesti.")

    # The adviser ends the chat: the citizen is told, and the transcript is on the case.
    console.click(f"{pane}-end")
    console.accept_confirmation()
    console.notice("Chat ended; the transcript is saved on the case.")
    widget.wait_for_text(".scw-status", "Chat on päättynyt")
    assert widget.element("#scw-again").is_displayed()
    console.click(f"{pane}-state a")
    transcript = console.wait_for_text("#timeline li.contact", "Kuvaamo lähettää sen sähköisesti.")
    assert "Miten haen passia?" in transcript.text and "Tarvitsenko valokuvan?" in transcript.text
    stored = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()
    (contact,) = stored["contacts"]
    assert contact["ended_at"] and "Hei Anna!" in contact["body"]
    assert stored["customer"]["email"] == "anna@example.fi"


def _path(name):
    """Where a screenshot of the citizen's browser goes (the screenshot fixture takes the official's)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def test_two_advisers_cannot_both_join_a_chat(make_app, admin_for, browser, serve):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    first, second = admin_for(app, "adviser"), admin_for(app, "adviser")
    started = client.post("/api/v1/chats", json={"anonymous": True, "language": "sv"}).get_json()

    console = Console(browser, server.url).open()
    console.sign_in(second.username)
    console.wait_for_text("#waiting-chats", "Swedish")
    # The first adviser takes it a moment before the second one clicks.
    assert client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=first).status_code == 200
    console.click("#waiting-chats button.join-chat")
    console.notice("Another adviser has already joined this chat.")
    console.wait_for_text("#waiting-chats", "No chat is waiting.")


class _HostPage(BaseHTTPRequestHandler):
    """An authority's own page on another origin, embedding the widget with one script tag."""

    service_url = ""

    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = (f'<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>Kommunen</title></head>'
                f'<body><main><h1>Kommunens rådgivning</h1><p>Välkommen.</p></main>'
                f'<script src="{self.service_url}/chat-widget/widget.js" data-widget-id="neuvonta" async></script>'
                f'</body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_widget_embedded_on_another_sites_page_starts_an_anonymous_chat(make_app, admin_for, citizen_browser,
                                                                           serve, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    _line(client, admin)
    handler = type("Host", (_HostPage,), {"service_url": server.url})
    host = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        citizen_browser.get(f"http://localhost:{host.server_port}/")
        widget = Widget(citizen_browser)
        launcher = widget.element("#scw-launcher")
        # The page's language is the widget's.
        assert launcher.text == "Chatt – fråga oss" and launcher.get_attribute("aria-expanded") == "false"
        launcher.click()
        widget.element("#scw-anonymous")
        assert widget.element("#scw-privacy").get_attribute("href") == NOTICE
        accessible(citizen_browser, "the embedded widget, open")
        citizen_browser.save_screenshot(str(_path("widget-embedded")))
        widget.click("#scw-start")
        widget.element("#scw-message").send_keys("Hur ansöker jag om bostadsbidrag?", Keys.ENTER)
        widget.wait_for_text("#scw-log", "bostadsbidrag")
        # Escape closes the panel and gives the focus back to the launcher.
        citizen_browser.switch_to.active_element.send_keys(Keys.ESCAPE)
        assert widget.element("#scw-launcher").get_attribute("aria-expanded") == "false"
    finally:
        host.shutdown()
        host.server_close()

    (chat,) = client.get("/api/v1/chats", headers=admin).get_json()["items"]
    case = client.get(f"/api/v1/cases/{chat['case_id']}", headers=admin).get_json()
    assert case["customer"] is None and case["service_line"]["name"] == "Kansalaisneuvonta"
    assert chat["language"] == "sv"


def test_the_widget_works_at_200_percent_zoom_with_the_keyboard_alone(make_app, citizen_browser, serve, accessible):
    app = make_app()
    server = serve(app)
    # 200% zoom of a 1440 x 1000 window: half as many CSS pixels, each drawn twice as large.
    citizen_browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 720, "height": 500, "deviceScaleFactor": 2, "mobile": False})
    citizen_browser.get(f"{server.url}/chat-widget/?widget=neuvonta&lang=en")
    widget = Widget(citizen_browser)
    widget.element("#scw-start")
    # Nothing is cut off sideways: the page reflows instead of scrolling horizontally.
    assert citizen_browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth") is True
    accessible(citizen_browser, "the widget at 200% zoom")

    # Tab from the top of the page: language, the two choices (one tab stop), then Start.
    reached = []
    for _ in range(6):
        ActionChains(citizen_browser).send_keys(Keys.TAB).perform()
        reached.append(citizen_browser.switch_to.active_element.get_attribute("id"))
        if reached[-1] == "scw-start":
            break
    assert reached[-1] == "scw-start", reached
    assert "scw-anonymous" in reached
    citizen_browser.switch_to.active_element.send_keys(Keys.ENTER)
    message = widget.element("#scw-message")
    WebDriverWait(citizen_browser, WAIT_SECONDS).until(
        lambda d: d.switch_to.active_element.get_attribute("id") == "scw-message", "the message box has no focus")
    message.send_keys("Can I book a time?", Keys.ENTER)
    widget.wait_for_text("#scw-log", "Can I book a time?")
    assert citizen_browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth") is True


def test_the_widget_says_kindly_when_the_rate_limit_is_reached(make_app, citizen_browser, serve):
    app = make_app(PUBLIC_RATE_LIMIT_PER_MINUTE=1)
    server = serve(app)
    # The application's clock 5 seconds into a minute, running on: the limit's minute does not
    # end between the two starts (the browser's own clock plays no part in it).
    minute = datetime.now(timezone.utc).replace(second=5, microsecond=0)
    with time_machine.travel(minute, tick=True):
        citizen_browser.get(f"{server.url}/chat-widget/?widget=neuvonta&lang=sv")
        widget = Widget(citizen_browser)
        widget.click("#scw-start")
        widget.click("#scw-end")
        widget.wait_for_text(".scw-status", "Chatten har avslutats")
        widget.click("#scw-again")
        widget.click("#scw-start")
        widget.wait_for_text(".scw-status", "För många försök. Vänta en stund och försök igen.")
        assert "scw-error" in widget.element(".scw-status").get_attribute("class")
        assert widget.element("#scw-start").is_enabled()
