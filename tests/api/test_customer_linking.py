"""Customer records an official confirms are one person: linking, what follows the person,
unlinking, and the candidates offered (never linked by the service itself)."""

from __future__ import annotations

import pytest

from tests.api.problems import assert_problem
from tests.twilio_fakes import inbound_sms, twilio_post


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def privacy(api):
    return api.headers_for("privacy_officer")


@pytest.fixture
def two_records(client, intake):
    """One person seen twice: an SMS from a mobile number and an email from a home address."""
    by_sms = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-link-1", "from": {"phone": "+358401230001"},
        "body": "Muuttoilmoitus"}), 201)
    by_email = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<link-1@example.fi>", "from": {"email": "liisa@example.fi"},
        "subject": "Muutto", "body": "Sama asia sähköpostilla"}), 201)
    return by_sms, by_email


def _customer_of(client, headers, case_id):
    return ok(client.get(f"/api/v1/cases/{case_id}", headers=headers))["customer"]


def _link_the_two(client, adviser, privacy, by_sms, by_email) -> tuple[int, int]:
    """The privacy officer links the email's record into the phone's: (phone's id, email's id)."""
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    ok(client.post(f"/api/v1/customers/{email_id}/link", json={"into_customer_id": phone_id}, headers=privacy))
    return phone_id, email_id


def test_linking_makes_one_person_whose_cases_stay_where_they_are(client, adviser, privacy, admin, two_records):
    by_sms, by_email = two_records
    phone_record = _customer_of(client, adviser, by_sms["case_id"])
    email_record = _customer_of(client, adviser, by_email["case_id"])
    assert phone_record["id"] != email_record["id"]  # never linked by the service itself

    person = ok(client.post(f"/api/v1/customers/{email_record['id']}/link",
                            json={"into_customer_id": phone_record["id"]}, headers=privacy))

    assert person["id"] == phone_record["id"]
    assert [(c["id"], c["email"]) for c in person["linked"]] == [(email_record["id"], "liisa@example.fi")]
    assert sorted(c["id"] for c in person["cases"]) == sorted([by_sms["case_id"], by_email["case_id"]])
    # Each case keeps its own customer record.
    assert _customer_of(client, adviser, by_email["case_id"])["id"] == email_record["id"]
    assert _customer_of(client, adviser, by_email["case_id"])["merged_into_id"] == phone_record["id"]
    entries = ok(client.get("/api/v1/audit", query_string={"action": "customer.linked"}, headers=admin))["items"]
    assert entries[0]["details"] == {"linked_customer_ids": [email_record["id"]]}
    assert_problem(client.post(f"/api/v1/customers/{email_record['id']}/link",
                               json={"into_customer_id": phone_record["id"]}, headers=privacy), 409, "already-linked")


def test_a_record_is_not_linked_to_itself(client, adviser, privacy, admin, two_records):
    by_sms, _ = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]

    response = client.post(f"/api/v1/customers/{phone_id}/link", json={"into_customer_id": phone_id},
                           headers=privacy)

    assert_problem(response, 422, "validation-failed", fields=["into_customer_id"])
    assert ok(client.get(f"/api/v1/customers/{phone_id}", headers=privacy))["merged_into_id"] is None
    assert ok(client.get("/api/v1/audit", query_string={"action": "customer.linked"}, headers=admin))["items"] == []


