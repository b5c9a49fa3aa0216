"""Signing in and out: bearer tokens, lockout after failed logins, revocation and expiry."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from service.auth import logic
from service.auth.models import AuthToken, LoginThrottle, Official
from service.errors import TooManyRequests, Unauthorized
from service.extensions import db
from tests.api.problems import assert_problem
from tests.conftest import PASSWORD

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"


# Where Werkzeug's test client says its requests come from; lockouts are per address.
TEST_CLIENT_ADDRESS = "127.0.0.1"

# The defaults docs/configuration.md promises, written out rather than read from the settings
# or the code, so that a changed default fails here until the documentation changes with it.
DOCUMENTED_MAX_FAILURES = 5
DOCUMENTED_LOCKOUT = timedelta(minutes=15)
DOCUMENTED_TOKEN_LIFETIME = timedelta(hours=8)


def _bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def _login_ok(api, username: str, password: str = PASSWORD) -> str:
    response = api.login(username, password)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["access_token"]


def _me_after_sign_in(api, client, official) -> dict:
    return client.get(ME, headers=_bearer(_login_ok(api, official["username"]))).get_json()


def _lowered_headers(problem) -> dict[str, str]:
    # HTTP header names are case-insensitive, and so is a comparison of these.
    return {name.lower(): value for name, value in problem.headers.items()}


def _fail_login(app, username: str, at: datetime) -> None:
    """One wrong password at ``at``, refused as such (not as a lockout)."""
    with app.app_context(), pytest.raises(Unauthorized):
        _logic_login(app, username, "not the password at all", at)


def _logic_login(app, username: str, password: str, now: datetime):
    config = app.config
    with app.app_context():
        raw, token = logic.login(username=username, password=password,
                                 token_ttl_seconds=config["TOKEN_TTL_SECONDS"],
                                 max_failures=config["LOGIN_MAX_FAILURES"],
                                 lockout_seconds=config["LOGIN_LOCKOUT_SECONDS"], now=now,
                                 client_address=TEST_CLIENT_ADDRESS)
        return raw, token.expires_at


def _lock_out(api, app, username: str) -> None:
    for _ in range(DOCUMENTED_MAX_FAILURES):
        assert api.login(username, "not the password at all").status_code == 401


# --- signing in -------------------------------------------------------------------------------

def test_login__right_password_returns_a_bearer_token_expiring_in_the_future(api, app, client):
    official = api.official("adviser")
    before = datetime.now(timezone.utc)

    response = api.login(official["username"])

    assert response.status_code == 201
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert len(body["access_token"]) >= 32
    assert "password" not in body
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    ttl = DOCUMENTED_TOKEN_LIFETIME
    assert before < expires_at <= datetime.now(timezone.utc) + ttl
    assert expires_at >= before + ttl - timedelta(minutes=1)
    me = client.get(ME, headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["id"] == official["id"]


def test_login__the_token_records_the_logins_moment_and_its_client_cut_to_200_characters_or_none(api, app):
    official = api.official("adviser")
    at = datetime.now(timezone.utc) - timedelta(hours=1)  # a moment the clock does not give by itself

    def login(client):
        with app.app_context():
            _, token = logic.login(username=official["username"], password=PASSWORD, token_ttl_seconds=3600,
                                   max_failures=5, lockout_seconds=900, now=at, client=client)
            return token.created_at, token.client

    assert login(None) == (at, None)
    assert login("") == (at, None)
    assert login("Mozilla/5.0 " + "x" * 300) == (at, ("Mozilla/5.0 " + "x" * 300)[:200])


def test_login__each_login_gets_its_own_token(api):
    official = api.official("adviser")
    assert _login_ok(api, official["username"]) != _login_ok(api, official["username"])


def test_login__wrong_password_is_401_problem(api):
    official = api.official("adviser")

    response = api.login(official["username"], "wrong password, sorry")

    body = assert_problem(response, 401, "invalid-credentials")
    assert body["detail"] == "Wrong username or password."
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "access_token" not in body


def test_login__unknown_username_gets_the_same_answer_as_a_wrong_password(api):
    official = api.official("adviser")
    wrong_password = api.login(official["username"], "wrong password, sorry")

    unknown_user = api.login("nobody-by-this-name", PASSWORD)

    body = assert_problem(unknown_user, 401, "invalid-credentials")
    expected = wrong_password.get_json()
    for key in ("type", "title", "status", "detail"):
        assert body[key] == expected[key]


@pytest.mark.parametrize("payload, field", [
    ({"username": "someone"}, "password"),
    ({"password": PASSWORD}, "username"),
    ({"username": "someone", "password": PASSWORD, "remember_me": True}, "remember_me"),
    ({"username": "", "password": PASSWORD}, "username"),
])
def test_login__incomplete_or_unknown_fields_are_422_naming_the_field(client, payload, field):
    response = client.post(TOKEN, json=payload)

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_login__malformed_json_is_400_problem(client):
    response = client.post(TOKEN, data="{not json", content_type="application/json")

    assert_problem(response, 400)


def test_login__form_encoded_body_is_415_problem(client):
    response = client.post(TOKEN, data={"username": "a", "password": "b"})

    assert_problem(response, 415, "unsupported-media-type")


def test_login__inactive_official_cannot_sign_in_even_with_the_right_password(api, client, admin):
    official = api.official("adviser")
    assert client.delete(f"/api/v1/officials/{official['id']}", headers=admin).status_code == 204

    response = api.login(official["username"])

    assert_problem(response, 401, "invalid-credentials")


# --- lockout ----------------------------------------------------------------------------------

def test_login__locked_after_max_failures_even_with_the_right_password(api, app):
    official = api.official("adviser")
    _lock_out(api, app, official["username"])

    response = api.login(official["username"])

    body = assert_problem(response, 429, "too-many-requests")
    assert "locked" in body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= DOCUMENTED_LOCKOUT.total_seconds() + 1
    assert retry_after > DOCUMENTED_LOCKOUT.total_seconds() - 60


def test_login__fewer_failures_than_the_limit_do_not_lock_and_success_resets_the_count(api, app):
    official = api.official("adviser")
    almost = DOCUMENTED_MAX_FAILURES - 1
    for _ in range(almost):
        assert api.login(official["username"], "not the password at all").status_code == 401
    _login_ok(api, official["username"])

    # The count started again after the successful login: as many failures again still do not lock.
    for _ in range(almost):
        assert api.login(official["username"], "not the password at all").status_code == 401
    _login_ok(api, official["username"])


def test_login__lockout_of_one_official_does_not_affect_another(api, app):
    locked = api.official("adviser")
    other = api.official("adviser")
    _lock_out(api, app, locked["username"])

    _login_ok(api, other["username"])


def _login_from(client, address: str, username: str, password: str = PASSWORD):
    return client.post(TOKEN, json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_login__failures_from_one_address_do_not_lock_the_official_out_elsewhere(api, app, client):
    """Five wrong passwords from anywhere used to lock the admin out for fifteen minutes."""
    admin = api.official("admin")
    for _ in range(DOCUMENTED_MAX_FAILURES):
        assert _login_from(client, "203.0.113.66", admin["username"], "arvaus on väärin").status_code == 401

    assert _login_from(client, "198.51.100.10", admin["username"]).status_code == 201


def test_login__guessing_from_one_address_stays_locked_even_with_the_right_password(api, app, client):
    official = api.official("adviser")
    for _ in range(DOCUMENTED_MAX_FAILURES):
        assert _login_from(client, "203.0.113.66", official["username"], "arvaus on väärin").status_code == 401

    assert_problem(_login_from(client, "203.0.113.66", official["username"]), 429, "too-many-requests")
    assert _login_from(client, "203.0.113.67", official["username"]).status_code == 201


def test_lockout__ends_after_the_lockout_period(api, app):
    official = api.official("adviser")
    _lock_out(api, app, official["username"])
    assert api.login(official["username"]).status_code == 429
    lockout = DOCUMENTED_LOCKOUT
    now = datetime.now(timezone.utc)

    with app.app_context(), pytest.raises(TooManyRequests):
        logic.login(username=official["username"], password=PASSWORD,
                    token_ttl_seconds=app.config["TOKEN_TTL_SECONDS"],
                    max_failures=app.config["LOGIN_MAX_FAILURES"],
                    lockout_seconds=app.config["LOGIN_LOCKOUT_SECONDS"], now=now + lockout - timedelta(minutes=1),
                    client_address=TEST_CLIENT_ADDRESS)
    raw, _ = _logic_login(app, official["username"], PASSWORD, now + lockout + timedelta(seconds=2))

    assert raw
    with app.app_context():
        assert db.session.query(LoginThrottle).filter_by(username=official["username"]).count() == 0


def test_lockout__failures_older_than_the_lockout_period_do_not_add_up_with_new_ones(api, app):
    official = api.official("adviser")
    now = datetime.now(timezone.utc)

    for _ in range(DOCUMENTED_MAX_FAILURES - 1):
        _fail_login(app, official["username"], now)
    later = now + DOCUMENTED_LOCKOUT + timedelta(seconds=1)
    for _ in range(DOCUMENTED_MAX_FAILURES - 1):
        # The first is the fifth failure, but the first of a new count from zero.
        _fail_login(app, official["username"], later)

    raw, _ = _logic_login(app, official["username"], PASSWORD, later + timedelta(seconds=1))
    assert raw


def test_lockout__a_failure_one_lockout_period_after_the_last_still_counts_and_after_a_lock_the_count_starts_at_zero(
        api, app):
    """The edges: a failure exactly 15 minutes after the previous one is not older than the
    period, so it adds up; a lock ends exactly 15 minutes after it began, and the failures
    after it count from zero, as after a success."""
    official = api.official("adviser")
    start = datetime.now(timezone.utc)

    for _ in range(DOCUMENTED_MAX_FAILURES - 1):
        _fail_login(app, official["username"], start)
    locked_at = start + DOCUMENTED_LOCKOUT
    _fail_login(app, official["username"], locked_at)  # the fifth in a row: locks
    with app.app_context(), pytest.raises(TooManyRequests):
        _logic_login(app, official["username"], PASSWORD, locked_at + timedelta(seconds=1))

    unlocked_at = locked_at + DOCUMENTED_LOCKOUT
    for _ in range(DOCUMENTED_MAX_FAILURES - 1):
        # The lock is over at its end, and these are the first four of a new count.
        _fail_login(app, official["username"], unlocked_at)
    raw, _ = _logic_login(app, official["username"], PASSWORD, unlocked_at + timedelta(seconds=1))
    assert raw


def test_lockout__ends_through_the_api_once_the_lock_has_passed(api, app):
    official = api.official("adviser")
    _lock_out(api, app, official["username"])
    with app.app_context():
        db.session.execute(update(LoginThrottle).where(LoginThrottle.username == official["username"])
                           .values(locked_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
        db.session.commit()

    _login_ok(api, official["username"])


# --- signing out, expiry, storage -------------------------------------------------------------

def test_logout__revokes_the_token_so_the_next_request_is_401(api, client):
    official = api.official("adviser")
    token = _login_ok(api, official["username"])
    other_session = _login_ok(api, official["username"])

    response = client.delete(TOKEN, headers=_bearer(token))

    assert response.status_code == 204
    after = client.get(ME, headers=_bearer(token))
    assert_problem(after, 401, "invalid-token")
    # Only the token that signed out is revoked, not the official's other sessions.
    assert client.get(ME, headers=_bearer(other_session)).status_code == 200


def test_logout__is_in_the_audit_log_as_the_official_signing_out(api, client, admin):
    official = api.official("adviser")
    token = _login_ok(api, official["username"])

    assert client.delete(TOKEN, headers=_bearer(token)).status_code == 204

    (entry,) = client.get("/api/v1/audit", query_string={"action": "auth.logout"}, headers=admin).get_json()["items"]
    assert (entry["actor_type"], entry["actor_id"], entry["actor_role"]) == ("official", official["id"], "adviser")
    assert (entry["object_type"], entry["object_id"]) == ("official", official["id"])


def test_logout__twice_is_401_the_second_time(api, client):
    official = api.official("adviser")
    token = _login_ok(api, official["username"])
    assert client.delete(TOKEN, headers=_bearer(token)).status_code == 204

    assert_problem(client.delete(TOKEN, headers=_bearer(token)), 401)


def test_logout__without_a_token_is_401(client):
    assert_problem(client.delete(TOKEN), 401, "unauthorized")


def test_expired_token__is_refused(api, app, client):
    official = api.official("adviser")
    raw = _login_ok(api, official["username"])
    with app.app_context():
        expires_at = db.session.scalar(select(AuthToken.expires_at))
        assert logic.authenticate(raw, now=expires_at - timedelta(seconds=1)) is not None
        assert logic.authenticate(raw, now=expires_at) is None
        assert logic.authenticate(raw, now=expires_at + timedelta(days=1)) is None

        db.session.execute(update(AuthToken).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        db.session.commit()

    assert_problem(client.get(ME, headers=_bearer(raw)), 401, "invalid-token")


def test_tokens__are_stored_only_as_a_hash(api, app):
    official = api.official("adviser")
    raw = _login_ok(api, official["username"])

    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM auth_token")).all()
        assert len(rows) == 1
        assert not any(raw in str(value) for value in rows[0])
        stored = db.session.scalar(select(AuthToken.token_hash))
    assert stored == hashlib.sha256(raw.encode()).hexdigest()


def test_passwords__are_stored_as_argon2_hashes(api, app):
    official = api.official("adviser")

    with app.app_context():
        stored = db.session.scalar(select(Official.password_hash).where(Official.id == official["id"]))
    assert PASSWORD not in stored
    # At the configured costs (the tests lower them), not the library's defaults.
    costs = f"m={app.config['ARGON2_MEMORY_KIB']},t={app.config['ARGON2_TIME_COST']},"
    assert stored.startswith("$argon2id$v=19$" + costs)


def test_passwords__a_hash_of_other_argon2_costs_is_redone_at_the_next_sign_in(api, app):
    """Raising ARGON2_TIME_COST or ARGON2_MEMORY_KIB upgrades each official's hash as they sign in."""
    from argon2 import PasswordHasher

    official = api.official("adviser")
    older = PasswordHasher(time_cost=2, memory_cost=1024).hash(PASSWORD)  # the tests' own cost is 1
    with app.app_context():
        db.session.execute(update(Official).where(Official.id == official["id"]).values(password_hash=older))
        db.session.commit()

    _login_ok(api, official["username"])

    with app.app_context():
        stored = db.session.scalar(select(Official.password_hash).where(Official.id == official["id"]))
    assert stored != older and ",t=1," in stored
    _login_ok(api, official["username"])


