"""POST /api/v1/inbound/messages: every inbound contact lands on a case, once, or not at all."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from tests.api.problems import assert_problem
from tests.metrics import metric

INBOUND = "/api/v1/inbound/messages"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"

SENDERS = {
    "email": {"email": "matti.meikalainen@example.fi"},
    "sms": {"phone": "040 123 4567"},
    "chat": {"name": "Matti"},
    "phone": {"phone": "040 123 4567"},
    "webform": {"email": "matti.meikalainen@example.fi", "name": "Matti Meikäläinen"},
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def total(client, headers, path: str, **query) -> int:
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["total"]


def case_total(client, headers, **query) -> int:
    return total(client, headers, "/api/v1/cases", **query)


def customer_total(client, headers, **query) -> int:
    return total(client, headers, "/api/v1/customers", **query)


def case_detail(client, headers, case_id: int) -> dict:
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored_files(app) -> list[str]:
    root = app.config["FILE_STORAGE_PATH"]
    return [name for _, _, names in os.walk(root) for name in names] if os.path.isdir(root) else []


def download(client, headers, case_id: int, attachment_id: int):
    """GET an attachment and close the response, which holds the stored file open."""
    with client.get(f"/api/v1/cases/{case_id}/attachments/{attachment_id}", headers=headers) as response:
        response.get_data()
        return response


# A message with a file takes intake's path one at a time, a plain one its batch path: a rule
# both must keep is tested with each.
BOTH_PATHS = pytest.mark.parametrize("files", [[], [{"filename": "liite.png", "content_type": "image/png",
                                                     "content_base64": b64(PNG)}]], ids=["plain", "with-a-file"])


def assert_nothing_written(client, admin, app=None) -> None:
    assert case_total(client, admin) == 0
    assert customer_total(client, admin) == 0
    if app is not None:
        assert stored_files(app) == []


# --- a contact on every channel -------------------------------------------------------------


@pytest.mark.parametrize("channel", sorted(SENDERS))
def test_post_message__creates_a_new_case_on_each_channel(api, client, intake, admin, channel):
    response = api.inbound(intake, channel=channel, external_id=f"{channel}-1", **{"from": SENDERS[channel]},
                           subject="Asia", body="Hei, kysyisin...")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"contact_id", "case_id", "case_reference", "created_case"}
    assert body["created_case"] is True
    assert re.fullmatch(r"\d{4}-\d{6,}", body["case_reference"])
    case = case_detail(client, admin, body["case_id"])
    assert case["reference"] == body["case_reference"]
    assert case["channel"] == channel
    assert case["status"] == "new"
    assert [(c["id"], c["channel"], c["direction"], c["external_id"], c["body"]) for c in case["contacts"]] == [
        (body["contact_id"], channel, "inbound", f"{channel}-1", "Hei, kysyisin...")]


def test_case_references__are_unique_and_name_the_year(api, client, intake, admin):
    references = {api.inbound(intake, **{"from": {"phone": f"040 123 45{n:02d}"}}).get_json()["case_reference"]
                  for n in range(5)}

    assert len(references) == 5
    year = datetime.now(timezone.utc).year
    assert all(ref.startswith(f"{year}-") for ref in references)


# --- idempotency ----------------------------------------------------------------------------


def test_post_message__same_channel_and_external_id_again_returns_200_and_stores_nothing(api, client, intake, admin):
    first = api.inbound(intake, channel="sms", external_id="SM-replayed", body="first")
    assert first.status_code == 201

    again = api.inbound(intake, channel="sms", external_id="SM-replayed", body="a different body")

    assert again.status_code == 200
    assert again.get_json() == {**first.get_json(), "created_case": False}
    assert case_total(client, admin) == 1
    assert customer_total(client, admin) == 1
    contacts = case_detail(client, admin, first.get_json()["case_id"])["contacts"]
    assert [c["body"] for c in contacts] == ["first"]


def test_post_message__replay_of_an_email_with_attachment_stores_the_file_once(api, client, intake, admin, app):
    message = {"channel": "email", "external_id": "<m1@example.fi>", "from": {"email": "a@example.fi"},
               "attachments": [{"filename": "kuva.png", "content_type": "image/png", "content_base64": b64(PNG)}]}
    first = api.inbound(intake, **message)
    again = api.inbound(intake, **message)

    assert (first.status_code, again.status_code) == (201, 200)
    assert len(case_detail(client, admin, first.get_json()["case_id"])["attachments"]) == 1
    assert len(stored_files(app)) == 1


def test_post_message__a_replay_racing_the_original_answers_with_its_contact_and_keeps_no_file_of_its_own(
        api, client, intake, admin, app, monkeypatch):
    """The original commits between the replay's look-up and its insert (here the look-up misses
    it once): the replay loses at the unique constraint, rolls back and answers as a replay."""
    from service.intake import logic

    message = {"channel": "email", "external_id": "<race@example.fi>", "from": {"email": "a@example.fi"},
               "attachments": [{"filename": "kuva.png", "content_type": "image/png", "content_base64": b64(PNG)}]}
    first = api.inbound(intake, **message)
    looked_up, existing = [], logic._existing

    def missed_once(channel, external_id):
        looked_up.append((channel, external_id))
        return None if len(looked_up) == 1 else existing(channel, external_id)

    monkeypatch.setattr(logic, "_existing", missed_once)

    again = api.inbound(intake, **message)

    assert again.status_code == 200, again.get_json()
    assert again.get_json() == {**first.get_json(), "created_case": False}
    assert looked_up == [("email", "<race@example.fi>")] * 2
    case = case_detail(client, admin, first.get_json()["case_id"])
    assert len(case["contacts"]) == 1 and len(case["attachments"]) == 1
    assert len(stored_files(app)) == 1
    assert download(client, admin, case["id"], case["attachments"][0]["id"]).status_code == 200


def test_post_message__an_sms_replay_racing_the_original_answers_with_its_contact_and_case(
        api, client, intake, admin, monkeypatch):
    """A plain message's replay that the first look-up misses is caught by the batch's own
    look-up before any insert: the provider is told the original's contact and case all the same."""
    from service.intake import logic

    message = {"channel": "sms", "external_id": "SM" + "r" * 32, "from": {"phone": "040 123 4567"}, "body": "Hei"}
    first = api.inbound(intake, **message)
    monkeypatch.setattr(logic, "_existing", lambda channel, external_id: None)

    again = api.inbound(intake, **message)

    assert (first.status_code, again.status_code) == (201, 200), again.get_json()
    assert again.get_json() == {**first.get_json(), "created_case": False}
    assert len(case_detail(client, admin, first.get_json()["case_id"])["contacts"]) == 1


