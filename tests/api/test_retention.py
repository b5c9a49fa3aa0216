"""Retention: closing starts the clock, the purge deletes exactly what expired (files too),
legal holds keep cases, recordings follow their own clock, and a rerun does nothing."""

import base64
from datetime import datetime, timedelta, timezone

import pytest

from tests.api.problems import assert_problem
from tests.metrics import metric
from tests.twilio_fakes import twilio_post

PDF = b"%PDF-1.4\nretention test\n%%EOF\n"


@pytest.fixture
def privacy(api):
    return api.headers_for("privacy_officer")


def _closed_case(client, intake, adviser, n, *, phone=None, attach=True):
    body = {"channel": "sms", "external_id": f"SM-ret-{n}", "from": {"phone": phone or f"+35840{n:07d}"},
            "body": f"viesti {n}"}
    if attach:
        body["attachments"] = [{"filename": f"liite-{n}.pdf", "content_type": "application/pdf",
                                "content_base64": base64.b64encode(PDF).decode()}]
    posted = client.post("/api/v1/inbound/messages", headers=intake, json=body).get_json()
    client.post(f"/api/v1/cases/{posted['case_id']}/notes", json={"body": "muistiinpano"}, headers=adviser)
    closed = client.post(f"/api/v1/cases/{posted['case_id']}/close", headers=adviser).get_json()
    return closed


def _files(app):
    root = app.extensions["file_storage"].root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _purge(runner, *args):
    result = runner.invoke(args=["retention", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_purge_a_year_later_deletes_exactly_the_expired_data(app, client, runner, intake, adviser, admin, privacy):
    old = [_closed_case(client, intake, adviser, n) for n in range(3)]
    held = _closed_case(client, intake, adviser, 3)
    client.post(f"/api/v1/cases/{held['id']}/hold", json={"reason": "Oikeudenkäynti vireillä"}, headers=privacy)
    open_case = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-ret-open", "from": {"phone": "+358409999999"}, "body": "auki"}).get_json()
    assert len(_files(app)) == 4
    a_year_later = (datetime.now(timezone.utc) + timedelta(days=366)).isoformat()

    dry = _purge(runner, "--dry-run", "--as-of", a_year_later)
    # The case nobody closed has seen no activity for a year: its clock has run out too.
    assert "would delete 4 cases, 3 attachments, 0 recordings, 4 customers; 1 expired cases kept" in dry
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 5

    output = _purge(runner, "--as-of", a_year_later)

    assert "deleted 4 cases, 3 attachments, 0 recordings, 4 customers" in output
    remaining = {c["id"] for c in client.get("/api/v1/cases", headers=admin).get_json()["items"]}
    assert remaining == {held["id"]}
    for case in [*old, {"id": open_case["case_id"]}]:
        assert_problem(client.get(f"/api/v1/cases/{case['id']}", headers=admin), 404)
    assert len(_files(app)) == 1  # only the held case's file is left on disk
    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 1

    rerun = _purge(runner, "--as-of", a_year_later)
    assert "deleted 0 cases, 0 attachments, 0 recordings, 0 customers" in rerun
    entries = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert [e["details"]["cases"] for e in entries] == [0, 4]
    assert all("phone" not in str(e["details"]) for e in entries)


def test_nothing_is_purged_before_its_date(client, runner, intake, adviser, admin):
    _closed_case(client, intake, adviser, 10)
    almost = (datetime.now(timezone.utc) + timedelta(days=364)).isoformat()

    assert "deleted 0 cases" in _purge(runner, "--as-of", almost)
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 1


def _closed_long_ago(app, case_id, days):
    from service.cases.models import Case
    from service.extensions import db

    with app.app_context():
        case = db.session.get(Case, case_id)
        case.closed_at -= timedelta(days=days)
        case.retention_until -= timedelta(days=days)
        db.session.commit()


def test_a_customer_with_another_case_is_kept(app, client, runner, intake, adviser, admin):
    closed = _closed_case(client, intake, adviser, 20, phone="+358401112233")
    _closed_long_ago(app, closed["id"], 400)
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<keep@example.fi>", "from": {"phone": "+358401112233",
                                                                          "email": "k@example.fi"}})
    assert "deleted 1 cases" in _purge(runner)

    customers = client.get("/api/v1/customers?phone=0401112233", headers=admin).get_json()
    assert customers["total"] == 1


