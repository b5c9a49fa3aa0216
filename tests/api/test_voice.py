"""Phone calls over Twilio and from a generic switchboard: the call's times on the case
timeline, the recording policy and notice, recordings and who may hear them."""

from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.api.problems import assert_problem
from tests.twilio_fakes import ACCOUNT_SID, twilio_post
from tests.voice_fakes import (CALLER, LINE_NUMBER, MP3, FakeMediaServer, call_params as _call_params,
                               recorded_call as _recorded_call, twiml as _twiml, voice_line as _line)


def _only_case(client, headers):
    cases = client.get("/api/v1/cases", headers=headers).get_json()
    assert cases["total"] == 1, cases
    return client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=headers).get_json()


# --- incoming calls --------------------------------------------------------------------------

def test_a_recorded_line_plays_the_notice_then_queues_without_recording_the_wait(client, admin):
    line = _line(client, admin)

    root = _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "1" * 32)))

    # The notice says recording starts when an official answers: nothing records the queue.
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert root.find(".//Recording") is None and root.find(".//Start") is None
    assert root.find("Say").get("language") == "fi-FI"
    assert "nauhoitetaan" in root.find("Say").text
    assert root.find("Enqueue").text == f"asiakaspalvelu-{line['id']}-recorded"
    case = _only_case(client, admin)
    (contact,) = case["contacts"]
    assert contact["channel"] == "phone" and contact["sender"] == CALLER
    assert contact["started_at"] is not None and contact["answered_at"] is None


def test_calls_from_withheld_numbers_keep_twilios_stand_in_and_are_no_one_customer(client, admin):
    # Twilio's From for a withheld caller id: no number of anyone, so nobody to thread by.
    _line(client, admin)
    for sid in ("CA" + "w" * 32, "CA" + "x" * 32):
        _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params(sid, From="+266696687")))

    cases = client.get("/api/v1/cases", headers=admin).get_json()["items"]
    assert len(cases) == 2
    for case in cases:
        shown = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()
        assert shown["customer"] is None
        assert [c["sender"] for c in shown["contacts"]] == ["+266696687"]
    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 0


def test_a_line_that_never_records_plays_no_notice(client, admin):
    line = _line(client, admin, recording_policy="none")

    root = _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "2" * 32)))

    assert [child.tag for child in root] == ["Enqueue"]
    assert root.find("Enqueue").text == f"asiakaspalvelu-{line['id']}"


def test_the_official_who_answers_a_queued_call_records_it_from_the_answer(client, admin, api):
    adviser = api.official("adviser")
    _line(client, admin)
    sid = "CA" + "1a" * 16
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    agent = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagent1", "From": f"client:{adviser['username']}"}))

    dial = agent.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == "/webhooks/twilio/voice/recording"
    assert dial.get("recordingStatusCallbackEvent") == "completed absent"
    # Twilio bridges the caller, then reports the recording under the official's leg.
    twilio_post(client, dial.find("Queue").get("url"), {"CallSid": sid, "QueueTime": "30",
                                                        "DequeingCallSid": "CAagent1"})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": "CAagent1", "RecordingSid": "RE" + "1a" * 16, "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x/RE1a", "RecordingDuration": "200", "RecordingChannels": "2"})

    case = _only_case(client, admin)
    recordings = client.get(f"/api/v1/recordings?case_id={case['id']}", headers=admin).get_json()["items"]
    assert [(r["contact_id"], r["duration_seconds"]) for r in recordings] == [(case["contacts"][0]["id"], 200)]


def test_a_call_the_random_policy_left_unrecorded_is_answered_without_recording(client, admin, api):
    adviser = api.official("adviser")
    line = _line(client, admin, recording_policy="random", recording_share=0.0)
    twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "1b" * 16))

    agent = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagent2", "From": f"client:{adviser['username']}"}))

    assert agent.find("Dial").get("record") in (None, "do-not-record")
    assert agent.find("Dial").get("recordingStatusCallback") is None
    assert agent.find("Dial/Queue").text == f"asiakaspalvelu-{line['id']}"