def test_deactivated_official__token_stops_working(api, client, admin, adviser):
    assert client.get(ME, headers=adviser).status_code == 200

    assert client.delete(f"/api/v1/officials/{adviser.id}", headers=admin).status_code == 204

    assert_problem(client.get(ME, headers=adviser), 401, "invalid-token")


def test_inactive_official__token_is_refused_even_if_not_revoked(app, client, adviser):
    # Guards against a path that clears `active` without revoking tokens.
    with app.app_context():
        db.session.execute(update(Official).where(Official.id == adviser.id).values(active=False))
        db.session.commit()

    assert_problem(client.get(ME, headers=adviser), 401, "invalid-token")


# --- who am I, and bad credentials ------------------------------------------------------------

def test_me__describes_the_signed_in_official(api, client):
    official = api.official("supervisor")
    token = _login_ok(api, official["username"])

    response = client.get(ME, headers=_bearer(token))

    assert response.status_code == 200
    body = response.get_json()
    permissions = body.pop("permissions")
    assert body == {"kind": "official", "id": official["id"], "name": official["name"],
                    "role": "supervisor", "scopes": [], "service_line_ids": None,
                    "second_factor_missing": False}
    assert {"cases.read", "cases.reassign", "stats.read"} <= set(permissions)
    assert "audit.read" not in permissions and permissions == sorted(permissions)