def test_releasing_the_hold_lets_the_next_purge_delete_the_case(client, runner, intake, adviser, admin, privacy):
    case = _closed_case(client, intake, adviser, 30)
    client.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "x"}, headers=privacy)
    later = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()
    _purge(runner, "--as-of", later)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=admin).status_code == 200

    released = client.delete(f"/api/v1/cases/{case['id']}/hold", headers=privacy)
    assert released.status_code == 200 and released.get_json()["legal_hold_at"] is None
    _purge(runner, "--as-of", later)

    assert client.get(f"/api/v1/cases/{case['id']}", headers=admin).status_code == 404


def test_hold_rules(client, intake, adviser, privacy):
    case = _closed_case(client, intake, adviser, 40)
    assert client.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "x"}, headers=adviser).status_code == 403
    assert_problem(client.delete(f"/api/v1/cases/{case['id']}/hold", headers=privacy), 409, "not-held")
    client.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "x"}, headers=privacy)
    assert_problem(client.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "y"}, headers=privacy),
                   409, "already-held")


def test_a_policy_change_recomputes_retention_dates(client, intake, adviser, admin):
    case = _closed_case(client, intake, adviser, 50)
    line_id = case["service_line"]["id"]

    response = client.patch(f"/api/v1/retention/policies/{line_id}", json={"case_retention_days": 30}, headers=admin)

    assert response.status_code == 200 and response.get_json()["case_retention_days"] == 30
    updated = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()
    closed_at = datetime.fromisoformat(updated["closed_at"])
    assert datetime.fromisoformat(updated["retention_until"]) == closed_at + timedelta(days=30)
    policies = client.get("/api/v1/retention/policies", headers=admin).get_json()
    assert policies["default_case_retention_days"] == 365
    assert [(p["service_line_id"], p["case_retention_days"]) for p in policies["items"]] == [(line_id, 30)]


def test_the_api_purge_defaults_to_a_dry_run(client, intake, adviser, admin):
    _closed_case(client, intake, adviser, 60)
    later = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()

    counted = client.post("/api/v1/retention/purge", json={"as_of": later}, headers=admin).get_json()
    assert (counted["dry_run"], counted["cases"]) == (True, 1)
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 1
    now = client.post("/api/v1/retention/purge", json={"dry_run": False}, headers=admin).get_json()
    # Nothing has expired yet today, and without the provider's credentials nothing is deleted there.
    assert (now["cases"], now["provider_copies"]) == (0, 0)
    assert client.post("/api/v1/retention/purge", json={}, headers=adviser).status_code == 403


@pytest.mark.parametrize("as_of", ["0001-01-02T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_a_purge_as_of_a_time_outside_the_calendar_it_counts_in_is_422(client, admin, as_of):
    # The periods are counted back from as_of: year 1 less a year is no date at all.
    response = client.post("/api/v1/retention/purge", json={"as_of": as_of}, headers=admin)

    body = assert_problem(response, 422, "validation-failed")
    assert "as_of" in body["errors"]


def test_recordings_are_purged_on_their_own_clock_while_the_case_stays(client, runner, admin):
    client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Muutto", "phone_numbers": ["+358951234567"], "recording_policy": "all",
        "recording_retention_days": 60})
    sid = "CA" + "7" * 32
    twilio_post(client, "/webhooks/twilio/voice", {"CallSid": sid, "From": "+358401234567", "To": "+358951234567",
                                                   "CallStatus": "ringing"})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": "RE" + "7" * 32, "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x/RE7", "RecordingDuration": "30"})
    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 1

    _purge(runner, "--as-of", (datetime.now(timezone.utc) + timedelta(days=61)).isoformat())

    assert client.get("/api/v1/recordings", headers=admin).get_json()["total"] == 0
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 1  # the open case stays


@pytest.mark.parametrize("as_of", ["yesterday", "2027-12-01T00:00:00"])
def test_purge_refuses_an_unclear_time(runner, as_of):
    result = runner.invoke(args=["retention", "purge", "--as-of", as_of])
    assert result.exit_code != 0 and "--as-of" in result.output


def test_a_customer_with_an_open_access_request_is_kept_after_their_cases_go(client, runner, intake, adviser, admin,
                                                                           privacy):
    _closed_case(client, intake, adviser, 70, phone="+358401230070")
    client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 0070"}, "received_at": "2026-11-01T00:00:00Z"})

    _purge(runner, "--as-of", (datetime.now(timezone.utc) + timedelta(days=400)).isoformat())

    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 0
    assert client.get("/api/v1/customers?phone=0401230070", headers=admin).get_json()["total"] == 1


