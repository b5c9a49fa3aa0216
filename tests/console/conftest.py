"""A real browser against the console: Debian's headless Chromium driven by Selenium through
chromedriver, talking to the application served on a loopback port.

Without Chromium the browser tests are skipped, so that the suite still runs on a machine that
has nothing but Python; `.ci/run` installs Chromium and sets CONSOLE_BROWSER_REQUIRED=1, which
turns a missing browser into a failure instead.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.jobs import BackgroundWorker

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
WAIT_SECONDS = 15
BROWSER_TIME_ZONE = "Europe/Helsinki"


def _find(name: str, env: str) -> str | None:
    return os.environ.get(env) or shutil.which(name)


@pytest.fixture(scope="session")
def _driver_paths():
    browser = _find("chromium", "CHROMIUM_BINARY")
    driver = _find("chromedriver", "CHROMEDRIVER")
    if not (browser and driver):
        message = "Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CONSOLE_BROWSER_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@pytest.fixture
def downloads(tmp_path):
    """Where the browser saves what the console offers for download."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def _chrome(_driver_paths, downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _driver_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1440,1000", "--lang=en-GB", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The officials' browsers are in Finland; the statistics' days are Helsinki days too.
    service = Service(driver_path, env={**os.environ, "TZ": BROWSER_TIME_ZONE})
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


@pytest.fixture
def browser(_driver_paths, downloads):
    driver = _chrome(_driver_paths, downloads)
    try:
        yield driver
        # A JavaScript error in the page fails the test that caused it.
        errors = [entry for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE" and not _expected_failure(entry["message"])]
        assert errors == [], errors
    finally:
        driver.quit()


@pytest.fixture
def citizen_browser(_driver_paths, tmp_path):
    """A second browser, of a citizen, beside the official's (nothing shared with it)."""
    folder = tmp_path / "citizen-downloads"
    folder.mkdir()
    driver = _chrome(_driver_paths, folder)
    try:
        yield driver
        errors = [entry for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE" and not _expected_failure(entry["message"])]
        assert errors == [], errors
    finally:
        driver.quit()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass  # the access log of a test server only buries the failure in noise


class LiveServer:
    """The application on a loopback port, served by Werkzeug in a thread.

    Every 5xx the application answers is kept in `server_errors`; the `serve` fixture fails the
    test on any, whether or not the page showed it."""

    def __init__(self, app):
        self.app = app
        self.server_errors: list[str] = []
        self._server = make_server("127.0.0.1", 0, self._recording(app), threaded=True,
                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._worker = BackgroundWorker(app)  # the jobs the page's requests queue, on the Redis pass

    def _recording(self, app):
        def wsgi(environ, start_response):
            def start(status, headers, exc_info=None):
                if status.startswith("5"):
                    self.server_errors.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')} -> {status}")
                return start_response(status, headers, exc_info)
            return app(environ, start)
        return wsgi

    def __enter__(self):
        self._thread.start()
        self._worker.start()
        return self

    def __exit__(self, *exc):
        # Chat long polls still waiting are answered now, as a stopping worker answers them, so
        # that none is left holding a database connection when the test's database is emptied.
        waits = self.app.extensions.get("chat_waits")
        if waits is not None:
            waits.close()
            time.sleep(0.5)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._worker.stop()


@pytest.fixture
def serve():
    """serve(app) -> LiveServer: the app at a loopback URL until the test ends."""
    servers = []

    def start(app):
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
    errors = [error for server in servers for error in server.server_errors]
    assert errors == [], f"the server answered the page with 5xx: {errors}"


@pytest.fixture
def screenshot(browser):
    """screenshot(name): the whole window as test-artifacts/screenshots/<name>.png (not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return take


_SERVER_ERROR = re.compile(r"status of 5\d\d")


def _expected_failure(message: str) -> bool:
    # The console reports refused API calls (a 4xx the test provoked) in the page; Chromium
    # also logs them as failed resource loads, which is not a script error. A 5xx is never
    # expected: it is a server fault the page may have hidden.
    return "Failed to load resource" in message and not _SERVER_ERROR.search(message)


AXE_SCRIPT = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# What fails a page: WCAG 2.1 A and AA rules, violations of these impacts.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def _axe_source():
    if not AXE_SCRIPT.exists():
        message = "axe-core is needed for the accessibility checks (npm ci --prefix tests/console)"
        if os.environ.get("CONSOLE_BROWSER_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture
def accessible(_axe_source):
    """accessible(driver, what): runs axe-core in the page as it is now and fails on any serious
    or critical WCAG 2.1 A/AA violation, naming the rule and the elements."""

    def check(driver, what: str) -> list[dict]:
        # Injected through the driver, which the page's content security policy does not govern.
        driver.execute_script(_axe_source)
        driver.set_script_timeout(30)
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
            ".then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map((n) => n.target.join(' '))}))), (e) => done({error: String(e)}));",
            AXE_TAGS)
        assert not isinstance(result, dict), result
        failing = [v for v in result if v["impact"] in AXE_FAILING_IMPACTS]
        assert failing == [], f"{what}: {failing}"
        return result

    return check