def test_a_restriction_on_either_record_applies_to_the_person(client, adviser, privacy, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    ok(client.post(f"/api/v1/customers/{email_id}/restriction", json={"reason": "Oikaisu kesken"}, headers=privacy))

    ok(client.post(f"/api/v1/customers/{email_id}/link", json={"into_customer_id": phone_id}, headers=privacy))

    reply = client.post(f"/api/v1/cases/{by_sms['case_id']}/replies", json={"channel": "sms", "body": "Hei"},
                        headers=adviser)
    assert_problem(reply, 409, "processing-restricted")
    # Lifting it on one record lifts it for the person.
    ok(client.delete(f"/api/v1/customers/{phone_id}/restriction", headers=privacy))
    assert _customer_of(client, adviser, by_email["case_id"])["restricted"] is False
    ok(client.post(f"/api/v1/customers/{phone_id}/restriction", json={"reason": "Uusi"}, headers=privacy))
    assert _customer_of(client, adviser, by_email["case_id"])["restricted"] is True


def test_a_persons_restriction_shows_on_each_record_and_the_audit_log_names_the_others(client, adviser, privacy,
                                                                                       admin, two_records):
    by_sms, by_email = two_records
    phone_id, email_id = _link_the_two(client, adviser, privacy, *two_records)

    def audited(action):
        items = ok(client.get("/api/v1/audit", query_string={"action": action}, headers=admin))["items"]
        return [(e["actor_id"], e["object_type"], e["object_id"], e["details"]) for e in items]

    reads_before = audited("customer.read")
    ok(client.post(f"/api/v1/customers/{email_id}/restriction", json={"reason": "Oikaisu kesken"}, headers=privacy))

    records = [_customer_of(client, adviser, by_sms["case_id"]), _customer_of(client, adviser, by_email["case_id"])]
    assert [(r["restricted"], r["restriction_reason"]) for r in records] == [(True, "Oikaisu kesken")] * 2
    assert records[0]["restricted_at"] == records[1]["restricted_at"] is not None
    ok(client.delete(f"/api/v1/customers/{email_id}/restriction", headers=privacy))
    records = [_customer_of(client, adviser, by_sms["case_id"]), _customer_of(client, adviser, by_email["case_id"])]
    assert [(r["restricted"], r["restricted_at"], r["restriction_reason"]) for r in records] == [(False, None, None)] * 2

    # Each change is its own entry: restricting and lifting record no read of the customer besides.
    assert audited("customer.read") == reads_before
    assert audited("customer.restricted") == [(privacy.id, "customer", email_id,
                                               {"request_id": None, "linked_customer_ids": [phone_id]})]
    assert audited("customer.restriction_lifted") == [(privacy.id, "customer", email_id,
                                                       {"linked_customer_ids": [phone_id]})]


def test_an_access_request_by_one_identity_answers_for_the_person(client, adviser, privacy, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    request = ok(client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 0001"}, "received_at": "2026-11-01T10:00:00+02:00"}), 201)
    before = ok(client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy))
    assert [p["customer"]["id"] for p in before["people"]] == [phone_id]

    ok(client.post(f"/api/v1/customers/{email_id}/link", json={"into_customer_id": phone_id}, headers=privacy))

    after = ok(client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy))
    assert sorted(p["customer"]["id"] for p in after["people"]) == sorted([phone_id, email_id])
    assert "Sama asia sähköpostilla" in str(after)


def test_unlinking_is_audited_and_the_record_stands_alone(client, adviser, privacy, admin, two_records):
    by_sms, by_email = two_records
    phone_id, email_id = _link_the_two(client, adviser, privacy, by_sms, by_email)

    alone = ok(client.delete(f"/api/v1/customers/{email_id}/link", headers=privacy))

    assert alone["merged_into_id"] is None and alone["linked"] == []
    assert [c["id"] for c in ok(client.get(f"/api/v1/customers/{phone_id}", headers=privacy))["cases"]] == \
        [by_sms["case_id"]]
    (entry,) = ok(client.get("/api/v1/audit", query_string={"action": "customer.unlinked"}, headers=admin))["items"]
    assert entry["object_id"] == email_id and entry["details"] == {"unlinked_from_customer_id": phone_id}
    assert_problem(client.delete(f"/api/v1/customers/{email_id}/link", headers=privacy), 409, "not-linked")


def test_stop_stays_on_the_number_that_sent_it(client, adviser, privacy, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "5" * 32, from_="+358401230001", body="STOP"))

    ok(client.post(f"/api/v1/customers/{email_id}/link", json={"into_customer_id": phone_id}, headers=privacy))

    assert_problem(client.post(f"/api/v1/cases/{by_sms['case_id']}/replies", json={"channel": "sms", "body": "Hei"},
                               headers=adviser), 409, "sms-opted-out")
    ok(client.post(f"/api/v1/cases/{by_email['case_id']}/replies", json={"channel": "email", "body": "Hei"},
                   headers=adviser), 201)