def test_the_purge_deletes_twilios_copy_when_configured(make_app, admin_for):
    from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp

    http = FakeTwilioHttp()
    # On by default where Twilio's credentials are set.
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_HTTP_CLIENT=http)
    client, admin = app.test_client(), admin_for(app)
    client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Muutto", "phone_numbers": ["+358951234567"], "recording_policy": "all", "recording_retention_days": 60})
    sid = "CA" + "8" * 32
    twilio_post(client, "/webhooks/twilio/voice", {"CallSid": sid, "From": "+358401234567", "To": "+358951234567"})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": "RE" + "8" * 32, "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x/RE8", "RecordingDuration": "30"})

    with app.app_context():
        from service.retention.logic import PurgeSettings, purge
        from service.storage import get_storage

        done = purge(as_of=datetime.now(timezone.utc) + timedelta(days=61), storage=get_storage(),
                     settings=PurgeSettings.from_app(app))

    assert (done.recordings, done.provider_copies) == (1, 1)
    (deleted,) = [r for r in http.requests if r["method"] == "DELETE"]
    assert deleted["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'8' * 32}.json"


def test_the_api_refuses_to_delete_ahead_of_time(client, intake, adviser, admin):
    _closed_case(client, intake, adviser, 80)
    later = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()

    refused = client.post("/api/v1/retention/purge", json={"as_of": later, "dry_run": False}, headers=admin)

    assert_problem(refused, 422, fields=["as_of"])
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 1


def test_placing_and_releasing_a_hold_are_in_the_audit_log_as_the_officer_on_the_case(client, api, intake, adviser,
                                                                                      admin):
    officer = api.headers_for("privacy_officer")
    case = _closed_case(client, intake, adviser, 45)
    client.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "x"}, headers=officer)
    client.delete(f"/api/v1/cases/{case['id']}/hold", headers=officer)

    for action in ("case.hold_placed", "case.hold_released"):
        (entry,) = client.get("/api/v1/audit", query_string={"action": action}, headers=admin).get_json()["items"]
        assert (entry["actor_type"], entry["actor_id"], entry["actor_role"]) == ("official", officer.id,
                                                                                 "privacy_officer")
        assert (entry["object_type"], entry["object_id"]) == ("case", case["id"])


def test_a_policy_change_moves_only_its_own_lines_closed_cases(client, intake, adviser, admin):
    other_line = client.post("/api/v1/service-lines", json={"name": "Muu linja"}, headers=admin).get_json()["id"]
    changed = _closed_case(client, intake, adviser, 55, attach=False)
    line_id = changed["service_line"]["id"]
    still_open = client.post("/api/v1/cases", json={"service_line_id": line_id}, headers=adviser).get_json()
    elsewhere = client.post("/api/v1/cases", json={"service_line_id": other_line}, headers=adviser).get_json()
    elsewhere = client.post(f"/api/v1/cases/{elsewhere['id']}/close", headers=adviser).get_json()

    client.patch(f"/api/v1/retention/policies/{line_id}", json={"case_retention_days": 30}, headers=admin)

    def shown(case):
        return client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()

    moved = shown(changed)
    assert datetime.fromisoformat(moved["retention_until"]) == (datetime.fromisoformat(moved["closed_at"])
                                                                + timedelta(days=30))
    assert shown(still_open)["retention_until"] is None  # an open case's clock starts when it closes
    assert shown(elsewhere)["retention_until"] == elsewhere["retention_until"]  # another line's policy
    assert datetime.fromisoformat(elsewhere["retention_until"]) == (datetime.fromisoformat(elsewhere["closed_at"])
                                                                    + timedelta(days=365))


@pytest.mark.parametrize("opened_by", ["a message", "an adviser"])
def test_a_purged_cases_reference_is_never_given_again(app, api, client, runner, intake, adviser, admin, opened_by):
    # The newest case goes: on SQLite a plain INTEGER PRIMARY KEY would give the next case its id.
    gone = api.inbound(intake, channel="email", subject="Muuttoilmoitus",
                       **{"from": {"email": "matti@example.fi"}}).get_json()
    client.post(f"/api/v1/cases/{gone['case_id']}/close", headers=adviser)
    _closed_long_ago(app, gone["case_id"], 400)
    assert "deleted 1 cases" in _purge(runner)

    if opened_by == "a message":
        new = api.inbound(intake, **{"from": {"phone": "050 765 4321"}}).get_json()
        new_id, new_reference = new["case_id"], new["case_reference"]
    else:
        new = client.post("/api/v1/cases", json={"subject": "Uusi asia"}, headers=adviser).get_json()
        new_id, new_reference = new["id"], new["reference"]
    assert (new_id, new_reference) != (gone["case_id"], gone["case_reference"])

    # The purged case's customer answers its old thread: that names no one else's case.
    late = api.inbound(intake, channel="email", subject=f"Re: [#{gone['case_reference']}] Muuttoilmoitus",
                       **{"from": {"email": "matti@example.fi"}}).get_json()
    assert late["case_id"] != new_id
    assert client.get(f"/api/v1/cases/{late['case_id']}", headers=admin).get_json()["linked_case_id"] is None