def test_post_message__a_replay_of_a_first_message_that_reads_as_a_score_answers_no_later_feedback_request(
        api, app, client, intake, adviser):
    from datetime import timedelta

    from service.db_types import utcnow
    from service.feedback.logic import FeedbackSettings, send_due

    first = api.inbound(intake, channel="sms", external_id="SM-five", body="5")
    case_id = first.get_json()["case_id"]
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200
    with app.app_context():
        send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(minutes=61))
    assert [f["status"] for f in case_detail(client, adviser, case_id)["feedback"]] == ["sent"]

    again = api.inbound(intake, channel="sms", external_id="SM-five", body="5")

    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "created_case": False}
    assert [(f["status"], f["score"]) for f in case_detail(client, adviser, case_id)["feedback"]] == [("sent", None)]


def test_post_message__same_external_id_on_another_channel_is_a_different_contact(api, client, intake, admin):
    sms = api.inbound(intake, channel="sms", external_id="X-1")
    call = api.inbound(intake, channel="phone", external_id="X-1")

    assert (sms.status_code, call.status_code) == (201, 201)
    assert sms.get_json()["contact_id"] != call.get_json()["contact_id"]


# --- who the customer is --------------------------------------------------------------------


def test_post_message__phone_is_stored_in_e164_and_matches_in_any_format(api, client, intake, admin):
    first = api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}})
    second = api.inbound(intake, channel="sms", **{"from": {"phone": "+358 40 123 4567"}})
    third = api.inbound(intake, channel="sms", **{"from": {"phone": "00358401234567"}})

    case = case_detail(client, admin, first.get_json()["case_id"])
    assert case["customer"]["phone"] == "+358401234567"
    assert {r.get_json()["case_id"] for r in (first, second, third)} == {case["id"]}
    assert customer_total(client, admin) == 1
    assert [c["sender"] for c in case["contacts"]] == ["+358401234567"] * 3


def test_post_message__email_address_matches_the_customer_whatever_its_case(api, client, intake, admin):
    first = api.inbound(intake, channel="email", **{"from": {"email": "Matti.Meikalainen@Example.FI"}})
    second = api.inbound(intake, channel="email", **{"from": {"email": "matti.meikalainen@example.fi"}})

    assert second.get_json()["case_id"] == first.get_json()["case_id"]
    assert second.get_json()["created_case"] is False
    customer = case_detail(client, admin, first.get_json()["case_id"])["customer"]
    assert customer["email"] == "matti.meikalainen@example.fi"
    assert customer_total(client, admin) == 1


def test_post_message__a_web_form_finds_its_customer_by_the_email_address_in_any_case(api, client, intake, admin):
    # Web forms go through intake's batch path, email through its path one at a time.
    first = api.inbound(intake, channel="webform", **{"from": {"email": "Liisa@Example.FI", "name": "Liisa"}})
    second = api.inbound(intake, channel="webform", **{"from": {"email": "liisa@example.fi"}})

    assert second.get_json()["case_id"] == first.get_json()["case_id"]
    case = case_detail(client, admin, first.get_json()["case_id"])
    assert case["customer"]["email"] == "liisa@example.fi"
    assert [c["sender"] for c in case["contacts"]] == ["liisa@example.fi"] * 2
    assert customer_total(client, admin) == 1


@BOTH_PATHS
def test_post_message__each_web_form_keeps_its_sender_number_signature_subject_and_form(api, client, intake, admin,
                                                                                      files):
    # The number first: the customer's own way back.
    sender = {"phone": "040 765 4321", "email": "liisa@example.fi"}
    first = api.inbound(intake, channel="webform", to="yhteydenotto", subject="Muutto",
                        **{"from": {**sender, "name": "Liisa Virtanen"}}, attachments=files)
    second = api.inbound(intake, channel="webform", to="palaute", subject="Lisätieto",
                         **{"from": {**sender, "name": "L. V."}}, attachments=files)

    assert second.get_json()["case_id"] == first.get_json()["case_id"]
    case = case_detail(client, admin, first.get_json()["case_id"])
    assert [(c["sender"], c["sender_name"], c["subject"], c["recipient"]) for c in case["contacts"]] == [
        ("+358407654321", "Liisa Virtanen", "Muutto", "yhteydenotto"),
        ("+358407654321", "L. V.", "Lisätieto", "palaute")]
    assert case["customer"]["name"] == "Liisa Virtanen"


