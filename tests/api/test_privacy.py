"""Data-subject requests: deadlines and the access export, end to end."""

import base64
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from service.extensions import db
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


def _month_start(months_ahead: int = 0) -> datetime:
    """Midnight UTC on the first of this month, or of a month ``months_ahead`` later."""
    today = datetime.now(timezone.utc)
    index = today.month - 1 + months_ahead
    return datetime(today.year + index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def _extension(**body):
    payload = {"months": 2, "reason": "Pyyntöjä on paljon", "notified_at": datetime.now(timezone.utc).isoformat(),
               "notified_via": "letter"}
    payload.update(body)
    return payload


def test_the_deadline_extends_once_by_at_most_two_months(client, privacy):
    request = _register(client, privacy, received_at=_month_start().isoformat())
    assert request["due_at"] == _month_start(1).isoformat()

    assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                               json=_extension(months=3)), 422, fields=["months"])
    extended = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                           json=_extension()).get_json()
    assert extended["due_at"] == _month_start(3).isoformat()
    again = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                        json=_extension(months=1))
    assert_problem(again, 409, "already-extended")


def test_a_request_received_in_december_is_due_in_january_of_the_next_year(client, privacy):
    request = _register(client, privacy, received_at="2026-12-15T09:00:00Z")

    assert request["due_at"] == "2027-01-15T09:00:00+00:00"


def test_an_overdue_request_cannot_be_extended(client, privacy):
    request = _register(client, privacy, received_at="2026-01-31T10:00:00+02:00")  # due 2026-02-28

    refused = client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                          json=_extension(notified_at="2026-02-20T10:00:00Z"))

    assert_problem(refused, 409, "request-overdue")
    shown = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert (shown["due_at"], shown["extended_at"]) == ("2026-02-28T08:00:00+00:00", None)


def test_an_extension_is_overdue_at_the_deadline_itself_and_telling_at_receipt_or_at_extending_is_in_time(
        app, client, privacy):
    """The two edges of an extension, on a controlled clock (the API's clock is the real one)."""
    from service.auth.permissions import Principal
    from service.errors import Conflict
    from service.privacy.logic import extend

    request = _register(client, privacy, received_at="2026-01-31T10:00:00+02:00")
    due = datetime.fromisoformat(request["due_at"])
    officer = Principal(kind="official", id=privacy.id, name="Tietosuojavastaava", role="privacy_officer")
    with app.app_context():
        with pytest.raises(Conflict) as refused:
            extend(actor=officer, request_id=request["id"], months=1, reason="Laaja", notified_at=due,
                   notified_via="letter", now=due)
        assert refused.value.code == "request-overdue"

        just_before = due - timedelta(microseconds=1)
        extended = extend(actor=officer, request_id=request["id"], months=1, reason="Laaja",
                          notified_at=just_before, notified_via="letter", now=just_before)
        assert (extended.due_at, extended.extension_notified_at) == (datetime(2026, 3, 28, 8, tzinfo=timezone.utc),
                                                                     just_before)

    # Told in the same moment the request came in (a letter answered at the desk) is not before it.
    received = _month_start()
    at_the_desk = _register(client, privacy, received_at=received.isoformat())
    told = client.post(f"/api/v1/privacy/requests/{at_the_desk['id']}/extend", headers=privacy,
                       json=_extension(notified_at=received.isoformat()))
    assert told.status_code == 200, told.get_json()
    assert told.get_json()["extension_notified_at"] == received.isoformat()


def test_an_extension_records_the_reasons_and_when_and_how_the_person_was_told(client, admin, privacy):
    request = _register(client, privacy, received_at=_month_start().isoformat())
    # Now, not noon of the first: before noon UTC on the first of a month that was still ahead.
    told = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    for missing in ("reason", "notified_at", "notified_via"):
        body = _extension(notified_at=told)
        del body[missing]
        assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy, json=body),
                       422, fields=[missing])
    assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                               json=_extension(notified_via="pigeon")), 422, fields=["notified_via"])
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                               json=_extension(notified_at=future)), 422, fields=["notified_at"])

    client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                json=_extension(notified_at=told, notified_via="email", reason="Laaja aineisto, 3 rekisteriä"))

    shown = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert (shown["extension_reason"], shown["extension_notified_at"], shown["extension_notified_via"]) == (
        "Laaja aineisto, 3 rekisteriä", told, "email")
    # The audit log says who extended which request, by how much and how the person was told,
    # and nothing of the reasons (they may name the person's matters).
    audit = client.get("/api/v1/audit", headers=admin, query_string={"action": "privacy.request_extended"}).get_json()
    assert [(e["actor_id"], e["object_type"], e["object_id"], e["details"]) for e in audit["items"]] == [
        (privacy.id, "privacy_request", request["id"], {"months": 2, "notified_via": "email"})]


def test_overdue_requests_are_listed(client, privacy):
    late = _register(client, privacy, received_at="2026-01-01T00:00:00Z")
    done = _register(client, privacy, received_at="2026-01-02T00:00:00Z")
    client.post(f"/api/v1/privacy/requests/{done['id']}/complete", headers=privacy)

    overdue = client.get("/api/v1/privacy/requests?overdue=true", headers=privacy).get_json()

    assert [r["id"] for r in overdue["items"]] == [late["id"]]