def test_a_purge_in_batches_deletes_every_expired_case_and_shows_each_batchs_running_totals(app, client, runner,
                                                                                            intake, adviser, admin):
    """The operator's batch size splits the work, never what goes: each batch carries on after
    the last one, and its line counts the totals so far."""
    cases = [_closed_case(client, intake, adviser, n) for n in range(90, 95)]
    assert len(_files(app)) == 5

    as_of = (datetime.now(timezone.utc) + timedelta(days=366)).isoformat()
    output = _purge(runner, "--batch-size", "2", "--as-of", as_of)

    progress = [line.strip() for line in output.splitlines() if line.strip().startswith("batch")]
    assert progress == ["batch 1: 2 cases, 0 recordings, 2 customers, 2 files so far",
                        "batch 2: 4 cases, 0 recordings, 4 customers, 4 files so far",
                        "batch 3: 5 cases, 0 recordings, 5 customers, 5 files so far"]
    assert "deleted 5 cases, 5 attachments, 0 recordings, 5 customers" in output
    for case in cases:
        assert_problem(client.get(f"/api/v1/cases/{case['id']}", headers=admin), 404)
    assert _files(app) == []
    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 0
    (entry,) = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert entry["details"] == {"as_of": as_of, "cases": 5, "attachments": 5, "recordings": 0,
                                "recordings_detached": 0, "customers": 5, "files": 5, "files_missing": 0, "envelopes": 0,
                                "held_cases_skipped": 0, "audit_entries": 0, "provider_copies": 0,
                                "privacy_requests": 0, "rectification_history": 0}


def _purged_metric(client, kind):
    return metric(client, "retention_purged_total", missing=0.0, kind=kind)


def test_a_customer_kept_for_an_access_request_goes_with_the_first_purge_after_its_answer(app, client, runner, intake,
                                                                                         adviser, admin, privacy):
    """Counted in the dry run and deleted by the purge together with the customers of the cases
    that expire then; the metrics count what a purge deletes, never what a dry run counts."""
    kept = _closed_case(client, intake, adviser, 71, phone="+358401230071", attach=False)
    _closed_long_ago(app, kept["id"], 400)
    request = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 0071"}, "received_at": "2026-11-01T00:00:00Z"}).get_json()
    assert "deleted 1 cases, 0 attachments, 0 recordings, 0 customers" in _purge(runner)
    assert client.get("/api/v1/customers?phone=0401230071", headers=admin).get_json()["total"] == 1
    _closed_case(client, intake, adviser, 72, phone="+358401230072", attach=False)  # expires within the year
    assert client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy,
                       json={}).status_code == 200
    a_year_later = (datetime.now(timezone.utc) + timedelta(days=366)).isoformat()
    cases_before = _purged_metric(client, "cases"), _purged_metric(client, "customers")

    dry = _purge(runner, "--dry-run", "--as-of", a_year_later)

    assert "would delete 1 cases, 0 attachments, 0 recordings, 2 customers" in dry
    assert (_purged_metric(client, "cases"), _purged_metric(client, "customers")) == cases_before

    assert "deleted 1 cases, 0 attachments, 0 recordings, 2 customers" in _purge(runner, "--as-of", a_year_later)

    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 0
    assert (_purged_metric(client, "cases"), _purged_metric(client, "customers")) == (cases_before[0] + 1,
                                                                                      cases_before[1] + 2)


def test_a_purge_through_the_api_is_in_the_audit_log_as_the_official_who_ran_it(client, api, intake, adviser):
    manager = api.headers_for("admin")
    _closed_case(client, intake, adviser, 73, attach=False)
    as_of = (datetime.now(timezone.utc) + timedelta(days=400)).replace(microsecond=0)

    counted = client.post("/api/v1/retention/purge", json={"as_of": as_of.isoformat()}, headers=manager).get_json()

    assert (counted["dry_run"], counted["cases"]) == (True, 1)
    (entry,) = client.get("/api/v1/audit?action=retention.dry_run", headers=manager).get_json()["items"]
    assert (entry["actor_type"], entry["actor_id"]) == ("official", manager.id)
    assert datetime.fromisoformat(entry["details"]["as_of"]) == as_of


