"""The real OpenID provider of the sign-in tests: the `oidc-provider` package from npm (exact
version in package.json and package-lock.json here), run by the machine's Node.js on a loopback
port, once per test run.

Without Node.js the tests that need it are skipped; CI sets OIDC_PROVIDER_REQUIRED=1, which
turns a missing Node.js, or a provider that does not start, into a failure instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

HERE = Path(__file__).resolve().parent
START_SECONDS = 30


def _unavailable(message: str):
    if os.environ.get("OIDC_PROVIDER_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _install(npm: str) -> None:
    """`npm ci` from the lock file, again only when the lock file changed."""
    stamp = HERE / "node_modules" / ".installed-lock"
    wanted = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()
    # Parallel test workers each start a provider: one installs while the others wait.
    with open(HERE / ".npm-ci.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted:
            return
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            _unavailable(f"npm ci failed in tests/oidc: {result.stderr[-2000:]}")
        stamp.write_text(wanted)


class Provider:
    def __init__(self, url: str, output: list[str]):
        self.url = url
        self.output = output  # what the provider printed: its errors, for a failing test to show

    def register(self, redirect_uri: str, *, backchannel_logout_uri: str | None = None) -> dict:
        """A client registered the standard way (Dynamic Client Registration): id and secret."""
        body = {"redirect_uris": [redirect_uri], "response_types": ["code"],
                "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic"}
        if backchannel_logout_uri:
            body.update(backchannel_logout_uri=backchannel_logout_uri, backchannel_logout_session_required=True)
        response = requests.post(self.url + "/reg", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def account(self, account_id: str, *, disabled: bool = False, **claims) -> None:
        response = requests.post(self.url + "/__test/accounts",
                                 json={account_id: {"claims": claims, "disabled": disabled}}, timeout=10)
        assert response.status_code == 204, response.text

    def tamper_next_id_token(self, mode: str) -> None:
        response = requests.post(self.url + "/__test/tamper", json={"mode": mode}, timeout=10)
        assert response.status_code == 204, response.text

    def sign_in(self, session: requests.Session, authorize_url: str, account: str, stop_at: str) -> str:
        """Go through the provider's pages as a browser would, signing in as ``account``;
        returns the URL the provider sends the browser back to (starting with ``stop_at``)."""
        url = authorize_url
        for _ in range(20):
            if url.startswith(stop_at):
                return url
            response = session.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and 'name="login"' in response.text:
                action = re.search(r'action="([^"]+)"', response.text).group(1)
                response = session.post(urljoin(url, action), data={"login": account}, allow_redirects=False,
                                        timeout=10)
            assert response.status_code in (302, 303), (response.status_code, response.text[:500])
            url = urljoin(url, response.headers["Location"])
        raise AssertionError("the provider never sent the browser back")

    def sign_out(self, session: requests.Session, client_id: str) -> None:
        """RP-initiated logout at the provider, confirmed on its page: it ends its session and
        tells each client through their back-channel logout URI."""
        page = session.get(f"{self.url}/session/end", params={"client_id": client_id}, timeout=10)
        assert page.status_code == 200, page.text[:500]
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        done = session.post(urljoin(page.url, action), data={**fields, "logout": "yes"}, allow_redirects=False,
                            timeout=20)
        assert done.status_code in (200, 302, 303), done.text[:500]


@pytest.fixture(scope="session")
def oidc_provider():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        _unavailable("Node.js and npm are needed for the OpenID provider of the sign-in tests")
    _install(npm)
    process = subprocess.Popen([node, "provider.mjs"], cwd=HERE, env={**os.environ, "PORT": "0"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    found = threading.Event()

    def read():
        for line in process.stdout:
            lines.append(line)
            if line.startswith("listening "):
                found.set()

    threading.Thread(target=read, name="oidc-provider-output", daemon=True).start()
    if not found.wait(START_SECONDS):
        process.kill()
        _unavailable("the OpenID provider did not start: " + "".join(lines)[-2000:])
    port = int(next(line for line in lines if line.startswith("listening ")).split()[1])
    try:
        yield Provider(f"http://127.0.0.1:{port}", lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
