"""A switchboard that is not Twilio uploads the audio of a recording it reported, and those
who may hear recordings play it."""

import hashlib
from pathlib import Path

import pytest

from tests.api.exports import access_export
from tests.api.problems import assert_problem
from tests.conftest import Api
from tests.db_faults import failing_writes
from tests.twilio_fakes import ACCOUNT_SID, twilio_post
from tests.voice_fakes import LINE_NUMBER, MP3, FakeMediaServer, voice_line

WAV = b"RIFF" + (36 + 4000).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + bytes(4000)
PDF = b"%PDF-1.4\n" + b"0" * 500
OGG = b"OggS\x00\x02" + bytes(3000)
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(3000)


def _report(client, intake, external_id="pbx-1001", reference="pbx-rec-1001", url=None):
    response = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": external_id, "from": {"phone": "040 123 4567"}, "to": LINE_NUMBER,
        "started_at": "2026-11-26T08:00:00Z", "answered_at": "2026-11-26T08:01:00Z",
        "ended_at": "2026-11-26T08:06:00Z",
        "recording": {"reference": reference, "duration_seconds": 300, "url": url}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["recording_id"]


def _put(client, headers, recording_id, content, content_type="audio/mpeg"):
    return client.put(f"/api/v1/recordings/{recording_id}/audio", data=content,
                      headers={**headers, "Content-Type": content_type})


def test_uploaded_audio_is_played_with_range_by_those_who_may_hear_it(client, admin, intake, supervisor):
    voice_line(client, admin)
    recording_id = _report(client, intake)
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is False

    response = _put(client, intake, recording_id, MP3)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["id"], body["playable"], body["content_type"], body["size"]) == (recording_id, True, "audio/mpeg",
                                                                                  len(MP3))
    with client.get(f"/api/v1/recordings/{recording_id}/audio",
                    headers={**supervisor, "Range": "bytes=100-199"}) as part:
        assert part.status_code == 206 and part.data == MP3[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(MP3)}"
        assert part.mimetype == "audio/mpeg"
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=admin) as whole:
        assert whole.status_code == 200 and whole.data == MP3
    uploads = client.get("/api/v1/audit?action=recording.uploaded", headers=admin).get_json()["items"]
    assert [(u["actor_type"], u["object_id"]) for u in uploads] == [("api_key", recording_id)]


@pytest.mark.parametrize("content, declared, kept_as", [
    (WAV, "audio/x-wav", "audio/wav"),
    (OGG, "audio/ogg", "audio/ogg"),
    (FLAC, "audio/x-flac", "audio/flac"),
])
def test_wav_ogg_and_flac_audio_are_kept_as_what_they_are(client, admin, intake, content, declared, kept_as):
    voice_line(client, admin)
    recording_id = _report(client, intake)

    assert _put(client, intake, recording_id, content, declared).status_code == 201

    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=admin) as played:
        assert played.mimetype == kept_as and played.data == content


def test_an_empty_upload_is_422_and_leaves_the_recording_without_audio(client, admin, intake):
    voice_line(client, admin)
    recording_id = _report(client, intake)

    assert_problem(_put(client, intake, recording_id, b""), 422, "validation-failed", fields=["body"])
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is False


def test_uploading_the_same_audio_again_changes_nothing_and_other_audio_is_refused(client, admin, intake):
    voice_line(client, admin)
    recording_id = _report(client, intake)
    assert _put(client, intake, recording_id, MP3).status_code == 201

    again = _put(client, intake, recording_id, MP3)
    other = _put(client, intake, recording_id, MP3 + b"\x00")

    assert again.status_code == 200 and again.get_json()["size"] == len(MP3)
    assert_problem(other, 409, "recording-has-audio")
    recording = client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()
    assert recording["size"] == len(MP3)
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=admin) as played:
        assert hashlib.sha256(played.data).hexdigest() == hashlib.sha256(MP3).hexdigest()
    assert client.get("/api/v1/audit?action=recording.uploaded", headers=admin).get_json()["total"] == 1


@pytest.mark.parametrize("content, content_type", [
    (MP3, "text/plain"),                 # not an audio type
    (MP3, "application/octet-stream"),
    (PDF, "audio/mpeg"),                 # declared audio, but the bytes are a PDF
    (MP3, "audio/wav"),                  # declared one audio type, the bytes are another
    (b"\x00" * 2000, "audio/mpeg"),
])
def test_anything_but_audio_of_the_declared_type_is_415(client, admin, intake, content, content_type):
    voice_line(client, admin)
    recording_id = _report(client, intake)

    assert_problem(_put(client, intake, recording_id, content, content_type), 415, "unsupported-media-type")
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is False