@pytest.mark.parametrize("kind", ["erasure", "objection", "portability"])
def test_erasure_objection_and_portability_are_logged_and_answered_with_the_legal_reason(client, privacy, kind):
    request = _register(client, privacy, type=kind, subject={"email": "anna@example.fi"},
                        received_at="2026-11-02T00:00:00Z")
    assert (request["type"], request["status"], request["due_at"]) == (kind, "open", "2026-12-02T00:00:00+00:00")
    listed = client.get("/api/v1/privacy/requests?status=open", headers=privacy).get_json()["items"]
    assert [r["id"] for r in listed] == [request["id"]]

    for body in (None, {}, {"answer_reason": "  "}):
        unreasoned = client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy, json=body)
        assert_problem(unreasoned, 422, fields=["answer_reason"])
    reason = "Käsittely perustuu lakisääteiseen velvoitteeseen (tietosuoja-asetus 6 art. 1 c); tiedot poistetaan " \
             "säilytysajan päätyttyä."
    answered = client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy,
                           json={"answer_reason": reason})

    assert answered.status_code == 200
    shown = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert (shown["status"], shown["answer_reason"]) == ("completed", reason)
    assert shown["completed_at"]


def test_an_access_request_is_completed_without_a_reason_as_before(client, privacy):
    request = _register(client, privacy)
    assert client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy).status_code == 200


def test_a_completed_request_is_not_extended_completed_again_or_withheld_from(client, privacy):
    request = _register(client, privacy, received_at=_month_start().isoformat())
    done = client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy).get_json()
    url = f"/api/v1/privacy/requests/{request['id']}"

    assert_problem(client.post(url + "/extend", headers=privacy, json=_extension()), 409, "request-closed")
    assert_problem(client.post(url + "/complete", headers=privacy), 409, "request-closed")
    assert_problem(client.post(url + "/withhold", headers=privacy, json={
        "item_type": "note", "item_id": 1, "reason": "Salassa pidettävä"}), 409, "request-closed")
    assert client.get(url, headers=privacy).get_json() == done
    assert_problem(client.get("/api/v1/privacy/requests/999999", headers=privacy), 404)


def test_a_person_cannot_be_told_of_an_extension_before_asking_and_only_access_has_an_export(client, privacy):
    request = _register(client, privacy, received_at=_month_start().isoformat())
    before = (_month_start() - timedelta(hours=1)).isoformat()

    assert_problem(client.post(f"/api/v1/privacy/requests/{request['id']}/extend", headers=privacy,
                               json=_extension(notified_at=before)), 422, fields=["notified_at"])
    assert client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()["extended_at"] is None
    erasure = _register(client, privacy, type="erasure")
    assert_problem(client.get(f"/api/v1/privacy/requests/{erasure['id']}/export", headers=privacy),
                   409, "not-an-access-request")


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


# --- the access export: every personal field, the files themselves, the contact's time ---------

def test_every_column_of_a_persons_data_is_shown_or_left_out_for_a_reason(app):  # app: every model loaded
    from service.extensions import db
    from service.privacy.export import NOT_SHOWN, SHOWN

    for model, shown in SHOWN.items():
        columns = {column.name for column in model.__table__.columns}
        assert not set(shown) & set(NOT_SHOWN[model]), model.__tablename__
        assert columns == set(shown) | set(NOT_SHOWN[model]), model.__tablename__
    # And every table that refers to a person, a case or a contact is one the export reads.
    about_a_person = {"customer", "case", "contact", "chat"}
    referring = {table.name for table in db.metadata.tables.values()
                 if any(key.column.table.name in about_a_person for key in table.foreign_keys)}
    assert referring <= {model.__tablename__ for model in SHOWN} | {"stats_case_fact", "stats_contact_fact"}


@pytest.fixture
def voice_app(make_app):
    from tests.twilio_fakes import ACCOUNT_SID
    from tests.voice_fakes import FakeMediaServer

    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=FakeMediaServer().get)


