"""The privacy side tables' own periods: an answered data-subject request loses whom it was
about PRIVACY_REQUEST_RETENTION_DAYS after its answer, and the old value of a correction is
kept out of the audit log, in a table of its own that the purge empties."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from service.extensions import db


@pytest.fixture
def privacy(api):
    return api.headers_for("privacy_officer")


def _purge(runner, *args):
    result = runner.invoke(args=["retention", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _days_on(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def _request(client, privacy, **body):
    payload = {"type": "access", "subject": {"name": "Anna Asiakas", "phone": "040 123 4567",
                                             "email": "anna@example.fi"},
               "received_at": "2026-11-01T00:00:00Z", "details": "Pyysi kirjeellä kaikki puhelunsa"}
    payload.update(body)
    response = client.post("/api/v1/privacy/requests", json=payload, headers=privacy)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_answered_request_loses_whom_it_was_about_when_its_period_ends(client, runner, admin, privacy):
    answered = _request(client, privacy, type="erasure")
    client.post(f"/api/v1/privacy/requests/{answered['id']}/complete", headers=privacy,
                json={"answer_reason": "Lakisääteinen velvoite: Anna Asiakkaan tiedot poistetaan säilytysajan jälkeen"})
    still_open = _request(client, privacy)

    _purge(runner, "--as-of", _days_on(3 * 365 - 1))
    kept = client.get(f"/api/v1/privacy/requests/{answered['id']}", headers=privacy).get_json()
    assert kept["subject"]["name"] == "Anna Asiakas" and kept["personal_data_deleted_at"] is None
    dry = client.post("/api/v1/retention/purge", headers=admin, json={"as_of": _days_on(3 * 365 + 1)}).get_json()
    assert dry["dry_run"] is True

    _purge(runner, "--as-of", _days_on(3 * 365 + 1))

    purged = client.get(f"/api/v1/privacy/requests/{answered['id']}", headers=privacy).get_json()
    assert (purged["type"], purged["status"], purged["received_at"]) == ("erasure", "completed",
                                                                        "2026-11-01T00:00:00+00:00")
    assert purged["completed_at"] and purged["personal_data_deleted_at"]
    # Whole values, not fragments: a bare "4567" also turns up in a timestamp's microseconds.
    remains = json.dumps(purged)
    assert not [value for value in ("Anna", "040 123 4567", "401234567", "anna@example.fi") if value in remains]
    assert purged["subject"] == {} and purged["details"] is None and purged["answer_reason"] is None
    untouched = client.get(f"/api/v1/privacy/requests/{still_open['id']}", headers=privacy).get_json()
    assert untouched["subject"]["name"] == "Anna Asiakas"
    runs = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert [r["details"]["privacy_requests"] for r in runs] == [1, 0]
    dry_runs = client.get("/api/v1/audit?action=retention.dry_run", headers=admin).get_json()["items"]
    assert dry_runs[0]["details"]["privacy_requests"] == 1


def test_an_access_request_whose_period_ended_has_no_export_left(client, runner, privacy):
    answered = _request(client, privacy)
    assert client.post(f"/api/v1/privacy/requests/{answered['id']}/complete", headers=privacy,
                       json={}).status_code == 200
    assert client.get(f"/api/v1/privacy/requests/{answered['id']}/export", headers=privacy).status_code == 200

    _purge(runner, "--as-of", _days_on(3 * 365 + 1))

    response = client.get(f"/api/v1/privacy/requests/{answered['id']}/export", headers=privacy)
    body = response.get_json()
    assert response.status_code == 409 and body["type"].endswith("/request-purged"), body
    assert "Anna" not in json.dumps(body)


def test_a_corrections_old_value_is_not_in_the_audit_log_and_goes_with_the_case_period(
        app, client, runner, intake, admin, privacy):
    case_id = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-rect-1", "from": {"phone": "+358401234567", "name": "Ana Asiakas"},
        "body": "Nimeni on väärin"}).get_json()["case_id"]
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["customer"]["id"]
    corrected = client.patch(f"/api/v1/customers/{customer_id}", headers=privacy,
                             json={"name": "Anna Asiakas", "phone": "+358401234568"})
    assert corrected.status_code == 200
    request = _request(client, privacy, subject={"phone": "0401234568"})

    audit = json.dumps(client.get("/api/v1/audit?per_page=100", headers=admin).get_json(), ensure_ascii=False)
    assert "Ana Asiakas" not in audit and "+358401234567" not in audit
    (entry,) = client.get("/api/v1/audit?action=customer.updated", headers=admin).get_json()["items"]
    assert entry["details"]["fields"] == ["name", "phone"] and len(entry["details"]["rectification_ids"]) == 2
    export = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
    assert {(c["field"], c["old_value"]) for c in export["people"][0]["corrections"]} == {
        ("name", "Ana Asiakas"), ("phone", "+358401234567")}

    # The case is open, so the customer stays; the old values go after the case period.
    _purge(runner, "--as-of", _days_on(364))
    assert len(client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy)
               .get_json()["people"][0]["corrections"]) == 2
    # The dry run must report the corrections due, not only the real purge.
    dry = client.post("/api/v1/retention/purge", headers=admin, json={"as_of": _days_on(366)}).get_json()
    assert (dry["dry_run"], dry["rectification_history"]) == (True, 2)
    _purge(runner, "--as-of", _days_on(366))

    export = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
    assert export["people"][0]["customer"]["id"] == customer_id
    assert export["people"][0]["corrections"] == []  # (the SMS itself still names the sender: the case's clock)
    runs = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert [r["details"]["rectification_history"] for r in runs] == [2, 0]


def test_a_corrections_old_value_goes_with_its_customer(app, client, runner, intake, adviser, admin):
    from service.customers.models import RectificationHistory

    case_id = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-rect-2", "from": {"phone": "+358401239999"},
        "body": "hei"}).get_json()["case_id"]
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["customer"]["id"]
    client.patch(f"/api/v1/customers/{customer_id}", headers=adviser, json={"address": "Vanha katu 1"})
    client.patch(f"/api/v1/customers/{customer_id}", headers=adviser, json={"address": "Uusi katu 2"})
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    # The case period is counted from closing, the old value's from the correction: make the
    # customer go first.
    with app.app_context():
        db.session.execute(RectificationHistory.__table__.update().values(
            corrected_at=datetime.now(timezone.utc) + timedelta(days=300)))
        db.session.commit()

    _purge(runner, "--as-of", _days_on(366))

    assert client.get("/api/v1/customers?phone=0401239999", headers=admin).get_json()["total"] == 0
    with app.app_context():
        assert db.session.query(RectificationHistory).count() == 0


def test_the_purge_also_clears_what_was_withheld_and_why_the_answer_was_late(client, runner, privacy):
    now = datetime.now(timezone.utc)
    request = _request(client, privacy, received_at=(now - timedelta(days=3)).isoformat())
    extended = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy, json={
        "months": 1, "reason": "Anna Asiakkaan puheluita on paljon", "notified_at": now.isoformat(),
        "notified_via": "letter"})
    assert extended.status_code == 200, extended.get_json()
    client.post(f"/api/v1/privacy/requests/{request['id']}/withhold", headers=privacy, json={
        "item_type": "note", "item_id": 1, "reason": "Anna Asiakkaan esitutkinta kesken"})
    client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy, json={})
    before = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert before["withheld"] and before["extension_reason"]

    _purge(runner, "--as-of", _days_on(3 * 365 + 40))

    purged = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert (purged["withheld"], purged["extension_reason"]) == (None, None)
    assert "Anna" not in json.dumps(purged) and purged["extended_at"] and purged["personal_data_deleted_at"]


def test_answered_requests_are_all_cleared_and_counted_however_small_the_purges_batches(client, runner, admin,
                                                                                         privacy):
    answered = [_request(client, privacy) for _ in range(3)]
    for request in answered:
        client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy, json={})

    _purge(runner, "--batch-size", "2", "--as-of", _days_on(3 * 365 + 1))

    for request in answered:
        assert client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()["subject"] == {}
    # A rerun finds nothing left to clear: the requests cleared once are not counted again.
    _purge(runner, "--batch-size", "2", "--as-of", _days_on(3 * 365 + 2))
    runs = client.get("/api/v1/audit?action=retention.purged", headers=admin).get_json()["items"]
    assert [r["details"]["privacy_requests"] for r in runs] == [0, 3]