def test_me__an_api_key_is_not_a_session(client, intake):
    assert_problem(client.get(ME, headers=intake), 403, "forbidden")


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer    ",
    "Token abc",
    "Bearer " + "x" * 600,
])
def test_me__malformed_authorization_header_is_401(client, header):
    response = client.get(ME, headers={"Authorization": header})

    body = assert_problem(response, 401)
    # Refused for its shape, before any lookup: a 600-character "token" is never hashed.
    assert body["detail"] == "The Authorization header must be `Bearer <token>`."
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_me__without_an_authorization_header_is_401_saying_what_to_send(client):
    response = client.get(ME)

    body = assert_problem(response, 401)
    assert body["detail"] == "Send `Authorization: Bearer <token>` or an API key."
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_me__a_credential_up_to_512_characters_is_looked_up_and_a_longer_one_refused_unread(client):
    looked_up = assert_problem(client.get(ME, headers=_bearer("a" * 512)), 401, "invalid-token")
    refused = assert_problem(client.get(ME, headers=_bearer("a" * 513)), 401)

    assert "unknown, expired or revoked" in looked_up["detail"]
    assert refused["detail"] == "The Authorization header must be `Bearer <token>`."


def test_me__unknown_token_is_401(client):
    response = client.get(ME, headers=_bearer("made-up-token-" + "a" * 30))

    body = assert_problem(response, 401, "invalid-token")
    assert "unknown, expired or revoked" in body["detail"]