def test_the_export_holds_every_personal_field_and_the_archive_the_files_themselves(voice_app, admin_for):
    from tests.conftest import Api
    from tests.voice_fakes import LINE_NUMBER, MP3, recorded_call, voice_line

    client = voice_app.test_client()
    admin, adviser = admin_for(voice_app, "admin"), admin_for(voice_app, "adviser")
    privacy, intake = admin_for(voice_app, "privacy_officer"), Api(voice_app, client).api_key_headers()
    voice_line(client, admin)
    # A call from the switchboard: queued 90 s, answered, 300 s long, in Swedish ...
    client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "pbx-dsr-1", "from": {"phone": "040 123 4567"}, "to": LINE_NUMBER, "language": "sv",
        "started_at": "2026-11-26T08:00:00+02:00", "answered_at": "2026-11-26T08:01:30+02:00",
        "ended_at": "2026-11-26T08:06:30+02:00", "queue_seconds": 90})
    # ... a recorded call through Twilio, whose audio was fetched ...
    recorded_call(client, admin, "CA" + "d" * 32)
    # ... an SMS with an attachment and the adviser's reply, a chat, and a corrected name.
    case_id = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-all", "from": {"phone": "+358401234567"}, "body": "Liite mukana",
        "attachments": [{"filename": "../../hakemus.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(PDF).decode()}]}).get_json()["case_id"]
    client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser, json={"channel": "sms", "body": "Kiitos, saatu."})
    chat = client.post("/api/v1/chats", json={"anonymous": False, "name": "Anna", "email": "anna@example.fi"})
    client.post(f"/api/v1/chats/{chat.get_json()['chat_id']}/messages", json={"body": "Chatissa kysyn"},
                headers={"Authorization": "Bearer " + chat.get_json()["token"]})
    customer_id = client.get("/api/v1/customers?phone=0401234567", headers=privacy).get_json()["items"][0]["id"]
    client.patch(f"/api/v1/customers/{customer_id}", headers=privacy, json={"name": "Anna Asiakas"})
    request = _register(client, privacy, subject={"phone": "040 123 4567", "email": "anna@example.fi"})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    by_email = {p["customer"]["email"]: p for p in document["people"]}
    caller = by_email[None]
    assert caller["customer"]["name"] == "Anna Asiakas" and caller["customer"]["updated_at"]
    assert [(c["field"], c["old_value"]) for c in caller["corrections"]] == [("name", None)]
    contacts = {c["external_id"]: c for case in caller["cases"] for c in case["contacts"]}
    call = contacts["pbx-dsr-1"]
    assert (call["queue_seconds"], call["language"], call["duration_seconds"]) == (90, "sv", 300)
    assert (call["started_at"], call["answered_at"], call["ended_at"], call["occurred_at"]) == (
        "2026-11-26T06:00:00+00:00", "2026-11-26T06:01:30+00:00", "2026-11-26T06:06:30+00:00",
        "2026-11-26T06:00:00+00:00")
    assert call["call_status"] == "completed" and call["from"] == "+358401234567"
    (recording,) = [r for case in caller["cases"] for r in case["recordings"]]
    assert (recording["duration_seconds"], recording["audio_in_archive"]) == (
        61, f"files/recording-{recording['id']}.mp3")
    (sms_case,) = [case for case in caller["cases"] if case["id"] == case_id]
    assert [m["body"] for m in sms_case["messages"]] == ["Kiitos, saatu."]
    assert sms_case["messages"][0]["to"] == "+358401234567"
    assert sms_case["register"] and sms_case["language"]
    (attachment,) = sms_case["attachments"]
    assert "/" not in attachment["file_in_archive"].removeprefix("files/")
    assert document["recordings_whose_case_has_ended"] == []  # the recording's case still holds it
    chatter = by_email["anna@example.fi"]
    (chat_case,) = chatter["cases"]
    assert [m["body"] for m in chat_case["chats"][0]["messages"]] == ["Chatissa kysyn"]

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        assert zipped.read(recording["audio_in_archive"]) == MP3
        assert zipped.read(attachment["file_in_archive"]) == PDF
        assert json.loads(zipped.read("export.json"))["people"][0]["customer"]["id"] == caller["customer"]["id"]


def test_a_time_window_matches_when_the_contact_happened_not_when_its_case_was_opened(client, intake, adviser,
                                                                                     privacy):
    def sms(n, received_at):
        return client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-window-{n}", "from": {"phone": "+358401234567"},
            "body": f"viesti {n}", "received_at": received_at}).get_json()["case_id"]

    march = sms(1, "2026-03-10T12:00:00+02:00")
    client.post(f"/api/v1/cases/{march}/close", headers=adviser)
    may = sms(2, "2026-05-04T12:00:00+03:00")
    request = _register(client, privacy, subject={
        "phone": "0401234567", "contacted_between": {"from": "2026-03-10T00:00:00+02:00",
                                                      "to": "2026-03-11T00:00:00+02:00"}})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    (person,) = document["people"]
    assert [case["id"] for case in person["cases"]] == [march]
    assert may != march


def test_a_file_gone_from_disk_is_named_in_the_archive_rather_than_left_out_silently(app, client, intake, adviser,
                                                                                   admin, privacy):
    _history(client, intake, adviser, admin)
    for path in app.extensions["file_storage"].root.rglob("*"):
        if path.is_file():
            path.unlink()
    request = _register(client, privacy)

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)

    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        document = json.loads(zipped.read("export.json"))
        name = document["people"][0]["cases"][0]["attachments"][0]["file_in_archive"]
        assert document["missing_files"] == [name]
        assert zipped.namelist() == ["export.json"]


def test_a_name_alone_finds_only_whoever_has_that_whole_name(client, intake, privacy):
    for phone, name in (("+358401110001", "Anna Virtanen"), ("+358401110002", "Anna-Liisa Virtanen"),
                        ("+358401110003", "Anna")):
        assert client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-{phone}", "from": {"phone": phone, "name": name},
            "body": "Hei"}).status_code == 201
    request = _register(client, privacy, subject={"name": " anna virtanen "})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert [person["customer"]["phone"] for person in document["people"]] == ["+358401110001"]


def test_audio_the_phone_system_still_holds_is_fetched_into_the_archive(make_app, admin_for):
    from tests.twilio_fakes import ACCOUNT_SID
    from tests.voice_fakes import MP3, FakeMediaServer, recorded_call, voice_line

    media = FakeMediaServer()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=0, TWILIO_MEDIA_GET=media.get)
    client = app.test_client()
    admin, privacy = admin_for(app, "admin"), admin_for(app, "privacy_officer")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "e" * 32)
    assert media.requests == []  # not fetched when the call was recorded
    request = _register(client, privacy)

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)

    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        document = json.loads(zipped.read("export.json"))
        (recording,) = document["people"][0]["cases"][0]["recordings"]
        assert recording["held_by_phone_system"] is True
        assert zipped.read(recording["audio_in_archive"]) == MP3
        assert "missing_files" not in document
    # Fetched from the address the phone system gave for this recording.
    assert [url for url, _ in media.requests] == [
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'e' * 32}.mp3"]