def test_post_message__a_web_form_from_a_known_address_names_that_customer_and_creates_none(api, client, intake,
                                                                                          admin):
    # Were the address not looked up, the unique index would still hand over the same customer,
    # but as one created again, without the name.
    first = api.inbound(intake, channel="webform", **{"from": {"email": "liisa@example.fi"}}).get_json()
    named = api.inbound(intake, channel="webform",
                        **{"from": {"email": "Liisa@Example.FI", "name": "Liisa Virtanen"}}).get_json()

    assert (named["case_id"], named["created_case"]) == (first["case_id"], False)
    customer = case_detail(client, admin, first["case_id"])["customer"]
    assert customer["name"] == "Liisa Virtanen"
    created = client.get("/api/v1/audit", query_string={"action": "customer.created"}, headers=admin).get_json()
    assert [entry["object_id"] for entry in created["items"]] == [customer["id"]]


def test_post_message__sender_name_is_kept_on_a_new_customer(api, client, intake, admin):
    response = api.inbound(intake, channel="email",
                           **{"from": {"email": "liisa@example.fi", "name": "Liisa Virtanen"}}, language="sv")

    case = case_detail(client, admin, response.get_json()["case_id"])
    assert case["customer"]["name"] == "Liisa Virtanen"
    assert case["customer"]["language"] == "sv"
    assert case["language"] == "sv"


def test_post_message__a_known_customer_without_a_name_gets_the_one_given_later(api, client, intake, admin):
    api.inbound(intake, channel="email", external_id="<first@example.fi>", **{"from": {"email": "liisa@example.fi"}})
    named = api.inbound(intake, channel="email", external_id="<second@example.fi>",
                        **{"from": {"email": "liisa@example.fi", "name": "Liisa Virtanen"}})
    renamed = api.inbound(intake, channel="email", external_id="<third@example.fi>",
                          **{"from": {"email": "liisa@example.fi", "name": "L. V."}})

    assert case_detail(client, admin, named.get_json()["case_id"])["customer"]["name"] == "Liisa Virtanen"
    # A name once known is not replaced by what a later message signs with.
    assert case_detail(client, admin, renamed.get_json()["case_id"])["customer"]["name"] == "Liisa Virtanen"
    assert customer_total(client, admin) == 1


def test_post_message__a_chat_signed_only_with_a_name_is_a_new_customer_not_one_known_by_number(api, client, intake,
                                                                                              admin):
    # A customer known only by number has no email either: nothing may match a name-only one to them.
    sms = api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}}).get_json()

    chat = api.inbound(intake, channel="chat", **{"from": {"name": "Liisa"}}).get_json()

    chats_customer = case_detail(client, admin, chat["case_id"])["customer"]
    sms_customer = case_detail(client, admin, sms["case_id"])["customer"]
    assert chats_customer["name"] == "Liisa" and chats_customer["id"] != sms_customer["id"]
    assert sms_customer["name"] is None
    assert customer_total(client, admin) == 2


def test_post_message__a_known_customers_name_is_kept_whatever_a_later_sms_signs_with(api, client, intake, admin):
    # SMS go through intake's batch path, which fills a missing name itself (email goes one at a time).
    first = api.inbound(intake, channel="sms", **{"from": {"phone": "040 765 0005", "name": "Liisa Virtanen"}})
    api.inbound(intake, channel="sms", **{"from": {"phone": "040 765 0005", "name": "L. V."}})
    api.inbound(intake, channel="sms", **{"from": {"phone": "040 765 0005"}})

    assert case_detail(client, admin, first.get_json()["case_id"])["customer"]["name"] == "Liisa Virtanen"
    assert customer_total(client, admin) == 1


# A chat with a file is stored the slower way, its customer looked up one message at a time.
@BOTH_PATHS
def test_post_message__anonymous_chat_creates_a_case_without_a_customer(api, client, intake, admin, files):
    first = api.inbound(intake, channel="chat", external_id="chat-1", **{"from": {}}, body="Hei!", attachments=files)
    second = api.inbound(intake, channel="chat", external_id="chat-2", **{"from": {}}, body="Hei taas",
                         attachments=files)

    assert (first.status_code, second.status_code) == (201, 201), (first.get_json(), second.get_json())
    # Nothing ties two anonymous chats together, so each is its own case.
    assert first.get_json()["case_id"] != second.get_json()["case_id"]
    case = case_detail(client, admin, first.get_json()["case_id"])
    assert (case["customer"], case["language"]) == (None, "fi")  # the line's
    assert case["contacts"][0]["sender"] is None
    assert len(case["attachments"]) == len(files)
    assert customer_total(client, admin) == 0


# --- threading ------------------------------------------------------------------------------


def test_post_message__second_sms_from_the_same_customer_joins_their_open_case(api, client, intake, admin):
    first = api.inbound(intake, channel="sms", body="Hei")
    second = api.inbound(intake, channel="sms", body="Vielä yksi asia")

    assert second.status_code == 201
    assert second.get_json()["created_case"] is False
    assert second.get_json()["case_id"] == first.get_json()["case_id"]
    assert second.get_json()["contact_id"] != first.get_json()["contact_id"]
    contacts = case_detail(client, admin, first.get_json()["case_id"])["contacts"]
    assert [c["body"] for c in contacts] == ["Hei", "Vielä yksi asia"]
    assert case_total(client, admin) == 1


def test_post_message__sms_from_another_customer_opens_another_case(api, client, intake, admin):
    first = api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}})
    other = api.inbound(intake, channel="sms", **{"from": {"phone": "050 765 4321"}})

    assert other.get_json()["created_case"] is True
    assert other.get_json()["case_id"] != first.get_json()["case_id"]


