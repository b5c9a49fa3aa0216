"""Single sign-on against a real OpenID provider on loopback: the code flow with PKCE end to end,
and each forged, expired or unknown answer refused."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from service.auth.models import AuthToken
from service.config import Settings
from service.extensions import db
from tests.api.problems import assert_problem
from tests.conftest import Api
from tests.console.conftest import LiveServer

BASE = "http://localhost"
CALLBACK = BASE + "/api/v1/auth/oidc/callback"


@pytest.fixture
def sso(make_app, oidc_provider):
    """make(**settings) -> (app, api) with single sign-on at the test provider."""

    def make(**overrides):
        client = oidc_provider.register(CALLBACK)
        app = make_app(PUBLIC_BASE_URL=BASE, OIDC_ISSUER=oidc_provider.url, OIDC_CLIENT_ID=client["client_id"],
                       OIDC_CLIENT_SECRET=client["client_secret"], OIDC_SCOPES="openid profile", **overrides)
        return app, Api(app, app.test_client())

    return make


def _sign_in(api, provider, account: str) -> dict:
    """The whole flow: our redirect, the provider's pages, our callback; the fragment we end on."""
    started = api.client.get("/api/v1/auth/oidc/login")
    assert started.status_code == 302, started.get_data(as_text=True)
    back = provider.sign_in(requests.Session(), started.headers["Location"], account, stop_at=CALLBACK)
    finished = api.client.get(back[len(BASE):])
    assert finished.status_code == 302
    landing = urlsplit(finished.headers["Location"])
    assert landing.path == "/console/"
    return {k: v[0] for k, v in parse_qs(landing.fragment).items()}


def _bearer(result: dict) -> dict:
    assert "access_token" in result, result
    return {"Authorization": "Bearer " + result["access_token"]}


def _tokens(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuthToken))


def test_an_official_signs_in_at_the_provider_and_works_with_the_token(sso, oidc_provider):
    app, api = sso()
    official = api.official("adviser", oidc_subject="ada-at-provider")

    result = _sign_in(api, oidc_provider, "ada-at-provider")

    me = api.client.get("/api/v1/auth/me", headers=_bearer(result))
    assert me.status_code == 200 and me.get_json()["id"] == official["id"]
    assert api.client.get("/api/v1/cases", headers=_bearer(result)).status_code == 200
    session = api.client.get("/api/v1/auth/sessions", headers=_bearer(result)).get_json()["items"][0]
    assert session["method"] == "oidc"
    # At the latest when the provider's ID token expires (an hour at the test provider), not
    # after the eight hours of a password session.
    expires = datetime.fromisoformat(session["expires_at"])
    assert expires <= datetime.now(timezone.utc) + timedelta(seconds=3600 + 5)
    assert expires > datetime.now(timezone.utc) + timedelta(seconds=3500)


def test_the_authorization_request_carries_state_nonce_and_an_s256_pkce_challenge(sso):
    _, api = sso()

    started = api.client.get("/api/v1/auth/oidc/login")

    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20


@pytest.mark.parametrize("forgery", ["nonce", "foreign-key", "expired"])
def test_an_id_token_with_a_wrong_nonce_another_key_or_expired_is_refused(sso, oidc_provider, forgery):
    app, api = sso()
    official = api.official("adviser", oidc_subject="bea-at-provider")
    admin = api.headers_for("admin")
    oidc_provider.tamper_next_id_token(forgery)

    result = _sign_in(api, oidc_provider, "bea-at-provider")

    assert result == {"sign_in_error": "invalid-id-token"}
    assert _tokens(app) == 1  # the admin's own
    failures = api.client.get("/api/v1/audit", query_string={"action": "auth.oidc_login_failed"},
                              headers=admin).get_json()["items"]
    assert [f["details"] for f in failures] == [{"reason": "invalid-id-token"}]
    # The same official signs in fine with an honest token.
    assert _bearer(_sign_in(api, oidc_provider, "bea-at-provider"))
    assert official


def test_an_unknown_subject_is_refused_even_with_a_known_email(sso, oidc_provider):
    app, api = sso()
    api.official("adviser", oidc_subject="someone-else", organisation_email="cecilia@example.fi")
    oidc_provider.account("cecilia-new", email="cecilia@example.fi")

    result = _sign_in(api, oidc_provider, "cecilia-new")

    assert result == {"sign_in_error": "unknown-subject"}
    assert _tokens(app) == 0


def test_officials_are_matched_by_the_configured_claim(sso, oidc_provider):
    _, api = sso(OIDC_SUBJECT_CLAIM="oid")
    official = api.official("adviser", oidc_subject="0b5c8e1e-object-id")
    oidc_provider.account("dora-login", oid="0b5c8e1e-object-id")
    oidc_provider.account("dora-impostor", oid="another-object-id")

    assert api.client.get("/api/v1/auth/me", headers=_bearer(_sign_in(api, oidc_provider, "dora-login"))
                          ).get_json()["id"] == official["id"]
    assert _sign_in(api, oidc_provider, "dora-impostor") == {"sign_in_error": "unknown-subject"}