def test_candidates_are_listed_with_why_and_never_linked(client, intake, adviser, privacy, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    other = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-link-other", "from": {"phone": "+358401230009"}, "body": "Muu"}), 201)
    other_id = _customer_of(client, adviser, other["case_id"])["id"]
    for customer_id, address in ((phone_id, "Kotikatu 1"), (email_id, "kotikatu 1"), (other_id, "Muukatu 2")):
        ok(client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Liisa Laine", "address": address},
                        headers=privacy))

    listed = ok(client.get(f"/api/v1/customers/{phone_id}/link-candidates", headers=privacy))["items"]

    assert [(c["customer"]["id"], c["reasons"]) for c in listed] == [(email_id, ["same_name_and_address"])]
    assert _customer_of(client, adviser, by_email["case_id"])["merged_into_id"] is None
    assert_problem(client.get(f"/api/v1/customers/{phone_id}/link-candidates", headers=adviser), 403)


def test_a_number_seen_on_one_records_cases_and_held_by_another_makes_them_candidates(client, intake, adviser,
                                                                                      privacy, two_records):
    by_sms, _ = two_records
    first_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    # The customer's number was corrected; a new message from the old number is a new record.
    ok(client.patch(f"/api/v1/customers/{first_id}", json={"phone": "040 123 0005"}, headers=privacy))
    again = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-link-again", "from": {"phone": "+358401230001"}, "body": "Taas"}), 201)
    second_id = _customer_of(client, adviser, again["case_id"])["id"]
    assert second_id != first_id

    for_first = ok(client.get(f"/api/v1/customers/{first_id}/link-candidates", headers=privacy))["items"]
    for_second = ok(client.get(f"/api/v1/customers/{second_id}/link-candidates", headers=privacy))["items"]

    assert [(c["customer"]["id"], c["reasons"]) for c in for_first] == [(second_id, ["identity_seen_on_their_cases"])]
    assert [(c["customer"]["id"], c["reasons"]) for c in for_second] == [
        (first_id, ["their_identity_seen_on_its_cases"])]


# --- the per-official grant -------------------------------------------------------------------

def test_an_adviser_links_records_only_while_an_administrator_grants_it(client, adviser, admin, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    link = {"into_customer_id": phone_id}
    assert_problem(client.post(f"/api/v1/customers/{email_id}/link", json=link, headers=adviser), 403)
    assert "customers.link" not in ok(client.get("/api/v1/auth/me", headers=adviser))["permissions"]

    granted = ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"may_link_customers": True}, headers=admin))

    assert granted["may_link_customers"] is True
    # From the adviser's next request, with the token they already hold.
    assert "customers.link" in ok(client.get("/api/v1/auth/me", headers=adviser))["permissions"]
    assert [c["customer"]["id"] for c in ok(client.get(f"/api/v1/customers/{phone_id}/link-candidates",
                                                         headers=adviser))["items"]] == []
    person = ok(client.post(f"/api/v1/customers/{email_id}/link", json=link, headers=adviser))
    assert [c["id"] for c in person["linked"]] == [email_id]
    ok(client.delete(f"/api/v1/customers/{email_id}/link", headers=adviser))

    ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"may_link_customers": False}, headers=admin))

    assert_problem(client.post(f"/api/v1/customers/{email_id}/link", json=link, headers=adviser), 403)
    entries = ok(client.get("/api/v1/audit", query_string={"action": "official.updated", "object_id": adviser.id},
                            headers=admin))["items"]
    assert [e["details"] for e in entries] == [
        {"fields": ["may_link_customers"], "may_link_customers": False},
        {"fields": ["may_link_customers"], "may_link_customers": True}]
    (linked,) = ok(client.get("/api/v1/audit", query_string={"action": "customer.linked"}, headers=admin))["items"]
    assert linked["actor_id"] == adviser.id