def test_post_message__same_customer_on_another_channel_opens_another_case(api, client, intake, admin):
    sms = api.inbound(intake, channel="sms")
    call = api.inbound(intake, channel="phone")

    assert call.get_json()["created_case"] is True
    assert call.get_json()["case_id"] != sms.get_json()["case_id"]
    assert customer_total(client, admin) == 1


# SMS through intake's batch path, email through its path one at a time.
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_post_message__a_message_after_the_case_was_closed_opens_a_new_case(api, client, intake, admin, adviser, channel):
    first = api.inbound(intake, channel=channel, **{"from": SENDERS[channel]}).get_json()
    assert client.post(f"/api/v1/cases/{first['case_id']}/close", headers=adviser).status_code == 200

    again = api.inbound(intake, channel=channel, **{"from": SENDERS[channel]})

    assert again.status_code == 201
    assert again.get_json()["created_case"] is True
    assert again.get_json()["case_id"] != first["case_id"]
    assert case_detail(client, admin, first["case_id"])["status"] == "closed"
    assert customer_total(client, admin) == 1


def test_post_message__email_naming_a_case_from_another_address_gets_a_case_linked_to_it(api, client, intake, admin):
    first = api.inbound(intake, channel="email", **{"from": {"email": "matti@example.fi"}},
                        subject="Muuttoilmoitus").get_json()

    reply = api.inbound(intake, channel="email", **{"from": {"email": "puoliso@example.com"}},
                        subject=f"Re: [#{first['case_reference']}] Muuttoilmoitus")

    # A reference is no proof of being the case's customer: an official decides whether it belongs.
    assert reply.status_code == 201
    assert reply.get_json()["case_id"] != first["case_id"]
    assert reply.get_json()["created_case"] is True
    assert case_detail(client, admin, reply.get_json()["case_id"])["linked_case_id"] == first["case_id"]
    contacts = case_detail(client, admin, first["case_id"])["contacts"]
    assert [c["sender"] for c in contacts] == ["matti@example.fi"]


def test_post_message__email_naming_a_case_from_its_customers_address_joins_it(api, client, intake, admin):
    first = api.inbound(intake, channel="email", **{"from": {"email": "matti@example.fi"}},
                        subject="Muuttoilmoitus").get_json()

    reply = api.inbound(intake, channel="email", **{"from": {"email": "Matti@Example.FI"}},
                        subject=f"Re: [#{first['case_reference']}] Muuttoilmoitus")

    assert reply.get_json()["case_id"] == first["case_id"] and reply.get_json()["created_case"] is False


def test_post_message__email_naming_a_case_joins_it_by_the_customers_number_and_not_by_another(api, client, intake,
                                                                                              admin):
    first = api.inbound(intake, channel="email", **{"from": {"email": "matti@example.fi", "phone": "040 123 4567"}},
                        subject="Muuttoilmoitus").get_json()
    subject = f"Re: [#{first['case_reference']}] Muuttoilmoitus"

    stranger = api.inbound(intake, channel="email", subject=subject,
                           **{"from": {"email": "puoliso@example.com", "phone": "050 765 4321"}}).get_json()
    own_number = api.inbound(intake, channel="email", subject=subject,
                             **{"from": {"email": "matti.tyo@example.com", "phone": "+358401234567"}}).get_json()

    assert stranger["case_id"] != first["case_id"]
    assert case_detail(client, admin, stranger["case_id"])["linked_case_id"] == first["case_id"]
    assert (own_number["case_id"], own_number["created_case"]) == (first["case_id"], False)


# Threading by a reference in the subject is email's: a web form that names its customer's
# case stays on a case of its own channel.
@BOTH_PATHS
def test_post_message__a_web_form_naming_its_customers_case_opens_a_web_form_case(api, client, intake, admin, files):
    sender = {"email": "matti@example.fi"}
    first = api.inbound(intake, channel="email", **{"from": sender}, subject="Muuttoilmoitus").get_json()

    form = api.inbound(intake, channel="webform", **{"from": sender}, subject=f"Lisätieto [#{first['case_reference']}]",
                       attachments=files)

    assert form.status_code == 201, form.get_json()
    assert form.get_json()["created_case"] is True
    case = case_detail(client, admin, form.get_json()["case_id"])
    assert (case["channel"], case["customer"]["email"]) == ("webform", "matti@example.fi")
    assert [c["channel"] for c in case_detail(client, admin, first["case_id"])["contacts"]] == ["email"]


def test_post_message__email_naming_an_unknown_reference_opens_a_new_case(api, client, intake, admin):
    response = api.inbound(intake, channel="email", **{"from": {"email": "matti@example.fi"}},
                           subject="Re: [#1999-999999] vanha asia")

    assert response.status_code == 201
    assert response.get_json()["created_case"] is True


@BOTH_PATHS
def test_post_message__waiting_case_becomes_open_when_the_customer_writes_again(api, client, intake, adviser,
                                                                                 files):
    case_id = api.inbound(intake, channel="sms").get_json()["case_id"]
    waiting = client.patch(f"/api/v1/cases/{case_id}", json={"status": "waiting"}, headers=adviser)
    assert waiting.get_json()["status"] == "waiting"

    again = api.inbound(intake, channel="sms", body="Tässä pyytämänne tiedot", attachments=files)

    assert again.get_json()["case_id"] == case_id
    assert case_detail(client, adviser, case_id)["status"] == "open"