def test_a_file_already_gone_from_storage_is_counted_apart_in_the_purges_audit_entry(app, client, runner, intake,
                                                                                  adviser, admin, caplog):
    case = _closed_case(client, intake, adviser, 80)
    _closed_case(client, intake, adviser, 81)
    gone, _ = _files(app)
    gone.unlink()  # a restored backup, a hand deletion: the row still names the file

    output = _purge(runner, "--as-of", (datetime.now(timezone.utc) + timedelta(days=366)).isoformat())

    assert "deleted 2 cases, 2 attachments" in output
    assert _files(app) == []
    (entry,) = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert (entry["details"]["files"], entry["details"]["files_missing"]) == (1, 1)
    warned = [r.getMessage() for r in caplog.records if "already missing" in r.getMessage()]
    assert warned == ["retention purge: 1 files its rows named were already missing from storage"]
    assert_problem(client.get(f"/api/v1/cases/{case['id']}", headers=admin), 404)


def test_files_already_gone_are_each_counted_and_the_purge_still_deletes_the_rest(app, client, runner, intake,
                                                                                  adviser, admin):
    """Two of three files gone: whichever order the purge meets them in, it counts both and
    deletes the one left."""
    for n in (82, 83, 84):
        _closed_case(client, intake, adviser, n)
    first, second, _ = _files(app)
    first.unlink()
    second.unlink()

    _purge(runner, "--as-of", (datetime.now(timezone.utc) + timedelta(days=366)).isoformat())

    assert _files(app) == []
    (entry,) = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert (entry["details"]["files"], entry["details"]["files_missing"]) == (1, 2)


def test_customers_kept_for_answered_requests_all_go_however_small_the_purges_batches(app, client, runner, intake,
                                                                                     adviser, admin, privacy):
    """Three customers kept past their cases for access requests; once two of the requests are
    answered, a purge in batches of one deletes both, past the first customer still kept."""
    requests = []
    for n in (75, 76, 77):
        kept = _closed_case(client, intake, adviser, n, phone=f"+3584012300{n}", attach=False)
        _closed_long_ago(app, kept["id"], 400)
        requests.append(client.post("/api/v1/privacy/requests", headers=privacy, json={
            "type": "access", "subject": {"phone": f"040 123 00{n}"},
            "received_at": "2026-11-01T00:00:00Z"}).get_json())
    _purge(runner)
    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 3
    for request in requests[1:]:
        assert client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy,
                           json={}).status_code == 200

    assert "2 customers" in _purge(runner, "--batch-size", "1")

    assert client.get("/api/v1/customers?phone=0401230075", headers=admin).get_json()["total"] == 1
    assert client.get("/api/v1/customers", headers=admin).get_json()["total"] == 1


def test_a_dry_run_counts_only_what_the_purge_would_delete(app, client, intake, adviser, admin):
    """Nothing due counts nothing; once some is due, a customer with a case still running, or
    whose only case still runs, is not counted, nor a recording whose date has not come."""
    from tests.api.test_retention_clocks import _line, _recorded_call

    _line(client, admin, "Muutto", "+358951234567", recording_policy="all", recording_retention_days=60)
    _recorded_call(client, "8", to="+358951234567", caller="+358401234568")
    # A case of no customer still running: its empty customer must not hide the others' counts.
    assert client.post("/api/v1/cases", json={"subject": "Sisäinen"}, headers=adviser).status_code == 201
    goes = _closed_case(client, intake, adviser, 85, phone="+358401230085")
    stays = _closed_case(client, intake, adviser, 86, phone="+358401230086")
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<stays@example.fi>", "from": {"phone": "+358401230086",
                                                                           "email": "s@example.fi"}})

    def dry_run(days):
        as_of = (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()
        counted = client.post("/api/v1/retention/purge", json={"as_of": as_of}, headers=admin).get_json()
        return {k: counted.get(k) for k in ("cases", "attachments", "recordings", "customers", "privacy_requests",
                                            "rectification_history")}

    assert dry_run(30) == {"cases": 0, "attachments": 0, "recordings": 0, "customers": 0, "privacy_requests": 0,
                           "rectification_history": 0}
    for case in (goes, stays):
        _closed_long_ago(app, case["id"], 400)

    nothing_private = {"privacy_requests": 0, "rectification_history": 0}
    assert dry_run(30) == {"cases": 2, "attachments": 2, "recordings": 0, "customers": 1, **nothing_private}
    assert dry_run(61) == {"cases": 2, "attachments": 2, "recordings": 1, "customers": 1, **nothing_private}
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 5