def test_with_nobody_waiting_the_officials_client_looks_again_shortly(client, admin, api):
    adviser = api.official("adviser")
    _line(client, admin)

    agent = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagent3", "From": f"client:{adviser['username']}"}))

    assert [child.tag for child in agent] == ["Pause", "Redirect"]
    assert agent.find("Redirect").text == "/webhooks/twilio/voice/agent"


def _other_line_call(client, admin, api):
    """Line A and line B, a call waiting on A, and an adviser of each line."""
    line_a = _line(client, admin)
    line_b = _line(client, admin, name="Verokortit", phone_numbers=["+358951111111"])
    of_a = api.official("adviser", service_line_ids=[line_a["id"]])
    of_b = api.official("adviser", service_line_ids=[line_b["id"]])
    twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "1c" * 16))
    return line_a, line_b, of_a, of_b


def test_each_line_has_its_own_queue_and_only_its_advisers_take_its_calls(client, admin, api):
    line_a, line_b, of_a, of_b = _other_line_call(client, admin, api)

    for_b = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagentB", "From": f"client:{of_b['username']}"}))
    for_a = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagentA", "From": f"client:{of_a['username']}"}))

    # B's adviser dials no queue at all while only A has callers; A's adviser dials A's queue.
    assert for_b.find(".//Queue") is None and for_b.find("Redirect") is not None
    assert for_a.find("Dial/Queue").text == f"asiakaspalvelu-{line_a['id']}-recorded"


def test_an_adviser_cannot_ask_for_another_lines_queue(client, admin, api):
    line_a, line_b, of_a, of_b = _other_line_call(client, admin, api)

    for line in (str(line_a["id"]), "²", "9" * 30):
        root = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                                  {"CallSid": "CAagentB", "From": f"client:{of_b['username']}", "ServiceLine": line}))
        assert root.find("Reject") is not None and root.find(".//Queue") is None
    own = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                             {"CallSid": "CAagentA", "From": f"client:{of_a['username']}",
                              "ServiceLine": str(line_a["id"])}))
    assert own.find("Dial/Queue").text == f"asiakaspalvelu-{line_a['id']}-recorded"


def test_a_random_share_records_about_that_share_of_calls(client, admin):
    _line(client, admin, recording_policy="random", recording_share=0.3)

    recorded = sum(
        _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params(f"CA{i:032d}"))).find("Say") is not None
        for i in range(60))

    assert 5 <= recorded <= 35  # 0.3 of 60 is 18; the bounds fail only with odds below one in ten thousand


def test_the_notice_is_in_the_callers_language(client, admin, intake):
    _line(client, admin, default_language="fi")
    # The caller is known to speak Swedish from an earlier contact on this line.
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "phone", "external_id": "CAearlier", "from": {"phone": CALLER}, "to": LINE_NUMBER,
        "language": "sv", "started_at": "2026-11-20T10:00:00+02:00"})

    root = _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "3" * 32)))

    assert root.find("Say").get("language") == "sv-SE"
    assert "spelas in" in root.find("Say").text


def test_forwarding_mode_dials_with_recording_from_answer(make_app, admin_for):
    app = make_app(VOICE_FORWARD_TO="+358207000000")
    client, admin = app.test_client(), admin_for(app)
    _line(client, admin)

    root = _twiml(twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "4" * 32)))

    dial = root.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("action") == "/webhooks/twilio/voice/dial-result"
    assert dial.find("Number").text == "+358207000000"


def test_unsigned_call_webhooks_are_refused(client, admin):
    for path in ("", "/status", "/queue-result", "/dial-result", "/recording", "/answered", "/agent"):
        response = twilio_post(client, f"/webhooks/twilio/voice{path}", _call_params("CA" + "5" * 32), signature="bad")
        assert_problem(response, 403, "invalid-signature")
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 0


# --- the call's times ------------------------------------------------------------------------