def test_post_message__contact_to_a_line_address_lands_on_that_line(api, client, intake, admin):
    line = client.post("/api/v1/service-lines", headers=admin,
                       json={"name": "Muuttoilmoitukset", "phone_numbers": ["029 123 4567"]}).get_json()

    routed = api.inbound(intake, channel="sms", to="+358291234567", **{"from": {"phone": "040 111 2222"}})
    unrouted = api.inbound(intake, channel="sms", to="+358 29 000 0000", **{"from": {"phone": "040 333 4444"}})

    assert case_detail(client, admin, routed.get_json()["case_id"])["service_line"]["id"] == line["id"]
    assert case_detail(client, admin, unrouted.get_json()["case_id"])["service_line"]["id"] != line["id"]


def test_post_call__to_a_line_number_written_without_the_country_code_lands_on_that_line(client, intake, admin):
    # A switchboard may report the number called as dialled: it is read in the deployment's region.
    line = client.post("/api/v1/service-lines", headers=admin,
                       json={"name": "Neuvonta", "phone_numbers": ["+358 9 5123 4567"]}).get_json()

    response = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "call-to-line-1", "from": {"phone": "040 999 7791"}, "to": "09 5123 4567",
        "started_at": "2026-03-02T08:00:00Z"})

    assert response.status_code == 201, response.get_json()
    case = case_detail(client, admin, response.get_json()["case_id"])
    assert case["service_line"]["id"] == line["id"]
    assert [c["recipient"] for c in case["contacts"]] == ["09 5123 4567"]  # as reported


# SMS go through the batch path, email through the path of messages with rules of their own:
# each must keep a customer's open case to its own line.
@pytest.mark.parametrize("channel, moves_address, advice_address, sender", [
    ("sms", "029 123 4567", "029 765 4321", {"phone": "040 123 4567"}),
    ("email", "muutot@virasto.fi", "neuvonta@virasto.fi", {"email": "asiakas@example.fi"}),
])
def test_post_message__same_customer_writing_to_another_line_opens_a_case_there(api, client, intake, admin, channel,
                                                                                moves_address, advice_address,
                                                                                sender):
    kind = "phone_numbers" if channel == "sms" else "email_addresses"
    moves = client.post("/api/v1/service-lines", headers=admin,
                        json={"name": "Muuttoilmoitukset", kind: [moves_address]}).get_json()
    advice = client.post("/api/v1/service-lines", headers=admin,
                         json={"name": "Neuvonta", kind: [advice_address]}).get_json()

    first = api.inbound(intake, channel=channel, to=moves_address, **{"from": sender}).get_json()
    second = api.inbound(intake, channel=channel, to=advice_address, **{"from": sender}).get_json()
    again = api.inbound(intake, channel=channel, to=moves_address, **{"from": sender}).get_json()

    assert second["created_case"] is True
    assert case_detail(client, admin, first["case_id"])["service_line"]["id"] == moves["id"]
    assert case_detail(client, admin, second["case_id"])["service_line"]["id"] == advice["id"]
    assert (again["created_case"], again["case_id"]) == (False, first["case_id"])
    assert customer_total(client, admin) == 1


# --- timestamps -----------------------------------------------------------------------------


def test_post_message__received_at_is_kept_exactly_in_utc(api, client, intake, admin):
    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}},
                           received_at="2026-03-01T12:34:56.789+02:00")

    contact = case_detail(client, admin, response.get_json()["case_id"])["contacts"][0]
    received = datetime.fromisoformat(contact["received_at"])
    assert received == datetime(2026, 3, 1, 10, 34, 56, 789000, tzinfo=timezone.utc)
    assert received.utcoffset().total_seconds() == 0
    assert datetime.fromisoformat(contact["occurred_at"]) == received


@BOTH_PATHS
def test_post_message__a_new_case_is_opened_and_last_active_the_moment_its_message_was_received(api, client, intake,
                                                                                            admin, files):
    response = api.inbound(intake, channel="sms", attachments=files)

    case = case_detail(client, admin, response.get_json()["case_id"])
    (contact,) = case["contacts"]
    assert case["created_at"] == case["last_activity_at"] == contact["received_at"]


def test_post_message__received_at_without_a_time_zone_is_refused(api, client, intake, admin):
    response = api.inbound(intake, received_at="2026-03-01T12:34:56")

    body = assert_problem(response, 422)
    assert "received_at" in body["errors"]
    assert_nothing_written(client, admin)


@pytest.mark.parametrize("received_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "yesterday",
                                         "2026-02-30T10:00:00Z"])
def test_post_message__received_at_that_is_no_real_time_is_refused(api, client, intake, admin, received_at):
    response = api.inbound(intake, received_at=received_at)

    assert_problem(response, 422, "validation-failed", fields=["received_at"])
    assert_nothing_written(client, admin)


def test_post_message__phone_call_keeps_its_own_times_in_the_timeline(api, client, intake, admin):
    response = api.inbound(intake, channel="phone", external_id="CA1",
                           started_at="2026-03-02T08:00:00Z", answered_at="2026-03-02T08:03:20Z",
                           ended_at="2026-03-02T08:10:00+00:00", queue_seconds=200)

    assert response.status_code == 201, response.get_json()
    contact = case_detail(client, admin, response.get_json()["case_id"])["contacts"][0]
    times = {k: datetime.fromisoformat(contact[k]) for k in ("started_at", "answered_at", "ended_at", "occurred_at")}
    assert times == {
        "started_at": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
        "answered_at": datetime(2026, 3, 2, 8, 3, 20, tzinfo=timezone.utc),
        "ended_at": datetime(2026, 3, 2, 8, 10, tzinfo=timezone.utc),
        "occurred_at": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
    }
    assert contact["queue_seconds"] == 200