def test_reading_and_listing_requests_is_audited(client, admin, privacy):
    registered = _register(client, privacy)

    assert client.get("/api/v1/privacy/requests", headers=privacy).status_code == 200
    assert client.get(f"/api/v1/privacy/requests/{registered['id']}", headers=privacy).status_code == 200

    audit = client.get("/api/v1/audit", headers=admin, query_string={"page_size": 100}).get_json()["items"]
    actions = [(e["action"], e["object_id"]) for e in audit if e["actor_id"] == privacy.id]
    assert ("privacy.request_read", registered["id"]) in actions
    assert ("privacy.request_listed", None) in actions


def test_a_window_finds_a_case_by_a_contact_made_inside_it_and_names_each_contacts_time(client, intake, privacy):
    def sms(n, received_at):
        response = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-span-{n}", "from": {"phone": "+358401234567"},
            "body": f"viesti {n}", "received_at": received_at})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["case_id"]

    opened = sms(1, "2026-03-10T12:00:00+02:00")
    assert sms(2, "2026-03-20T12:00:00+02:00") == opened  # the same open case, a later contact

    def export(start, end):
        request = _register(client, privacy, subject={"phone": "0401234567",
                                                      "contacted_between": {"from": start, "to": end}})
        return client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    # Asked about the 20th alone: the case opened on the 10th holds that contact.
    (person,) = export("2026-03-20T00:00:00+02:00", "2026-03-21T00:00:00+02:00")["people"]
    assert [case["id"] for case in person["cases"]] == [opened]
    assert [contact["body"] for contact in person["cases"][0]["contacts"]] == ["viesti 1", "viesti 2"]
    # The end is not part of the window; a window with no contact finds no case.
    assert export("2026-03-11T00:00:00+02:00", "2026-03-20T12:00:00+02:00")["people"][0]["cases"] == []
    assert export("2026-03-20T12:00:00+02:00", "2026-03-20T12:00:01+02:00")["people"][0]["cases"] != []


def test_the_export_holds_the_feedback_asked_and_given(make_app, admin_for):
    from service.db_types import utcnow
    from service.feedback.logic import FeedbackSettings, send_due
    from service.outbox import delivery
    from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post

    twilio_http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=twilio_http)
    client = app.test_client()
    adviser, privacy = admin_for(app, "adviser"), admin_for(app, "privacy_officer")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "fb" * 16, from_="+358401234567"))
    (case,) = client.get("/api/v1/cases", headers=adviser).get_json()["items"]
    client.post(f"/api/v1/cases/{case['id']}/close", headers=adviser)
    with app.app_context():
        send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(minutes=61))
        delivery.sweep()
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "fc" * 16, from_="+358401234567",
                                                            body="4 kiitos avusta"))
    request = _register(client, privacy)

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    (person,) = document["people"]
    (exported,) = [c for c in person["cases"] if c["id"] == case["id"]]
    (feedback,) = exported["feedback"]
    assert (feedback["score"], feedback["phone"], feedback["status"]) == (4, "+358401234567", "answered")
    assert "kiitos" in feedback["answer"]
    assert feedback["sent_at"] and feedback["answered_at"]
    # The question itself went as an SMS, shown among the case's messages.
    assert len(exported["messages"]) == 1 and exported["messages"][0]["to"] == "+358401234567"


def test_the_export_follows_the_persons_merged_case_to_its_survivor_and_no_one_elses(client, intake, adviser,
                                                                                     privacy):
    def sms(phone, body):
        response = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-merged-{phone}", "from": {"phone": phone}, "body": body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["case_id"]

    def merge(case_id, into):
        response = client.post(f"/api/v1/cases/{case_id}/merge", json={"into_case_id": into}, headers=adviser)
        assert response.status_code == 200, response.get_json()

    theirs, survivor = sms("+358401234567", "Passini"), sms("+358402222222", "Puolison passi")
    others, others_survivor = sms("+358403333333", "Ajokortti"), sms("+358404444444", "Toinen ajokortti")
    merge(theirs, survivor)
    merge(others, others_survivor)

    request = _register(client, privacy, subject={"phone": "040 123 4567"})
    (person,) = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()["people"]

    # Their own case (now a pointer to the survivor) and the survivor that holds their message;
    # a merge between two other people is not theirs to see.
    assert [case["id"] for case in person["cases"]] == [theirs, survivor]
    assert person["cases"][0]["merged_into_case_id"] == survivor
    assert "Passini" in [contact["body"] for contact in person["cases"][1]["contacts"]]


def test_a_withheld_attachment_is_named_not_given_and_the_export_is_audited_with_what_was_withheld(
        client, intake, adviser, admin, privacy):
    case_id, _, _ = _history(client, intake, adviser, admin)
    (attachment,) = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["attachments"]
    request = _register(client, privacy)
    client.post(f"/api/v1/privacy/requests/{request['id']}/withhold", headers=privacy, json={
        "item_type": "attachment", "item_id": attachment["id"], "reason": "Kolmannen osapuolen tietoja"})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert document["request"]["id"] == request["id"]
    (case,) = document["people"][0]["cases"]
    assert case["attachments"] == [{"withheld": True, "type": "attachment", "id": attachment["id"],
                                    "reason": "Kolmannen osapuolen tietoja"}]
    (entry,) = client.get("/api/v1/audit?action=privacy.exported", headers=admin).get_json()["items"]
    assert entry["details"] == {"customers": 1, "files": 0, "withheld": 1}


def test_the_export_says_when_the_person_opted_out_of_sms(client, privacy):
    from tests.twilio_fakes import inbound_sms, twilio_post

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6" * 32))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7" * 32, body="STOP"))
    request = _register(client, privacy)

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    (person,) = document["people"]
    assert person["customer"]["sms_opted_out_at"]