def test_lockout__looks_the_same_for_an_unknown_username(api, app):
    """Locking only real accounts would tell an attacker which usernames exist."""
    for _ in range(DOCUMENTED_MAX_FAILURES):
        assert api.login("nobody-by-this-name", "whatever it is").status_code == 401

    response = api.login("nobody-by-this-name", "whatever it is")

    assert_problem(response, 429, "too-many-requests")
    assert int(response.headers["Retry-After"]) > 0


def test_api_key_use_is_recorded_within_the_hour(api, client, admin):
    created = client.post("/api/v1/api-keys", json={"name": "gateway", "scopes": ["intake"]}, headers=admin)
    key = created.get_json()
    assert key["last_used_at"] is None

    api.inbound({"Authorization": "Bearer " + key["key"]})

    listed = client.get("/api/v1/api-keys", headers=admin).get_json()["items"]
    assert next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None


def test_login__a_lock_set_while_the_password_was_checked_refuses_it_for_the_time_the_lock_has_left(api, monkeypatch):
    """Another request's wrong password locks the username while this one's right password is
    hashed (no transaction is held meanwhile): the answer is the lockout's, with its time left."""
    official = api.official("adviser")
    checked = logic._password_matches

    def while_hashing(stored_hash, password):
        now = datetime.now(timezone.utc)
        db.session.add(LoginThrottle(username=official["username"], client_address=TEST_CLIENT_ADDRESS,
                                     failures=0, last_failure_at=now, locked_until=now + DOCUMENTED_LOCKOUT))
        db.session.commit()
        return checked(stored_hash, password)

    monkeypatch.setattr(logic, "_password_matches", while_hashing)
    response = api.login(official["username"])

    assert_problem(response, 429, "too-many-requests")
    retry_after = int(response.headers["Retry-After"])
    assert DOCUMENTED_LOCKOUT.total_seconds() - 60 < retry_after <= DOCUMENTED_LOCKOUT.total_seconds() + 1


