"""Administration and the privacy officer's workspace in the console, as those officials use them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.conftest import PASSWORD
from tests.twilio_fakes import inbound_sms, twilio_post

from .pages import Console

LINE_NUMBER = "+358 9 310 12345"


def test_an_administrator_sets_up_a_line_an_official_and_a_template_that_the_adviser_uses(
        make_app, admin_for, browser, serve, screenshot, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")

    console = Console(browser, server.url).open()
    console.sign_in(admin.username)
    console.click("#nav-admin")
    console.wait_for_text("main h1", "Administration")

    # A line with its addresses, retention and recording policy.
    console.fill("#line-name", "Kansalaisneuvonta")
    console.fill("#line-phones", LINE_NUMBER)
    console.fill("#line-emails", "neuvonta@kunta.example.fi")
    console.fill("#line-widgets", "neuvonta")
    console.fill("#line-case-days", "365")
    console.fill("#line-recording-days", "60")
    console.select("#line-policy", "random")
    console.fill("#line-share", "0.1")
    console.fill("#line-notice", "https://kunta.example.fi/tietosuoja")
    console.click("#line-form button[type=submit]")
    console.notice("Service line created.")
    row = console.wait_for_text("#lines-table", "Kansalaisneuvonta")
    assert "+358931012345" in row.text and "chat: neuvonta" in row.text and "cases 365 d, recordings 60 d" in row.text
    screenshot("admin-lines")
    accessible(browser, "the service lines screen")
    (line,) = [item for item in client.get("/api/v1/service-lines", headers=admin).get_json()["items"]
               if item["name"] == "Kansalaisneuvonta"]
    assert line["recording_policy"] == "random" and line["recording_share"] == 0.1
    assert line["privacy_notice_url"] == "https://kunta.example.fi/tietosuoja"

    # An adviser on it.
    console.click("#main nav.subnav a[href='#/admin/officials']")
    console.fill("#official-username", "ville.neuvoja")
    console.fill("#official-name", "Ville Neuvoja")
    console.select("#official-role", "adviser")
    console.fill("#official-password", PASSWORD)
    console.click(f"#official-line-{line['id']}")
    console.click("#official-form button[type=submit]")
    console.notice("Official added.")
    console.wait_for_text("#officials-table", "Ville Neuvoja")
    assert "Kansalaisneuvonta" in console.wait_for_text("#officials-table", "ville.neuvoja").text
    screenshot("admin-officials")
    accessible(browser, "the officials screen")

    # A template for the line, in Finnish.
    console.click("#main nav.subnav a[href='#/admin/templates']")
    console.select("#template-line", str(line["id"]))
    console.select("#template-language", "fi")
    console.fill("#template-title", "Vastaanotettu")
    console.fill("#template-body", "Hei {first_name}! Olemme saaneet viestisi ({reference}). Terveisin {official_name}")
    console.click("#template-form button[type=submit]")
    console.notice("Reply template saved.")
    console.wait_for_text("#templates-table", "Vastaanotettu")
    screenshot("admin-templates")
    accessible(browser, "the reply templates screen")
    for section in ("authorities", "api-keys"):
        console.click(f"#main nav.subnav a[href='#/admin/{section}']")
        console.element(f"#{section[:-1] if section == 'authorities' else 'api-key'}-form".replace("authoritie", "authority"))
        accessible(browser, f"the {section} screen")
    screenshot("admin-api-keys")

    # The new adviser answers an SMS to the line's number with the template.
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "ad" * 16, to=LINE_NUMBER, body="Hei, kysymys"))
    console.click("#logout")
    console.sign_in("ville.neuvoja")
    console.click("#queue-others a[href^='#/cases/']")
    console.present("#reply-form .template-picker[data-state=loaded]")
    console.select("#reply-template", console.all("#reply-template option")[1].get_attribute("value"))
    console.click("#reply-use-template")
    console.click("#reply-form button[type=submit]")
    console.notice("The reply is queued for delivery.")
    reply = console.wait_for_text("#timeline li.contact.outbound", "Terveisin Ville Neuvoja")
    assert "Olemme saaneet viestisi (20" in reply.text
    assert console.all("#nav-admin")[0].is_displayed() is False  # advisers do not administer


def test_the_privacy_officer_finds_an_overdue_request_exports_it_and_withholds_an_item(
        make_app, admin_for, browser, serve, screenshot, downloads, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    officer = admin_for(app, "privacy_officer")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "0f" * 16, from_="+358401112233",
                                                             body="Muuttoni on kesken"))
    case = client.get("/api/v1/cases", headers=admin).get_json()["items"][0]
    client.post(f"/api/v1/cases/{case['id']}/notes", headers=admin,
                json={"body": "Sisäinen arvio: ohjataan sosiaalitoimeen"})
    note_id = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["notes"][0]["id"]
    received = (datetime.now(timezone.utc) - timedelta(days=45)).isoformat()
    overdue = client.post("/api/v1/privacy/requests", headers=officer, json={
        "type": "access", "subject": {"phone": "040 111 2233"}, "received_at": received}).get_json()
    client.post("/api/v1/privacy/requests", headers=officer, json={
        "type": "rectification", "subject": {"email": "b@example.fi"},
        "received_at": datetime.now(timezone.utc).isoformat()})

    console = Console(browser, server.url).open()
    console.sign_in_to("#privacy-requests", officer.username)
    console.wait_for_text("#privacy-overdue", "Overdue: 1.")
    first = console.element("#requests-table tbody tr")
    assert "Overdue" in first.text and first.get_attribute("data-request-id") == str(overdue["id"])
    assert console.all("#nav-queue")[0].is_displayed() is False  # no case work for this role
    screenshot("privacy-requests")
    accessible(browser, "the privacy officer's request list")

    console.click(f"#requests-table tr[data-request-id='{overdue['id']}'] a")
    console.wait_for_text("#request-overdue", "past its deadline")
    console.click("#export-download")
    console.notice("Export downloaded")
    (saved,) = console.wait.until(lambda _d: list(downloads.glob("access-request-*.json")), "no export was saved")
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["people"][0]["cases"][0]["notes"][0]["body"] == "Sisäinen arvio: ohjataan sosiaalitoimeen"
    console.click(f"#export-table tr[data-item='note-{note_id}'] button.withhold")
    assert console.element("#withhold-id").get_property("value") == str(note_id)
    console.fill("#withhold-reason", "Julkisuuslaki 24 § 1 mom. 25 k")
    console.click("#withhold-form button[type=submit]")
    console.notice("Item withheld from the export.")
    console.wait_for_text("#request-withheld", "Julkisuuslaki 24 §")
    console.wait_for_text(f"#export-table tr[data-item='note-{note_id}']", "Withheld")
    screenshot("privacy-request")
    accessible(browser, "the privacy officer's request")
    export = client.get(f"/api/v1/privacy/requests/{overdue['id']}/export", headers=officer).get_json()
    assert export["people"][0]["cases"][0]["notes"][0] == {
        "withheld": True, "type": "note", "id": note_id, "reason": "Julkisuuslaki 24 § 1 mom. 25 k"}

    # Finding the customer, rectifying, restricting and holding their case.
    console.click("#request-facts ~ p a, main > p > a[href='#/privacy']")
    console.fill("#customer-q", "+358401112233")
    console.click("#customer-search button[type=submit]")
    console.click("#customer-results a")
    console.fill("#rectify-name", "Maija Mehiläinen")
    console.click("#rectify-form button[type=submit]")
    console.notice("Correction saved.")
    console.fill("#restrict-reason", "Rekisteröity kiistää tietojen paikkansapitävyyden")
    console.click("#restrict-form button[type=submit]")
    console.notice("Processing restricted.")
    console.wait_for_text("#restriction", "Restricted since")
    console.fill(f"#hold-reason-{case['id']}", "Oikeudenkäynti vireillä")
    console.click(f".hold-form[data-case-id='{case['id']}'] button")
    console.notice(f"Case {case['reference']} is on legal hold.")
    screenshot("privacy-customer")
    accessible(browser, "the privacy officer's customer page")
    customer = client.get(f"/api/v1/customers/{case['customer']['id']}", headers=admin).get_json()
    assert customer["name"] == "Maija Mehiläinen" and customer["restricted"] is True
    holds = client.get("/api/v1/audit", query_string={"action": "case.hold_placed"}, headers=admin).get_json()
    assert [entry["object_id"] for entry in holds["items"]] == [str(case["id"])] or \
        [entry["object_id"] for entry in holds["items"]] == [case["id"]]