def test_a_deactivated_official_is_refused_at_the_next_request_and_at_the_next_sign_in(sso, oidc_provider):
    _, api = sso()
    official = api.official("adviser", oidc_subject="eero-at-provider")
    headers = _bearer(_sign_in(api, oidc_provider, "eero-at-provider"))
    admin = api.headers_for("admin")

    assert api.client.delete(f"/api/v1/officials/{official['id']}", headers=admin).status_code == 204

    assert_problem(api.client.get("/api/v1/auth/me", headers=headers), 401, "invalid-token")
    assert _sign_in(api, oidc_provider, "eero-at-provider") == {"sign_in_error": "deactivated"}


def test_an_account_disabled_at_the_provider_cannot_sign_in(sso, oidc_provider):
    _, api = sso()
    api.official("adviser", oidc_subject="frida-at-provider")
    oidc_provider.account("frida-at-provider", disabled=True)

    assert _sign_in(api, oidc_provider, "frida-at-provider") == {"sign_in_error": "provider-refused"}


def test_the_role_follows_the_providers_groups_at_every_sign_in(sso, oidc_provider):
    _, api = sso(OIDC_ROLES_CLAIM="groups", OIDC_ROLE_MAP="cs-supervisors=supervisor,cs-staff=adviser")
    official = api.official("adviser", oidc_subject="gustav")
    oidc_provider.account("gustav", groups=["everyone", "cs-supervisors"])

    first = _bearer(_sign_in(api, oidc_provider, "gustav"))
    assert api.client.get("/api/v1/auth/me", headers=first).get_json()["role"] == "supervisor"

    oidc_provider.account("gustav", groups=["everyone"])
    assert _sign_in(api, oidc_provider, "gustav") == {"sign_in_error": "no-role"}
    oidc_provider.account("gustav", groups=["cs-staff"])
    again = _bearer(_sign_in(api, oidc_provider, "gustav"))
    assert api.client.get("/api/v1/auth/me", headers=again).get_json()["role"] == "adviser"
    assert official


def test_a_new_subject_with_a_mapped_group_becomes_an_official_when_allowed(sso, oidc_provider):
    _, api = sso(OIDC_ROLES_CLAIM="groups", OIDC_ROLE_MAP="cs-staff=adviser", OIDC_CREATE_OFFICIALS=1)
    oidc_provider.account("hanna", groups=["cs-staff"], name="Hanna Heikkinen")
    oidc_provider.account("ilkka", groups=["marketing"])

    me = api.client.get("/api/v1/auth/me", headers=_bearer(_sign_in(api, oidc_provider, "hanna"))).get_json()

    assert (me["role"], me["name"]) == ("adviser", "Hanna Heikkinen")
    assert _sign_in(api, oidc_provider, "ilkka") == {"sign_in_error": "no-role"}


def test_an_admin_signed_in_at_the_provider_needs_no_second_factor_here(sso, oidc_provider):
    # The provider enforces its own factors; the requirement here is for password sign-ins.
    _, api = sso(TWO_FACTOR_REQUIRED_ROLES=Settings().TWO_FACTOR_REQUIRED_ROLES)
    api.official("admin", oidc_subject="jaana")

    headers = _bearer(_sign_in(api, oidc_provider, "jaana"))

    assert api.client.get("/api/v1/officials", headers=headers).status_code == 200


def test_password_sign_in_can_be_switched_off(sso, oidc_provider):
    _, api = sso(PASSWORD_SIGN_IN=0)
    official = api.official("adviser", oidc_subject="kalle")

    assert_problem(api.login(official["username"]), 403, "password-sign-in-off")
    assert api.client.get("/api/v1/auth/methods").get_json() == {"password": False, "oidc": True}
    assert _bearer(_sign_in(api, oidc_provider, "kalle"))


def test_a_callback_without_the_browsers_state_cookie_is_refused(sso, oidc_provider):
    app, api = sso()
    api.official("adviser", oidc_subject="liisa")
    started = api.client.get("/api/v1/auth/oidc/login")
    back = oidc_provider.sign_in(requests.Session(), started.headers["Location"], "liisa", stop_at=CALLBACK)

    # Another browser (an attacker's link followed by a victim) has no state of this sign-in.
    finished = app.test_client().get(back[len(BASE):])

    assert parse_qs(urlsplit(finished.headers["Location"]).fragment) == {"sign_in_error": ["invalid-id-token"]}
    assert _tokens(app) == 0


def test_without_oidc_issuer_single_sign_on_is_not_offered(api, client):
    assert_problem(client.get("/api/v1/auth/oidc/login"), 404)
    assert client.get("/api/v1/auth/methods").get_json() == {"password": True, "oidc": False}