def test_post_message__timeline_is_ordered_by_when_contacts_happened(api, client, intake, admin):
    later = api.inbound(intake, channel="sms", received_at="2026-03-02T10:00:00Z", body="later")
    api.inbound(intake, channel="sms", received_at="2026-03-02T09:00:00Z", body="earlier")

    contacts = case_detail(client, admin, later.get_json()["case_id"])["contacts"]
    assert [c["body"] for c in contacts] == ["earlier", "later"]


def test_post_message__call_ending_before_it_started_is_refused(api, client, intake, admin):
    response = api.inbound(intake, channel="phone", started_at="2026-03-02T08:00:00Z",
                           ended_at="2026-03-02T07:59:00Z")

    body = assert_problem(response, 422)
    assert "ended_at" in body["errors"]
    assert_nothing_written(client, admin)


# --- bad input: a clear 4xx and nothing written ---------------------------------------------


@pytest.mark.parametrize("fields, offending", [
    ({"channel": "fax"}, "channel"),
    ({"language": "de"}, "language"),
    ({"from": {"phone": "not a number"}}, "from"),
    ({"from": {"phone": "112"}}, "from"),
    ({"channel": "email", "from": {"email": "not-an-address"}}, "from"),
    ({"channel": "email", "from": {"phone": "040 123 4567"}}, "from"),
    ({"channel": "sms", "from": {"email": "a@example.fi"}}, "from"),
    ({"channel": "webform", "from": {}}, "from"),
    ({"from": {"phone": "040 123 4567", "fax": "09 123"}}, "from"),
    ({"priority": "high"}, "priority"),
    ({"external_id": ""}, "external_id"),
    ({"queue_seconds": -1}, "queue_seconds"),
])
def test_post_message__invalid_input_is_refused_with_the_offending_field(api, client, intake, admin,
                                                                         fields, offending):
    response = api.inbound(intake, **fields)

    body = assert_problem(response, 422)
    assert offending in body["errors"], body
    assert_nothing_written(client, admin)


def test_post_message__missing_required_fields_are_named(client, intake, admin):
    response = client.post(INBOUND, json={"body": "Hei"}, headers=intake)

    body = assert_problem(response, 422)
    assert {"channel", "external_id", "from"} <= set(body["errors"])
    assert_nothing_written(client, admin)


# --- attachments ----------------------------------------------------------------------------


# An IntegrityError (a row of the caller's colliding) takes the path a replay racing the original takes.
@pytest.mark.parametrize("failure", [RuntimeError("the caller's rows failed"),
                                     IntegrityError("INSERT INTO chat", {}, Exception("unique"))])
def test_receive__files_written_before_a_later_failure_are_deleted(app, client, admin, failure):
    """A caller's own rows (``on_stored``, e.g. a chat) failing after the files were written:
    nothing of the message is kept, on disk or in the database."""
    from service.intake.logic import IntakeSettings, receive
    from service.intake.message import InboundAttachment, InboundMessage, Sender
    from service.storage import get_storage

    message = InboundMessage(channel="email", external_id="late-failure", sender=Sender(email="a@example.fi"),
                             body="liitteet", attachments=(InboundAttachment("kuva.png", "image/png", PNG),
                                                           InboundAttachment("hakemus.pdf", "application/pdf", PDF)))

    def fail(result):
        assert len([p for p in storage.root.rglob("*") if p.is_file()]) == 2  # written by now
        raise failure

    with app.app_context():
        storage = get_storage()
        with pytest.raises(type(failure)):
            receive(message, actor=None, settings=IntakeSettings(), storage=storage, on_stored=fail)
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []
    assert case_total(client, admin) == 0


def test_receive__the_callers_own_rows_are_made_from_the_stored_contact(app):
    """``on_stored`` (a chat's row) is given the contact and case just stored, in the same transaction."""
    from service.intake.logic import IntakeSettings, receive
    from service.intake.message import InboundMessage, Sender
    from service.storage import get_storage

    given = []
    message = InboundMessage(channel="chat", external_id="chat-given", sender=Sender(name="Matti"), body="Hei")
    with app.app_context():
        result = receive(message, actor=None, settings=IntakeSettings(), storage=get_storage(),
                         on_stored=given.append)

    assert given == [result] and result.contact_id is not None and result.case_id is not None


def test_post_message__attachment_is_stored_with_its_hash_and_downloads_byte_for_byte(api, client, intake, admin):
    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}, attachments=[
        {"filename": "kuva.png", "content_type": "image/png", "content_base64": b64(PNG)},
        {"filename": "hakemus.pdf", "content_type": "application/pdf", "content_base64": b64(PDF)},
    ])
    assert response.status_code == 201, response.get_json()
    ids = response.get_json()

    attachments = case_detail(client, admin, ids["case_id"])["attachments"]
    assert [(a["filename"], a["content_type"], a["size"], a["sha256"], a["contact_id"]) for a in attachments] == [
        ("kuva.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest(), ids["contact_id"]),
        ("hakemus.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest(), ids["contact_id"]),
    ]
    for attachment, content in zip(attachments, (PNG, PDF)):
        response = download(client, admin, ids["case_id"], attachment["id"])
        assert response.status_code == 200
        assert response.data == content
        assert response.mimetype == attachment["content_type"]


def test_post_message__attachment_base64_wrapped_in_lines_is_accepted(api, client, intake, admin):
    wrapped = base64.encodebytes(PNG).decode("ascii")
    assert "\n" in wrapped

    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}, attachments=[
        {"filename": "kuva.png", "content_type": "image/png", "content_base64": wrapped}])

    assert response.status_code == 201, response.get_json()
    attachment = case_detail(client, admin, response.get_json()["case_id"])["attachments"][0]
    assert attachment["sha256"] == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize("attachment", [
    {"filename": "a.png", "content_type": "image/png", "content_base64": "not base64!!"},
    {"filename": "a.png", "content_type": "image/png", "content_base64": b64(PNG)[:-1]},
    {"filename": "a.exe", "content_type": "application/x-msdownload", "content_base64": b64(b"MZ\x90\x00")},
    {"filename": "a.html", "content_type": "text/html", "content_base64": b64(b"<script>x</script>")},
    {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": b64(b"MZ this is no pdf")},
    {"filename": "a.png", "content_type": "image/png", "content_base64": b64(PDF)},
    {"filename": "empty.txt", "content_type": "text/plain", "content_base64": ""},
    {"filename": "a.txt", "content_type": "text/plain"},
])
def test_post_message__bad_attachment_is_refused_and_nothing_is_written(api, client, intake, admin, app,
                                                                        attachment):
    good = {"filename": "ok.png", "content_type": "image/png", "content_base64": b64(PNG)}

    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}},
                           attachments=[good, attachment])

    body = assert_problem(response, 422, "validation-failed")
    # The good first attachment is not stored on its own either.
    assert any(key.startswith("attachments") for key in body["errors"]), body
    assert_nothing_written(client, admin, app)