def test_whole_call_through_the_queue_fills_in_the_timeline(client, admin, api):
    adviser = api.official("adviser")
    _line(client, admin)
    sid = "CA" + "6" * 32
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    agent = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                               {"CallSid": "CAagent", "From": f"client:{adviser['username']}"}))
    whisper_url = agent.find("Dial/Queue").get("url")
    twilio_post(client, whisper_url, {"CallSid": sid, "QueueTime": "42", "DequeingCallSid": "CAagent"})
    twilio_post(client, "/webhooks/twilio/voice/queue-result", {"CallSid": sid, "QueueResult": "bridged", "QueueTime": "42"})
    twilio_post(client, "/webhooks/twilio/voice/status", _call_params(sid, CallStatus="completed", CallDuration="300"))

    (contact,) = _only_case(client, admin)["contacts"]
    assert contact["queue_seconds"] == 42
    assert contact["handled_by"]["id"] == adviser["id"]
    started = datetime.fromisoformat(contact["started_at"])
    answered = datetime.fromisoformat(contact["answered_at"])
    ended = datetime.fromisoformat(contact["ended_at"])
    assert started <= answered <= ended


def test_callbacks_out_of_order_and_repeated_keep_the_first_facts(client, admin):
    _line(client, admin)
    sid = "CA" + "7" * 32
    end = "Thu, 26 Nov 2026 10:05:00 +0000"
    # The status callback arrives before the incoming-call webhook was stored ...
    twilio_post(client, "/webhooks/twilio/voice/status", _call_params(sid, CallStatus="completed", CallDuration="120",
                                                                      Timestamp=end))
    # ... then a stale in-progress report and a repeat of the end.
    twilio_post(client, "/webhooks/twilio/voice/status", _call_params(sid, CallStatus="in-progress"))
    twilio_post(client, "/webhooks/twilio/voice/status", _call_params(sid, CallStatus="completed", CallDuration="999",
                                                                      Timestamp="Thu, 26 Nov 2026 11:00:00 +0000"))
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    (contact,) = _only_case(client, admin)["contacts"]
    assert contact["ended_at"] == "2026-11-26T10:05:00+00:00"
    assert contact["started_at"] == "2026-11-26T10:03:00+00:00"


def test_a_caller_who_hangs_up_in_the_queue_is_an_abandoned_call(client, admin):
    _line(client, admin)
    sid = "CA" + "8" * 32
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    twilio_post(client, "/webhooks/twilio/voice/queue-result", {"CallSid": sid, "QueueResult": "hangup", "QueueTime": "75"})

    (contact,) = _only_case(client, admin)["contacts"]
    assert contact["queue_seconds"] == 75
    assert contact["answered_at"] is None


def test_non_numeric_durations_are_ignored_not_fatal(client, admin):
    _line(client, admin)
    sid = "CA" + "9" * 32
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    for params in ({"QueueResult": "bridged", "QueueTime": "abc"}, {"QueueTime": "-5"}):
        assert twilio_post(client, "/webhooks/twilio/voice/queue-result", {"CallSid": sid, **params}).status_code == 200
    assert twilio_post(client, "/webhooks/twilio/voice/status",
                       _call_params(sid, CallStatus="completed", CallDuration="1.5")).status_code == 200

    (contact,) = _only_case(client, admin)["contacts"]
    assert contact["queue_seconds"] is None


def test_callback_without_a_call_sid_is_a_clear_400(client):
    assert_problem(twilio_post(client, "/webhooks/twilio/voice/status", {"CallStatus": "completed"}), 400, "bad-request")


def test_the_agent_leg_rejects_an_unknown_client(client):
    root = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent", {"CallSid": "CAx", "From": "client:nobody"}))
    assert root.find("Reject") is not None


def test_an_official_who_does_not_work_on_cases_takes_no_calls(client, admin, api):
    _line(client, admin)
    twilio_post(client, "/webhooks/twilio/voice", _call_params("CA" + "1d" * 16))
    officer = api.official("privacy_officer")

    root = _twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                              {"CallSid": "CAy", "From": f"client:{officer['username']}"}))

    assert root.find("Reject") is not None and root.find(".//Queue") is None


