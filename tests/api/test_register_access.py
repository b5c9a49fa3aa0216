"""Access per register: supervisors limited to their lines, the read-only inspector who hears
one register's recordings, and the privacy officer who hears recordings for access requests."""

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from service.jobs import roll_up_statistics
from tests.api.problems import assert_problem
from tests.twilio_fakes import ACCOUNT_SID, twilio_post
from tests.voice_fakes import FakeMediaServer, MP3, call_params, voice_line

LINE_A, LINE_B = "+358951234567", "+358951230000"
CALLER_A, CALLER_B = "+358401110001", "+358401110002"


def _call(client, sid, to, caller):
    """An inbound call to ``to``, recorded; its audio fetched from the fake media server."""
    twilio_post(client, "/webhooks/twilio/voice", call_params(sid, To=to, From=caller))
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": "RE" + sid[2:], "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{sid[2:]}",
        "RecordingDuration": "61", "RecordingChannels": "2",
        "RecordingStartTime": "Thu, 26 Nov 2026 09:00:00 +0000"})


@pytest.fixture
def registers(make_app, admin_for):
    """Two recorded phone lines (registers) A and B, one recorded call on each."""
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1,
                   TWILIO_MEDIA_GET=FakeMediaServer().get, STATS_SUPPRESSION_THRESHOLD=1)
    client = app.test_client()
    admin = admin_for(app, "admin")
    line_a = voice_line(client, admin, name="A", phone_numbers=[LINE_A])["id"]
    line_b = voice_line(client, admin, name="B", phone_numbers=[LINE_B])["id"]
    _call(client, "CA" + "a1" * 16, LINE_A, CALLER_A)
    _call(client, "CA" + "b2" * 16, LINE_B, CALLER_B)
    recordings = client.get("/api/v1/recordings", headers=admin).get_json()["items"]
    assert len(recordings) == 2 and all(r["playable"] for r in recordings)
    cases = {c["service_line"]["id"]: c for c in client.get("/api/v1/cases", headers=admin).get_json()["items"]}
    by_case = {r["case_id"]: r["id"] for r in recordings}

    def official(role, lines=(), **extra):
        from tests.conftest import Api

        return Api(app, app.test_client()).headers_for(role, service_line_ids=list(lines), **extra)

    return SimpleNamespace(
        app=app, client=client, admin=admin, official=official, line_a=line_a, line_b=line_b,
        case_a=cases[line_a]["id"], case_b=cases[line_b]["id"],
        customer_a=cases[line_a]["customer"]["id"], customer_b=cases[line_b]["customer"]["id"],
        recording_a=by_case[cases[line_a]["id"]], recording_b=by_case[cases[line_b]["id"]])


def _plays(r):
    return [(p["actor_id"], p["object_id"], p["details"].get("service_line_id"))
            for p in r.client.get("/api/v1/audit?action=recording.played", headers=r.admin).get_json()["items"]]


# --- supervisors limited to lines --------------------------------------------------------------

def test_a_limited_supervisor_sees_only_their_lines_cases_and_recordings(registers):
    r, client = registers, registers.client
    limited = r.official("supervisor", [r.line_a], limited_to_lines=True)

    assert [c["id"] for c in client.get("/api/v1/cases", headers=limited).get_json()["items"]] == [r.case_a]
    assert client.get(f"/api/v1/cases/{r.case_a}", headers=limited).status_code == 200
    assert_problem(client.get(f"/api/v1/cases/{r.case_b}", headers=limited), 404, "not-found")
    assert [x["id"] for x in client.get("/api/v1/recordings", headers=limited).get_json()["items"]] \
        == [r.recording_a]
    assert_problem(client.get(f"/api/v1/recordings/{r.recording_b}", headers=limited), 404, "not-found")
    assert_problem(client.get(f"/api/v1/recordings/{r.recording_b}/audio", headers=limited), 404, "not-found")
    assert_problem(client.get(f"/api/v1/customers/{r.customer_b}", headers=limited), 404, "not-found")
    with client.get(f"/api/v1/recordings/{r.recording_a}/audio", headers=limited) as played:
        assert played.status_code == 200 and played.data == MP3
    me = client.get("/api/v1/auth/me", headers=limited).get_json()
    assert me["service_line_ids"] == [r.line_a] and "cases.reassign" in me["permissions"]


def test_a_limited_supervisor_reassigns_only_within_their_lines(registers):
    r, client = registers, registers.client
    limited = r.official("supervisor", [r.line_a], limited_to_lines=True)
    adviser = r.official("adviser")
    adviser_of_b = r.official("adviser", [r.line_b])

    assigned = client.patch(f"/api/v1/cases/{r.case_a}", json={"assignee_id": adviser.id}, headers=limited)
    assert assigned.status_code == 200 and assigned.get_json()["assignee"]["id"] == adviser.id
    assert_problem(client.patch(f"/api/v1/cases/{r.case_b}", json={"assignee_id": adviser.id}, headers=limited),
                   404, "not-found")
    assert client.get(f"/api/v1/cases/{r.case_b}", headers=r.admin).get_json()["assignee"] is None
    # Nor can a case of theirs go to someone who does not work on its line.
    assert_problem(client.patch(f"/api/v1/cases/{r.case_a}", json={"assignee_id": adviser_of_b.id},
                                headers=limited), 422, "validation-failed", fields=["assignee_id"])


