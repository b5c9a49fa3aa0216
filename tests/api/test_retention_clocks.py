"""Every piece of personal data ends with its period, whether or not an official ever closes
the case: a case left open ends with its line's period counted from its last activity, a
recording on its own clock even when its case goes first, the provider's copies with ours,
and the embedded default purges without Redis."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.api.problems import assert_problem
from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post

from service.cases.models import Case
from service.extensions import db
from service.retention.logic import PurgeSettings, purge
from service.storage import get_storage


def _later(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def _purge(runner, *args) -> str:
    result = runner.invoke(args=["retention", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _line(client, admin, name, phone, **fields):
    response = client.post("/api/v1/service-lines", headers=admin, json={"name": name, "phone_numbers": [phone],
                                                                        **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _sms(client, intake, n, *, to="+358 9 1234 5678", phone=None):
    response = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": f"SM-clock-{n}", "from": {"phone": phone or f"+35840777{n:04d}"},
        "to": to, "body": f"viesti {n}"})
    assert response.status_code in (200, 201, 202), response.get_json()
    return response.get_json()["case_id"]


def _age(app, case_id, days):
    """Move a case's whole history back in time, as if it had arrived ``days`` ago."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        for column in ("created_at", "updated_at", "last_activity_at"):
            setattr(case, column, getattr(case, column) - timedelta(days=days))
        db.session.commit()


def test_a_case_nobody_closes_is_deleted_when_its_period_has_passed_since_its_last_activity(
        client, runner, intake, admin):
    case_id = _sms(client, intake, 1)
    assert client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["status"] == "new"

    assert "deleted 0 cases" in _purge(runner, "--as-of", _later(364))
    assert client.get(f"/api/v1/cases/{case_id}", headers=admin).status_code == 200

    assert "deleted 1 cases, 0 attachments, 0 recordings, 1 customers" in _purge(runner, "--as-of", _later(366))
    assert_problem(client.get(f"/api/v1/cases/{case_id}", headers=admin), 404)
    assert client.get("/api/v1/customers?phone=0407770001", headers=admin).get_json()["total"] == 0


def test_activity_on_an_open_case_restarts_its_clock(app, client, runner, intake, adviser, admin):
    _line(client, admin, "Neuvonta", "+358 9 1111 1111", case_retention_days=30)
    quiet, active = _sms(client, intake, 2, to="+358911111111"), _sms(client, intake, 3, to="+358911111111")
    _age(app, quiet, 31)
    _age(app, active, 31)
    client.post(f"/api/v1/cases/{active}/notes", headers=adviser, json={"body": "Soitan huomenna."})

    _purge(runner)

    assert_problem(client.get(f"/api/v1/cases/{quiet}", headers=admin), 404)
    assert client.get(f"/api/v1/cases/{active}", headers=admin).status_code == 200


def test_each_line_counts_its_own_period_for_cases_left_open(app, client, runner, intake, admin):
    _line(client, admin, "Muuttoilmoitukset", "+358 9 2222 2222", case_retention_days=182)
    _line(client, admin, "Kuluttajaneuvonta", "+358 9 3333 3333", case_retention_days=730)
    short, long_ = _sms(client, intake, 4, to="+358922222222"), _sms(client, intake, 5, to="+358933333333")

    _purge(runner, "--as-of", _later(183))
    assert_problem(client.get(f"/api/v1/cases/{short}", headers=admin), 404)
    assert client.get(f"/api/v1/cases/{long_}", headers=admin).status_code == 200

    _purge(runner, "--as-of", _later(731))
    assert_problem(client.get(f"/api/v1/cases/{long_}", headers=admin), 404)


def test_a_legal_hold_keeps_an_open_case_past_its_period(api, client, runner, intake, admin):
    case_id = _sms(client, intake, 6)
    client.post(f"/api/v1/cases/{case_id}/hold", headers=api.headers_for("privacy_officer"), json={"reason": "Valitus"})

    output = _purge(runner, "--as-of", _later(400))

    assert "deleted 0 cases" in output and "1 expired cases kept under legal hold" in output
    assert client.get(f"/api/v1/cases/{case_id}", headers=admin).status_code == 200


