"""The agent console driven in headless Chromium, the way advisers and supervisors use it."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from selenium.webdriver.common.keys import Keys
from sqlalchemy import func, select

from service.auth.models import AuthToken
from service.extensions import db
from service.jobs import roll_up_statistics
from tests.conftest import PASSWORD, Api
from tests.twilio_fakes import ACCOUNT_SID, inbound_sms, twilio_post
from tests.voice_fakes import FakeMediaServer, recorded_call, voice_line

from .conftest import BROWSER_TIME_ZONE
from .pages import Console

SMS_BODY = "Hei! Milloin oleskelulupahakemukseni käsitellään?"


def _case_of(client, headers, **filters):
    page = client.get("/api/v1/cases", query_string=filters, headers=headers).get_json()
    assert page["total"] == 1, page
    return page["items"][0]


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(BROWSER_TIME_ZONE))


@pytest.fixture
def helsinki_midday():
    """The application's clock at noon of the browser's Helsinki day, running on from there:
    contacts made a few minutes earlier fall on the same day whenever the test runs (the
    browser's own clock, which picks the chart's days, is left alone)."""
    today = datetime.now(ZoneInfo(BROWSER_TIME_ZONE)).date()
    noon = datetime.combine(today, dt_time(12), tzinfo=ZoneInfo(BROWSER_TIME_ZONE))
    with time_machine.travel(noon, tick=True):
        yield noon.astimezone(timezone.utc)


def _long_date(value: str) -> str:
    # As the page shows it in en-GB.
    local = _local(value)
    return f"{local.day} {local:%B %Y}"


def test_an_inbound_sms_is_answered_noted_and_closed_in_the_console(make_app, admin_for, browser, serve, screenshot):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.wait_for_text("#queue-others", "No cases here")
    assert not console.element("#nav a[href='#/queue']").get_attribute("hidden")
    assert console.all("#nav-stats")[0].is_displayed() is False  # advisers have no statistics

    signed = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a1" * 16, body=SMS_BODY))
    assert signed.status_code == 200
    reference = _case_of(client, adviser)["reference"]

    # The queue polls: the new case shows up without a reload, and is announced.
    console.wait_for_text("#queue-others", reference)
    console.notice("Cases with new activity: 1.")
    screenshot("queue")
    console.select("#filter-channel", "email")
    console.wait_for_text("#queue-others", "No cases here")
    console.select("#filter-channel", "sms")
    console.wait_for_text("#queue-others", reference)
    console.click("#queue-others a[href^='#/cases/']")

    # Taking the case moves it to the top of the adviser's queue: their own cases come first.
    console.click("#assign-me")
    console.notice("Assignment saved.")
    console.click("main > p > a[href='#/queue']")
    console.wait_for_text("#queue-mine", reference)
    console.click("#queue-mine a[href^='#/cases/']")

    console.wait_for_text("#timeline", SMS_BODY)
    console.wait_for_text("#customer", "+358401234567")
    console.fill("#reply-body", "Hakemuksesi on käsittelyssä; saat päätöksen kahden viikon kuluessa.")
    console.double_click("#reply-form button[type=submit]")  # an impatient double click sends once
    console.notice("The reply is queued for delivery.")
    console.wait_for_text("#timeline", "saat päätöksen kahden viikon kuluessa")
    assert len(console.all("#timeline li.contact.outbound")) == 1

    # With the keyboard alone: type the note, Tab to its button, Enter.
    console.fill("#note-body", "Asiakas kysyi käsittelyajasta; vastattu tekstiviestillä.")
    console.press(Keys.TAB)
    assert console.focused().text == "Add note"
    console.press(Keys.ENTER)
    console.wait_for_text("#notes", "Asiakas kysyi käsittelyajasta")
    screenshot("case")

    console.click("#close-case")
    assert "retention" in console.accept_confirmation()
    console.wait_for_text("#case-status", "Closed")
    closed = client.get(f"/api/v1/cases/{_case_of(client, adviser)['id']}", headers=adviser).get_json()
    assert closed["status"] == "closed" and closed["retention_until"]
    console.wait_for_text("#retention-until", _long_date(closed["retention_until"]))
    assert _long_date(closed["retention_until"]) in console.element("#retention-note").text
    # Closing an SMS case schedules the feedback request, shown on the case.
    console.wait_for_text("#feedback", "Feedback request scheduled")
    assert closed["notes"][0]["body"] == "Asiakas kysyi käsittelyajasta; vastattu tekstiviestillä."
    assert [c["direction"] for c in closed["contacts"]] == ["inbound", "outbound"]
    screenshot("case-closed")

    # Reopening stops the clock again.
    console.click("#reopen-case")
    console.wait_for_text("#case-status", "Open")
    assert console.all("#retention-until") == []


def test_an_adviser_hears_only_the_recordings_of_calls_they_handled(make_app, admin_for, browser, serve):
    media = FakeMediaServer()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=media.get)
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    handler, colleague = admin_for(app, "adviser"), admin_for(app, "adviser")
    voice_line(client, admin)
    recorded_call(client, admin, "CA" + "d" * 32, official_username=handler.username)
    case_id = _case_of(client, admin)["id"]

    console = Console(browser, server.url).open()
    console.sign_in(colleague.username)
    console.go(f"#/cases/{case_id}")
    console.wait_for_text("#timeline", "Time in queue")
    recordings = console.present("#recordings[data-state=loaded]")
    assert not recordings.is_displayed()
    assert console.all("#recordings .play-recording") == [] and console.all("audio") == []

    console.click("#logout")
    console.sign_in(handler.username)
    console.go(f"#/cases/{case_id}")
    console.wait_for_text("#recordings", "Call recordings")
    console.click("#recordings .play-recording")
    audio = console.element("#recordings audio")
    assert audio.get_attribute("src").startswith("blob:")
    plays = client.get("/api/v1/audit", query_string={"action": "recording.played"}, headers=admin).get_json()["items"]
    assert [entry["actor_id"] for entry in plays] == [handler.id]


def test_a_supervisor_sees_contact_volumes_charted_and_can_download_them(make_app, admin_for, browser, serve, screenshot,
                                                                          downloads, api, helsinki_midday):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    supervisor = admin_for(app, "supervisor")
    intake = api.api_key_headers()
    now = helsinki_midday
    for n in range(6):
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms(f"SM{n:032d}", from_=f"+35840123450{n}"))
        started = now - timedelta(seconds=400 - 10 * n)
        answered = started + timedelta(seconds=30 * (n + 1))
        assert client.post("/api/v1/inbound/calls", headers=intake, json={
            "external_id": f"call-{n}", "from": {"phone": f"+35850123450{n}"},
            "started_at": started.isoformat(), "answered_at": answered.isoformat(),
            "ended_at": (answered + timedelta(minutes=1)).isoformat(), "queue_seconds": 30 * (n + 1)}).status_code == 201
    with app.app_context():
        roll_up_statistics()

    console = Console(browser, server.url).open()
    console.sign_in(supervisor.username)
    console.click("#nav-stats")
    chart = console.element("#chart-contacts svg")
    # One day, two channels: a stacked bar of two parts.
    assert len(chart.find_elements("css selector", "rect.bar")) == 2
    console.wait_for_text("#stats-contacts", "12 contacts in the range.")
    assert console.element("#chart-contacts .legend").text.split("\n") == ["SMS", "Phone"]
    # Queue times 30 s to 3 min: the median of six is 1 min 45 s.
    console.wait_for_text("#stats-calls", "6 calls offered, 6 answered")
    assert "1 min 45" in console.element("#stats-calls").text
    assert len(console.all("#chart-queue svg rect.bar")) == 2  # median and 90th percentile, one day
    # The figures behind the chart, as a table for screen readers.
    console.click("#chart-contacts summary")
    cells = [cell.text for cell in console.all("#chart-contacts table tbody td")]
    assert cells.count("6") == 2 and set(cells) == {"0", "6"}
    # Both channels' contacts on one day: the clock set above keeps them off either side of midnight.
    days = [row for row in console.all("#chart-contacts table tbody tr")
            if any(cell.text != "0" for cell in row.find_elements("css selector", "td"))]
    assert len(days) == 1, [row.text for row in days]
    screenshot("statistics")

    # The chart's periods are labelled as the API labels them, ISO weeks across a year's end too.
    periods = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('./static/js/stats.js').then((m) => done(["
        "m.periodsOf('2026-12-28', '2027-01-11', 'week'), m.periodsOf('2027-01-30', '2027-03-02', 'month'),"
        "m.periodsOf('2027-02-27', '2027-03-01', 'day')]));")
    assert periods == [["2026-W53", "2027-W01", "2027-W02"], ["2027-01", "2027-02", "2027-03"],
                       ["2027-02-27", "2027-02-28", "2027-03-01"]]

    console.click("#stats-contacts button.csv")
    (saved,) = console.wait.until(lambda _d: list(downloads.glob("contacts-*.csv")), "no CSV was saved")
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [row["contacts"] for row in rows if row["channel"] == "sms"] == ["6"]


def test_the_console_speaks_finnish_and_swedish(make_app, admin_for, browser, serve, screenshot):
    app = make_app()
    server = serve(app)
    adviser = admin_for(app, "adviser")
    console = Console(browser, server.url).open()

    console.choose_language("fi")
    console.wait_for_text("#login-form h1", "Kirjaudu sisään")
    console.sign_in(adviser.username)
    console.wait_for_text("main h1", "Asiajono")
    assert console.element("html").get_attribute("lang") == "fi"
    screenshot("queue-fi")

    console.choose_language("sv")
    console.wait_for_text("main h1", "Ärendekö")
    assert console.element("#logout").text == "Logga ut"
    assert console.element("html").get_attribute("lang") == "sv"


def test_forwarding_discloses_exactly_the_chosen_fields_and_shows_the_log(make_app, admin_for, browser, serve, screenshot):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    adviser = admin_for(app, "adviser")
    authority = client.post("/api/v1/authorities", json={"name": "Verohallinto", "email": "asiakaspalvelu@vero.example"},
                            headers=admin).get_json()
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "f0" * 16, body="Verokortti-asia"))
    case_id = _case_of(client, adviser)["id"]

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{case_id}")
    console.wait_for_text("#disclosures", "Nothing about this case has been disclosed.")
    # Nothing to summarise yet: the summary cannot be chosen until the question is written down.
    assert console.element("#disclose-summary").is_enabled() is False
    assert console.element("#disclose-address").is_enabled() is False
    console.fill("#note-body", "Luonnos: soitetaan huomenna")
    console.fill("#case-question", "Miten saan uuden verokortin?")
    console.fill("#case-answer", "Ohjattu Verohallintoon.")
    console.click("#qa-form button[type=submit]")
    console.notice("Question and answer saved.")
    # Saving one form redraws the case; what was typed in another is still there.
    assert console.element("#note-body").get_property("value") == "Luonnos: soitetaan huomenna"
    console.wait_for_text("#forward-authority", "Verohallinto")
    console.element("#forward-authority").send_keys("Verohallinto")
    console.click("#disclose-phone")
    console.click("#disclose-summary")
    console.fill("#forward-basis", "Hallintolaki 21 §")
    console.click("#forward-form button[type=submit]")
    console.notice("Forwarded; the disclosure is logged.")
    console.wait_for_text("#disclosures", "Hallintolaki 21 §")
    assert "Phone, Summary of the matter" in console.element("#disclosures table").text
    screenshot("case-forwarded")

    (disclosure,) = client.get(f"/api/v1/cases/{case_id}/disclosures", headers=admin).get_json()["items"]
    assert disclosure["authority"]["id"] == authority["id"]
    assert sorted(disclosure["fields"]) == ["phone", "summary"]


def test_a_role_without_case_work_is_told_so_at_sign_in(make_app, admin_for, browser, serve):
    app = make_app()
    server = serve(app)
    # The inspector: neither case work nor the privacy officer's (who has a workspace of their own).
    line = app.test_client().post("/api/v1/service-lines", json={"name": "Inspected"},
                                  headers=admin_for(app, "admin")).get_json()
    officer = Api(app, app.test_client()).headers_for("inspector", service_line_ids=[line["id"]])
    console = Console(browser, server.url).open()
    console.element("#username").send_keys(officer.username)
    console.element("#password").send_keys(PASSWORD)
    console.click("#login-form button[type=submit]")
    console.wait_for_text("#login-form .error", "Your role has no case work in the console.")
    assert console.all("#queue-filters") == []
    # The token the form obtained was revoked, not left behind.
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthToken)
                                 .where(AuthToken.official_id == officer.id, AuthToken.revoked_at.is_(None))) == 1


def test_the_timeline_shows_each_channel_with_its_own_times(make_app, admin_for, browser, serve, api):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    intake = api.api_key_headers()

    started = client.post("/api/v1/chats", json={"anonymous": False, "name": "Anna Asiakas", "language": "fi",
                                                   "email": "anna@example.fi"}).get_json()
    customer = {"Authorization": "Bearer " + started["token"]}
    chat = started["chat_id"]
    client.post(f"/api/v1/chats/{chat}/messages", json={"body": "Miten haen passia?"}, headers=customer)
    client.post(f"/api/v1/chats/{chat}/join", headers=adviser)
    client.post(f"/api/v1/chats/{chat}/messages", json={"body": "Varaa aika poliisilta."}, headers=adviser)
    assert client.post(f"/api/v1/chats/{chat}/end", headers=customer).status_code == 200
    email = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<m1@example.fi>", "from": {"email": "anna@example.fi"},
        "subject": "Passihakemus", "body": "Liitteenä valokuva.", "received_at": "2026-11-20T07:45:00Z"}).get_json()
    call = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "call-1", "from": {"phone": "+358401234567"}, "started_at": "2026-11-20T08:00:00Z",
        "answered_at": "2026-11-20T08:01:15Z", "ended_at": "2026-11-20T08:06:00Z", "queue_seconds": 75,
        "handled_by_id": adviser.id}).get_json()

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{started['case_id']}")
    transcript = console.wait_for_text("#timeline li.contact", "Varaa aika poliisilta.")
    assert "Miten haen passia?" in transcript.text
    assert all(label in transcript.text for label in ("Started", "Answered", "Ended"))

    console.go(f"#/cases/{email['case_id']}")
    mail = console.wait_for_text(f"#timeline li[data-contact-id='{email['contact_id']}']", "Passihakemus")
    assert "Received" in mail.text and _short_time("2026-11-20T07:45:00Z") in mail.text

    console.go(f"#/cases/{call['case_id']}")
    phone = console.wait_for_text(f"#timeline li[data-contact-id='{call['contact_id']}']", "Time in queue")
    for moment in ("2026-11-20T08:00:00Z", "2026-11-20T08:01:15Z", "2026-11-20T08:06:00Z"):
        assert _short_time(moment) in phone.text
    assert "1 min" in phone.text and "15" in phone.text
    assert adviser.username.replace("adviser", "Adviser ") in phone.text  # who answered


def _short_time(value: str) -> str:
    # en-GB short date and medium time.
    local = _local(value)
    return f"{local:%d/%m/%Y}, {local:%H:%M:%S}"


def test_the_queue_marks_what_is_due_soon_and_past_due_and_orders_by_what_is_due_next(make_app, admin_for, browser,
                                                                                    serve, api):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin, adviser = admin_for(app, "admin"), admin_for(app, "adviser")
    intake = api.api_key_headers()
    # Open around the clock, so the test's own moment is working time whenever it runs.
    always = {day: ["00:00", "23:59"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar = client.post("/api/v1/calendars", json={"name": "Aina auki", "hours": always, "holiday_country": None},
                           headers=admin).get_json()
    line = client.post("/api/v1/service-lines", json={"name": "Neuvonta", "phone_numbers": ["+358 9 310 1234"],
                                                      "email_addresses": ["neuvonta@example.fi"]},
                       headers=admin).get_json()
    client.put(f"/api/v1/service-lines/{line['id']}/targets", headers=admin, json={
        "calendar_id": calendar["id"], "targets": [{"channel": "email", "first_response_minutes": 600},
                                                   {"channel": "sms", "first_response_minutes": 30}]})
    email = api.inbound(intake, channel="email", to="neuvonta@example.fi", **{"from": {"email": "a@example.fi"}},
                        subject="Kysymys").get_json()
    sms = api.inbound(intake, channel="sms", to="+358 9 310 1234").get_json()
    late = api.inbound(intake, channel="sms", to="+358 9 310 1234", **{"from": {"phone": "040 765 4321"}}).get_json()
    with app.app_context():
        from service.cases.models import Case

        # Its 30 minutes ran out ten minutes ago: the due time is moved back rather than waited out.
        case = db.session.get(Case, late["case_id"])
        case.first_response_due_at = case.next_due_at = case.first_response_due_at - timedelta(minutes=40)
        db.session.commit()

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.wait_for_text("#queue-others", late["case_reference"])
    console.select("#filter-sort", "due")

    def queue():
        return [(row.find_element("css selector", "a").text,
                 [mark for mark in ("Past due", "Due soon") if mark in row.text])
                for row in console.all("#queue-others tbody tr")]
    # The marks are on the page before the re-sorted list replaces the old one: wait for the order.
    console.wait_until_shown(queue, [(late["case_reference"], ["Past due"]), (sms["case_reference"], ["Due soon"]),
                                     (email["case_reference"], [])], "the queue sorted by what is due next")
    console.click("#filter-breached")
    console.wait_until_shown(queue, [(late["case_reference"], ["Past due"])], "the queue of past due cases")

    for language, past_due in (("fi", "Myöhässä"), ("sv", "Försenad")):
        console.choose_language(language)
        console.wait_until_shown(lambda: [(row.find_element("css selector", "a").text, past_due in row.text)
                                          for row in console.all("#queue-others tbody tr")],
                                 [(late["case_reference"], True)], f"the past due mark in {language}")


def test_each_file_shows_its_scan_state_and_only_clean_files_can_be_downloaded(make_app, admin_for, browser, serve,
                                                                               screenshot, clamd, downloads):
    import base64

    from service.cases.scanning import SCAN_KEY
    from service.jobs import scan_files
    from tests.clamd_server import EICAR, EICAR_SIGNATURE

    # In-process jobs: the test runs the scans itself, to see the files before and after.
    app = make_app(CLAMD_SOCKET=clamd.socket, REDIS_URL=None)
    server = serve(app)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    intake = Api(app, client).api_key_headers()
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

    def attached(name, content_type, content):
        return {"filename": name, "content_type": content_type, "content_base64": base64.b64encode(content).decode()}

    message = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<scan@example.fi>", "from": {"email": "anna@example.fi"},
        "subject": "Liitteet", "body": "Liitteitä.", "attachments": [
            attached("hakemus.pdf", "application/pdf", pdf), attached("outo.txt", "text/plain", EICAR),
            attached("odottaa.pdf", "application/pdf", pdf)]}).get_json()
    with app.app_context():
        from service.cases.models import Attachment

        # The last file is left waiting: scan the first two only, as a worker that stopped would.
        waiting = db.session.scalars(select(Attachment).where(Attachment.filename == "odottaa.pdf")).one()
        waiting.scan_due_at = datetime.now(timezone.utc) + timedelta(hours=1)
        db.session.commit()
        scan_files(SCAN_KEY)

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{message['case_id']}")
    console.wait_for_text("#timeline ul.files", "odottaa.pdf")
    items = {li.get_attribute("data-scan-status"): li for li in console.all("#timeline ul.files li")}
    assert set(items) == {"clean", "infected", "pending"}
    assert EICAR_SIGNATURE in items["infected"].text and "quarantined" in items["infected"].text
    assert "waiting for its malware scan" in items["pending"].text
    # A download button for the clean file only.
    assert [b.text for b in console.all("#timeline ul.files button")] == ["hakemus.pdf"]
    screenshot("case-files-scan-states")
    console.click("#timeline ul.files button")
    deadline = time.monotonic() + 10
    while not (downloads / "hakemus.pdf").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (downloads / "hakemus.pdf").read_bytes() == pdf


def test_the_search_box_finds_what_a_citizen_wrote_and_shows_it_marked(make_app, admin_for, browser, serve, api,
                                                                       screenshot):
    app = make_app()
    server = serve(app)
    adviser = admin_for(app, "adviser")
    intake = api.api_key_headers()
    wanted = api.inbound(intake, channel="sms", **{"from": {"phone": "+358401234567"}}, language="fi",
                         body="Hei! Muuttoilmoitukseni Tampereelle jäi kesken, mitä teen?").get_json()
    other = api.inbound(intake, channel="sms", **{"from": {"phone": "+358407654321"}}, language="fi",
                        body="Verokortti pitäisi tilata").get_json()

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.wait_for_text("#queue-others", other["case_reference"])
    console.fill("#filter-q", "muuttoilmoitus")
    console.press(Keys.ENTER)
    console.wait_for_text("#queue-others", "Message:")

    rows = console.all("#queue-others tbody tr")
    assert [row.find_element("css selector", "a").text for row in rows] == [wanted["case_reference"]]
    marks = rows[0].find_elements("css selector", ".snippet mark")
    assert [m.text for m in marks] == ["Muuttoilmoitukseni"]
    assert console.element("#search-order").text.startswith("Search results")
    screenshot("queue-search")
    console.choose_language("fi")
    console.wait_for_text("#queue-others", "Viesti:")
