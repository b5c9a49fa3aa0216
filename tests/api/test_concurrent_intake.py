"""Replays and simultaneous first messages, from many threads at once, on the real database."""

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.twilio_fakes import inbound_sms, twilio_post

A_FILE = {"filename": "liite.pdf", "content_type": "application/pdf",
          "content_base64": base64.b64encode(b"%PDF-1.4\nx\n%%EOF\n").decode()}


def _post_many(app, headers, bodies):
    def post(body):
        with app.test_client() as client:
            response = client.post("/api/v1/inbound/messages", json=body, headers=headers)
            return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(post, bodies))


def test_the_same_message_posted_concurrently_is_stored_once(app, intake, admin, client):
    body = {"channel": "sms", "external_id": "SMconcurrent0001", "from": {"phone": "+358401112223"},
            "body": "Hei"}
    results = _post_many(app, intake, [body] * 12)

    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 11, results
    assert len({payload["contact_id"] for _, payload in results}) == 1
    cases = client.get("/api/v1/cases", headers=admin).get_json()
    assert cases["total"] == 1
    detail = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=admin).get_json()
    assert len(detail["contacts"]) == 1


def test_the_same_message_with_a_file_posted_concurrently_leaves_one_file_on_disk(app, intake, admin, client):
    # The posts that lose the race have written their copy of the file before their insert
    # fails: they must delete it, or the disk keeps personal data no case refers to.
    body = {"channel": "sms", "external_id": "SMconcurrentfile1", "from": {"phone": "+358401112224"},
            "body": "Liitteenä", "attachments": [A_FILE]}
    results = _post_many(app, intake, [body] * 12)

    assert sorted(status for status, _ in results).count(201) == 1, results
    (case,) = client.get("/api/v1/cases", headers=admin).get_json()["items"]
    detail = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()
    assert len(detail["contacts"]) == 1 and len(detail["attachments"]) == 1
    root = app.extensions["file_storage"].root
    assert len([path for path in root.rglob("*") if path.is_file()]) == 1


def _bodies(prefix, phone, n, attachments=()):
    return [{"channel": "sms", "external_id": f"{prefix}{i:04d}", "from": {"phone": phone},
             "body": f"viesti {i}", "attachments": list(attachments)} for i in range(n)]


def test_simultaneous_first_messages_of_a_new_customer_make_one_customer_and_one_case(app, intake, admin, client):
    results = _post_many(app, intake, _bodies("SMfirst", "+358405556667", 8))

    assert all(status == 201 for status, _ in results), results
    assert len({payload["case_id"] for _, payload in results}) == 1
    assert sum(payload["created_case"] for _, payload in results) == 1
    (customer,) = client.get("/api/v1/customers?phone=0405556667", headers=admin).get_json()["items"]
    # Created once: the posts that found it made by another at the same moment created nothing.
    created = client.get("/api/v1/audit", query_string={"action": "customer.created"}, headers=admin).get_json()
    assert [entry["object_id"] for entry in created["items"]] == [customer["id"]]


# Messages with a file take intake's path one at a time, plain ones its batch path.
@pytest.mark.parametrize("attachments", [(), (A_FILE,)], ids=["plain", "with-a-file"])
def test_simultaneous_messages_of_a_known_customer_without_an_open_case_open_one_case(app, intake, admin, client,
                                                                                     attachments):
    first = client.post("/api/v1/inbound/messages", headers=intake,
                        json=_bodies("SMearlier", "+358405556668", 1)[0]).get_json()
    assert client.post(f"/api/v1/cases/{first['case_id']}/close", headers=admin).status_code == 200

    results = _post_many(app, intake, _bodies("SMagain", "+358405556668", 8, attachments))

    assert all(status == 201 for status, _ in results), results
    case_ids = {payload["case_id"] for _, payload in results}
    assert len(case_ids) == 1 and first["case_id"] not in case_ids


def test_the_same_twilio_webhook_delivered_concurrently_makes_one_contact(app, admin, client):
    # Twilio retries a webhook it timed out on while the first delivery may still be running.
    params = inbound_sms("SM" + "c0" * 16, from_="+358405556669", body="Sama viesti")

    def post(_):
        with app.test_client() as own:
            return twilio_post(own, "/webhooks/twilio/sms", params).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, range(12)))

    assert statuses == [200] * 12
    cases = client.get("/api/v1/cases", headers=admin).get_json()
    assert cases["total"] == 1
    detail = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=admin).get_json()
    assert [contact["body"] for contact in detail["contacts"]] == ["Sama viesti"]


def test_simultaneous_first_mails_of_a_new_customer_make_one_customer_audited_once(make_app, admin_for):
    # Mail is stored one message at a time. On PostgreSQL the posts that lose the race to
    # create the customer meet the winner's row in the unique index and take that customer.
    from tests.api.test_email import SECRET, _customers_mail, _signed

    def mail(sender: str, i: int) -> bytes:
        return _customers_mail(f"<{i}.{sender}>", sender=sender, subject=f"Asia {i}")

    app = make_app(EMAIL_WEBHOOK_SECRET=SECRET)
    admin = admin_for(app, "admin")
    client = app.test_client()
    # Someone else's mail first, so that the race is over the customer, not the default line.
    assert client.post("/webhooks/email", data=mail("toinen@example.fi", 0),
                       headers=_signed(mail("toinen@example.fi", 0))).status_code == 201

    def post(raw):
        with app.test_client() as own:
            response = own.post("/webhooks/email", data=raw, headers=_signed(raw))
            return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, [mail("uusi@example.fi", i) for i in range(8)]))

    assert all(status == 201 for status, _ in results), results
    assert len({payload["case_id"] for _, payload in results}) == 1
    (customer,) = client.get("/api/v1/customers?email=uusi@example.fi", headers=admin).get_json()["items"]
    created = client.get("/api/v1/audit", query_string={"action": "customer.created"}, headers=admin).get_json()
    assert [entry["object_id"] for entry in created["items"]].count(customer["id"]) == 1
