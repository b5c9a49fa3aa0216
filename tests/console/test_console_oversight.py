"""The console's oversight screens as their officials use them: an administrator changes an
official's role and lines, the privacy officer places and releases legal holds on a person's
cases, and those who may read the audit log filter it and page through it, in all three
languages. Each screen passes axe-core; a server error in the page fails the test (conftest)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.conftest import PASSWORD
from tests.twilio_fakes import inbound_sms, twilio_post

from .conftest import _expected_failure
from .pages import Console


def test_a_server_error_in_the_page_is_never_an_expected_failure():
    refused = "http://127.0.0.1:1/api/v1/x - Failed to load resource: the server responded with a status of 409 (CONFLICT)"
    broken = "http://127.0.0.1:1/api/v1/x - Failed to load resource: the server responded with a status of 500 ()"
    assert _expected_failure(refused) and not _expected_failure(broken)


def _official(client, admin, username, role, line_ids):
    response = client.post("/api/v1/officials", headers=admin, json={
        "username": username, "name": username.replace(".", " ").title(), "role": role,
        "password": PASSWORD, "service_line_ids": line_ids})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_administrator_changes_an_officials_role_and_lines(make_app, admin_for, browser, serve, screenshot,
                                                               accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    advice, housing = (client.post("/api/v1/service-lines", headers=admin, json={"name": name}).get_json()
                       for name in ("Neuvonta", "Asuminen"))
    official = _official(client, admin, "kaisa.koskinen", "adviser", [advice["id"]])

    console = Console(browser, server.url).open()
    console.sign_in(admin.username)
    console.go("#/admin/officials")
    console.click(f"button.edit-official[data-official-id='{official['id']}']")
    console.wait_for_text("#official-form h2", "Edit Kaisa Koskinen (kaisa.koskinen)")
    assert console.focused() == console.element("#official-edit-role")
    assert console.element(f"#official-edit-line-{advice['id']}").is_selected()
    # Only a supervisor can be held to their lines by the flag; the box is not offered otherwise.
    assert not console.all("#official-edit-limited")[0].is_displayed()
    console.select("#official-edit-role", "supervisor")
    console.click(f"#official-edit-line-{advice['id']}")
    console.click(f"#official-edit-line-{housing['id']}")
    console.click("#official-edit-limited")
    screenshot("admin-official-edit")
    accessible(browser, "the official's edit form")
    console.click("#official-form button[type=submit]")
    console.notice("Official's role and lines saved.")
    row = f"#officials-table tr:has(button[data-official-id='{official['id']}'])"
    console.wait_for_text(row, "Supervisor")
    console.wait_for_text(row, "Asuminen")
    assert "Neuvonta" not in console.element(row).text
    changed = client.get(f"/api/v1/officials/{official['id']}", headers=admin).get_json()
    assert (changed["role"], changed["service_line_ids"], changed["limited_to_lines"]) == (
        "supervisor", [housing["id"]], True)

    # The API's rules are shown as it gives them: a supervisor limited to no line sees nothing.
    console.click(f"button.edit-official[data-official-id='{official['id']}']")
    console.click(f"#official-edit-line-{housing['id']}")
    console.click("#official-form button[type=submit]")
    console.notice("needs at least one service line")
    # Nor can the last administrator stop being one.
    console.click("#official-edit-cancel")
    console.element("#official-username")  # the screen as it was, with the form for a new official
    console.click(f"button.edit-official[data-official-id='{admin.id}']")
    console.select("#official-edit-role", "adviser")
    console.click("#official-form button[type=submit]")
    console.notice("last active admin")
    assert client.get(f"/api/v1/officials/{admin.id}", headers=admin).get_json()["role"] == "admin"

    for language, caption, heading, save in (("fi", "Virkailijat", "Muokkaa: Kaisa Koskinen", "Tallenna"),
                                             ("sv", "Tjänstemän", "Ändra Kaisa Koskinen", "Spara")):
        console.choose_language(language)
        console.wait_for_text("#officials-table caption", caption)  # redrawn in the new language
        console.click(f"button.edit-official[data-official-id='{official['id']}']")
        console.wait_for_text("#official-form h2", heading)
        assert save in console.element("#official-form button[type=submit]").text
        accessible(browser, f"the official's edit form in {language}")
    console.choose_language("en")
    console.wait_for_text("#officials-table caption", "Officials")

    # With another administrator, one may become a supervisor, and is shown that role's console.
    _official(client, admin, "toinen.yllapitaja", "admin", [])
    console.click(f"button.edit-official[data-official-id='{admin.id}']")
    console.select("#official-edit-role", "supervisor")
    console.click("#official-form button[type=submit]")
    console.notice("Your role is now: Supervisor.")
    console.element("#queue-filters")
    assert not console.all("#nav-admin")[0].is_displayed() and console.element("#nav-stats").is_displayed()

    # The change holds from the official's next request: they now have the statistics.
    console.click("#logout")
    console.sign_in("kaisa.koskinen")
    assert console.element("#nav-stats").is_displayed()
    assert not console.all("#nav-admin")[0].is_displayed() and not console.all("#nav-audit")[0].is_displayed()


def test_the_privacy_officer_sees_places_and_releases_legal_holds_on_a_persons_cases(
        make_app, admin_for, browser, serve, screenshot, accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    officer = admin_for(app, "privacy_officer")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "1a" * 16, from_="+358407654321", body="Ensimmäinen"))
    first = client.get("/api/v1/cases", headers=admin).get_json()["items"][0]
    assert client.post(f"/api/v1/cases/{first['id']}/close", headers=admin).status_code == 200
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "2b" * 16, from_="+358407654321", body="Toinen"))
    second = next(item for item in client.get("/api/v1/cases", headers=admin).get_json()["items"]
                  if item["id"] != first["id"])
    customer_id = first["customer"]["id"]
    assert second["customer"]["id"] == customer_id
    client.post(f"/api/v1/cases/{first['id']}/hold", headers=officer, json={"reason": "Valitus hallinto-oikeudessa"})

    console = Console(browser, server.url).open()
    console.sign_in_to("#privacy-requests", officer.username)
    console.go(f"#/privacy/customers/{customer_id}")
    held = console.wait_for_text(f"#customer-cases li[data-case-id='{first['id']}']", "On legal hold")
    assert "Valitus hallinto-oikeudessa" in held.text and not console.all(f".hold-form[data-case-id='{first['id']}']")
    assert "On legal hold" not in console.element(f"#customer-cases li[data-case-id='{second['id']}']").text
    screenshot("privacy-holds")
    accessible(browser, "the customer's cases with a hold")

    console.fill(f"#hold-reason-{second['id']}", "Rikostutkinta")
    console.click(f".hold-form[data-case-id='{second['id']}'] button")
    console.notice(f"Case {second['reference']} is on legal hold.")
    console.wait_for_text(f"#customer-cases li[data-case-id='{second['id']}']", "Rikostutkinta")

    console.click(f"#customer-cases li[data-case-id='{first['id']}'] button.release-hold")
    assert first["reference"] in console.accept_confirmation()
    console.notice(f"The legal hold on {first['reference']} is released.")
    console.present(f".hold-form[data-case-id='{first['id']}']")
    cases = {case["id"]: case for case in client.get(f"/api/v1/customers/{customer_id}", headers=officer)
             .get_json()["cases"]}
    assert cases[first["id"]]["legal_hold_at"] is None
    assert cases[second["id"]]["legal_hold_reason"] == "Rikostutkinta"
    actions = [entry["action"] for entry in client.get("/api/v1/audit", headers=admin, query_string={
        "actor_id": officer.id, "object_type": "case"}).get_json()["items"]]
    assert actions[:2] == ["case.hold_released", "case.hold_placed"]

    for language, badge, release in (("fi", "Säilytysmääräys", "Pura säilytysmääräys"),
                                     ("sv", "Bevarande", "Häv bevarandet")):
        console.choose_language(language)
        item = console.wait_for_text(f"#customer-cases li[data-case-id='{second['id']}']", badge)
        assert release in item.text
        accessible(browser, f"the customer's cases in {language}")


def test_the_audit_log_is_filtered_and_paged_in_three_languages(make_app, admin_for, browser, serve, screenshot,
                                                                accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    adviser = admin_for(app, "adviser")
    officer = admin_for(app, "privacy_officer")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "3c" * 16, from_="+358401234000", body="Kysymys"))
    case = client.get("/api/v1/cases", headers=admin).get_json()["items"][0]
    for _ in range(54):
        assert client.get(f"/api/v1/cases/{case['id']}", headers=adviser).status_code == 200

    console = Console(browser, server.url).open()
    console.sign_in_to("#privacy-requests", officer.username)
    console.click("#nav-audit")
    console.wait_for_text("main h1", "Audit log")
    console.element("#audit-table")
    accessible(browser, "the audit log")

    console.select("#audit-action", "case.read")
    console.select("#audit-actor", f"official:{adviser.id}")
    console.click("#audit-filters button[type=submit]")
    console.wait_for_text("#audit-page", "Page 1 of 2 (54 entries)")
    rows = console.all("#audit-table tbody tr")
    assert len(rows) == 50
    assert all("case.read" in row.text and "Adviser" in row.text for row in rows)
    assert f"case {case['id']}" in rows[0].text
    screenshot("audit-log")
    console.click("#audit-next")
    console.wait_for_text("#audit-page", "Page 2 of 2 (54 entries)")
    assert len(console.all("#audit-table tbody tr")) == 4
    assert console.focused() == console.element("#audit-previous")  # the keyboard stays on the pager
    assert console.element("#audit-next").get_attribute("disabled") is not None

    # The log as it was left, after a visit elsewhere; then narrowed to days with nothing in them.
    console.click("#nav-privacy")
    console.element("#privacy-requests")
    console.click("#nav-audit")
    console.wait_for_text("#audit-page", "Page 2 of 2 (54 entries)")
    long_ago = date.today() - timedelta(days=2)
    console.driver.execute_script(
        "document.getElementById('audit-to').value = arguments[0]", long_ago.isoformat())
    console.click("#audit-filters button[type=submit]")
    console.wait_for_text("#audit-empty", "No audit entries match")
    console.click("#audit-clear")
    console.wait_for_text("#audit-page", "Page 1 of")
    assert console.element("#audit-action").get_property("value") == ""

    # A wrong filter is the API's 422, told in the page, not a broken screen.
    console.driver.execute_script("document.getElementById('audit-object-id').value = '0'")
    console.driver.execute_script("document.getElementById('audit-object-id').removeAttribute('min')")
    console.click("#audit-filters button[type=submit]")
    console.wait_for_text("#audit-results", "object_id")
    # Past the service's count (10,000 by default; 50 from here on) the pager says "at least"
    # and goes on: the whole log holds more than 50 entries.
    app.config["LIST_COUNT_UP_TO"] = 50
    console.click("#audit-clear")
    console.wait_for_text("#audit-page", "Page 1 of at least 2 (more than 50 entries)")
    assert console.element("#audit-next").get_attribute("disabled") is None

    for language, heading, caption, pager in (
            ("fi", "Lokitiedot", "Lokimerkinnät, uusimmat ensin", "Sivu 1/2+ (merkintöjä yli 50)"),
            ("sv", "Loggen", "Loggposter, nyaste först", "Sida 1 av minst 2 (fler än 50 poster)")):
        console.choose_language(language)
        console.wait_for_text("main h1", heading)
        console.wait_for_text("#audit-table caption", caption)
        console.wait_for_text("#audit-page", pager)
        accessible(browser, f"the audit log in {language}")

    # Administrators read it too; advisers do not see the way there.
    console.choose_language("en")
    console.click("#logout")
    console.sign_in(admin.username)
    assert console.element("#nav-audit").is_displayed()
    console.click("#logout")
    console.sign_in(adviser.username)
    assert not console.all("#nav-audit")[0].is_displayed()
    entries = client.get("/api/v1/audit", headers=admin, query_string={
        "action": "audit.read", "actor_id": officer.id}).get_json()
    assert entries["total"] >= 5  # every page the officer looked at is itself in the log