def test_recordings_whose_case_has_ended_are_listed_by_when_made_from_the_windows_first_moment(
        app, api, client, runner, admin, privacy):
    """The later call was recorded first (a switchboard's report can arrive late): the list is
    in the order the calls were made, and a window starting at a recording's moment has it."""
    from service.extensions import db
    from service.recordings.models import Recording
    from tests.api.test_retention_clocks import _later, _line, _purge, _recorded_call

    _line(client, admin, "Väestötiedot", "+358 9 8888 8888", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "5", to="+358988888888")
    _recorded_call(client, "6", to="+358988888888")
    _purge(runner, "--as-of", _later(31))
    with app.app_context():
        made_first, made_later = db.session.scalars(db.select(Recording).order_by(Recording.id)).all()
        made_first.recorded_at = made_later.recorded_at + timedelta(minutes=5)
        earliest, ids = made_later.recorded_at.replace(tzinfo=timezone.utc), [made_later.id, made_first.id]
        db.session.commit()
    request = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 4567", "contacted_between": {
            "from": earliest.isoformat(), "to": _later(1)}},
        "received_at": datetime.now(timezone.utc).isoformat()}).get_json()

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert [(r["id"], r["register"]) for r in document["recordings_whose_case_has_ended"]] == [
        (ids[0], "Väestötiedot"), (ids[1], "Väestötiedot")]


# --- survivors of the privacy domain's mutation run (docs/mutation-privacy.md) ---

def test_withholding_an_item_again_replaces_its_reason_and_keeps_the_others_and_each_is_audited(
        client, intake, adviser, admin, privacy):
    case_id, note_id, internal_id = _history(client, intake, adviser, admin)
    (contact,) = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["contacts"]
    request = _register(client, privacy)
    url = f"/api/v1/privacy/requests/{request['id']}/withhold"
    assert client.post(url, headers=privacy, json={"item_type": "contact", "item_id": contact["id"],
                                                   "reason": "Kolmas osapuoli"}).status_code == 200

    for item_id, reason in ((internal_id, "Esitutkinta"), (note_id, "Kolmas osapuoli"),
                            (internal_id, "Esitutkinnan salassapito")):
        assert client.post(url, headers=privacy, json={"item_type": "note", "item_id": item_id,
                                                       "reason": reason}).status_code == 200

    # One entry an item: the second reason replaced the first, the other note is still withheld.
    shown = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert shown["withheld"] == [{"type": "contact", "id": contact["id"], "reason": "Kolmas osapuoli"},
                                 {"type": "note", "id": note_id, "reason": "Kolmas osapuoli"},
                                 {"type": "note", "id": internal_id, "reason": "Esitutkinnan salassapito"}]
    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
    (case,) = document["people"][0]["cases"]
    assert [n["reason"] for n in case["notes"]] == ["Kolmas osapuoli", "Esitutkinnan salassapito"]
    assert case["contacts"] == [{"withheld": True, "type": "contact", "id": contact["id"], "reason": "Kolmas osapuoli"}]
    # The audit log names who withheld what from which request, not the reason (it may name the matter).
    audit = client.get("/api/v1/audit", headers=admin, query_string={"action": "privacy.item_withheld"}).get_json()
    assert sorted((e["actor_id"], e["object_type"], e["object_id"], e["details"]["item_id"], e["details"]["item_type"],
                   len(e["details"])) for e in audit["items"]) == sorted(
        [(privacy.id, "privacy_request", request["id"], item_id, "note", 2)
         for item_id in (internal_id, note_id, internal_id)] + [
            (privacy.id, "privacy_request", request["id"], contact["id"], "contact", 2)])


def test_requests_are_listed_by_due_date_overdue_only_once_past_it_and_reading_listing_and_answering_are_audited(
        app, client, admin, privacy):
    from service.auth.permissions import Principal
    from service.privacy.logic import list_requests

    later = _register(client, privacy, received_at="2026-01-20T00:00:00Z")
    sooner = _register(client, privacy, received_at="2026-01-10T00:00:00Z")
    ahead = _register(client, privacy, received_at=(datetime.now(timezone.utc) + timedelta(days=1)).isoformat())

    listed = client.get("/api/v1/privacy/requests", headers=privacy).get_json()["items"]
    assert [r["id"] for r in listed] == [sooner["id"], later["id"], ahead["id"]]
    overdue = client.get("/api/v1/privacy/requests?overdue=true&status=open", headers=privacy).get_json()["items"]
    assert [r["id"] for r in overdue] == [sooner["id"], later["id"]]
    # Due at this very moment is not overdue yet: the deadline's last moment is still in time.
    officer = Principal(kind="official", id=privacy.id, name="Tietosuojavastaava", role="privacy_officer")
    with app.app_context():
        due = datetime.fromisoformat(sooner["due_at"])
        assert [r.id for r in list_requests(actor=officer, page=1, page_size=10, overdue=True, now=due).items] == []
    client.get(f"/api/v1/privacy/requests/{later['id']}", headers=privacy)
    client.post(f"/api/v1/privacy/requests/{later['id']}/complete", headers=privacy)

    audit = client.get("/api/v1/audit", headers=admin, query_string={"page_size": 100}).get_json()["items"]
    entries = {(e["action"], e["object_type"], e["object_id"], json.dumps(e["details"], sort_keys=True))
               for e in audit if e["actor_id"] == privacy.id and e["action"].startswith("privacy.request_")
               and e["action"] != "privacy.request_registered"}
    assert entries == {
        ("privacy.request_listed", "privacy_request", None, json.dumps({"count": 3, "filters": []})),
        ("privacy.request_listed", "privacy_request", None, json.dumps({"count": 2, "filters": ["overdue", "status"]})),
        ("privacy.request_listed", "privacy_request", None, json.dumps({"count": 0, "filters": ["overdue"]})),
        ("privacy.request_read", "privacy_request", later["id"], "null"),
        ("privacy.request_completed", "privacy_request", later["id"], json.dumps({"type": "access"}))}