# --- recordings ------------------------------------------------------------------------------

@pytest.fixture
def media():
    return FakeMediaServer()


@pytest.fixture
def voice_app(make_app, media):
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=media.get)


def test_call_recording_and_case_timeline_end_to_end(voice_app, media, admin_for):
    client = voice_app.test_client()
    admin, supervisor = admin_for(voice_app, "admin"), admin_for(voice_app, "supervisor")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "a" * 32)

    case = _only_case(client, supervisor)
    recordings = client.get(f"/api/v1/recordings?case_id={case['id']}", headers=supervisor).get_json()["items"]

    assert len(recordings) == 1
    recording = recordings[0]
    assert recording["contact_id"] == case["contacts"][0]["id"]
    assert recording["duration_seconds"] == 61 and recording["playable"] is True
    # The line keeps recordings 182 days from the recording time.
    assert recording["retention_until"] == "2027-05-27T09:00:00+00:00"
    assert media.requests == [(f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'a' * 32}.mp3",
                               (ACCOUNT_SID, "test-twilio-auth-token"))]
    audio = client.get(f"/api/v1/recordings/{recording['id']}/audio", headers=supervisor)
    assert audio.status_code == 200 and audio.data == MP3 and audio.mimetype == "audio/mpeg"
    audio.close()


def test_audio_supports_range_requests(voice_app, admin_for):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "b" * 32)
    recording_id = client.get("/api/v1/recordings", headers=admin).get_json()["items"][0]["id"]

    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers={**admin, "Range": "bytes=100-199"}) as part:
        assert part.status_code == 206
        assert part.data == MP3[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(MP3)}"


def test_a_range_outside_the_audio_is_416_and_not_audited_as_played(voice_app, admin_for):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "e" * 32)
    recording_id = client.get("/api/v1/recordings", headers=admin).get_json()["items"][0]["id"]

    with client.get(f"/api/v1/recordings/{recording_id}/audio",
                    headers={**admin, "Range": f"bytes={len(MP3) + 10}-{len(MP3) + 20}"}) as outside:
        assert outside.status_code == 416

    plays = client.get("/api/v1/audit?action=recording.played", headers=admin).get_json()["items"]
    assert plays == []


def test_a_browser_revalidating_its_cached_audio_is_not_audited_as_played(voice_app, admin_for):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "9" * 32)
    recording_id = client.get("/api/v1/recordings", headers=admin).get_json()["items"][0]["id"]
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=admin) as played:
        assert played.status_code == 200
        etag = played.headers["ETag"]

    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers={**admin, "If-None-Match": etag}) as cached:
        assert cached.status_code == 304 and cached.data == b""

    plays = client.get("/api/v1/audit?action=recording.played", headers=admin).get_json()["items"]
    assert len(plays) == 1  # the first play only: no audio was given the second time


def test_reading_a_recordings_details_is_audited(voice_app, admin_for):
    client = voice_app.test_client()
    admin, supervisor = admin_for(voice_app, "admin"), admin_for(voice_app, "supervisor")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "f" * 32)
    recording_id = client.get("/api/v1/recordings", headers=supervisor).get_json()["items"][0]["id"]

    assert client.get(f"/api/v1/recordings/{recording_id}", headers=supervisor).status_code == 200

    (entry,) = client.get("/api/v1/audit?action=recording.read", headers=admin).get_json()["items"]
    assert (entry["actor_id"], entry["object_id"]) == (supervisor.id, recording_id)