def test_me__an_inspector_is_told_the_lines_they_are_on_not_every_line(api, client, admin):
    """None would mean every line: an inspector sees only the lines they are on."""
    lines = [client.post("/api/v1/service-lines", headers=admin, json={"name": name}).get_json()["id"]
             for name in ("Passit", "Luvat")]
    official = api.official("inspector", service_line_ids=lines[:1])
    token = _login_ok(api, official["username"])

    assert client.get(ME, headers=_bearer(token)).get_json()["service_line_ids"] == lines[:1]


def test_me__a_supervisor_limited_to_their_lines_is_told_those_lines_and_an_unlimited_one_every_line(
        api, client, admin):
    """The session carries the official's limit to their lines: without it a limited supervisor
    would see every line's cases."""
    lines = [client.post("/api/v1/service-lines", headers=admin, json={"name": name}).get_json()["id"]
             for name in ("Passit", "Luvat")]
    limited = api.official("supervisor", service_line_ids=lines[:1], limited_to_lines=True)
    unlimited = api.official("supervisor", service_line_ids=lines[:1])

    assert _me_after_sign_in(api, client, limited)["service_line_ids"] == lines[:1]
    assert _me_after_sign_in(api, client, unlimited)["service_line_ids"] is None


def test_me__an_adviser_granted_customer_linking_holds_it_in_the_session_and_another_does_not(api, client):
    granted = api.official("adviser", may_link_customers=True)
    other = api.official("adviser")

    assert "customers.link" in _me_after_sign_in(api, client, granted)["permissions"]
    assert "customers.link" not in _me_after_sign_in(api, client, other)["permissions"]