def test_the_files_after_one_gone_from_disk_are_still_in_the_archive_and_its_text_is_readable_as_written(
        app, client, intake, adviser, admin, privacy):
    second = b"%PDF-1.4\ntoinen liite\n%%EOF\n"
    case_id, _, _ = _history(client, intake, adviser, admin)
    assert client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-2", "from": {"phone": "+358401234567"}, "body": "Toinen liite",
        "attachments": [{"filename": "liite.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(second).decode()}]}).get_json()["case_id"] == case_id
    (gone,) = [p for p in app.extensions["file_storage"].root.rglob("*") if p.is_file() and p.read_bytes() == PDF]
    gone.unlink()
    request = _register(client, privacy)

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)

    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        text = zipped.read("export.json").decode()
        first, kept = json.loads(text)["people"][0]["cases"][0]["attachments"]
        assert json.loads(text)["missing_files"] == [first["file_in_archive"]]
        assert zipped.read(kept["file_in_archive"]) == second
    # The person reads the file as it was written to them, not as \u escapes.
    assert "Missä passini on?" in text


def test_a_withheld_recording_and_chat_are_named_not_given(voice_app, admin_for):
    from tests.voice_fakes import recorded_call, voice_line

    client = voice_app.test_client()
    admin, privacy = admin_for(voice_app, "admin"), admin_for(voice_app, "privacy_officer")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "f" * 32)
    chat = client.post("/api/v1/chats", json={"anonymous": False, "name": "Anna", "email": "anna@example.fi"})
    client.post(f"/api/v1/chats/{chat.get_json()['chat_id']}/messages", json={"body": "Chatissa kysyn"},
                headers={"Authorization": "Bearer " + chat.get_json()["token"]})
    request = _register(client, privacy, subject={"phone": "040 123 4567", "email": "anna@example.fi"})
    url = f"/api/v1/privacy/requests/{request['id']}"

    def export():
        people = client.get(url + "/export", headers=privacy).get_json()["people"]
        return {kind: [item for person in people for case in person["cases"] for item in case[kind]]
                for kind in ("recordings", "chats")}

    (recording,), (chat,) = export().values()
    assert [m["body"] for m in chat["messages"]] == ["Chatissa kysyn"]
    for kind, item in (("recording", recording), ("chat", chat)):
        client.post(url + "/withhold", headers=privacy, json={"item_type": kind, "item_id": item["id"],
                                                              "reason": "Kolmannen osapuolen tietoja"})

    assert export() == {
        "recordings": [{"withheld": True, "type": "recording", "id": recording["id"],
                        "reason": "Kolmannen osapuolen tietoja"}],
        "chats": [{"withheld": True, "type": "chat", "id": chat["id"], "reason": "Kolmannen osapuolen tietoja"}]}


def test_a_registered_request_keeps_its_details_and_is_audited_as_the_officer(client, admin, privacy):
    request = _register(client, privacy, type="erasure", details="Pyyntö kirjeitse")

    shown = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=privacy).get_json()
    assert (shown["details"], shown["status"]) == ("Pyyntö kirjeitse", "open")
    audit = client.get("/api/v1/audit", headers=admin,
                       query_string={"action": "privacy.request_registered"}).get_json()["items"]
    assert [(e["actor_id"], e["object_type"], e["object_id"], e["details"]) for e in audit] == [
        (privacy.id, "privacy_request", request["id"], {"type": "erasure"})]


def test_a_name_given_with_a_phone_number_finds_no_one_else_of_that_name(client, intake, privacy):
    # The phone number names the person; the name beside it must not add a namesake's data.
    for phone in ("+358401234567", "+358402222222"):
        assert client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-namesake-{phone}", "from": {"phone": phone, "name": "Anna Virtanen"},
            "body": "Hei"}).status_code == 201
    request = _register(client, privacy, subject={"phone": "040 123 4567", "name": "Anna Virtanen"})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert [person["customer"]["phone"] for person in document["people"]] == ["+358401234567"]


def test_an_attachments_archive_name_is_cleaned_and_cut_and_a_name_of_nothing_usable_is_file(
        app, client, intake, privacy):
    from service.cases.models import Attachment

    # A name the person gave: spaces and a bracket become one "_", a trailing "!" goes, and
    # a leading capital X stays; 100 characters at most.
    long_name = "Xmas hakemus (kopio) " + "a" * 120 + "!"
    files = [{"filename": name, "content_type": "application/pdf", "content_base64": base64.b64encode(PDF).decode()}
             for name in (long_name, "!!!")]
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-names", "from": {"phone": "+358401234567"}, "body": "Liitteet",
        "attachments": files})
    # A file stored here that the provider also still offers: it is in the archive, not held there.
    with app.app_context():
        db.session.execute(Attachment.__table__.update().values(source_url="https://media.example.fi/liite"))
        db.session.commit()
    request = _register(client, privacy)

    archive = client.get(f"/api/v1/privacy/requests/{request['id']}/export?format=zip", headers=privacy)

    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        named, bare = json.loads(zipped.read("export.json"))["people"][0]["cases"][0]["attachments"]
        assert named["file_in_archive"] == f"files/attachment-{named['id']}-" + (
            "Xmas_hakemus_kopio_" + "a" * 120)[:100]
        assert bare["file_in_archive"] == f"files/attachment-{bare['id']}-file"
        assert (named["held_by_provider"], bare["held_by_provider"]) == (False, False)
        assert zipped.read(named["file_in_archive"]) == zipped.read(bare["file_in_archive"]) == PDF