def _recorded_call(client, sid_digit: str, *, to: str, caller: str = "+358401234567"):
    call_sid, recording_sid = "CA" + sid_digit * 32, "RE" + sid_digit * 32
    twilio_post(client, "/webhooks/twilio/voice", {"CallSid": call_sid, "From": caller, "To": to})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": call_sid, "RecordingSid": recording_sid, "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/x/{recording_sid}", "RecordingDuration": "30"})
    return recording_sid


def test_a_recording_outlives_its_case_until_its_own_date(api, client, runner, admin):
    """Population register: case data 30 days here, recordings a year from the call."""
    _line(client, admin, "Väestötiedot", "+358 9 4444 4444", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "4", to="+358944444444")
    supervisor = api.headers_for("supervisor")
    (recording,) = client.get("/api/v1/recordings", headers=supervisor).get_json()["items"]
    case_id = recording["case_id"]

    output = _purge(runner, "--as-of", _later(31))

    assert "deleted 1 cases, 0 attachments, 0 recordings" in output
    assert_problem(client.get(f"/api/v1/cases/{case_id}", headers=admin), 404)
    (kept,) = client.get("/api/v1/recordings", headers=supervisor).get_json()["items"]
    assert (kept["id"], kept["case_id"], kept["contact_id"]) == (recording["id"], None, None)
    assert kept["retention_until"] == recording["retention_until"]

    assert "0 cases, 0 attachments, 1 recordings" in _purge(runner, "--as-of", _later(366))
    assert client.get("/api/v1/recordings", headers=supervisor).get_json()["total"] == 0


def test_twilios_copies_of_a_purged_cases_messages_and_recordings_are_deleted(make_app, admin_for):
    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=http)
    client, adviser = app.test_client(), admin_for(app, "adviser")
    inbound_sid = "SM" + "5" * 32
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms(inbound_sid)).status_code == 200
    (case,) = client.get("/api/v1/cases", headers=adviser).get_json()["items"]
    reply = client.post(f"/api/v1/cases/{case['id']}/replies", headers=adviser, json={"channel": "sms", "body": "Hei"})
    assert reply.status_code == 201
    (sent,) = http.messages_sent

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc) + timedelta(days=366), storage=get_storage(),
                       settings=PurgeSettings.from_app(app))

    assert (report.cases, report.provider_copies) == (1, 2)
    deleted = sorted(r["uri"].rsplit("/", 1)[1] for r in http.requests if r["method"] == "DELETE")
    outbound_sid = "SM%032d" % 1  # the fake's sid of the reply it was sent
    assert deleted == sorted([f"{inbound_sid}.json", f"{outbound_sid}.json"])


def test_with_deleting_turned_off__twilio_keeps_its_copies_of_a_purged_cases_messages_and_recordings(
        make_app, admin_for):
    """TWILIO_DELETE_MESSAGES=0 and TWILIO_DELETE_RECORDINGS=0: ours go, Twilio's stay (docs/configuration.md)."""
    from service.retention.models import ProviderCopy

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http,
                   TWILIO_DELETE_MESSAGES=0, TWILIO_DELETE_RECORDINGS=0)
    client, admin = app.test_client(), admin_for(app)
    _line(client, admin, "Muutto", "+358 9 5123 4567", recording_policy="all", recording_retention_days=60)
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6" * 32)).status_code == 200
    _recorded_call(client, "6", to="+358951234567")

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc) + timedelta(days=400), storage=get_storage(),
                       settings=PurgeSettings.from_app(app))
        queued = db.session.query(ProviderCopy).count()

    assert (report.cases, report.recordings, report.provider_copies, queued) == (2, 1, 0, 0)
    assert [r for r in http.requests if r["method"] == "DELETE"] == []


@pytest.mark.parametrize("answer, done, left", [((404, 20404), 2, 0), ((503, 20500), 0, 2)],
                         ids=["already-gone-is-done", "an-error-is-tried-again"])
