"""Data-subject requests: deadlines and the access export, end to end."""

import base64
import io
import json
import zipfile

import pytest

from tests.api.problems import assert_problem

PDF = b"%PDF-1.4\nhakemus\n%%EOF\n"


@pytest.fixture
def privacy(api):
    return api.headers_for("privacy_officer")


def _register(client, privacy, **body):
    payload = {"type": "access", "subject": {"phone": "040 123 4567"}, "received_at": "2026-01-31T10:00:00+02:00",
               "details": "Pyyntö kirjeitse"}
    payload.update(body)
    response = client.post("/api/v1/privacy/requests", json=payload, headers=privacy)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _history(client, intake, adviser, admin):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-1", "from": {"phone": "+358401234567"}, "body": "Missä passini on?",
        "attachments": [{"filename": "hakemus.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(PDF).decode()}]}).get_json()
    case_id = posted["case_id"]
    note = client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Asiakas toivoo tekstiviestiä"},
                       headers=adviser).get_json()
    internal = client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Poliisin tutkinta kesken"},
                           headers=adviser).get_json()
    client.post(f"/api/v1/cases/{case_id}/disclosures", headers=adviser, json={
        "recipient": "Poliisi", "fields": ["phone"], "legal_basis": "Poliisilaki 4:3"})
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-other", "from": {"phone": "+358409999999"}, "body": "Joku muu"})
    return case_id, note["id"], internal["id"]


def test_an_access_request_end_to_end(client, intake, adviser, admin, privacy):
    case_id, note_id, internal_id = _history(client, intake, adviser, admin)
    request = _register(client, privacy)
    assert request["due_at"] == "2026-02-28T08:00:00+00:00"  # one month on; February has no 31st

    withheld = client.post(f"/api/v1/privacy/requests/{request['id']}/withhold", headers=privacy, json={
        "item_type": "note", "item_id": internal_id, "reason": "Esitutkinnan salassapito (JulkL 24 § 3 k)"})
    assert withheld.status_code == 200
    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    (person,) = document["people"]
    assert person["customer"]["phone"] == "+358401234567"
    (case,) = person["cases"]
    assert case["id"] == case_id and case["contacts"][0]["body"] == "Missä passini on?"
    assert case["notes"][0] == {"id": note_id, "body": "Asiakas toivoo tekstiviestiä",
                                "written_at": case["notes"][0]["written_at"]}
    assert case["notes"][1] == {"withheld": True, "type": "note", "id": internal_id,
                                "reason": "Esitutkinnan salassapito (JulkL 24 § 3 k)"}
    assert "Poliisin tutkinta kesken" not in json.dumps(document, ensure_ascii=False)
    assert "Joku muu" not in json.dumps(document, ensure_ascii=False)
    assert person["disclosures"][0]["recipient"] == "Poliisi"
    assert case["attachments"][0]["file_in_archive"].endswith("hakemus.pdf")

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)
    assert archive.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        names = zipped.namelist()
        assert "export.json" in names
        assert zipped.read(case["attachments"][0]["file_in_archive"]) == PDF

    exports = client.get("/api/v1/audit?action=privacy.exported", headers=admin).get_json()["items"]
    assert len(exports) == 2 and exports[0]["object_id"] == request["id"]


def test_the_deadline_extends_once_by_at_most_two_months(client, privacy):
    request = _register(client, privacy, received_at="2026-03-15T09:00:00Z")
    assert request["due_at"] == "2026-04-15T09:00:00+00:00"

    assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                               json={"months": 3, "reason": "laaja"}), 422, fields=["months"])
    extended = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                           json={"months": 2, "reason": "Pyyntöjä on paljon"}).get_json()
    assert extended["due_at"] == "2026-06-15T09:00:00+00:00"
    again = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                        json={"months": 1, "reason": "x"})
    assert_problem(again, 409, "already-extended")


def test_overdue_requests_are_listed(client, privacy):
    late = _register(client, privacy, received_at="2026-01-01T00:00:00Z")
    done = _register(client, privacy, received_at="2026-01-02T00:00:00Z")
    client.post(f"/api/v1/privacy/requests/{done['id']}/complete", headers=privacy)

    overdue = client.get("/api/v1/privacy/requests?overdue=true", headers=privacy).get_json()

    assert [r["id"] for r in overdue["items"]] == [late["id"]]


def test_erasure_is_not_offered_and_the_api_says_why(client, privacy):
    response = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "erasure", "subject": {"email": "anna@example.fi"}, "received_at": "2026-11-01T00:00:00Z"})

    body = assert_problem(response, 422, fields=["type"])
    assert "Erasure is not offered" in body["errors"]["type"][0]


@pytest.mark.parametrize("body, field", [
    ({"subject": {}}, "subject"),
    ({"received_at": "2026-11-01T00:00:00"}, "received_at"),
    ({"type": "deletion"}, "type"),
])
def test_bad_requests_are_refused(client, privacy, body, field):
    payload = {"type": "access", "subject": {"email": "a@example.fi"}, "received_at": "2026-11-01T00:00:00Z"}
    payload.update(body)
    assert_problem(client.post("/api/v1/privacy/requests", json=payload, headers=privacy), 422, fields=[field])


def test_only_the_privacy_officer_and_admins_handle_requests(client, adviser, privacy):
    assert client.get("/api/v1/privacy/requests", headers=adviser).status_code == 403
    assert client.get("/api/v1/privacy/requests", headers=privacy).status_code == 200


def test_reading_and_listing_requests_is_audited(client, admin, privacy):
    registered = _register(client, privacy)

    assert client.get("/api/v1/privacy/requests", headers=privacy).status_code == 200
    assert client.get(f"/api/v1/privacy/requests/{registered['id']}", headers=privacy).status_code == 200

    audit = client.get("/api/v1/audit", headers=admin, query_string={"page_size": 100}).get_json()["items"]
    actions = [(e["action"], e["object_id"]) for e in audit if e["actor_id"] == privacy.id]
    assert ("privacy.request_read", registered["id"]) in actions
    assert ("privacy.request_listed", None) in actions