def test_a_case_cannot_be_given_to_a_supervisor_limited_to_other_lines(registers):
    r, client = registers, registers.client
    limited_to_b = r.official("supervisor", [r.line_b], limited_to_lines=True)

    response = client.patch(f"/api/v1/cases/{r.case_a}", json={"assignee_id": limited_to_b.id}, headers=r.admin)

    assert_problem(response, 422, "validation-failed", fields=["assignee_id"])


def test_a_supervisor_not_limited_sees_and_reassigns_every_line_even_as_a_line_member(registers):
    r, client = registers, registers.client
    # Line membership alone never limited a supervisor; it still does not.
    supervisor = r.official("supervisor", [r.line_a])
    adviser = r.official("adviser")

    assert {c["id"] for c in client.get("/api/v1/cases", headers=supervisor).get_json()["items"]} \
        == {r.case_a, r.case_b}
    assert client.patch(f"/api/v1/cases/{r.case_b}", json={"assignee_id": adviser.id},
                        headers=supervisor).status_code == 200
    with client.get(f"/api/v1/recordings/{r.recording_b}/audio", headers=supervisor) as played:
        assert played.status_code == 200
    assert client.get("/api/v1/auth/me", headers=supervisor).get_json()["service_line_ids"] is None


def test_a_limited_supervisors_statistics_count_only_their_lines(registers):
    r, client = registers, registers.client
    with r.app.app_context():
        roll_up_statistics()
    limited = r.official("supervisor", [r.line_a], limited_to_lines=True)
    whole = r.official("supervisor")
    today = date.today()  # the calls came in just now
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat(),
              "group_by": "service_line"}

    for report in ("contacts", "calls", "cases"):
        mine = client.get(f"/api/v1/stats/{report}", query_string=period, headers=limited).get_json()
        everyone = client.get(f"/api/v1/stats/{report}", query_string=period, headers=whole).get_json()
        assert {row["service_line"] for row in mine["rows"]} == {"A"}, report
        assert {row["service_line"] for row in everyone["rows"]} == {"A", "B"}, report
    # The totals too: the other line's calls are not in them.
    assert client.get("/api/v1/stats/contacts", query_string=period, headers=limited).get_json()["total"] \
        == {"contacts": 1, "suppressed": []}
    # Without the line in the breakdown, the figures are still only their lines', merged.
    ungrouped = {key: value for key, value in period.items() if key != "group_by"}
    for report, count in (("calls", "offered"), ("cases", "opened")):
        mine = client.get(f"/api/v1/stats/{report}", query_string=ungrouped, headers=limited).get_json()
        by_line = client.get(f"/api/v1/stats/{report}", query_string=period, headers=whole).get_json()
        assert mine["total"][count] == sum(row[count] for row in by_line["rows"] if row["service_line"] == "A"), report
        assert mine["total"][count] < by_line["total"][count], report


def test_limiting_a_supervisor_applies_at_once_and_needs_a_line(registers):
    r, client = registers, registers.client
    supervisor = r.official("supervisor")
    url = f"/api/v1/officials/{supervisor.id}"

    assert_problem(client.patch(url, json={"limited_to_lines": True}, headers=r.admin), 422,
                   "validation-failed", fields=["service_line_ids"])
    changed = client.patch(url, json={"limited_to_lines": True, "service_line_ids": [r.line_b]}, headers=r.admin)
    assert changed.status_code == 200 and changed.get_json()["limited_to_lines"] is True

    assert_problem(client.get(f"/api/v1/cases/{r.case_a}", headers=supervisor), 404)
    assert client.get(f"/api/v1/cases/{r.case_b}", headers=supervisor).status_code == 200

    # Another role has its own rule; the flag does not follow the official there.
    assert client.patch(url, json={"role": "adviser", "service_line_ids": []}, headers=r.admin) \
        .get_json()["limited_to_lines"] is False
    assert client.get(f"/api/v1/cases/{r.case_a}", headers=supervisor).status_code == 200


# --- the inspector -----------------------------------------------------------------------------

def test_an_inspector_lists_and_plays_their_lines_recordings_audited(registers):
    r, client = registers, registers.client
    inspector = r.official("inspector", [r.line_a])

    listed = client.get("/api/v1/recordings", headers=inspector).get_json()
    assert [x["id"] for x in listed["items"]] == [r.recording_a] and listed["total"] == 1
    assert client.get(f"/api/v1/recordings/{r.recording_a}", headers=inspector).status_code == 200
    with client.get(f"/api/v1/recordings/{r.recording_a}/audio",
                    headers={**inspector, "Range": "bytes=100-199"}) as part:
        assert part.status_code == 206 and part.data == MP3[100:200]

    assert _plays(r) == [(inspector.id, r.recording_a, r.line_a)]