def test_audio_over_the_limit_is_413(make_app):
    app = make_app(RECORDING_UPLOAD_MAX_BYTES=len(MP3))
    client, api = app.test_client(), Api(app, app.test_client())
    admin, intake = api.headers_for("admin"), api.api_key_headers()
    voice_line(client, admin)
    recording_id = _report(client, intake)

    assert_problem(_put(client, intake, recording_id, MP3 + b"\x00"), 413, "payload-too-large")
    assert_problem(_put(client, intake, recording_id, MP3 * 3), 413, "payload-too-large")
    assert _put(client, intake, recording_id, MP3).status_code == 201


def test_only_the_integration_that_reported_the_recording_may_upload(client, admin, intake, api):
    voice_line(client, admin)
    recording_id = _report(client, intake)
    another = api.api_key_headers()

    assert_problem(_put(client, another, recording_id, MP3), 404, "not-found")
    assert_problem(_put(client, intake, recording_id + 1000, MP3), 404, "not-found")
    # An admin may report calls by hand, but uploads audio only for what an integration reported.
    assert_problem(_put(client, admin, recording_id, MP3), 404, "not-found")
    assert_problem(_put(client, api.headers_for("supervisor"), recording_id, MP3), 403)
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is False


def test_a_recording_twilio_already_delivered_takes_no_upload(make_app):
    media = FakeMediaServer()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=media.get)
    client, api = app.test_client(), Api(app, app.test_client())
    admin, intake = api.headers_for("admin"), api.api_key_headers()
    voice_line(client, admin)
    # A switchboard in front of Twilio reports the call first; Twilio's callback then
    # delivers the same recording, whose audio is fetched from Twilio.
    sid, recording_sid = "CA" + "7" * 32, "RE" + "7" * 32
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
    recording_id = _report(client, intake, external_id=sid, reference=recording_sid, url=url)
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": recording_sid, "RecordingStatus": "completed", "RecordingUrl": url,
        "RecordingDuration": "300"})
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is True

    # Even the very bytes Twilio delivered: the phone system's audio is never replaced by an upload.
    assert_problem(_put(client, intake, recording_id, MP3), 409, "recording-has-audio")
    assert client.get("/api/v1/audit?action=recording.uploaded", headers=admin).get_json()["total"] == 0


def test_a_reported_call_without_a_recording_names_none(client, admin, intake):
    response = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "pbx-9", "from": {"phone": "040 123 4567"}, "started_at": "2026-11-26T08:00:00Z"})

    assert response.status_code == 201 and response.get_json()["recording_id"] is None


@pytest.fixture
def recording_writes_fail(app):
    """The database refuses to give a recording its audio, as one failing between the file's
    write and the row's would."""
    with app.app_context(), failing_writes("recording", when="UPDATE OF storage_key") as lift:
        yield lift


def test_an_upload_the_database_fails_to_record_leaves_no_file_and_can_be_sent_again(
        app, client, admin, intake, recording_writes_fail):
    voice_line(client, admin)
    recording_id = _report(client, intake)
    files = Path(app.config["FILE_STORAGE_PATH"])

    failed = _put(client, intake, recording_id, MP3)

    assert failed.status_code >= 400
    assert [p for p in files.rglob("*") if p.is_file()] == []
    assert client.get(f"/api/v1/recordings/{recording_id}", headers=admin).get_json()["playable"] is False
    recording_writes_fail()  # the database works again: the integration's retry succeeds
    assert _put(client, intake, recording_id, MP3).status_code == 201
    assert len([p for p in files.rglob("*") if p.is_file()]) == 1
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=admin) as played:
        assert played.data == MP3


def test_an_access_export_names_a_recording_whose_audio_was_never_delivered(client, admin, intake, api):
    # Neither stored audio nor an address to fetch it from: listed, with nothing to put in the
    # archive and nothing missing from it.
    voice_line(client, admin)
    recording_id = _report(client, intake)

    document, files = access_export(client, api.headers_for("privacy_officer"), "040 123 4567")

    assert files == ["export.json"]
    (recording,) = document["people"][0]["cases"][0]["recordings"]
    assert (recording["id"], recording["audio_in_archive"], recording["held_by_phone_system"]) == (
        recording_id, None, False)
    assert "missing_files" not in document
