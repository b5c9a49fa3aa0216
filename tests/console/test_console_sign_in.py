"""Signing in through the console in headless Chromium: single sign-on at a real OpenID provider,
enrolling an authenticator app where the role requires one, and the sessions page."""

from __future__ import annotations

import time

import pyotp

from service.config import Settings
from tests.conftest import PASSWORD, Api

from .pages import Console


def test_single_sign_on_end_to_end_in_the_browser(make_app, oidc_provider, browser, serve, screenshot):
    # The client is registered once the server's port is known.
    app = make_app(OIDC_ISSUER=oidc_provider.url, OIDC_CLIENT_ID="registered-below")
    server = serve(app)
    client = oidc_provider.register(server.url + "/api/v1/auth/oidc/callback")
    app.config.update(PUBLIC_BASE_URL=server.url, OIDC_CLIENT_ID=client["client_id"],
                      OIDC_CLIENT_SECRET=client["client_secret"])
    from service.auth import oidc
    oidc.install(app)
    Api(app, app.test_client()).official("adviser", oidc_subject="noora", name="Noora Nieminen")
    console = Console(browser, server.url).open()

    console.click("#sso")
    console.fill("#account", "noora")
    console.click("#sign-in")

    console.element("#queue-filters")
    console.wait_for_text("#who", "Noora Nieminen")
    # The token came in the fragment and is gone from the address.
    assert "access_token" not in browser.current_url
    screenshot("sign-in-single-sign-on")

    console.go("#/account")
    console.wait_for_text("#sessions", "this session")


def test_a_refused_single_sign_on_is_explained_on_the_sign_in_page(make_app, oidc_provider, browser, serve):
    app = make_app(OIDC_ISSUER=oidc_provider.url, OIDC_CLIENT_ID="registered-below")
    server = serve(app)
    client = oidc_provider.register(server.url + "/api/v1/auth/oidc/callback")
    app.config.update(PUBLIC_BASE_URL=server.url, OIDC_CLIENT_ID=client["client_id"],
                      OIDC_CLIENT_SECRET=client["client_secret"])
    from service.auth import oidc
    oidc.install(app)
    console = Console(browser, server.url).open()

    console.click("#sso")
    console.fill("#account", "nobody-here")
    console.click("#sign-in")

    console.wait_for_text("#login-form .error", "unknown-subject")
    assert "sign_in_error" not in browser.current_url


def test_an_admin_enrols_an_authenticator_app_at_first_sign_in_then_needs_its_code(make_app, browser, serve,
                                                                                    screenshot):
    app = make_app(TWO_FACTOR_REQUIRED_ROLES=Settings().TWO_FACTOR_REQUIRED_ROLES)
    admin = Api(app, app.test_client()).official("admin")
    server = serve(app)
    console = Console(browser, server.url).open()

    console.fill("#username", admin["username"])
    console.fill("#password", PASSWORD)
    console.click("#login-form button[type=submit]")

    console.element("#totp-qr")
    screenshot("sign-in-enrolment")
    secret = console.element("#totp-secret").text
    console.fill("#totp-code", pyotp.TOTP(secret).now())
    console.click("#totp-confirm")
    console.element("#recovery-codes")
    assert len(console.all("#recovery-codes li")) == 10
    console.click("#enrolment-done")
    console.element("#queue-filters")

    console.click("#logout")
    console.fill("#username", admin["username"])
    console.fill("#password", PASSWORD)
    console.click("#login-form button[type=submit]")
    console.wait_for_text("#login-form .error", "Enter the code")
    console.fill("#password", PASSWORD)
    console.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    console.click("#login-form button[type=submit]")
    console.element("#queue-filters")


def test_an_official_ends_another_of_their_sessions_on_the_security_page(make_app, browser, serve):
    app = make_app()
    api = Api(app, app.test_client())
    adviser = api.official("adviser")
    other = app.test_client().post("/api/v1/auth/token", json={"username": adviser["username"], "password": PASSWORD},
                                   headers={"User-Agent": "Phone browser"}).get_json()["access_token"]
    server = serve(app)
    console = Console(browser, server.url).open()
    console.sign_in(adviser["username"])

    console.go("#/account")
    console.wait_for_text("#sessions", "Phone browser")
    console.click("#sessions .end-session")

    console.notice("The session has ended.")
    assert "Phone browser" not in console.element("#sessions").text
    assert app.test_client().get("/api/v1/auth/me", headers={"Authorization": "Bearer " + other}).status_code == 401