def test_a_recordings_archive_name_is_mp3_with_no_type_and_bin_with_a_type_of_no_known_extension(
        voice_app, admin_for):
    from service.recordings.models import Recording
    from tests.voice_fakes import recorded_call, voice_line

    client = voice_app.test_client()
    admin, privacy = admin_for(voice_app, "admin"), admin_for(voice_app, "privacy_officer")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "f" * 32)
    request = _register(client, privacy)

    def archive_name(content_type):
        with voice_app.app_context():
            db.session.execute(Recording.__table__.update().values(content_type=content_type))
            db.session.commit()
        document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
        (recording,) = document["people"][0]["cases"][0]["recordings"]
        return recording["audio_in_archive"].removeprefix(f"files/recording-{recording['id']}")

    # Twilio's recordings are MP3 when no type was stored.
    assert archive_name(None) == ".mp3"
    assert archive_name("audio/x-tuntematon") == ".bin"


def test_a_phone_number_in_a_request_is_read_in_the_deployments_own_region(make_app, admin_for):
    from tests.conftest import Api

    app = make_app(DEFAULT_PHONE_REGION="SE")
    client = app.test_client()
    privacy, intake = admin_for(app, "privacy_officer"), Api(app, client).api_key_headers()
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-dsr-se", "from": {"phone": "+46701234567"}, "body": "Hej"})
    request = _register(client, privacy, subject={"phone": "070 123 45 67"})

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert [p["customer"]["phone"] for p in document["people"]] == ["+46701234567"]


# --- survivors of the export's own run (docs/mutation-privacy.md, "The export's run") ---

def test_a_case_merged_into_an_older_one_is_listed_after_it_in_the_order_the_cases_were_opened(
        client, intake, adviser, privacy):
    # The older case is someone else's (their spouse's); the person's own, newer case was merged into it.
    def sms(phone, body):
        response = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-older-{phone}", "from": {"phone": phone}, "body": body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["case_id"]

    older = sms("+358402222222", "Puolison passi")
    theirs = sms("+358401234567", "Passini")
    merged = client.post(f"/api/v1/cases/{theirs}/merge", json={"into_case_id": older}, headers=adviser)
    assert merged.status_code == 200, merged.get_json()
    request = _register(client, privacy, subject={"phone": "040 123 4567"})

    (person,) = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()["people"]

    assert [case["id"] for case in person["cases"]] == [older, theirs]


def test_only_the_persons_own_recordings_whose_case_has_ended_are_given_inside_the_window_and_one_withheld_is_named(
        app, client, runner, admin, privacy):
    from service.recordings.models import Recording
    from tests.api.test_retention_clocks import _later, _line, _purge, _recorded_call

    _line(client, admin, "Väestötiedot", "+358 9 8888 8888", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "5", to="+358988888888")
    _recorded_call(client, "6", to="+358988888888")
    _recorded_call(client, "7", to="+358988888888", caller="+358402222222")  # someone else's call
    _purge(runner, "--as-of", _later(31))
    with app.app_context():
        earlier, later, _ = db.session.scalars(db.select(Recording).order_by(Recording.id)).all()
        earlier.recorded_at = later.recorded_at - timedelta(days=1)
        at = later.recorded_at.replace(tzinfo=timezone.utc)
        ids = earlier.id, later.id
        db.session.commit()

    def export(**window):
        request = _register(client, privacy, subject={"phone": "040 123 4567", **(
            {"contacted_between": window} if window else {})}, received_at=datetime.now(timezone.utc).isoformat())
        return request, client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    def given(document):
        return [r["id"] for r in document["recordings_whose_case_has_ended"]]

    request, document = export()
    assert document["people"] == []  # the cases, and with them the person's record, are gone
    assert given(document) == list(ids)
    assert [r["caller"] for r in document["recordings_whose_case_has_ended"]] == ["+358401234567"] * 2
    # A window takes its start and leaves its end out.
    assert given(export(**{"from": at.isoformat(), "to": _later(1)})[1]) == [ids[1]]
    assert given(export(**{"from": (at - timedelta(days=2)).isoformat(), "to": at.isoformat()})[1]) == [ids[0]]

    client.post(f"/api/v1/privacy/requests/{request['id']}/withhold", headers=privacy, json={
        "item_type": "recording", "item_id": ids[1], "reason": "Kolmannen osapuolen tietoja"})
    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
    assert document["recordings_whose_case_has_ended"][1] == {
        "withheld": True, "type": "recording", "id": ids[1], "reason": "Kolmannen osapuolen tietoja"}
    assert document["withheld_items"] == [{"type": "recording", "id": ids[1], "reason": "Kolmannen osapuolen tietoja"}]