def test_post_message__attachment_over_the_size_limit_is_413_and_nothing_is_written(api, client, intake, admin, app):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024

    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}, attachments=[
        {"filename": "big.txt", "content_type": "text/plain", "content_base64": b64(b"x" * 1025)}])

    body = assert_problem(response, 413)
    assert "1024" in body["detail"]
    assert_nothing_written(client, admin, app)


def test_post_message__attachment_exactly_at_the_size_limit_is_accepted(api, client, intake, admin, app):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024

    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}, attachments=[
        {"filename": "fits.txt", "content_type": "text/plain", "content_base64": b64(b"x" * 1024)}])

    assert response.status_code == 201, response.get_json()


def test_post_message__attachment_filename_with_a_path_is_stored_as_a_plain_name(api, client, intake, admin, app):
    response = api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}, attachments=[
        {"filename": "../../etc/passwd.txt", "content_type": "text/plain", "content_base64": b64(b"root")}])

    case = case_detail(client, admin, response.get_json()["case_id"])
    assert case["attachments"][0]["filename"] == "passwd.txt"
    response = download(client, admin, case["id"], case["attachments"][0]["id"])
    assert response.headers["Content-Disposition"] == "attachment; filename=passwd.txt"


# --- who may post ---------------------------------------------------------------------------


def test_post_message__without_credentials_is_401_and_nothing_is_written(api, client, admin):
    response = api.inbound({})

    assert_problem(response, 401)
    assert_nothing_written(client, admin)


def test_post_message__an_adviser_may_not_post_inbound_contacts(api, client, adviser, admin):
    response = api.inbound(adviser)

    assert_problem(response, 403)
    assert_nothing_written(client, admin)


@BOTH_PATHS
def test_post_message__a_known_customers_new_case_is_in_their_language_and_a_strangers_in_the_lines(
        api, client, intake, adviser, admin, files):
    """A message that names no language opens its case in the language the customer chose
    before, and a first message from someone new in the line's default language."""
    line = client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Svenska linjen", "phone_numbers": ["+358 9 3333 3333"], "default_language": "sv"}).get_json()
    first = api.inbound(intake, language="en", to="+358933333333", **{"from": {"phone": "040 765 0001"}}).get_json()
    assert client.post(f"/api/v1/cases/{first['case_id']}/close", headers=adviser).status_code == 200

    again = api.inbound(intake, to="+358933333333", **{"from": {"phone": "040 765 0001"}}, attachments=files).get_json()
    stranger = api.inbound(intake, to="+358933333333", **{"from": {"phone": "040 765 0002"}},
                           attachments=files).get_json()

    assert again["created_case"] is True and again["case_id"] != first["case_id"]
    shown = case_detail(client, admin, again["case_id"])
    assert (shown["service_line"]["id"], shown["language"]) == (line["id"], "en")
    assert case_detail(client, admin, stranger["case_id"])["language"] == "sv"
    # A language the message names wins over the one the customer chose before.
    assert client.post(f"/api/v1/cases/{again['case_id']}/close", headers=adviser).status_code == 200
    in_finnish = api.inbound(intake, language="fi", to="+358933333333", **{"from": {"phone": "040 765 0001"}},
                             attachments=files).get_json()
    assert in_finnish["created_case"] is True
    assert case_detail(client, admin, in_finnish["case_id"])["language"] == "fi"


def test_post_message__a_message_joining_an_open_case_answers_with_that_cases_reference(api, client, intake, admin):
    first = api.inbound(intake, **{"from": {"phone": "040 765 0003"}}).get_json()

    second = api.inbound(intake, **{"from": {"phone": "040 765 0003"}}).get_json()

    assert (second["case_id"], second["created_case"]) == (first["case_id"], False)
    assert second["case_reference"] == first["case_reference"] == case_detail(client, admin, first["case_id"])["reference"]


def test_post_message__a_web_forms_subject_is_the_subject_of_the_case_it_opens(api, client, intake, admin):
    posted = api.inbound(intake, channel="webform", external_id="form-subject-1", subject="Muuttoilmoitus kesken",
                         **{"from": SENDERS["webform"]}).get_json()

    assert posted["created_case"] is True
    assert case_detail(client, admin, posted["case_id"])["subject"] == "Muuttoilmoitus kesken"