def test_twilio_answering_a_delete_with_404_is_done__with_another_error_tried_again(make_app, admin_for, answer,
                                                                                   done, left):
    from service.retention.models import ProviderCopy

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http)
    client = app.test_client()
    _line(client, admin_for(app), "Muutto", "+358 9 5123 4567", recording_policy="all", recording_retention_days=60)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7" * 32))
    recording_sid = _recorded_call(client, "7", to="+358951234567")
    http.fail_deletes_with = [answer] * 2

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc) + timedelta(days=400), storage=get_storage(),
                       settings=PurgeSettings.from_app(app))
        waiting = sorted(db.session.scalars(db.select(ProviderCopy.provider_sid)))

    deleted = sorted(r["uri"].rsplit("/", 1)[1] for r in http.requests if r["method"] == "DELETE")
    assert deleted == sorted([f"{recording_sid}.json", f"SM{'7' * 32}.json"])
    assert (report.cases, report.recordings, report.provider_copies, len(waiting)) == (2, 1, done, left)


def test_what_a_switchboard_or_another_gateway_logged__is_purged_without_asking_twilio_to_delete_it(make_app):
    # Given to the inbound API under their own ids: those mean nothing at Twilio, and are not retried there.
    from service.retention.models import ProviderCopy
    from tests.conftest import Api
    from tests.voice_fakes import LINE_NUMBER, voice_line

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http)
    api = Api(app, app.test_client())
    intake = api.api_key_headers()
    voice_line(api.client, api.headers_for("admin"))
    sms = api.inbound(intake, external_id="gw-4711")
    call = api.client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "pbx-1001", "from": {"phone": "040 765 4321"}, "to": LINE_NUMBER,
        "started_at": "2026-11-26T08:00:00Z", "answered_at": "2026-11-26T08:01:00Z",
        "ended_at": "2026-11-26T08:06:00Z", "recording": {"reference": "pbx-rec-1001", "duration_seconds": 300}})
    assert (sms.status_code, call.status_code) == (201, 201), (sms.get_json(), call.get_json())

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc) + timedelta(days=2000), storage=get_storage(),
                       settings=PurgeSettings.from_app(app))
        left = db.session.query(ProviderCopy).count()

    assert (report.cases, report.recordings, left) == (2, 1, 0)
    assert [r for r in http.requests if r["method"] == "DELETE"] == []


def test_only_the_purged_cases_sms_are_deleted_at_the_provider(make_app, admin_for):
    """A case still running keeps its SMS at the provider; an email's message id is no SMS."""
    from tests.conftest import Api

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http)
    client = app.test_client()
    gone_sid, kept_sid = "SM" + "3" * 32, "SM" + "4" * 32
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms(gone_sid, from_="+358401230001"))
    email = client.post("/api/v1/inbound/messages", headers=Api(app, client).api_key_headers(), json={
        "channel": "email", "external_id": "<gone@example.fi>", "from": {"email": "gone@example.fi"},
        "subject": "Muutto", "body": "Viesti"})
    assert email.status_code == 201, email.get_json()
    adviser = admin_for(app, "adviser")

    def reply(case_id, channel):
        sent = client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                           json={"channel": channel, "body": "Hei"})
        assert sent.status_code == 201, sent.get_json()

    reply(email.get_json()["case_id"], "email")
    for case in client.get("/api/v1/cases", headers=adviser).get_json()["items"]:
        _age(app, case["id"], 400)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms(kept_sid, from_="+358401230002"))
    reply(max(c["id"] for c in client.get("/api/v1/cases", headers=adviser).get_json()["items"]), "sms")
    assert len(http.messages_sent) == 1

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc), storage=get_storage(), settings=PurgeSettings.from_app(app))

    assert (report.cases, report.provider_copies) == (2, 1)
    assert [r["uri"].rsplit("/", 1)[1] for r in http.requests if r["method"] == "DELETE"] == [f"{gone_sid}.json"]


