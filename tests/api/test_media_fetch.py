"""Downloads from the provider's media server that do not answer 200: what came with the error never
becomes the file, the metadata stays, the webhook is still acknowledged, and a later fetch
(a retry) brings the real bytes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from service.jobs import fetch_attachment, fetch_recording
from service.outbox.ports import TemporaryFailure
from tests.api.exports import access_export
from tests.api.problems import assert_problem
from tests.twilio_fakes import ACCOUNT_SID, inbound_sms, twilio_post
from tests.voice_fakes import MP3, recorded_call, voice_line

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
# What some media servers send with a 404: a picture saying the picture is gone. It is a valid
# JPEG, so only the status tells it from the customer's photo.
PLACEHOLDER = b"\xff\xd8\xff\xe0" + b"\x01" * 50


class FlakyMediaServer:
    """Answers each request with the next status in ``statuses`` (a placeholder for any but
    200), then 200 for good."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.requests: list[str] = []

    def get(self, url, auth=None, timeout=None):
        self.requests.append(url)
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return SimpleNamespace(status_code=status, content=PLACEHOLDER, headers={"Content-Type": "image/jpeg"})
        body, kind = (MP3, "audio/mpeg") if url.endswith(".mp3") else (JPEG, "image/jpeg")
        return SimpleNamespace(status_code=200, content=body, headers={"Content-Type": kind})


@pytest.mark.parametrize("status", [404, 500, 503])
def test_an_mms_image_the_provider_will_not_hand_over_stays_unfetched_until_a_retry_gets_it(make_app, admin_for,
                                                                                           status):
    media = FlakyMediaServer(status)
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, SMS_FETCH_MEDIA=1, TWILIO_MEDIA_GET=media.get)
    client, admin = app.test_client(), admin_for(app)
    params = inbound_sms("MM" + "e1" * 16, body="Kuva", NumMedia="1",
                         MediaUrl0="https://api.twilio.com/media/ME-photo", MediaContentType0="image/jpeg")

    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    (case,) = client.get("/api/v1/cases", headers=admin).get_json()["items"]
    (attachment,) = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["attachments"]
    assert attachment["downloadable"] is False and len(media.requests) == 1
    assert_problem(client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=admin),
                   409, "attachment-not-fetched")

    with app.app_context():
        assert fetch_attachment(attachment["id"]) is True

    with client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=admin) as download:
        assert download.status_code == 200 and download.data == JPEG


def test_an_mms_that_looks_like_a_feedback_score_but_answers_no_request__keeps_its_image(make_app, admin_for):
    """A body such as "5" might answer a feedback request, so the message is stored on its own
    rather than in a batch; with no request to answer it is a contact, and its image is kept."""
    media = FlakyMediaServer()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, SMS_FETCH_MEDIA=1, TWILIO_MEDIA_GET=media.get)
    client, admin = app.test_client(), admin_for(app)
    params = inbound_sms("MM" + "e3" * 16, body="5", NumMedia="1",
                         MediaUrl0="https://api.twilio.com/media/ME-score", MediaContentType0="image/jpeg")

    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    (case,) = client.get("/api/v1/cases", headers=admin).get_json()["items"]
    shown = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()
    assert [c["body"] for c in shown["contacts"]] == ["5"]
    (attachment,) = shown["attachments"]
    assert (attachment["filename"], attachment["downloadable"]) == ("media-1", True)
    with client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=admin) as download:
        assert download.status_code == 200 and download.data == JPEG


# "5" might answer a feedback request: such a message is stored alone, any other in a batch.
@pytest.mark.parametrize("body", ["Kuvia", "5"], ids=["in-a-batch", "alone"])
def test_an_mms_keeps_the_declared_types_of_its_images_and_octet_stream_for_none(make_app, admin_for, body):
    """A type is cut to fit its column, not lost with the message; an image without one is
    plain bytes until it is fetched."""
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID)  # nothing fetched: the types are those Twilio declared
    client, admin = app.test_client(), admin_for(app)
    long_type = "image/jpeg; name=" + "kuva" * 40
    params = inbound_sms("MM" + "e4" * 16, body=body, NumMedia="3",
                         MediaUrl0="https://api.twilio.com/media/ME-1", MediaContentType0="image/jpeg",
                         MediaUrl1="https://api.twilio.com/media/ME-2",
                         MediaUrl2="https://api.twilio.com/media/ME-3", MediaContentType2=long_type)

    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    (case,) = client.get("/api/v1/cases", headers=admin).get_json()["items"]
    attachments = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["attachments"]
    assert [(a["filename"], a["content_type"]) for a in attachments] == [
        ("media-1", "image/jpeg"), ("media-2", "application/octet-stream"), ("media-3", long_type[:127])]


def test_recording_audio_the_phone_system_will_not_hand_over_is_not_stored_and_a_retry_gets_it(make_app, admin_for):
    media = FlakyMediaServer(503)
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=0, TWILIO_MEDIA_GET=media.get)
    client, admin = app.test_client(), admin_for(app, "admin")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "e2" * 16)
    (recording,) = client.get("/api/v1/recordings", headers=admin).get_json()["items"]

    with app.app_context(), pytest.raises(TemporaryFailure, match="503"):
        fetch_recording(recording["id"])  # raised, so the queue retries the job

    assert client.get(f"/api/v1/recordings/{recording['id']}", headers=admin).get_json()["playable"] is False
    with app.app_context():
        assert fetch_recording(recording["id"]) is True
    with client.get(f"/api/v1/recordings/{recording['id']}/audio", headers=admin) as played:
        assert played.data == MP3


def test_an_access_export_names_audio_the_phone_system_would_not_hand_over(make_app, admin_for):
    media = FlakyMediaServer(500)
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=0, TWILIO_MEDIA_GET=media.get)
    client = app.test_client()
    admin, privacy = admin_for(app, "admin"), admin_for(app, "privacy_officer")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "e3" * 16)

    document, files = access_export(client, privacy, "040 123 4567")

    (recording,) = document["people"][0]["cases"][0]["recordings"]
    assert document["missing_files"] == [recording["audio_in_archive"]]
    assert recording["audio_in_archive"] not in files  # not the placeholder under its name


def test_an_access_export_names_an_image_the_provider_still_holds_without_fetching_it(make_app, admin_for):
    # Unlike a recording's audio, an attachment is not fetched into the archive: the export
    # says the provider holds it rather than leave it out silently.
    media = FlakyMediaServer(404, 404)
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, SMS_FETCH_MEDIA=1, TWILIO_MEDIA_GET=media.get)
    client = app.test_client()
    privacy = admin_for(app, "privacy_officer")
    url = "https://api.twilio.com/media/ME-held"
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("MM" + "e4" * 16, body="Kuva", NumMedia="1",
                                                            MediaUrl0=url, MediaContentType0="image/jpeg"))

    document, files = access_export(client, privacy, "+358401234567")

    assert files == ["export.json"]
    (attachment,) = document["people"][0]["cases"][0]["attachments"]
    assert (attachment["held_by_provider"], attachment["file_in_archive"]) == (True, None)
    assert "missing_files" not in document
    assert len(media.requests) == 1  # the webhook's attempt only; the export fetched nothing