def test_an_inspector_gets_404_for_another_lines_recordings(registers):
    r, client = registers, registers.client
    inspector = r.official("inspector", [r.line_a])

    assert_problem(client.get(f"/api/v1/recordings/{r.recording_b}", headers=inspector), 404, "not-found")
    response = client.get(f"/api/v1/recordings/{r.recording_b}/audio", headers=inspector)
    assert_problem(response, 404, "not-found")
    assert MP3[:64] not in response.data
    assert client.get(f"/api/v1/recordings?case_id={r.case_b}", headers=inspector).get_json()["items"] == []
    assert _plays(r) == []


def test_an_inspector_reads_no_cases_customers_statistics_or_officials(registers):
    r, client = registers, registers.client
    inspector = r.official("inspector", [r.line_a])

    for path in ("/api/v1/cases", f"/api/v1/cases/{r.case_a}", "/api/v1/customers",
                 f"/api/v1/customers/{r.customer_a}", "/api/v1/chats", "/api/v1/officials",
                 "/api/v1/service-lines", "/api/v1/audit",
                 "/api/v1/stats/contacts?from=2026-11-26&to=2026-11-26"):
        assert_problem(client.get(path, headers=inspector), 403, "forbidden")
    assert_problem(client.post(f"/api/v1/cases/{r.case_a}/notes", json={"body": "x"}, headers=inspector),
                   403, "forbidden")
    assert_problem(client.post(f"/api/v1/cases/{r.case_a}/replies", json={"body": "x"}, headers=inspector),
                   403, "forbidden")
    me = client.get("/api/v1/auth/me", headers=inspector).get_json()
    assert me["role"] == "inspector" and me["service_line_ids"] == [r.line_a]
    assert set(me["permissions"]) == {"session", "recordings.read"}


def test_an_inspector_needs_a_line_and_cannot_be_given_cases(registers):
    r, client = registers, registers.client
    body = {"username": "register.office", "password": "a long enough password", "role": "inspector",
            "name": "Register Office", "organisation": "Local register office"}

    assert_problem(client.post("/api/v1/officials", json=body, headers=r.admin), 422, "validation-failed",
                   fields=["service_line_ids"])
    created = client.post("/api/v1/officials", json={**body, "service_line_ids": [r.line_a]}, headers=r.admin)
    assert created.status_code == 201, created.get_json()
    inspector = created.get_json()
    assert inspector["role"] == "inspector" and inspector["service_line_ids"] == [r.line_a]
    url = f"/api/v1/officials/{inspector['id']}"
    assert_problem(client.patch(url, json={"service_line_ids": []}, headers=r.admin), 422, "validation-failed",
                   fields=["service_line_ids"])
    assert client.get(url, headers=r.admin).get_json()["service_line_ids"] == [r.line_a]
    assert_problem(client.patch(f"/api/v1/cases/{r.case_a}", json={"assignee_id": inspector["id"]},
                                headers=r.admin), 422, "validation-failed", fields=["assignee_id"])


def test_only_a_supervisor_is_limited_by_the_flag(registers):
    r, client = registers, registers.client
    body = {"username": "adv.flag", "password": "a long enough password", "role": "adviser",
            "name": "Adviser", "service_line_ids": [r.line_a], "limited_to_lines": True}

    assert_problem(client.post("/api/v1/officials", json=body, headers=r.admin), 422, "validation-failed",
                   fields=["limited_to_lines"])


# --- the privacy officer -----------------------------------------------------------------------

def test_the_privacy_officer_lists_a_customers_recordings_and_plays_them_audited(registers):
    r, client = registers, registers.client
    officer = r.official("privacy_officer")

    listed = client.get("/api/v1/recordings", query_string={"customer_id": r.customer_b}, headers=officer)
    assert [x["id"] for x in listed.get_json()["items"]] == [r.recording_b]
    with client.get(f"/api/v1/recordings/{r.recording_b}/audio", headers=officer) as played:
        assert played.status_code == 200 and played.data == MP3

    assert _plays(r) == [(officer.id, r.recording_b, r.line_b)]
    searches = client.get("/api/v1/audit?action=recording.listed", headers=r.admin).get_json()["items"]
    assert [s["details"]["customer_id"] for s in searches if s["actor_id"] == officer.id] == [r.customer_b]
    # Hearing is all: no case work.
    assert_problem(client.get(f"/api/v1/cases/{r.case_b}", headers=officer), 403, "forbidden")


# --- the line a recording is on ---------------------------------------------------------------

def test_a_lines_new_recording_period_reaches_that_lines_recordings_only(registers):
    r, client = registers, registers.client

    changed = client.patch(f"/api/v1/retention/policies/{r.line_a}", json={"recording_retention_days": 30},
                           headers=r.admin)

    assert changed.status_code == 200, changed.get_json()
    until = {x["id"]: x["retention_until"] for x in client.get("/api/v1/recordings", headers=r.admin).get_json()["items"]}
    # Recorded 2026-11-26 09:00 UTC: line A now keeps it 30 days, line B still 182.
    assert until == {r.recording_a: "2026-12-26T09:00:00+00:00", r.recording_b: "2027-05-27T09:00:00+00:00"}