def test_a_provider_copy_that_could_not_be_deleted_is_tried_again(make_app, admin_for):
    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http)
    client = app.test_client()
    sid = "SM" + "6" * 32
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms(sid))
    http.fail_deletes_with = [(503, 20500)] * 6

    with app.app_context():
        report = purge(as_of=datetime.now(timezone.utc) + timedelta(days=366), storage=get_storage(),
                       settings=PurgeSettings.from_app(app))
        assert (report.cases, report.provider_copies) == (1, 0)
        from service.jobs import delete_provider_copies
        from service.retention.models import ProviderCopy

        def backing_off() -> tuple[int, str, float]:
            (copy,) = db.session.scalars(db.select(ProviderCopy)).all()
            db.session.refresh(copy)
            due_in = (copy.next_attempt_at - datetime.now(timezone.utc)) / timedelta(minutes=1)
            return copy.attempts, copy.last_error, round(due_in)

        def due_now() -> None:
            db.session.execute(ProviderCopy.__table__.update().values(next_attempt_at=datetime.now(timezone.utc)))
            db.session.commit()

        # Each failure counts, names the error, and doubles the wait: 10 minutes, 20, 40...
        assert backing_off() == (1, "TwilioRestException", 10)
        assert delete_provider_copies() == 0  # not due yet: backing off
        for attempts, waits in ((2, 20), (3, 40)):
            due_now()
            assert delete_provider_copies() == 0
            assert backing_off() == (attempts, "TwilioRestException", waits)
        # ...to 21 h 20 min after the eighth (5 minutes doubled 8 times), then a day, and never longer.
        for attempts, waits in ((8, 5 * 2 ** 8), (9, 24 * 60), (40, 24 * 60)):
            db.session.execute(ProviderCopy.__table__.update().values(attempts=attempts - 1))
            due_now()
            assert delete_provider_copies() == 0
            assert backing_off() == (attempts, "TwilioRestException", waits)
        due_now()
        assert delete_provider_copies() == 1
        assert db.session.query(ProviderCopy).count() == 0

    assert [r["uri"].endswith(f"{sid}.json") for r in http.requests if r["method"] == "DELETE"] == [True] * 7


def test_without_credentials_no_provider_copy_is_queued(app, client, runner, intake):
    _sms(client, intake, 7)
    _purge(runner, "--as-of", _later(366))
    with app.app_context():
        from service.retention.models import ProviderCopy

        assert db.session.query(ProviderCopy).count() == 0