def test_a_recording_whose_case_has_ended_is_found_by_a_number_read_in_the_deployments_own_region(
        make_app, admin_for):
    from tests.api.test_retention_clocks import _later, _line, _purge, _recorded_call

    app = make_app(DEFAULT_PHONE_REGION="SE")
    client = app.test_client()
    admin, privacy = admin_for(app, "admin"), admin_for(app, "privacy_officer")
    _line(client, admin, "Folkbokföring", "+358 9 8888 8888", case_retention_days=30,
          recording_policy="all", recording_retention_days=365)
    _recorded_call(client, "5", to="+358988888888", caller="+46701234567")
    _purge(app.test_cli_runner(), "--as-of", _later(31))
    request = _register(client, privacy, subject={"phone": "070 123 45 67"},
                        received_at=datetime.now(timezone.utc).isoformat())

    document = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    assert document["people"] == []
    assert [r["caller"] for r in document["recordings_whose_case_has_ended"]] == ["+46701234567"]


def test_a_withheld_case_message_or_disclosure_is_named_not_given_and_the_document_says_what_request_it_answers(
        client, intake, adviser, admin, privacy):
    case_id, _, _ = _history(client, intake, adviser, admin)
    assert client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                       json={"channel": "sms", "body": "Passisi on noudettavissa"}).status_code in (200, 201)
    # A disclosure recorded by hand afterwards, made before the one recorded first.
    assert client.post(f"/api/v1/cases/{case_id}/disclosures", headers=adviser, json={
        "recipient": "Verohallinto", "fields": ["name"], "legal_basis": "Verotusmenettelylaki 20 §",
        "disclosed_at": "2026-01-05T10:00:00+02:00"}).status_code == 201
    request = _register(client, privacy)
    url = f"/api/v1/privacy/requests/{request['id']}"

    document = client.get(url + "/export", headers=privacy).get_json()

    assert set(document) == {"recordings_whose_case_has_ended", "request", "generated_at", "about", "people",
                             "withheld_items"}
    assert document["request"] == {"id": request["id"], "type": "access", "received_at": "2026-01-31T08:00:00+00:00",
                                   "due_at": "2026-02-28T08:00:00+00:00"}
    assert abs(datetime.fromisoformat(document["generated_at"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    (person,) = document["people"]
    assert person["customer"]["sms_opted_out_at"] is None
    assert [d["recipient"] for d in person["disclosures"]] == ["Verohallinto", "Poliisi"]
    (message,) = person["cases"][0]["messages"]
    assert message["body"] == "Passisi on noudettavissa"
    police = person["disclosures"][1]

    reason = "Kolmannen osapuolen tietoja"
    for kind, item_id in (("outbox_message", message["id"]), ("disclosure", police["id"])):
        assert client.post(url + "/withhold", headers=privacy, json={
            "item_type": kind, "item_id": item_id, "reason": reason}).status_code == 200
    (person,) = client.get(url + "/export", headers=privacy).get_json()["people"]
    assert person["cases"][0]["messages"] == [{"withheld": True, "type": "outbox_message", "id": message["id"],
                                               "reason": reason}]
    assert person["disclosures"][1] == {"withheld": True, "type": "disclosure", "id": police["id"], "reason": reason}

    client.post(url + "/withhold", headers=privacy, json={"item_type": "case", "item_id": case_id, "reason": reason})
    document = client.get(url + "/export", headers=privacy).get_json()
    assert document["people"][0]["cases"] == [{"withheld": True, "type": "case", "id": case_id, "reason": reason}]
    assert "Missä passini on?" not in json.dumps(document, ensure_ascii=False)

    # Each export is audited as the officer's, on the request, with what it held.
    audit = client.get("/api/v1/audit", headers=admin, query_string={"action": "privacy.exported"}).get_json()["items"]
    assert sorted((e["actor_id"], e["object_type"], e["object_id"], json.dumps(e["details"], sort_keys=True))
                  for e in audit) == sorted(
        (privacy.id, "privacy_request", request["id"], json.dumps({"customers": 1, "files": files, "withheld": n}))
        for files, n in ((1, 0), (1, 2), (0, 3)))


def test_the_export_holds_the_cases_service_clock_history_with_the_due_times_each_moment_left(make_app):
    import time_machine

    from tests.api.test_service_clocks import Desk, local

    # Monday in Helsinki (UTC+2), on a clock that moves only when the test moves it; the desk's
    # calendar is open 08-16 on weekdays.
    with time_machine.travel(local("2026-11-23 09:00"), tick=False) as traveller:
        desk = Desk(make_app(), traveller)
        desk.targets({"channel": "sms", "first_response_minutes": 60, "resolution_days": 1})
        case_id = desk.sms("+358401234567")["id"]
        desk.at(local("2026-11-23 09:30"))
        desk.note(case_id)
        desk.at(local("2026-11-23 14:00"))
        desk.close(case_id)

        privacy = desk.api.headers_for("privacy_officer")
        request = _register(desk.client, privacy)
        document = desk.client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()

    (person,) = document["people"]
    (case,) = person["cases"]
    # Opened 09:00 Helsinki: an hour to answer and a working day to resolve; the moments after
    # the answer and the closing leave the resolution due time alone and the first response done.
    assert case["service_clock_history"] == [
        {"event": "started", "at": "2026-11-23T07:00:00+00:00",
         "first_response_due_at": "2026-11-23T08:00:00+00:00", "resolution_due_at": "2026-11-24T07:00:00+00:00"},
        {"event": "responded", "at": "2026-11-23T07:30:00+00:00",
         "first_response_due_at": None, "resolution_due_at": "2026-11-24T07:00:00+00:00"},
        {"event": "resolved", "at": "2026-11-23T12:00:00+00:00",
         "first_response_due_at": None, "resolution_due_at": None},
    ]