def test_a_supervisor_without_the_grant_may_not_link(client, supervisor, adviser, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    assert_problem(client.post(f"/api/v1/customers/{email_id}/link", json={"into_customer_id": phone_id},
                               headers=supervisor), 403)
    assert_problem(client.get(f"/api/v1/customers/{phone_id}/link-candidates", headers=supervisor), 403)


@pytest.mark.parametrize("role", ["privacy_officer", "admin", "inspector"])
def test_the_grant_is_refused_for_roles_it_is_not_for(api, client, admin, role):
    lines = {"service_line_ids": [ok(client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Rekisteri"}), 201)["id"]]} if role == "inspector" else {}
    official = api.official(role, **lines)

    response = client.patch(f"/api/v1/officials/{official['id']}", json={"may_link_customers": True}, headers=admin)

    assert_problem(response, 422, fields=["may_link_customers"])
    assert ok(client.get(f"/api/v1/officials/{official['id']}", headers=admin))["may_link_customers"] is False
    created = client.post("/api/v1/officials", headers=admin, json={
        "username": f"new-{role}", "password": "correct horse battery staple", "role": role, "name": "Uusi",
        "may_link_customers": True, **lines})
    assert_problem(created, 422, fields=["may_link_customers"])


def test_a_new_role_leaves_the_grant_behind(client, admin, adviser):
    ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"may_link_customers": True}, headers=admin))

    ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"role": "supervisor"}, headers=admin))
    assert ok(client.get(f"/api/v1/officials/{adviser.id}", headers=admin))["may_link_customers"] is True
    line = ok(client.post("/api/v1/service-lines", headers=admin, json={"name": "Rekisteri"}), 201)
    ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"role": "inspector", "service_line_ids": [line["id"]]},
                    headers=admin))
    ok(client.patch(f"/api/v1/officials/{adviser.id}", json={"role": "adviser", "service_line_ids": []},
                    headers=admin))

    assert ok(client.get(f"/api/v1/officials/{adviser.id}", headers=admin))["may_link_customers"] is False
    assert "customers.link" not in ok(client.get("/api/v1/auth/me", headers=adviser))["permissions"]


# --- what follows the person: corrections, the access export, the purge ----------------------

def test_a_correction_of_the_persons_details_shows_on_every_case_of_theirs(client, adviser, privacy, admin,
                                                                           two_records):
    by_sms, by_email = two_records
    phone_id, email_id = _link_the_two(client, adviser, privacy, by_sms, by_email)

    ok(client.patch(f"/api/v1/customers/{email_id}", headers=privacy, json={
        "name": "Liisa Laine", "address": "Kotikatu 1", "email": "liisa.laine@example.fi"}))

    on_sms_case = _customer_of(client, adviser, by_sms["case_id"])
    on_email_case = _customer_of(client, adviser, by_email["case_id"])
    assert (on_sms_case["name"], on_sms_case["address"]) == ("Liisa Laine", "Kotikatu 1")
    assert (on_email_case["name"], on_email_case["address"]) == ("Liisa Laine", "Kotikatu 1")
    # Phone and email are identities, each held by its own record: corrected there alone.
    assert (on_sms_case["phone"], on_sms_case["email"]) == ("+358401230001", None)
    assert on_email_case["email"] == "liisa.laine@example.fi"

    # Corrected again through the other record: the same for the person.
    ok(client.patch(f"/api/v1/customers/{phone_id}", headers=adviser, json={"name": "Liisa Laine-Virtanen"}))
    assert _customer_of(client, adviser, by_email["case_id"])["name"] == "Liisa Laine-Virtanen"

    # Each record keeps its own old values: the export answers with both, each on its record.
    request = ok(client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"email": "liisa.laine@example.fi"}, "received_at": "2026-11-01T10:00:00+02:00"}),
        201)
    people = {p["customer"]["id"]: p for p in ok(client.get(
        f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy))["people"]}
    def corrections(customer_id):
        return sorted((c["field"], c["old_value"] or "") for c in people[customer_id]["corrections"])

    assert corrections(phone_id) == [("address", ""), ("name", ""), ("name", "Liisa Laine")]
    assert corrections(email_id) == [("address", ""), ("email", "liisa@example.fi"), ("name", ""),
                                     ("name", "Liisa Laine")]
    entries = ok(client.get("/api/v1/audit", query_string={"action": "customer.updated"}, headers=admin))["items"]
    through = {(e["object_id"], e["details"].get("corrected_through_customer_id")) for e in entries}
    assert through == {(email_id, None), (phone_id, email_id), (phone_id, None), (email_id, phone_id)}
    assert "Liisa" not in str([e["details"] for e in entries])