def test_the_embedded_default_runs_the_purge_without_redis(make_app):
    from service.inprocess import start_inprocess_sweeper

    app = make_app(INPROCESS_SWEEP_SECONDS=0.05, REDIS_URL=None)
    client = app.test_client()
    from tests.conftest import Api

    intake = Api(app, client).api_key_headers()
    case_id = _sms(client, intake, 8)
    _age(app, case_id, 400)

    thread = start_inprocess_sweeper(app, under_test=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with app.app_context():
                gone = db.session.get(Case, case_id) is None
                db.session.remove()
            if gone:
                break
            time.sleep(0.05)
    finally:
        app.extensions["inprocess_sweeper_stop"].set()
        thread.join(5)
    assert gone, "the in-process sweeper did not purge the expired case"


def test_the_migration_gives_existing_recordings_and_open_cases_their_clocks(app, client, runner, admin):
    """A database from before the clocks: its recordings learn their line and caller, and its
    open cases end with their line's period."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    line = _line(client, admin, "Maahanmuutto", "+358 9 5555 5555", case_retention_days=30,
                 recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "7", to="+358955555555")
    with app.app_context():
        db.session.remove()
        downgrade(revision="ec0a896f4144")
        upgrade()
        (line_id, caller, case_id), = db.session.execute(text(
            "SELECT service_line_id, caller, case_id FROM recording")).all()
        db.session.remove()
    assert (line_id, caller) == (line["id"], "+358401234567")

    _purge(runner, "--as-of", _later(31))

    assert_problem(client.get(f"/api/v1/cases/{case_id}", headers=admin), 404)
    with app.app_context():
        assert db.session.execute(text("SELECT case_id FROM recording")).all() == [(None,)]


def test_a_case_shows_when_it_will_be_deleted_open_or_closed(client, intake, adviser, admin):
    _line(client, admin, "Neuvonta", "+358 9 6666 6666", case_retention_days=730)
    case_id = _sms(client, intake, 9, to="+358966666666")
    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    last = datetime.fromisoformat(case["last_activity_at"])
    assert datetime.fromisoformat(case["deleted_after"]) == last + timedelta(days=730)

    closed = client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).get_json()
    listed = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]
    assert closed["deleted_after"] == closed["retention_until"] == listed["deleted_after"]


def test_a_detached_recording_follows_its_lines_policy_change(api, client, runner, admin):
    line = _line(client, admin, "Maahanmuutto", "+358 9 7777 7777", case_retention_days=30,
                 recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "9", to="+358977777777")
    supervisor = api.headers_for("supervisor")
    _purge(runner, "--as-of", _later(31))
    (detached,) = client.get("/api/v1/recordings", headers=supervisor).get_json()["items"]
    assert detached["case_id"] is None

    changed = client.patch(f"/api/v1/retention/policies/{line['id']}", headers=admin,
                           json={"recording_retention_days": 60})

    assert changed.status_code == 200, changed.get_json()
    (kept,) = client.get("/api/v1/recordings", headers=supervisor).get_json()["items"]
    assert datetime.fromisoformat(kept["retention_until"]) == datetime.fromisoformat(kept["recorded_at"]) + timedelta(days=60)
    assert "1 recordings" in _purge(runner, "--as-of", _later(61))


def test_an_access_request_finds_a_recording_whose_case_has_ended(api, client, runner, admin):
    _line(client, admin, "Väestötiedot", "+358 9 8888 8888", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "8", to="+358988888888")
    _purge(runner, "--as-of", _later(31))  # the case and the customer are gone; the recording is not
    privacy = api.headers_for("privacy_officer")
    request = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 4567"},
        "received_at": datetime.now(timezone.utc).isoformat()}).get_json()

    export = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy)

    assert export.status_code == 200, export.get_json()
    (recording,) = export.get_json()["recordings_whose_case_has_ended"]
    assert (recording["caller"], recording["register"]) == ("+358401234567", "Väestötiedot")
    assert export.get_json()["people"] == []


def test_an_access_requests_window_applies_to_a_recording_whose_case_has_ended(api, client, runner, admin):
    _line(client, admin, "Väestötiedot", "+358 9 8888 8888", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "7", to="+358988888888")
    _purge(runner, "--as-of", _later(31))
    privacy = api.headers_for("privacy_officer")

    def found(start, end):
        request = client.post("/api/v1/privacy/requests", headers=privacy, json={
            "type": "access", "subject": {"phone": "040 123 4567", "contacted_between": {"from": start, "to": end}},
            "received_at": datetime.now(timezone.utc).isoformat()}).get_json()
        export = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
        return len(export["recordings_whose_case_has_ended"])

    assert found(_later(-1), _later(1)) == 1
    assert found(_later(-10), _later(-1)) == 0  # the call was not made then
    assert found(_later(1), _later(10)) == 0


def test_the_purge_takes_its_periods_and_its_region_from_the_configuration(make_app):
    # The settings' own defaults equal the configuration's: only values unlike them tell.
    app = make_app(CASE_RETENTION_DAYS=30, PRIVACY_REQUEST_RETENTION_DAYS=60, AUDIT_RETENTION_DAYS=90,
                   DEFAULT_PHONE_REGION="SE")

    settings = PurgeSettings.from_app(app)

    assert (settings.default_case_days, settings.privacy_request_days, settings.audit_retention_days,
            settings.region) == (30, 60, 90, "SE")


def test_a_message_that_could_never_be_processed_goes_when_the_shortest_case_period_has_passed(app, client, admin):
    from service.intake.models import InboundEnvelope

    _line(client, admin, "Lyhyt", "+358951230030", case_retention_days=30)
    with app.app_context():
        for sid, days in (("SM" + "1" * 32, 31), ("SM" + "2" * 32, 29)):
            db.session.add(InboundEnvelope(channel="sms", external_id=sid, attempts=9, payload={"Body": "x"},
                                           received_at=datetime.now(timezone.utc) - timedelta(days=days)))
        db.session.commit()

        report = purge(storage=get_storage(), settings=PurgeSettings.from_app(app))

        assert report.envelopes == 1
        assert db.session.scalars(db.select(InboundEnvelope.external_id)).all() == ["SM" + "2" * 32]