def test_advisers_hear_only_their_own_calls_and_every_play_is_audited(voice_app, admin_for, api):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    own, other = admin_for(voice_app, "adviser"), admin_for(voice_app, "adviser")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "c" * 32, official_username=own.username)

    mine = client.get("/api/v1/recordings", headers=own).get_json()["items"]
    theirs = client.get("/api/v1/recordings", headers=other).get_json()["items"]
    assert len(mine) == 1 and theirs == []
    recording_id = mine[0]["id"]
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=own) as played:
        assert played.status_code == 200
    assert_problem(client.get(f"/api/v1/recordings/{recording_id}/audio", headers=other), 404, "not-found")
    assert_problem(client.get(f"/api/v1/recordings/{recording_id}", headers=other), 404, "not-found")

    plays = client.get("/api/v1/audit?action=recording.played", headers=admin).get_json()["items"]
    assert [(p["actor_id"], p["object_id"]) for p in plays] == [(own.id, recording_id)]


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_hear_every_call(voice_app, admin_for, role):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    someone = admin_for(voice_app, "adviser")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "d" * 32, official_username=someone.username)
    headers = admin_for(voice_app, role)

    recording_id = client.get("/api/v1/recordings", headers=headers).get_json()["items"][0]["id"]
    with client.get(f"/api/v1/recordings/{recording_id}/audio", headers=headers) as played:
        assert played.status_code == 200


def test_integrations_cannot_list_recordings(client, intake):
    # The privacy officer can (access requests): test_register_access.py.
    assert client.get("/api/v1/recordings", headers=intake).status_code == 403


def test_a_recording_reported_before_its_call_is_linked_when_the_call_arrives(voice_app, admin_for):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    _line(client, admin)
    sid = "CA" + "e" * 32
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": "RE" + "e" * 32, "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x/RE1", "RecordingDuration": "10"})
    twilio_post(client, "/webhooks/twilio/voice", _call_params(sid))

    case = _only_case(client, admin)
    items = client.get(f"/api/v1/recordings?case_id={case['id']}", headers=admin).get_json()["items"]
    assert [r["contact_id"] for r in items] == [case["contacts"][0]["id"]]


def test_a_repeated_recording_callback_stores_one_recording(voice_app, admin_for, media):
    client = voice_app.test_client()
    admin = admin_for(voice_app, "admin")
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "f" * 32)
    _recorded_call(client, admin, "CA" + "f" * 32)

    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 1
    assert len(media.requests) == 1


def test_an_unfetched_recording_cannot_be_played_yet(client, admin):
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "0a" * 16)  # fetching is off on the default app

    recording = client.get("/api/v1/recordings", headers=admin).get_json()["items"][0]
    assert recording["playable"] is False
    assert_problem(client.get(f"/api/v1/recordings/{recording['id']}/audio", headers=admin), 409,
                   "recording-not-fetched")


def test_recordings_cannot_be_altered_through_the_api(client, admin):
    _line(client, admin)
    _recorded_call(client, admin, "CA" + "0b" * 16)
    recording_id = client.get("/api/v1/recordings", headers=admin).get_json()["items"][0]["id"]

    for method in (client.patch, client.put, client.delete):
        assert method(f"/api/v1/recordings/{recording_id}", headers=admin, json={}).status_code == 405


# --- a switchboard that is not Twilio --------------------------------------------------------

def test_switchboard_reports_a_call_with_its_times_and_recording(client, admin, intake, api):
    adviser = api.official("adviser")
    body = {"external_id": "pbx-1001", "from": {"phone": "040 123 4567"}, "to": LINE_NUMBER,
            "started_at": "2026-11-26T08:00:00+02:00", "answered_at": "2026-11-26T08:01:30+02:00",
            "ended_at": "2026-11-26T08:06:30+02:00", "queue_seconds": 90, "handled_by_id": adviser["id"],
            "recording": {"reference": "pbx-rec-1001", "duration_seconds": 300}}

    first = client.post("/api/v1/inbound/calls", json=body, headers=intake)
    again = client.post("/api/v1/inbound/calls", json=body, headers=intake)

    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["contact_id"] == again.get_json()["contact_id"]
    (contact,) = _only_case(client, admin)["contacts"]
    assert (contact["started_at"], contact["answered_at"], contact["ended_at"]) == (
        "2026-11-26T06:00:00+00:00", "2026-11-26T06:01:30+00:00", "2026-11-26T06:06:30+00:00")
    assert contact["queue_seconds"] == 90 and contact["handled_by"]["id"] == adviser["id"]
    recordings = client.get("/api/v1/recordings", headers=admin).get_json()["items"]
    assert [(r["duration_seconds"], r["recorded_at"]) for r in recordings] == [(300, "2026-11-26T06:01:30+00:00")]