def test_a_correction_through_a_record_that_already_holds_the_detail_corrects_and_audits_the_others(
        client, adviser, privacy, admin, two_records):
    by_sms, by_email = two_records
    phone_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    ok(client.patch(f"/api/v1/customers/{phone_id}", headers=privacy, json={"name": "Liisa Laine"}))
    phone_id, email_id = _link_the_two(client, adviser, privacy, by_sms, by_email)

    # Nothing changes on the record patched; the person's other record still has no name.
    ok(client.patch(f"/api/v1/customers/{phone_id}", headers=adviser, json={"name": "Liisa Laine"}))

    assert _customer_of(client, adviser, by_email["case_id"])["name"] == "Liisa Laine"
    entries = ok(client.get("/api/v1/audit", query_string={"action": "customer.updated", "object_id": email_id},
                            headers=admin))["items"]
    assert [(e["details"]["fields"], len(e["details"]["rectification_ids"]),
             e["details"]["corrected_through_customer_id"]) for e in entries] == [(["name"], 1, phone_id)]


def test_a_correction_of_an_unlinked_record_stays_on_it(client, adviser, privacy, two_records):
    by_sms, by_email = two_records
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]

    ok(client.patch(f"/api/v1/customers/{email_id}", headers=privacy, json={"name": "Liisa Laine"}))

    assert _customer_of(client, adviser, by_sms["case_id"])["name"] is None


def _purge_as_of(runner, days: int) -> str:
    from datetime import datetime, timedelta, timezone

    result = runner.invoke(args=["retention", "purge", "--as-of",
                                 (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_open_access_request_on_one_identity_keeps_every_record_of_the_person(client, runner, adviser, privacy,
                                                                                 two_records):
    by_sms, by_email = two_records
    phone_id, email_id = _link_the_two(client, adviser, privacy, by_sms, by_email)
    request = ok(client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": "040 123 0001"}, "received_at": "2026-11-01T10:00:00+02:00"}), 201)
    for case in two_records:
        ok(client.post(f"/api/v1/cases/{case['case_id']}/close", headers=adviser))

    _purge_as_of(runner, 3 * 365)

    # The cases are gone on their clocks; the person's records wait for the request's answer.
    assert ok(client.get("/api/v1/cases", headers=adviser))["total"] == 0
    export = ok(client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy))
    assert sorted(p["customer"]["id"] for p in export["people"]) == sorted([phone_id, email_id])

    ok(client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy, json={}))
    assert "would delete 0 cases, 0 attachments, 0 recordings, 2 customers" in runner.invoke(
        args=["retention", "purge", "--dry-run"]).output
    _purge_as_of(runner, 3 * 365)

    assert_problem(client.get(f"/api/v1/customers/{email_id}", headers=privacy), 404)
    assert_problem(client.get(f"/api/v1/customers/{phone_id}", headers=privacy), 404)


def test_the_purge_of_a_persons_main_record_leaves_the_rest_one_person(client, runner, intake, adviser, privacy,
                                                                        two_records):
    by_sms, by_email = two_records
    main_id = _customer_of(client, adviser, by_sms["case_id"])["id"]
    email_id = _customer_of(client, adviser, by_email["case_id"])["id"]
    work = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-link-work", "from": {"phone": "+358501230002"},
        "body": "Työpuhelimesta"}), 201)
    work_id = _customer_of(client, adviser, work["case_id"])["id"]
    for record_id in (email_id, work_id):
        ok(client.post(f"/api/v1/customers/{record_id}/link", json={"into_customer_id": main_id}, headers=privacy))
    ok(client.post(f"/api/v1/cases/{by_sms['case_id']}/close", headers=adviser))
    # The person's other cases are held, so only the main record's case expires.
    for case_id in (by_email["case_id"], work["case_id"]):
        ok(client.post(f"/api/v1/cases/{case_id}/hold", json={"reason": "Valitus vireillä"}, headers=privacy))

    _purge_as_of(runner, 3 * 365)

    assert_problem(client.get(f"/api/v1/customers/{main_id}", headers=privacy), 404)
    person = ok(client.get(f"/api/v1/customers/{email_id}", headers=privacy))
    assert person["merged_into_id"] is None
    assert [c["id"] for c in person["linked"]] == [work_id]
    assert sorted(c["id"] for c in person["cases"]) == sorted([by_email["case_id"], work["case_id"]])