def test_post_message__a_replay_of_a_later_message_on_a_case_answers_with_that_messages_contact(api, client, intake,
                                                                                               admin):
    # The case's first contact often has the case's own id: the second one's does not.
    api.inbound(intake, channel="sms", external_id="SM-replay-a", **{"from": {"phone": "040 765 0004"}})
    second = api.inbound(intake, channel="sms", external_id="SM-replay-b", **{"from": {"phone": "040 765 0004"}})
    assert second.status_code == 201 and second.get_json()["contact_id"] != second.get_json()["case_id"]

    again = api.inbound(intake, channel="sms", external_id="SM-replay-b", body="toisen kerran")

    assert again.status_code == 200
    assert again.get_json() == {**second.get_json(), "created_case": False}


def test_post_call__has_the_moment_it_started_and_none_of_being_received(client, intake, admin):
    """A call is not received like a message: its time is when it started."""
    response = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "call-started-1", "from": {"phone": "040 999 7788"}, "started_at": "2026-03-02T08:00:00Z"})

    assert response.status_code == 201, response.get_json()
    (contact,) = case_detail(client, admin, response.get_json()["case_id"])["contacts"]
    assert (contact["received_at"], contact["started_at"], contact["occurred_at"]) == (
        None, "2026-03-02T08:00:00+00:00", "2026-03-02T08:00:00+00:00")


def test_post_message__a_message_without_a_time_was_received_when_it_was_posted(api, client, intake, admin):
    before = datetime.now(timezone.utc)
    response = api.inbound(intake, channel="sms")
    after = datetime.now(timezone.utc)

    (contact,) = case_detail(client, admin, response.get_json()["case_id"])["contacts"]
    assert contact["started_at"] is None
    assert before <= datetime.fromisoformat(contact["received_at"]) <= after
    assert contact["occurred_at"] == contact["received_at"]


def test_post_message__a_chat_has_the_moment_it_started_and_none_of_being_received(api, client, intake, admin):
    """A chat, like a call, started: the batch path must not invent a receipt time for it."""
    response = api.inbound(intake, channel="chat", **{"from": {"name": "Liisa"}}, started_at="2026-03-02T08:00:00Z")

    assert response.status_code == 201, response.get_json()
    (contact,) = case_detail(client, admin, response.get_json()["case_id"])["contacts"]
    assert (contact["received_at"], contact["started_at"], contact["occurred_at"]) == (
        None, "2026-03-02T08:00:00+00:00", "2026-03-02T08:00:00+00:00")


def test_post_message__with_a_file_a_new_customer_has_the_messages_language_and_the_receipt_is_audited(
        api, client, intake, admin):
    """A message with a file goes the slower way, through the customer's lookup one at a time."""
    response = api.inbound(intake, language="sv", **{"from": {"phone": "040 999 7789"}}, attachments=[
        {"filename": "liite.pdf", "content_type": "application/pdf", "content_base64": base64.b64encode(PDF).decode()}])

    assert response.status_code == 201, response.get_json()
    case = case_detail(client, admin, response.get_json()["case_id"])
    customer = client.get(f"/api/v1/customers/{case['customer']['id']}", headers=admin).get_json()
    assert (customer["language"], case["language"], case["contacts"][0]["language"]) == ("sv", "sv", "sv")
    (entry,) = client.get("/api/v1/audit", query_string={"action": "contact.received", "object_id": case["id"]},
                          headers=admin).get_json()["items"]
    assert entry["details"] == {"contact_id": case["contacts"][0]["id"], "channel": "sms"}
    (key,) = client.get("/api/v1/api-keys", headers=admin).get_json()["items"]
    assert (entry["actor_type"], entry["actor_id"], entry["object_type"]) == ("api_key", key["id"], "case")
    (created,) = client.get("/api/v1/audit", query_string={"action": "customer.created"},
                            headers=admin).get_json()["items"]
    assert (created["actor_type"], created["actor_id"], created["object_type"], created["object_id"]) == (
        "api_key", key["id"], "customer", customer["id"])


def test_post_message__a_plain_sms_and_its_new_customer_are_audited_as_the_api_key_that_posted_it(
        api, client, intake, admin):
    """A message without a file goes the batch's way, which writes its audit entries itself."""
    response = api.inbound(intake, channel="sms", **{"from": {"phone": "040 999 7790"}})

    case = case_detail(client, admin, response.get_json()["case_id"])
    (key,) = client.get("/api/v1/api-keys", headers=admin).get_json()["items"]
    entries = client.get("/api/v1/audit", query_string={"page_size": 100}, headers=admin).get_json()["items"]
    assert [(e["actor_type"], e["actor_id"], e["actor_role"], e["object_type"], e["object_id"], e["details"])
            for e in entries if e["action"] == "contact.received"] == [
        ("api_key", key["id"], "api_key:intake", "case", case["id"],
         {"contact_id": case["contacts"][0]["id"], "channel": "sms"})]
    assert [(e["actor_type"], e["actor_id"], e["object_type"], e["object_id"])
            for e in entries if e["action"] == "customer.created"] == [
        ("api_key", key["id"], "customer", case["customer"]["id"])]


def test_post_message__each_message_stored_is_counted_once_by_its_channel_and_a_replay_not(api, client, intake):
    def counted(channel: str) -> float:
        return metric(client, "intake_contacts_total", missing=0.0, channel=channel)

    before = counted("email"), counted("sms")
    message = {"channel": "email", "external_id": "<counted@example.fi>", "from": SENDERS["email"]}
    assert api.inbound(intake, **message).status_code == 201
    assert api.inbound(intake, **message).status_code == 200  # a replay
    assert api.inbound(intake, channel="sms").status_code == 201

    assert (counted("email"), counted("sms")) == (before[0] + 1, before[1] + 1)