def test_switchboard_reports_an_outbound_call_made_by_an_official(client, admin, intake, api):
    adviser = api.official("adviser")
    client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "pbx-2002", "direction": "outbound", "from": {"phone": CALLER},
        "started_at": "2026-11-26T09:00:00Z", "answered_at": "2026-11-26T09:00:10Z",
        "ended_at": "2026-11-26T09:03:00Z", "handled_by_id": adviser["id"]})

    (contact,) = _only_case(client, admin)["contacts"]
    assert contact["direction"] == "outbound"


@pytest.mark.parametrize("change, field", [
    ({"started_at": "2026-11-26T09:00:00"}, "started_at"),
    ({"ended_at": "2026-11-26T08:00:00Z"}, "ended_at"),
    ({"queue_seconds": "90"}, "queue_seconds"),
    ({"handled_by_id": 999999}, "handled_by_id"),
    ({"direction": "sideways"}, "direction"),
])
def test_switchboard_reports_with_bad_values_are_rejected(client, intake, change, field):
    body = {"external_id": "pbx-3003", "from": {"phone": CALLER}, "started_at": "2026-11-26T09:00:00Z"}
    body.update(change)

    response = client.post("/api/v1/inbound/calls", json=body, headers=intake)

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_switchboard_cannot_credit_a_call_to_the_privacy_officer(client, admin, intake, api):
    privacy_officer = api.official("privacy_officer")
    body = {"external_id": "pbx-4004", "from": {"phone": CALLER}, "started_at": "2026-11-26T09:00:00Z",
            "handled_by_id": privacy_officer["id"]}

    assert_problem(client.post("/api/v1/inbound/calls", json=body, headers=intake), 422, fields=["handled_by_id"])
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 0


# --- calls an official places from a case ----------------------------------------------------

@pytest.fixture
def calling_app(make_app, media):
    from tests.twilio_fakes import FakeTwilioHttp

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=LINE_NUMBER, TWILIO_HTTP_CLIENT=http,
                   VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=media.get)
    app.extensions["fake_twilio_http"] = http
    return app


def _sms_case(client, admin):
    twilio_post(client, "/webhooks/twilio/sms", {"MessageSid": "SM" + "7" * 32, "From": CALLER, "To": LINE_NUMBER,
                                                 "Body": "Soittakaa minulle"})
    return client.get("/api/v1/cases", headers=admin).get_json()["items"][0]["id"]


