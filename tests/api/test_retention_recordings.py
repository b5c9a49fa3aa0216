"""Retention of recordings and of the audit log, as the daily job runs it: a held case keeps its
recordings, a purged recording's audio leaves the disk, a policy change moves the dates of
recordings still on their case, the audit log keeps AUDIT_RETENTION_DAYS, and the embedded
default's own sweeper (started by create_app) purges."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from service.audit.models import AuditEntry
from service.cases.models import Case
from service.extensions import db
from service.jobs import purge_expired
from tests.conftest import Api
from tests.twilio_fakes import ACCOUNT_SID
from tests.voice_fakes import MP3, FakeMediaServer, recorded_call, voice_line


@pytest.fixture
def voice_app(make_app):
    """Recordings fetched into our storage as soon as they are reported."""
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=FakeMediaServer().get)


def _later(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def _purge(runner, *args) -> str:
    result = runner.invoke(args=["retention", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _audio_files(app) -> list:
    root = app.extensions["file_storage"].root
    return [path for path in root.rglob("*") if path.is_file() and path.read_bytes() == MP3] if root.exists() else []


def _recording(client, admin):
    (recording,) = client.get("/api/v1/recordings", headers=admin).get_json()["items"]
    return recording


def test_a_held_cases_recording_and_its_audio_stay_past_their_date_until_the_hold_ends(voice_app, admin_for):
    client, runner = voice_app.test_client(), voice_app.test_cli_runner()
    admin, privacy = admin_for(voice_app, "admin"), admin_for(voice_app, "privacy_officer")
    voice_line(client, admin, recording_retention_days=60)
    recorded_call(client, admin, "CA" + "1d" * 16)
    recording = _recording(client, admin)
    assert recording["playable"] is True and len(_audio_files(voice_app)) == 1
    assert client.post(f"/api/v1/cases/{recording['case_id']}/hold", headers=privacy,
                       json={"reason": "Valitus hallinto-oikeudessa"}).status_code == 200

    _purge(runner, "--as-of", _later(61))

    assert _recording(client, admin)["id"] == recording["id"]
    with client.get(f"/api/v1/recordings/{recording['id']}/audio", headers=admin) as played:
        assert played.status_code == 200 and played.data == MP3
    assert len(_audio_files(voice_app)) == 1

    assert client.delete(f"/api/v1/cases/{recording['case_id']}/hold", headers=privacy).status_code == 200
    output = _purge(runner, "--as-of", _later(61))

    assert "1 recordings" in output
    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 0
    assert _audio_files(voice_app) == []  # the audio is gone from the disk, not only its row


def test_a_hold_on_another_case_keeps_no_recording_past_its_date(voice_app, admin_for):
    client, runner = voice_app.test_client(), voice_app.test_cli_runner()
    admin, privacy = admin_for(voice_app, "admin"), admin_for(voice_app, "privacy_officer")
    voice_line(client, admin, recording_retention_days=60)
    recorded_call(client, admin, "CA" + "2e" * 16)
    recording = _recording(client, admin)
    written = client.post("/api/v1/inbound/messages", headers=Api(voice_app, client).api_key_headers(), json={
        "channel": "sms", "external_id": "SM-held-elsewhere", "from": {"phone": "+358401234567"},
        "body": "Toinen asia", "received_at": datetime.now(timezone.utc).isoformat()})
    assert written.status_code in (200, 201), written.get_json()
    held_case = written.get_json()["case_id"]
    assert held_case != recording["case_id"]
    assert client.post(f"/api/v1/cases/{held_case}/hold", headers=privacy,
                       json={"reason": "Valitus hallinto-oikeudessa"}).status_code == 200

    output = _purge(runner, "--as-of", _later(61))

    assert "1 recordings" in output
    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 0
    assert _audio_files(voice_app) == []
    assert client.get(f"/api/v1/cases/{held_case}", headers=admin).status_code == 200


def test_a_policy_change_moves_the_date_of_a_recording_still_on_its_case(voice_app, admin_for):
    client, runner = voice_app.test_client(), voice_app.test_cli_runner()
    admin = admin_for(voice_app, "admin")
    line = voice_line(client, admin, recording_retention_days=365)
    recorded_call(client, admin, "CA" + "2d" * 16)
    before = _recording(client, admin)
    recorded_at = datetime.fromisoformat(before["recorded_at"])
    assert datetime.fromisoformat(before["retention_until"]) == recorded_at + timedelta(days=365)

    changed = client.patch(f"/api/v1/retention/policies/{line['id']}", headers=admin,
                           json={"recording_retention_days": 30})

    assert changed.status_code == 200, changed.get_json()
    after = _recording(client, admin)
    assert after["case_id"] == before["case_id"]
    assert datetime.fromisoformat(after["retention_until"]) == recorded_at + timedelta(days=30)
    assert "1 recordings" in _purge(runner, "--as-of", (recorded_at + timedelta(days=31)).isoformat())
    assert _audio_files(voice_app) == []


def test_the_daily_purge_job_deletes_expired_cases_and_audit_entries_older_than_the_setting(make_app, admin_for):
    app = make_app(CASE_RETENTION_DAYS=30, AUDIT_RETENTION_DAYS=60)
    client = app.test_client()
    api = Api(app, client)
    intake, adviser, admin = api.api_key_headers(), admin_for(app, "adviser"), admin_for(app, "admin")
    long_ago = datetime.now(timezone.utc) - timedelta(days=90)
    with time_machine.travel(long_ago, tick=False):
        old = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": "SM-daily-old", "from": {"phone": "+358401230001"}, "body": "vanha"})
        case_id = old.get_json()["case_id"]
        assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200
    with time_machine.travel(datetime.now(timezone.utc) - timedelta(days=10), tick=False):  # sealed, within 60 days
        recent = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": "SM-daily-new", "from": {"phone": "+358401230002"}, "body": "uusi"})
    with app.app_context():
        old_entries = db.session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.at < long_ago + timedelta(days=1)))
        db.session.commit()
    assert old_entries > 0

    with app.app_context():  # as RQ's cron runs it every night, with nothing but the settings
        counts = purge_expired()

    assert counts["cases"] == 1 and counts["audit_entries"] >= old_entries
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).status_code == 404
    assert client.get(f"/api/v1/cases/{recent.get_json()['case_id']}", headers=adviser).status_code == 200
    with app.app_context():
        left_old = db.session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.at < datetime.now(timezone.utc) - timedelta(days=60)))
        left_recent = db.session.scalar(select(func.count(AuditEntry.id)))
        db.session.commit()
    assert left_old == 0 and left_recent > 0
    # What happened within the period stays in the log: the recent message's entry among it.
    received = client.get("/api/v1/audit", query_string={"action": "contact.received"}, headers=admin).get_json()
    assert [e["object_id"] for e in received["items"]] == [recent.get_json()["case_id"]]
    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_the_embedded_default_starts_its_own_sweeper_and_it_purges(make_app):
    # The data is made through an app under test, which starts no sweeper ...
    made = make_app()
    client = made.test_client()
    intake = Api(made, client).api_key_headers()
    case_id = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-embedded-1", "from": {"phone": "+358401230003"},
        "body": "vanha"}).get_json()["case_id"]
    with made.app_context():
        case = db.session.get(Case, case_id)
        for column in ("created_at", "updated_at", "last_activity_at"):
            setattr(case, column, getattr(case, column) - timedelta(days=400))
        db.session.commit()
    assert "inprocess_sweeper_stop" not in made.extensions

    # ... and the one a small office runs (no Redis, not testing) starts it in create_app.
    running = make_app(TESTING=False, INPROCESS_SWEEP_SECONDS=0.05, REDIS_URL=None)
    try:
        assert "inprocess_sweeper_stop" in running.extensions
        deadline, gone = time.monotonic() + 10, False
        while time.monotonic() < deadline and not gone:
            with running.app_context():
                gone = db.session.get(Case, case_id) is None
                db.session.remove()
            time.sleep(0.05)
    finally:
        running.extensions["inprocess_sweeper_stop"].set()
        for thread in threading.enumerate():
            if thread.name == "inprocess-sweeper":
                thread.join(5)
    assert gone, "the sweeper create_app started did not purge the expired case"


def test_with_redis_configured_no_in_process_sweeper_starts(make_app):
    app = make_app(TESTING=False, INPROCESS_SWEEP_SECONDS=0.05, REDIS_URL="redis://127.0.0.1:1/0")
    assert "inprocess_sweeper_stop" not in app.extensions  # RQ's cron does the work there


def test_a_customers_recordings_include_those_whose_case_was_purged_before_them(voice_app, admin_for):
    # The recording keeps a longer clock than its case: once the case is gone, the customer's
    # recordings are found by the number that called, for an access request still to answer.
    from tests.twilio_fakes import inbound_sms, twilio_post
    from tests.voice_fakes import CALLER

    client, runner = voice_app.test_client(), voice_app.test_cli_runner()
    admin, adviser = admin_for(voice_app, "admin"), admin_for(voice_app, "adviser")
    privacy = admin_for(voice_app, "privacy_officer")
    voice_line(client, admin, recording_retention_days=3 * 365)
    recorded_call(client, admin, "CA" + "1f" * 16)
    recording = _recording(client, admin)
    assert client.post(f"/api/v1/cases/{recording['case_id']}/close", headers=adviser).status_code == 200
    with voice_app.app_context():
        case = db.session.get(Case, recording["case_id"])
        case.closed_at -= timedelta(days=400)
        case.retention_until -= timedelta(days=400)
        db.session.commit()
    # The same customer writes again, so their record stays after the old case goes.
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "1f" * 16, from_=CALLER))
    (newer,) = [c for c in client.get("/api/v1/cases", headers=admin).get_json()["items"]
                if c["id"] != recording["case_id"]]
    customer_id = client.get(f"/api/v1/cases/{newer['id']}", headers=admin).get_json()["customer"]["id"]

    assert "deleted 1 cases" in _purge(runner)

    listed = client.get("/api/v1/recordings", query_string={"customer_id": customer_id}, headers=privacy).get_json()
    assert [(r["id"], r["case_id"]) for r in listed["items"]] == [(recording["id"], None)]
    other = client.get("/api/v1/recordings", query_string={"customer_id": customer_id + 1000}, headers=privacy)
    assert other.get_json()["items"] == []


def test_recordings_outliving_their_cases_are_detached_then_purged_in_batches(voice_app, admin_for):
    """Cases 30 days, recordings 60: the case purge detaches each batch's recordings, the next
    purge deletes them in batches of its own, audio and all, each batch counted on."""
    from tests.twilio_fakes import twilio_post
    from tests.voice_fakes import call_params

    client, runner = voice_app.test_client(), voice_app.test_cli_runner()
    admin = admin_for(voice_app, "admin")
    voice_line(client, admin, case_retention_days=30, recording_retention_days=60)
    for n in range(3):  # three callers, three cases
        sid = f"CA{n}" + "3b" * 15 + "x"
        twilio_post(client, "/webhooks/twilio/voice", call_params(sid, From=f"+35840765432{n}"))
        twilio_post(client, "/webhooks/twilio/voice/recording", {
            "CallSid": sid, "RecordingSid": "RE" + sid[2:], "RecordingStatus": "completed",
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{sid[2:]}",
            "RecordingDuration": "61"})
    recordings = client.get("/api/v1/recordings", headers=admin).get_json()["items"]
    assert len({r["case_id"] for r in recordings}) == 3 and len(_audio_files(voice_app)) == 3

    first = _purge(runner, "--batch-size", "2", "--as-of", _later(31))

    assert [line.strip() for line in first.splitlines() if line.strip().startswith("batch")] == [
        "batch 1: 2 cases, 0 recordings, 2 customers, 0 files so far",
        "batch 2: 3 cases, 0 recordings, 3 customers, 0 files so far"]
    kept = client.get("/api/v1/recordings", headers=admin).get_json()["items"]
    assert sorted((r["id"], r["case_id"]) for r in kept) == sorted((r["id"], None) for r in recordings)
    assert len(_audio_files(voice_app)) == 3
    (entry,) = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert (entry["details"]["cases"], entry["details"]["recordings_detached"]) == (3, 3)

    second = _purge(runner, "--batch-size", "2", "--as-of", _later(61))

    assert [line.strip() for line in second.splitlines() if line.strip().startswith("batch")] == [
        "batch 1: 0 cases, 2 recordings, 0 customers, 2 files so far",
        "batch 2: 0 cases, 3 recordings, 0 customers, 3 files so far"]
    assert "deleted 0 cases, 0 attachments, 3 recordings" in second
    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 0
    assert _audio_files(voice_app) == []