def test_the_providers_back_channel_logout_ends_the_session_here(make_app, oidc_provider):
    # The client is registered once the server's port is known.
    app = make_app(OIDC_ISSUER=oidc_provider.url, OIDC_CLIENT_ID="registered-below", OIDC_SCOPES="openid profile")
    with LiveServer(app) as server:
        client = oidc_provider.register(server.url + "/api/v1/auth/oidc/callback",
                                        backchannel_logout_uri=server.url + "/api/v1/auth/oidc/backchannel-logout")
        app.config.update(PUBLIC_BASE_URL=server.url, OIDC_CLIENT_ID=client["client_id"],
                          OIDC_CLIENT_SECRET=client["client_secret"])
        from service.auth import oidc
        oidc.install(app)
        Api(app, app.test_client()).official("adviser", oidc_subject="mikko")
        browser = requests.Session()
        started = browser.get(server.url + "/api/v1/auth/oidc/login", allow_redirects=False)
        back = oidc_provider.sign_in(browser, started.headers["Location"], "mikko",
                                     stop_at=server.url + "/api/v1/auth/oidc/callback")
        finished = browser.get(back, allow_redirects=False)
        result = {k: v[0] for k, v in parse_qs(urlsplit(finished.headers["Location"]).fragment).items()}
        headers = _bearer(result)
        assert requests.get(server.url + "/api/v1/auth/me", headers=headers, timeout=10).status_code == 200

        oidc_provider.sign_out(browser, client["client_id"])

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if requests.get(server.url + "/api/v1/auth/me", headers=headers, timeout=10).status_code == 401:
                break
            time.sleep(0.2)
        assert requests.get(server.url + "/api/v1/auth/me", headers=headers, timeout=10).status_code == 401, \
            oidc_provider.output


def test_a_logout_token_not_signed_by_the_provider_is_refused(sso):
    app, api = sso()

    response = api.client.post("/api/v1/auth/oidc/backchannel-logout",
                               data={"logout_token": "eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0."})

    assert_problem(response, 400, "invalid-logout-token")


def test_the_providers_front_channel_logout_ends_the_sessions_of_its_sid(make_app, oidc_provider):
    # A client registered for logout (session required) is the one whose ID tokens carry `sid`.
    client = oidc_provider.register(CALLBACK, backchannel_logout_uri=BASE + "/api/v1/auth/oidc/backchannel-logout")
    app = make_app(PUBLIC_BASE_URL=BASE, OIDC_ISSUER=oidc_provider.url, OIDC_CLIENT_ID=client["client_id"],
                   OIDC_CLIENT_SECRET=client["client_secret"], OIDC_SCOPES="openid profile")
    api = Api(app, app.test_client())
    api.official("adviser", oidc_subject="nelli")
    headers = _bearer(_sign_in(api, oidc_provider, "nelli"))
    with app.app_context():
        sid = db.session.scalar(select(AuthToken.oidc_sid))
    assert sid
    url = "/api/v1/auth/oidc/frontchannel-logout"

    assert_problem(api.client.get(url, query_string={"iss": oidc_provider.url}), 422, fields=["sid"])
    assert_problem(api.client.get(url, query_string={"iss": "https://another.example", "sid": sid}), 400)
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 200

    ended = api.client.get(url, query_string={"iss": oidc_provider.url, "sid": sid})

    assert ended.status_code == 200 and ended.headers["Cache-Control"] == "no-store"
    assert_problem(api.client.get("/api/v1/auth/me", headers=headers), 401)


def test_an_answer_without_the_configured_subject_claim_is_refused(sso, oidc_provider):
    _, api = sso(OIDC_SUBJECT_CLAIM="oid")
    api.official("adviser", oidc_subject="olli")
    oidc_provider.account("olli")  # no `oid` claim at all: `sub` is not taken in its place

    assert _sign_in(api, oidc_provider, "olli") == {"sign_in_error": "subject-claim-missing"}


def test_a_new_subject_mapped_to_inspector_is_not_created(sso, oidc_provider):
    # An inspector needs lines, which the provider does not give.
    app, api = sso(OIDC_ROLES_CLAIM="groups", OIDC_ROLE_MAP="registry=inspector", OIDC_CREATE_OFFICIALS=1)
    oidc_provider.account("pirjo", groups=["registry"])

    assert _sign_in(api, oidc_provider, "pirjo") == {"sign_in_error": "unknown-subject"}
    assert _tokens(app) == 0


def test_a_grant_to_link_customers_ends_when_the_provider_moves_the_official_to_a_role_without_it(
        sso, oidc_provider):
    _, api = sso(OIDC_ROLES_CLAIM="groups", OIDC_ROLE_MAP="cs-privacy=privacy_officer,cs-staff=adviser")
    official = api.official("adviser", oidc_subject="raili", may_link_customers=True)
    admin = api.headers_for("admin")
    oidc_provider.account("raili", groups=["cs-privacy"])
    assert api.client.get("/api/v1/auth/me", headers=_bearer(_sign_in(api, oidc_provider, "raili"))
                          ).get_json()["role"] == "privacy_officer"

    oidc_provider.account("raili", groups=["cs-staff"])
    _bearer(_sign_in(api, oidc_provider, "raili"))

    # Back as an adviser, the grant does not return unseen: an administrator gives it again.
    read = api.client.get(f"/api/v1/officials/{official['id']}", headers=admin).get_json()
    assert (read["role"], read["may_link_customers"]) == ("adviser", False)