def test_an_official_calls_the_customer_and_the_call_is_recorded_from_the_answer(calling_app, admin_for):
    client = calling_app.test_client()
    admin, adviser = admin_for(calling_app, "admin"), admin_for(calling_app, "adviser")
    _line(client, admin)
    case_id = _sms_case(client, admin)

    response = client.post(f"/api/v1/cases/{case_id}/calls", headers=adviser)

    assert response.status_code == 201, response.get_json()
    contact = response.get_json()
    assert (contact["direction"], contact["channel"], contact["recipient"]) == ("outbound", "phone", CALLER)
    (placed,) = calling_app.extensions["fake_twilio_http"].calls_placed
    assert placed["data"]["To"] == CALLER and placed["data"]["From"] == LINE_NUMBER
    assert placed["data"]["Record"] == "true"
    assert placed["data"]["Url"] == f"https://cs.example.fi/webhooks/twilio/voice/outbound?contact={contact['id']}"
    sid = contact["external_id"]

    # Twilio asks what to do once the customer answers: the notice, then the official.
    root = _twiml(twilio_post(client, f"/webhooks/twilio/voice/outbound?contact={contact['id']}",
                              {"CallSid": sid, "From": LINE_NUMBER, "To": CALLER, "Direction": "outbound-api"}))
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.find("Dial/Client").text == adviser.username

    outbound = {"From": LINE_NUMBER, "To": CALLER, "Direction": "outbound-api"}
    placed_at = datetime.fromisoformat(contact["started_at"]).replace(microsecond=0)
    answered, ended = placed_at + timedelta(seconds=5), placed_at + timedelta(seconds=100)
    twilio_post(client, "/webhooks/twilio/voice/status", {"CallSid": sid, "CallStatus": "in-progress", **outbound,
                                                          "Timestamp": format_datetime(answered)})
    twilio_post(client, "/webhooks/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed", "CallDuration": "95",
                                                          **outbound, "Timestamp": format_datetime(ended)})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": "RE" + "9" * 32, "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x/RE9", "RecordingDuration": "95"})

    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    call = next(c for c in case["contacts"] if c["channel"] == "phone")
    assert (call["answered_at"], call["ended_at"]) == (answered.isoformat(), ended.isoformat())
    assert call["handled_by"]["id"] == adviser.id
    assert len(case["contacts"]) == 2  # the SMS and the call; no stray contact from the callbacks
    mine = client.get("/api/v1/recordings", headers=adviser).get_json()["items"]
    assert [r["contact_id"] for r in mine] == [call["id"]]


def test_calling_needs_a_phone_system(client, admin, adviser):
    case_id = _sms_case(client, admin)

    assert_problem(client.post(f"/api/v1/cases/{case_id}/calls", headers=adviser), 409, "no-phone-system")


def test_calling_a_customer_without_a_phone_number_is_a_validation_error(calling_app, admin_for):
    client = calling_app.test_client()
    adviser = admin_for(calling_app, "adviser")
    case = client.post("/api/v1/cases", json={"customer": {"email": "anna@example.fi"}}, headers=adviser).get_json()

    assert_problem(client.post(f"/api/v1/cases/{case['id']}/calls", headers=adviser), 422, "validation-failed")
    assert calling_app.extensions["fake_twilio_http"].calls_placed == []


def test_a_call_from_a_line_that_records_nothing_is_placed_and_answered_without_recording(calling_app, admin_for):
    client = calling_app.test_client()
    admin, adviser = admin_for(calling_app, "admin"), admin_for(calling_app, "adviser")
    _line(client, admin, recording_policy="none")
    case_id = _sms_case(client, admin)

    response = client.post(f"/api/v1/cases/{case_id}/calls", headers=adviser)

    assert response.status_code == 201, response.get_json()
    contact = response.get_json()
    (placed,) = calling_app.extensions["fake_twilio_http"].calls_placed
    assert "Record" not in placed["data"] and "RecordingStatusCallback" not in placed["data"]
    # No notice of a recording that is not made: the customer goes straight to the official.
    root = _twiml(twilio_post(client, f"/webhooks/twilio/voice/outbound?contact={contact['id']}",
                              {"CallSid": contact["external_id"], "From": LINE_NUMBER, "To": CALLER,
                               "Direction": "outbound-api"}))
    assert [child.tag for child in root] == ["Dial"]
    assert root.find("Dial/Client").text == adviser.username


def test_calling_from_a_closed_case_is_a_conflict_and_places_no_call(calling_app, admin_for):
    client = calling_app.test_client()
    admin, adviser = admin_for(calling_app, "admin"), admin_for(calling_app, "adviser")
    _line(client, admin)
    case_id = _sms_case(client, admin)
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200

    assert_problem(client.post(f"/api/v1/cases/{case_id}/calls", headers=adviser), 409, "invalid-transition")
    assert calling_app.extensions["fake_twilio_http"].calls_placed == []
    contacts = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["contacts"]
    assert [c["channel"] for c in contacts] == ["sms"]