def test_api_key__a_revoked_key_is_refused_at_once_and_its_creation_and_revocation_are_audited_once_on_it(
        api, client, admin):
    """An API key is a credential like a session: revoked, it stops at the next request, and
    revoking it again changes neither its moment nor the audit log."""
    keys = "/api/v1/api-keys"
    revoked = client.post(keys, json={"name": "gateway", "scopes": ["intake"]}, headers=admin).get_json()
    other = client.post(keys, json={"name": "other", "scopes": ["intake"]}, headers=admin).get_json()
    assert api.inbound(_bearer(revoked["key"])).status_code == 201

    assert client.delete(f"{keys}/{revoked['id']}", headers=admin).status_code == 204

    assert_problem(api.inbound(_bearer(revoked["key"])), 401, "invalid-token")
    assert api.inbound(_bearer(other["key"])).status_code == 201

    def revoked_at():
        listed = client.get(keys, query_string={"include_revoked": "true"}, headers=admin).get_json()["items"]
        assert [k["id"] for k in listed] == [other["id"], revoked["id"]]  # newest first
        return {k["id"]: k["revoked_at"] for k in listed}

    first = revoked_at()
    assert first[revoked["id"]] is not None and first[other["id"]] is None
    assert client.delete(f"{keys}/{revoked['id']}", headers=admin).status_code == 204
    assert revoked_at() == first
    assert_problem(client.delete(f"{keys}/{other['id'] + 100}", headers=admin), 404, "not-found")

    entries = client.get("/api/v1/audit", query_string={"object_type": "api_key", "page_size": 100},
                         headers=admin).get_json()["items"]
    seen = sorted((e["action"], e["object_id"], e["actor_type"], e["actor_id"], e["details"]) for e in entries
                  if e["action"].startswith("api_key."))
    assert seen == sorted([("api_key.created", revoked["id"], "official", admin.id, {"scopes": ["intake"]}),
                           ("api_key.created", other["id"], "official", admin.id, {"scopes": ["intake"]}),
                           ("api_key.revoked", revoked["id"], "official", admin.id, None)])


def test_lockout__a_password_reset_lifts_that_officials_lock_and_no_one_elses(api, client, admin):
    reset = api.official("adviser")
    other = api.official("adviser")
    for official in (reset, other):
        _lock_out(api, None, official["username"])
        assert_problem(api.login(official["username"]), 429, "too-many-requests")
    new_password = "a new and long enough passphrase 42"

    response = client.patch(f"/api/v1/officials/{reset['id']}", json={"password": new_password}, headers=admin)

    assert response.status_code == 200
    _login_ok(api, reset["username"], new_password)
    assert_problem(api.login(other["username"]), 429, "too-many-requests")


