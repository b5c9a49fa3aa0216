"""Merging a case into another from the case page: the preview first, then the merge."""

from __future__ import annotations

from tests.twilio_fakes import inbound_sms, twilio_post

from .pages import Console


def test_an_adviser_previews_and_merges_a_case_from_its_page(make_app, admin_for, browser, serve, screenshot):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a1" * 16, body="Passiasia", from_="+358401110000"))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "b2" * 16, body="Sama passiasia",
                                                            from_="+358402220000"))
    older, newer = ((client.get("/api/v1/cases", query_string={"q": phone}, headers=adviser).get_json()["items"])[0]
                    for phone in ("+358401110000", "+358402220000"))
    assert older["id"] != newer["id"]
    client.post(f"/api/v1/cases/{newer['id']}/notes", json={"body": "Sama asia kuin toinen"}, headers=adviser)

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{newer['id']}")
    console.fill("#merge-reference", older["reference"])
    console.click("#merge-show")
    console.wait_for_text("#merge-summary", f"1 contacts, 1 notes, 0 files and 0 disclosures move to case "
                                            f"{older['reference']}.")
    assert "different customers" in console.element("#merge-preview").text
    # The preview moved nothing.
    assert len(client.get(f"/api/v1/cases/{older['id']}", headers=adviser).get_json()["contacts"]) == 1
    screenshot("case-merge-preview")

    console.click("#merge-confirm")

    console.notice(f"Merged into case {older['reference']}.")
    console.wait_for_text("h1", older["reference"])
    console.wait_for_text("#notes", "Sama asia kuin toinen")
    survivor = client.get(f"/api/v1/cases/{older['id']}", headers=adviser).get_json()
    assert sorted(c["body"] for c in survivor["contacts"]) == ["Passiasia", "Sama passiasia"]
    assert client.get(f"/api/v1/cases/{newer['id']}", headers=adviser).status_code == 404


def _one_person_texting_from_two_numbers(client, headers, *senders) -> list[dict]:
    """A customer record per number, both with the same name and address: candidates for linking."""
    for sid, phone in senders:
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + sid * 16, body="Muutto", from_=phone))
    records = [client.get("/api/v1/customers", query_string={"phone": phone}, headers=headers).get_json()["items"][0]
               for _, phone in senders]
    for customer in records:
        client.patch(f"/api/v1/customers/{customer['id']}", json={"name": "Liisa Laine", "address": "Kotikatu 1"},
                     headers=headers)
    return records


def test_the_privacy_officer_links_a_candidate_record_as_the_same_person(make_app, admin_for, browser, serve):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    officer = admin_for(app, "privacy_officer")
    first, second = _one_person_texting_from_two_numbers(client, officer, ("c3", "+358403330000"),
                                                         ("d4", "+358404440000"))

    console = Console(browser, server.url).open()
    console.sign_in_to("#privacy-requests", officer.username)
    console.go(f"#/privacy/customers/{first['id']}")
    console.wait_for_text("#link-candidates", "same name and address")
    console.click("#link-candidates .link-confirm")
    assert "one person" in console.accept_confirmation()

    console.notice("Linked as one person.")
    console.wait_for_text("#linked-records", "+358404440000")
    linked = client.get(f"/api/v1/customers/{second['id']}", headers=officer).get_json()
    assert linked["merged_into_id"] == first["id"]


def test_an_adviser_splits_a_contact_off_to_a_new_case(make_app, admin_for, browser, serve):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    for sid, body in (("e5" * 16, "Passiasia"), ("f6" * 16, "Ja toinen asia: ajokortti")):
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + sid, body=body, from_="+358405550000"))
    (case,) = client.get("/api/v1/cases", headers=adviser).get_json()["items"]
    contacts = client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()["contacts"]
    second = next(c for c in contacts if c["body"].startswith("Ja toinen"))

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{case['id']}")
    console.click(f"#split-{second['id']}")
    console.click("#split-show")
    console.wait_for_text("#split-summary", "1 contacts, 0 files and 0 messages move to a new case.")
    console.click("#split-confirm")

    console.notice("Moved to the new case")
    console.wait_for_text("main", "Ja toinen asia: ajokortti")
    cases = client.get("/api/v1/cases", headers=adviser).get_json()["items"]
    assert len(cases) == 2
    assert [c["body"] for c in client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()["contacts"]] == \
        ["Passiasia"]


def test_an_administrator_grants_an_adviser_linking_and_the_adviser_links_from_the_case_page(
        make_app, admin_for, browser, serve, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    adviser = admin_for(app, "adviser")
    first, second = _one_person_texting_from_two_numbers(client, admin, ("a7", "+358406660000"),
                                                         ("b8", "+358407770000"))
    (case,) = client.get("/api/v1/cases", query_string={"q": "+358406660000"}, headers=adviser).get_json()["items"]

    console = Console(browser, server.url).open()
    console.sign_in(admin.username)
    console.go("#/admin/officials")
    console.click(f"button.edit-official[data-official-id='{adviser.id}']")
    # Offered for advisers and supervisors only.
    console.select("#official-edit-role", "inspector")
    assert not console.all("#official-edit-may-link")[0].is_displayed()
    console.select("#official-edit-role", "adviser")
    console.click("#official-edit-may-link")
    accessible(browser, "the official's edit form with the linking grant")
    console.click("#official-form button[type=submit]")
    console.notice("Official's role and lines saved.")
    assert client.get(f"/api/v1/officials/{adviser.id}", headers=admin).get_json()["may_link_customers"] is True

    console.click("#logout")
    console.sign_in(adviser.username)
    console.go(f"#/cases/{case['id']}")
    console.click("#same-person-open")
    console.wait_for_text("#link-candidates", "same name and address")
    console.click("#link-candidates .link-confirm")
    assert "one person" in console.accept_confirmation()

    console.notice("Linked as one person.")
    assert client.get(f"/api/v1/customers/{second['id']}", headers=admin).get_json()["merged_into_id"] == first["id"]