LINE_A, LINE_B = "+358295000001", "+358295000002"


def _two_lines(client, admin) -> tuple[int, int]:
    return tuple(ok(client.post("/api/v1/service-lines", headers=admin, json={
        "name": name, "phone_numbers": [number]}), 201)["id"] for name, number in
        (("Neuvonta", LINE_A), ("Verotus", LINE_B)))


def _record_on(api, client, intake, admin, to: str, phone: str) -> int:
    """The customer record of an SMS from ``phone`` to the line of number ``to``."""
    case_id = ok(api.inbound(intake, **{"from": {"phone": phone}}, to=to), 201)["case_id"]
    return _customer_of(client, admin, case_id)["id"]


def test_a_line_limited_official_is_shown_none_of_the_persons_records_on_lines_they_do_not_see(api, client, intake,
                                                                                              admin, privacy):
    line_a, _ = _two_lines(client, admin)
    on_a, also_on_a, on_b = (_record_on(api, client, intake, admin, to, phone) for to, phone in (
        (LINE_A, "+358401230001"), (LINE_A, "+358401230003"), (LINE_B, "+358401230002")))
    # The person's main record is the one on line B.
    ok(client.post(f"/api/v1/customers/{on_a}/link", json={"into_customer_id": on_b}, headers=privacy))
    member_of_a = api.headers_for("adviser", service_line_ids=[line_a], may_link_customers=True)
    assert_problem(client.get(f"/api/v1/customers/{on_b}", headers=member_of_a), 404)

    # The record on line B is another register's: its number is not named to line A by way of the link.
    assert ok(client.get(f"/api/v1/customers/{on_a}", headers=member_of_a))["linked"] == []
    # Nor in the answer to a link line A makes to the person: it shows the record they named.
    person = ok(client.post(f"/api/v1/customers/{also_on_a}/link", json={"into_customer_id": on_a},
                            headers=member_of_a))
    assert (person["id"], [c["id"] for c in person["linked"]]) == (on_a, [also_on_a])
    assert "+358401230002" not in str(person)
    # Those who see every line see the whole person.
    assert {c["id"] for c in ok(client.get(f"/api/v1/customers/{on_a}", headers=privacy))["linked"]} == {
        on_b, also_on_a}


def test_a_line_limited_official_is_offered_no_candidate_of_a_line_they_do_not_see(api, client, intake, admin,
                                                                                  privacy):
    line_a, _ = _two_lines(client, admin)
    on_a, on_b = (_record_on(api, client, intake, admin, to, phone) for to, phone in (
        (LINE_A, "+358401230001"), (LINE_B, "+358401230002")))
    for customer_id in (on_a, on_b):
        ok(client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Liisa Laine", "address": "Kotikatu 1"},
                        headers=privacy))
    member_of_a = api.headers_for("adviser", service_line_ids=[line_a], may_link_customers=True)

    # The same name and address on line B is another register's person: not named to line A.
    assert ok(client.get(f"/api/v1/customers/{on_a}/link-candidates", headers=member_of_a))["items"] == []
    assert [c["customer"]["id"] for c in ok(client.get(f"/api/v1/customers/{on_a}/link-candidates",
                                                         headers=privacy))["items"]] == [on_b]
    assert_problem(client.post(f"/api/v1/customers/{on_a}/link", json={"into_customer_id": on_b},
                               headers=member_of_a), 404)