def test_passwords__twelve_characters_are_enough_and_eleven_are_not_even_from_the_command_line(runner, client):
    """The API's schema checks the length too; the command line has only the hashing's check."""
    def create(username, password):
        return runner.invoke(args=["officials", "create", username, "--role", "adviser", "--name", "Pituus Testi"],
                             input=password + "\n")

    refused = create("eleven", "kahvi+pulla")
    created = create("twelve", "kahvi+pulla7")

    assert refused.exit_code != 0
    assert "The password is too short. password: At least 12 characters." in refused.output
    assert created.exit_code == 0, created.output
    assert client.post(TOKEN, json={"username": "twelve", "password": "kahvi+pulla7"}).status_code == 201
    assert client.post(TOKEN, json={"username": "eleven", "password": "kahvi+pulla"}).status_code == 401


def test_lockout__retry_after_is_the_locks_remaining_seconds_rounded_up(api, app):
    official = api.official("adviser")
    start = datetime.now(timezone.utc)
    for _ in range(DOCUMENTED_MAX_FAILURES):
        _fail_login(app, official["username"], start)  # locked until start + 900 s

    with pytest.raises(TooManyRequests) as refused:
        _logic_login(app, official["username"], PASSWORD, start + timedelta(seconds=100.5))

    assert _lowered_headers(refused.value) == {"retry-after": "800"}  # 799.5 s left


def test_lockout__a_client_address_is_read_to_its_first_45_characters_as_stored(api, client):
    """The column holds 45 characters (the longest IPv6 text): addresses that differ only after
    them share one count, as they share one row."""
    official = api.official("adviser")
    address = "2001:db8:" + "0" * 36
    for _ in range(DOCUMENTED_MAX_FAILURES):
        assert _login_from(client, address + "1", official["username"], "arvaus on väärin").status_code == 401

    assert_problem(_login_from(client, address + "2", official["username"]), 429, "too-many-requests")


def test_lockout__the_right_password_is_taken_at_the_very_moment_the_lock_ends(api, app):
    official = api.official("adviser")
    start = datetime.now(timezone.utc)
    for _ in range(DOCUMENTED_MAX_FAILURES):
        _fail_login(app, official["username"], start)

    raw, _ = _logic_login(app, official["username"], PASSWORD, start + DOCUMENTED_LOCKOUT)

    assert raw


def test_login__a_lock_set_while_hashing_is_reported_with_its_remaining_seconds_rounded_up(api, app, monkeypatch):
    official = api.official("adviser")
    at = datetime.now(timezone.utc)
    checked = logic._password_matches

    def while_hashing(stored_hash, password):
        db.session.add(LoginThrottle(username=official["username"], client_address=TEST_CLIENT_ADDRESS, failures=0,
                                     last_failure_at=at, locked_until=at + timedelta(seconds=100.5)))
        db.session.commit()
        return checked(stored_hash, password)

    monkeypatch.setattr(logic, "_password_matches", while_hashing)
    with pytest.raises(TooManyRequests) as refused:
        _logic_login(app, official["username"], PASSWORD, at)

    assert _lowered_headers(refused.value) == {"retry-after": "101"}


def test_login__a_wrong_password_is_audited_on_the_official_and_an_unknown_username_on_no_one(api, client, admin):
    official = api.official("adviser")
    assert api.login(official["username"], "not the password at all").status_code == 401
    assert api.login("nobody-by-this-name", "not the password at all").status_code == 401

    entries = client.get("/api/v1/audit", query_string={"action": "auth.login_failed"}, headers=admin).get_json()
    assert [(e["actor_type"], e["actor_id"], e["object_type"], e["object_id"]) for e in entries["items"]] == [
        ("system", None, "official", official["id"])]


def test_login__is_audited_as_the_official_by_password_without_a_second_factor(api, client, admin):
    official = api.official("adviser")
    _login_ok(api, official["username"])

    entries = client.get("/api/v1/audit", query_string={"action": "auth.login", "object_id": official["id"]},
                         headers=admin).get_json()["items"]
    assert [(e["actor_type"], e["actor_id"], e["object_type"], e["details"]) for e in entries] == [
        ("official", official["id"], "official", {"method": "password", "second_factor": False})]
