"""The second factor of password sign-ins: TOTP enrolment, codes good once, recovery codes,
lockout, and the roles that may do nothing without one."""

from __future__ import annotations

import time

import pyotp
import pytest

from service.config import Settings
from tests.api.problems import assert_problem
from tests.conftest import PASSWORD, Api

TOKEN = "/api/v1/auth/token"
FACTOR = "/api/v1/auth/second-factor"


def _code(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


@pytest.fixture
def required_app(make_app):
    """The shipped default: admins and privacy officers need a second factor."""
    return make_app(TWO_FACTOR_REQUIRED_ROLES=Settings().TWO_FACTOR_REQUIRED_ROLES)


@pytest.fixture
def api2(required_app):
    return Api(required_app, required_app.test_client())


def _sign_in(api, username, **extra):
    return api.client.post(TOKEN, json={"username": username, "password": PASSWORD, **extra})


def _bearer(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


def _enrol(api, headers) -> tuple[str, list[str]]:
    started = api.client.post(FACTOR + "/totp", headers=headers)
    assert started.status_code == 201, started.get_json()
    secret = started.get_json()["secret"]
    confirmed = api.client.post(FACTOR + "/totp/confirm", json={"code": _code(secret)}, headers=headers)
    assert confirmed.status_code == 200, confirmed.get_json()
    return secret, confirmed.get_json()["recovery_codes"]


def test_by_default_admins_and_privacy_officers_need_a_second_factor_and_advisers_do_not():
    assert Settings().TWO_FACTOR_REQUIRED_ROLES == "admin,privacy_officer"


@pytest.mark.parametrize("role, path", [("admin", "/api/v1/officials"),
                                        ("privacy_officer", "/api/v1/privacy/requests")])
def test_a_role_that_requires_the_factor_is_refused_everything_but_enrolment_without_it(api2, role, path):
    official = api2.official(role)

    signed_in = _sign_in(api2, official["username"])
    headers = _bearer(signed_in)

    assert signed_in.get_json()["second_factor_enrolment_required"] is True
    assert_problem(api2.client.get(path, headers=headers), 403, "second-factor-enrolment-required")
    me = api2.client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me["second_factor_missing"] is True
    status = api2.client.get(FACTOR, headers=headers).get_json()
    assert status == {"totp_enabled": False, "enrolment_pending": False, "required": True, "recovery_codes_left": 0}


def test_an_adviser_works_without_a_second_factor_under_the_default(api2):
    adviser = api2.official("adviser")

    signed_in = _sign_in(api2, adviser["username"])

    assert signed_in.get_json()["second_factor_enrolment_required"] is False
    assert api2.client.get("/api/v1/cases", headers=_bearer(signed_in)).status_code == 200


def test_confirming_renewing_or_removing_without_an_enrolment_is_a_409_that_changes_nothing(api2):
    adviser = api2.official("adviser")
    headers = _bearer(_sign_in(api2, adviser["username"]))

    for path in ("/totp/confirm", "/recovery-codes", "/remove"):
        assert_problem(api2.client.post(FACTOR + path, json={"code": "123456"}, headers=headers), 409)
    assert api2.client.get(FACTOR, headers=headers).get_json()["totp_enabled"] is False


def test_enrolment__a_qr_code_then_a_right_code_turns_the_factor_on_and_opens_the_session(api2):
    admin = api2.official("admin")
    headers = _bearer(_sign_in(api2, admin["username"]))

    started = api2.client.post(FACTOR + "/totp", headers=headers).get_json()
    assert started["qr_svg"].startswith("data:image/svg+xml")
    assert started["otpauth_uri"].startswith("otpauth://totp/")
    assert started["secret"] in started["otpauth_uri"]
    wrong = api2.client.post(FACTOR + "/totp/confirm", json={"code": "000000"}, headers=headers)
    assert_problem(wrong, 422, "validation-failed", fields=["code"])
    assert api2.client.get("/api/v1/officials", headers=headers).status_code == 403

    confirmed = api2.client.post(FACTOR + "/totp/confirm", json={"code": _code(started["secret"])}, headers=headers)

    assert confirmed.status_code == 200
    codes = confirmed.get_json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # This session proved the factor while enrolling: it may now work.
    assert api2.client.get("/api/v1/officials", headers=headers).status_code == 200
    assert api2.client.get(FACTOR, headers=headers).get_json() == {
        "totp_enabled": True, "enrolment_pending": False, "required": True, "recovery_codes_left": 10}


def test_once_enrolled_a_password_alone_is_not_enough_and_a_wrong_code_is_refused(api2):
    admin = api2.official("admin")
    secret, _ = _enrol(api2, _bearer(_sign_in(api2, admin["username"])))

    assert_problem(_sign_in(api2, admin["username"]), 401, "second-factor-required")
    assert_problem(_sign_in(api2, admin["username"], code="123456"), 401, "invalid-second-factor")
    # The right code with a wrong password is still a wrong password.
    wrong_password = api2.client.post(TOKEN, json={"username": admin["username"], "password": "not the password",
                                                   "code": _code(secret, 1)})
    assert_problem(wrong_password, 401, "invalid-credentials")

    signed_in = _sign_in(api2, admin["username"], code=_code(secret, 1))

    assert signed_in.get_json()["second_factor_enrolment_required"] is False
    assert api2.client.get("/api/v1/officials", headers=_bearer(signed_in)).status_code == 200


def test_a_code_is_good_once_even_within_its_window(api2):
    admin = api2.official("admin")
    secret, _ = _enrol(api2, _bearer(_sign_in(api2, admin["username"])))
    code = _code(secret, 1)

    assert _sign_in(api2, admin["username"], code=code).status_code == 201
    assert_problem(_sign_in(api2, admin["username"], code=code), 401, "invalid-second-factor")
    # An earlier step's code is no better once a later one was used.
    assert_problem(_sign_in(api2, admin["username"], code=_code(secret, 0)), 401, "invalid-second-factor")


def test_a_code_is_judged_at_the_moment_of_the_sign_in(api2, required_app):
    """The sign-in's own clock decides which codes are current, not a second reading of it."""
    from datetime import datetime, timedelta, timezone

    from service.auth import logic
    from service.errors import Unauthorized

    admin = api2.official("admin")
    secret, _ = _enrol(api2, _bearer(_sign_in(api2, admin["username"])))
    later = datetime.now(timezone.utc) + timedelta(hours=1)

    def sign_in_later(code):
        with required_app.app_context():
            raw, _ = logic.login(username=admin["username"], password=PASSWORD, token_ttl_seconds=3600,
                                 max_failures=5, lockout_seconds=900, second_factor_code=code, now=later)
            return raw

    with pytest.raises(Unauthorized) as refused:
        sign_in_later(_code(secret, 1))  # good now, an hour before the sign-in's moment
    assert refused.value.code == "invalid-second-factor"
    assert sign_in_later(pyotp.TOTP(secret).at(later))


def test_a_recovery_code_signs_in_once(api2):
    admin = api2.official("admin")
    headers = _bearer(_sign_in(api2, admin["username"]))
    _, codes = _enrol(api2, headers)

    used = _sign_in(api2, admin["username"], code=codes[3].upper())

    assert api2.client.get("/api/v1/officials", headers=_bearer(used)).status_code == 200
    assert_problem(_sign_in(api2, admin["username"], code=codes[3]), 401, "invalid-second-factor")
    assert api2.client.get(FACTOR, headers=headers).get_json()["recovery_codes_left"] == 9


def test_recovery_codes_are_renewed_with_a_code_and_the_old_ones_stop_working(api2):
    admin = api2.official("admin")
    headers = _bearer(_sign_in(api2, admin["username"]))
    secret, old = _enrol(api2, headers)

    assert_problem(api2.client.post(FACTOR + "/recovery-codes", json={"code": "111111"}, headers=headers),
                   422, "validation-failed", fields=["code"])
    renewed = api2.client.post(FACTOR + "/recovery-codes", json={"code": _code(secret, 1)}, headers=headers)

    assert renewed.status_code == 201
    new = renewed.get_json()["recovery_codes"]
    assert not set(new) & set(old)
    assert_problem(_sign_in(api2, admin["username"], code=old[0]), 401, "invalid-second-factor")
    assert _sign_in(api2, admin["username"], code=new[0]).status_code == 201


def test_recovery_codes_are_stored_hashed(api2, required_app):
    from sqlalchemy import select

    from service.auth.models import RecoveryCode
    from service.extensions import db

    admin = api2.official("admin")
    _, codes = _enrol(api2, _bearer(_sign_in(api2, admin["username"])))

    with required_app.app_context():
        stored = list(db.session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)
    assert not any(c.replace("-", "") in "".join(stored) for c in codes)


def test_wrong_codes_lock_the_username_like_wrong_passwords(make_app):
    app = make_app(TWO_FACTOR_REQUIRED_ROLES="admin", LOGIN_MAX_FAILURES=3)
    api = Api(app, app.test_client())
    admin = api.official("admin")
    secret, _ = _enrol(api, _bearer(_sign_in(api, admin["username"])))

    for _ in range(3):
        assert_problem(_sign_in(api, admin["username"], code="999999"), 401, "invalid-second-factor")
    locked = _sign_in(api, admin["username"], code=_code(secret, 1))

    assert_problem(locked, 429)
    assert int(locked.headers["Retry-After"]) > 0


def test_a_required_factor_cannot_be_removed_but_an_optional_one_can(api2):
    admin = api2.official("admin")
    admin_headers = _bearer(_sign_in(api2, admin["username"]))
    admin_secret, _ = _enrol(api2, admin_headers)
    adviser = api2.official("adviser")
    adviser_headers = _bearer(_sign_in(api2, adviser["username"]))
    adviser_secret, _ = _enrol(api2, adviser_headers)

    refused = api2.client.post(FACTOR + "/remove", json={"code": _code(admin_secret, 1)}, headers=admin_headers)
    removed = api2.client.post(FACTOR + "/remove", json={"code": _code(adviser_secret, 1)}, headers=adviser_headers)

    assert_problem(refused, 409)
    assert removed.status_code == 204
    assert _sign_in(api2, adviser["username"]).status_code == 201


def test_an_admin_resets_a_lost_factor_and_the_officials_sessions_end(api2):
    privacy = api2.official("privacy_officer")
    headers = _bearer(_sign_in(api2, privacy["username"]))
    _enrol(api2, headers)
    admin = api2.official("admin")
    admin_headers = _bearer(_sign_in(api2, admin["username"]))
    secret, _ = _enrol(api2, admin_headers)

    reset = api2.client.delete(f"/api/v1/officials/{privacy['id']}/second-factor", headers=admin_headers)

    assert reset.status_code == 204
    assert_problem(api2.client.get("/api/v1/auth/me", headers=headers), 401, "invalid-token")
    again = _sign_in(api2, privacy["username"])
    assert again.get_json()["second_factor_enrolment_required"] is True
    entries = api2.client.get("/api/v1/audit", query_string={"object_id": privacy["id"], "page_size": 100},
                              headers=admin_headers).get_json()["items"]
    assert {"auth.totp_enrolled", "auth.totp_reset", "auth.login"} <= {e["action"] for e in entries}


def test_factor_changes_and_failures_are_audited_without_the_codes(api2):
    admin = api2.official("admin")
    headers = _bearer(_sign_in(api2, admin["username"]))
    secret, codes = _enrol(api2, headers)
    _sign_in(api2, admin["username"], code="654321")
    _sign_in(api2, admin["username"], code=codes[0])

    entries = api2.client.get("/api/v1/audit", query_string={"object_id": admin["id"], "page_size": 100},
                              headers=headers).get_json()["items"]

    actions = [e["action"] for e in entries]
    assert {"auth.totp_enrolled", "auth.second_factor_failed", "auth.recovery_code_used"} <= set(actions)
    assert secret not in str(entries) and codes[0] not in str(entries) and "654321" not in str(entries)
    # Both happen before anyone is signed in: on the official, by the system.
    for action in ("auth.second_factor_failed", "auth.recovery_code_used"):
        (entry,) = (e for e in entries if e["action"] == action)
        assert (entry["actor_type"], entry["actor_id"]) == ("system", None)
        assert (entry["object_type"], entry["object_id"]) == ("official", admin["id"])


def test_an_unknown_role_in_the_setting_stops_the_start(make_app):
    with pytest.raises(RuntimeError, match="TWO_FACTOR_REQUIRED_ROLES"):
        make_app(TWO_FACTOR_REQUIRED_ROLES="admin,superuser")



def test_wrong_codes_for_renewing_recovery_codes_lock_out_too(make_app):
    app = make_app(TWO_FACTOR_REQUIRED_ROLES="admin", LOGIN_MAX_FAILURES=3)
    api = Api(app, app.test_client())
    admin = api.official("admin")
    headers = _bearer(_sign_in(api, admin["username"]))
    secret, _ = _enrol(api, headers)

    for _ in range(3):
        assert_problem(api.client.post(FACTOR + "/recovery-codes", json={"code": "999999"}, headers=headers),
                       422, "validation-failed", fields=["code"])
    locked = api.client.post(FACTOR + "/recovery-codes", json={"code": _code(secret, 1)}, headers=headers)

    assert_problem(locked, 429)
    assert_problem(_sign_in(api, admin["username"], code=_code(secret, 1)), 429)
