"""Statistics: exact counts on Helsinki calendar days (clock changes and midnight included),
suppression of small cells, CSV, no identifiers anywhere, and the same numbers after the purge."""

import csv
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from service.db_types import utcnow
from service.jobs import roll_up_statistics
from service.lines.logic import DEFAULT_LINE_NAME
from tests.api.problems import assert_problem

# Sender details distinctive enough that finding any of them in a statistics response is a leak.
PHONES = [f"+35840777{n:04d}" for n in range(40)]
NAME = "Tuulikki Tunnistettava"
EMAIL = "tuulikki.tunnistettava@example.fi"
BODY = "Henkilötunnukseni on 010190-123A"
HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def exact_app(make_app):
    """Threshold 1: every count shown, so exact numbers can be checked."""
    return make_app(STATS_SUPPRESSION_THRESHOLD=1)


@pytest.fixture
def as_(api):
    return api.headers_for


def _sms(client, intake, at, n, **extra):
    body = {"channel": "sms", "external_id": f"SM-stats-{n}", "from": {"phone": PHONES[n % len(PHONES)], "name": NAME},
            "body": BODY, "received_at": at}
    body.update(extra)
    response = client.post("/api/v1/inbound/messages", headers=intake, json=body)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def _roll_up(app):
    with app.app_context():
        return roll_up_statistics()


def _stats(client, headers, report="contacts", **params):
    response = client.get(f"/api/v1/stats/{report}", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response


def _days(body):
    return {row["period"]: row["contacts"] for row in body["totals"]}


def test_contacts_count_on_the_helsinki_day_across_clock_changes_and_midnight(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    moments = [
        "2026-03-28T21:59:00Z",  # 23:59 EET: still the 28th
        "2026-03-28T22:30:00Z",  # 00:30 EET: the 29th (the issue's own example)
        "2026-03-29T00:59:00Z",  # 02:59 EET, a minute before the clocks go forward
        "2026-03-29T01:00:00Z",  # 04:00 EEST
        "2026-03-29T20:59:00Z",  # 23:59 EEST: the 29th was only 23 hours long
        "2026-03-29T21:00:00Z",  # 00:00 EEST: the 30th
        "2026-10-24T20:59:00Z",  # 23:59 EEST on the 24th
        "2026-10-24T21:00:00Z",  # 00:00 EEST on the 25th
        "2026-10-25T00:30:00Z",  # 03:30 EEST, first time round
        "2026-10-25T01:30:00Z",  # 03:30 EET, the repeated hour
        "2026-10-25T21:59:00Z",  # 23:59 EET: the 25th was 25 hours long
        "2026-10-25T22:00:00Z",  # 00:00 EET: the 26th
    ]
    for n, at in enumerate(moments):
        _sms(client, intake, at, n)
    assert _roll_up(exact_app) == len(moments)

    spring = _stats(client, supervisor, **{"from": "2026-03-28", "to": "2026-03-30"}).get_json()
    assert _days(spring) == {"2026-03-28": 1, "2026-03-29": 4, "2026-03-30": 1}
    assert spring["total"]["contacts"] == 6 and spring["time_zone"] == "Europe/Helsinki"

    autumn = _stats(client, supervisor, **{"from": "2026-10-24", "to": "2026-10-26"}).get_json()
    assert _days(autumn) == {"2026-10-24": 1, "2026-10-25": 4, "2026-10-26": 1}

    weeks = _stats(client, supervisor, interval="week", **{"from": "2026-03-26", "to": "2026-03-31"}).get_json()
    assert [(w["period"], w["start"], w["end"], w["contacts"]) for w in weeks["totals"]] == [
        ("2026-W13", "2026-03-26", "2026-03-29", 5), ("2026-W14", "2026-03-30", "2026-03-31", 1)]

    months = _stats(client, supervisor, interval="month", **{"from": "2026-01-01", "to": "2026-12-31"}).get_json()
    assert _days(months) == {"2026-03": 6, "2026-10": 6}
    assert months["total"]["contacts"] == 12


def _api(app):
    from tests.conftest import Api

    return Api(app, app.test_client())


def test_breakdowns_by_channel_direction_language_and_line(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor, adviser = api_.api_key_headers(), api_.headers_for("supervisor"), api_.headers_for("adviser")
    day = "2026-05-04T09:00:00Z"
    # The reply is made at 01:30 in Helsinki on the 5th, still the 4th in UTC.
    with time_machine.travel(datetime(2026, 5, 4, 22, 30, tzinfo=timezone.utc), tick=False):
        first = _sms(client, intake, day, 1, language="sv")
        _sms(client, intake, day, 2)
        client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "email", "external_id": "<stats-1@example.fi>", "from": {"email": EMAIL}, "subject": "Kysymys",
            "body": BODY, "received_at": day, "language": "en"})
        reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", json={"channel": "sms", "body": "Tack för ditt meddelande"},
                            headers=adviser)
        assert reply.status_code in (201, 202), reply.get_json()
        _roll_up(exact_app)

        body = _stats(client, supervisor, group_by="channel,direction,language,service_line",
                      **{"from": "2026-05-04", "to": "2026-05-05"}).get_json()
    cells = {(r["period"], r["channel"], r["direction"], r["language"]): r["contacts"] for r in body["rows"]}
    assert cells[("2026-05-04", "sms", "inbound", "sv")] == 1
    assert cells[("2026-05-04", "sms", "inbound", "fi")] == 1
    assert cells[("2026-05-04", "email", "inbound", "en")] == 1
    outbound = [(k, v) for k, v in cells.items() if k[1:3] == ("sms", "outbound")]
    assert [v for _, v in outbound] == [1] and outbound[0][0][3] == "sv"  # the reply is in the case's language
    assert outbound[0][0][0] == "2026-05-05"  # its day is the statistics' zone's, not UTC's
    assert {r["service_line"] for r in body["rows"]} == {DEFAULT_LINE_NAME}
    assert body["total"]["contacts"] == 4


def test_small_cells_are_hidden_and_one_hidden_cell_takes_another_with_it(app, client, intake, supervisor):
    at = "2026-06-01T08:00:00Z"
    n = 0
    for channel, count in (("sms", 7), ("email", 6), ("webform", 2)):
        for _ in range(count):
            n += 1
            if channel == "sms":
                _sms(client, intake, at, n)
            else:
                sender = {"email": f"asiakas{n}@example.fi", "name": NAME}
                client.post("/api/v1/inbound/messages", headers=intake, json={
                    "channel": channel, "external_id": f"<s-{n}@x>", "from": sender, "body": BODY,
                    "received_at": at})
    _roll_up(app)

    body = _stats(client, supervisor, group_by="channel", **{"from": "2026-06-01", "to": "2026-06-01"}).get_json()
    rows = {r["channel"]: (r["contacts"], r["suppressed"]) for r in body["rows"]}
    assert rows == {"sms": (7, []), "email": (None, ["contacts"]), "webform": (None, ["contacts"])}
    assert body["totals"][0]["contacts"] == 15 and body["suppression_threshold"] == 5

    alone = _stats(client, supervisor, **{"from": "2026-06-01", "to": "2026-06-01"},
                   group_by="channel,direction,language").get_json()
    assert all(r["contacts"] is None or r["contacts"] >= 5 for r in alone["rows"])


def test_csv_is_the_same_table(app, client, intake, supervisor):
    for n in range(6):
        _sms(client, intake, "2026-02-10T10:00:00Z", n)
    _roll_up(app)
    params = {"from": "2026-02-09", "to": "2026-02-10", "group_by": "channel"}
    json_body = _stats(client, supervisor, **params).get_json()
    response = _stats(client, supervisor, format="csv", **params)

    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts-2026-02-09-2026-02-10.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == ["level", "period", "start", "end", "channel", "contacts", "suppressed"]
    assert [(r["level"], r["period"], r["channel"], r["contacts"]) for r in rows] == [
        ("row", "2026-02-10", "sms", "6"), ("period_total", "2026-02-10", "", "6"), ("total", "", "", "6")]
    assert json_body["rows"][0]["contacts"] == 6


def test_calls_offered_answered_abandoned_service_level_and_times(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    start = datetime(2026, 9, 14, 7, 0, tzinfo=timezone.utc)

    def call(n, queue, talk=None):
        body = {"external_id": f"CALL-stats-{n}", "from": {"phone": PHONES[n]}, "started_at": start.isoformat(),
                "ended_at": (start + timedelta(seconds=queue + (talk or 0))).isoformat(), "queue_seconds": queue}
        if talk is not None:
            body["answered_at"] = (start + timedelta(seconds=queue)).isoformat()
        response = client.post("/api/v1/inbound/calls", json=body, headers=intake)
        assert response.status_code in (200, 201), response.get_json()

    call(1, 20, 300)
    call(2, 45, 120)
    call(3, 90, 600)
    call(4, 30)  # hung up in the queue
    _roll_up(exact_app)

    body = _stats(client, supervisor, "calls", **{"from": "2026-09-14", "to": "2026-09-14"}).get_json()
    (total,) = body["totals"]
    assert (total["offered"], total["answered"], total["abandoned"], total["answered_within_service_level"]) == (4, 3, 1, 2)
    assert total["service_level_share"] == 0.5 and body["service_level_seconds"] == 60
    assert (total["queue_seconds_mean"], total["queue_seconds_median"], total["queue_seconds_p90"]) == (51.7, 45, 90)
    # Queue times are kept to the second; handling times in DDSketch buckets, within 1%.
    assert (total["handling_seconds_median"], total["handling_seconds_p90"]) == (
        pytest.approx(300, rel=0.01), pytest.approx(600, rel=0.01))

    stricter = _stats(client, supervisor, "calls", service_level=30, **{"from": "2026-09-14", "to": "2026-09-14"})
    assert stricter.get_json()["total"]["answered_within_service_level"] == 1


def test_a_share_is_hidden_with_the_small_count_it_would_give_back(app, client, intake, supervisor):
    # Seven calls, two of them answered within the service level: two is below the threshold,
    # and a share of 2/7 next to the seven offered would give it back.
    start = datetime(2026, 9, 15, 7, 0, tzinfo=timezone.utc)
    for n, queue in enumerate((20, 40, 90, 120, 150, 200, 240), start=1):
        response = client.post("/api/v1/inbound/calls", headers=intake, json={
            "external_id": f"CALL-share-{n}", "from": {"phone": PHONES[n]}, "started_at": start.isoformat(),
            "answered_at": (start + timedelta(seconds=queue)).isoformat(),
            "ended_at": (start + timedelta(seconds=queue + 60)).isoformat(), "queue_seconds": queue})
        assert response.status_code in (200, 201), response.get_json()
    _roll_up(app)

    total = _stats(client, supervisor, "calls", **{"from": "2026-09-15", "to": "2026-09-15"}).get_json()["total"]
    assert (total["offered"], total["answered"]) == (7, 7)
    assert total["answered_within_service_level"] is None
    assert total["service_level_share"] is None
    assert {"answered_within_service_level", "service_level_share"} <= set(total["suppressed"])


def test_cases_opened_closed_forwarded_still_open_and_response_times(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor, adviser = api_.api_key_headers(), api_.headers_for("supervisor"), api_.headers_for("adviser")
    opened = datetime(2026, 10, 6, 9, 0, tzinfo=HELSINKI)
    with time_machine.travel(opened, tick=False) as clock:
        cases = [_sms(client, intake, opened.isoformat(), n)["case_id"] for n in range(3)]
        clock.shift(timedelta(minutes=10))
        client.post(f"/api/v1/cases/{cases[0]}/notes", json={"body": "Soitettu takaisin"}, headers=adviser)
        authority = client.post("/api/v1/authorities", headers=api_.headers_for("admin"),
                                json={"name": "Verohallinto", "email": "kirjaamo@vero.example.fi"}).get_json()
        # Forwarded, not closed: a first response at the same 10 minutes, and still open.
        forwarded = client.post(f"/api/v1/cases/{cases[2]}/forward", headers=adviser, json={
            "authority_id": authority["id"], "disclose": ["phone"], "legal_basis": "Hallintolaki 21 §"})
        assert forwarded.status_code == 201, forwarded.get_json()
        clock.shift(timedelta(minutes=20))
        client.post(f"/api/v1/cases/{cases[0]}/close", headers=adviser)
        clock.shift(timedelta(minutes=30))
        client.post(f"/api/v1/cases/{cases[1]}/close", headers=adviser)
        client.post(f"/api/v1/cases/{cases[1]}/reopen", headers=adviser)
        _roll_up(exact_app)
        body = _stats(client, supervisor, "cases", **{"from": "2026-10-05", "to": "2026-10-07"}).get_json()

    assert (body["total"]["opened"], body["total"]["closed"], body["total"]["open_at_end"]) == (3, 1, 2)
    assert body["total"]["forwarded"] == 1
    # The note and the forwarding came 10 minutes after the message, the close 30 minutes after it.
    assert body["total"]["first_response_seconds_median"] == pytest.approx(600, rel=0.01)
    assert body["total"]["close_seconds_median"] == pytest.approx(1800, rel=0.01)
    last_day = body["totals"][-1]
    assert last_day["open_at_end"] == 2


def _every_report(client, headers, window):
    bodies = []
    for report, groups in (("contacts", "channel,direction,language,service_line"),
                           ("calls", "language,service_line"), ("cases", "channel,language,service_line"),
                           ("feedback", "channel,language,service_line")):
        for interval in ("day", "month"):
            for fmt in ("json", "csv"):
                response = _stats(client, headers, report, interval=interval, group_by=groups, format=fmt, **window)
                bodies.append(response.get_data(as_text=True))
    return bodies


def test_no_statistics_response_carries_an_identifier(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    posted = [_sms(client, intake, "2026-04-01T10:00:00Z", n) for n in range(3)]
    client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<leak@example.fi>", "from": {"email": EMAIL, "name": NAME},
        "subject": "Oma asia", "body": BODY, "received_at": "2026-04-01T10:00:00Z"})
    _roll_up(exact_app)
    references = [p["case_reference"] for p in posted]

    for text in _every_report(client, supervisor, {"from": "2026-03-01", "to": "2026-04-30"}):
        for secret in (*PHONES[:3], "0407770000", NAME, EMAIL, BODY, "leak@example.fi", *references):
            assert secret not in text


def test_a_purged_year_gives_the_same_numbers_and_a_rebuild_keeps_them(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor, adviser = api_.api_key_headers(), api_.headers_for("supervisor"), api_.headers_for("adviser")
    now = utcnow()
    for n in range(6):
        posted = _sms(client, intake, (now - timedelta(hours=n)).isoformat(), n)
        client.post(f"/api/v1/cases/{posted['case_id']}/notes", json={"body": "Vastattu"}, headers=adviser)
        client.post(f"/api/v1/cases/{posted['case_id']}/close", headers=adviser)
    _roll_up(exact_app)
    today = now.date()
    window = {"from": (today - timedelta(days=2)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    before = _every_report(client, supervisor, window)
    counted = _stats(client, supervisor, **window).get_json()["total"]["contacts"]
    closed = _stats(client, supervisor, "cases", **window).get_json()["total"]["closed"]
    assert (counted, closed) == (6, 6)

    runner = exact_app.test_cli_runner()
    purged = runner.invoke(args=["retention", "purge", "--as-of", (now + timedelta(days=400)).isoformat()])
    assert "deleted 6 cases" in purged.output, purged.output
    assert client.get("/api/v1/cases", headers=supervisor).get_json()["total"] == 0

    assert _every_report(client, supervisor, window) == before
    rebuilt = runner.invoke(args=["stats", "rebuild"])
    assert rebuilt.exit_code == 0 and "recounted" in rebuilt.output, rebuilt.output
    assert _every_report(client, supervisor, window) == before


def test_a_rebuild_counts_each_message_once(exact_app):
    """A rebuild gives a fact to every contact without one: a message stored with its fact must
    point at it, or the rebuild counts it a second time."""
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    now = utcnow()
    for n in range(2):
        _sms(client, intake, (now - timedelta(minutes=n)).isoformat(), n)
    _roll_up(exact_app)
    window = {"from": (now.date() - timedelta(days=1)).isoformat(), "to": (now.date() + timedelta(days=1)).isoformat()}
    assert _stats(client, supervisor, **window).get_json()["total"]["contacts"] == 2

    rebuilt = exact_app.test_cli_runner().invoke(args=["stats", "rebuild"])

    assert rebuilt.exit_code == 0, rebuilt.output
    assert _stats(client, supervisor, **window).get_json()["total"]["contacts"] == 2


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-03-31", "to": "2026-03-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-03-01"}, "to"),
    ({"from": "2026-03-01", "to": "2026-03-31", "group_by": "channel,customer"}, "group_by"),
    ({"from": "2026-03-01", "to": "2026-03-31", "interval": "hour"}, "interval"),
    ({"from": "2026-03-01T00:00:00", "to": "2026-03-31"}, "from"),
    ({"from": "1.3.2026", "to": "2026-03-31"}, "from"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
    ({"to": "2026-03-31"}, "from"),
    ({"from": "2026-03-01", "to": "2026-03-31", "format": "xlsx"}, "format"),
])
def test_bad_ranges_and_breakdowns_are_clear_422s(client, supervisor, params, field):
    response = client.get("/api/v1/stats/contacts", query_string=params, headers=supervisor)
    assert_problem(response, 422, fields=(field,))


def test_a_time_with_an_offset_counts_as_its_helsinki_day(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    _sms(client, intake, "2026-03-28T22:30:00Z", 1)
    _roll_up(exact_app)
    body = _stats(client, supervisor, **{"from": "2026-03-28T22:00:00Z", "to": "2026-03-29T12:00:00+03:00"}).get_json()
    assert (body["from"], body["to"], _days(body)) == ("2026-03-29", "2026-03-29", {"2026-03-29": 1})


def test_advisers_and_integrations_get_no_statistics(client, adviser, intake):
    params = {"from": "2026-03-01", "to": "2026-03-31"}
    assert_problem(client.get("/api/v1/stats/contacts", query_string=params, headers=adviser), 403)
    assert_problem(client.get("/api/v1/stats/contacts", query_string=params, headers=intake), 403)


def _feedback_report(make_app, admin_for, answers: tuple[str, ...], sent: int, threshold: int,
                     before_counting=None) -> dict:
    """``sent`` cases closed and asked for feedback; the first ones answered with ``answers``;
    ``before_counting(app)`` runs after the answers, before the rollup."""
    from service.feedback.logic import FeedbackSettings, send_due
    from service.outbox import delivery
    from tests.jobs import run_queued_jobs
    from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post

    twilio_http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=twilio_http,
                   STATS_SUPPRESSION_THRESHOLD=threshold)
    client = app.test_client()
    adviser, supervisor = admin_for(app, "adviser"), admin_for(app, "supervisor")
    phones = PHONES[:sent]
    for n, phone in enumerate(phones):
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms(f"SM{n:032d}", from_=phone))
    for case in client.get("/api/v1/cases", headers=adviser).get_json()["items"]:
        client.post(f"/api/v1/cases/{case['id']}/close", headers=adviser)
    with app.app_context():
        send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(minutes=61))
        delivery.sweep()
    run_queued_jobs(app)
    assert len(twilio_http.messages_sent) == sent
    for n, (phone, score) in enumerate(zip(phones, answers)):
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms(f"SM{n + 10:032d}", from_=phone, body=score))

    if before_counting is not None:
        before_counting(app)
    today = datetime.now(timezone.utc).date()
    window = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    _roll_up(app)
    return _stats(client, supervisor, "feedback", **window).get_json()["total"]


def test_feedback_sent_answered_mean_and_distribution(make_app, admin_for):
    total = _feedback_report(make_app, admin_for, answers=("5", "2 ei auttanut"), sent=3, threshold=1)
    assert (total["sent"], total["answered"], total["score_mean"]) == (3, 2, 3.5)
    assert [total[f"score_{s}"] for s in range(1, 6)] == [0, 1, 0, 0, 1]


def test_rebuild_counts_the_feedback_of_cases_from_before_statistics_existed(make_app, admin_for):
    def as_before_statistics_then_rebuilt(app):
        _as_before_statistics(app)
        result = app.test_cli_runner().invoke(args=["stats", "rebuild"])
        assert result.exit_code == 0, result.output
        assert "case: 3 given a statistics fact" in result.output

    total = _feedback_report(make_app, admin_for, answers=("5", "2 ei auttanut"), sent=3, threshold=1,
                             before_counting=as_before_statistics_then_rebuilt)
    assert (total["sent"], total["answered"], total["score_mean"]) == (3, 2, 3.5)
    assert [total[f"score_{s}"] for s in range(1, 6)] == [0, 1, 0, 0, 1]


def test_the_mean_score_is_hidden_with_the_score_counts_it_would_give_back(make_app, admin_for):
    # Scores 5, 5 and 2 with a threshold of 2: the lone 2 is hidden and takes the 5s with it.
    # A mean of 4.0 over three answers would solve for both (a + b = 3, 2a + 5b = 12).
    total = _feedback_report(make_app, admin_for, answers=("5", "5", "2"), sent=3, threshold=2)
    assert (total["sent"], total["answered"]) == (3, 3)
    assert [total[f"score_{s}"] for s in range(1, 6)] == [0, None, 0, 0, None]
    assert total["score_mean"] is None
    assert {"score_2", "score_5", "score_mean"} <= set(total["suppressed"])


def _as_before_statistics(app) -> None:
    """The database as one upgraded from before statistics looks: no facts, no rollups."""
    from sqlalchemy import delete, update

    from service.cases.models import Case, Contact
    from service.extensions import db
    from service.stats.models import CaseFact, ContactDaily, ContactFact

    with app.app_context():
        db.session.execute(update(Contact).values(stats_fact_id=None))
        db.session.execute(update(Case).values(stats_fact_id=None))
        for model in (ContactDaily, ContactFact, CaseFact):
            db.session.execute(delete(model))
        db.session.commit()


# A fixed today, so that the window since the messages stays within the longest range allowed.
@time_machine.travel(datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc), tick=False)
def test_rebuild_counts_cases_and_contacts_from_before_statistics_existed(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    for n in range(3):
        _sms(client, intake, f"2026-01-1{n}T10:00:00Z", n)
    _as_before_statistics(exact_app)
    window = {"from": "2026-01-01", "to": "2026-01-31"}
    assert _stats(client, supervisor, **window).get_json()["total"]["contacts"] == 0

    result = exact_app.test_cli_runner().invoke(args=["stats", "rebuild", "--from", "2026-01-01", "--to", "2026-01-31"])

    assert result.exit_code == 0, result.output
    assert "contact: 3 given a statistics fact" in result.output and "recounted 31/31 days" in result.output
    assert _days(_stats(client, supervisor, **window).get_json()) == {
        "2026-01-10": 1, "2026-01-11": 1, "2026-01-12": 1}
    since_then = {"from": "2026-01-01", "to": "2026-02-02"}
    assert _stats(client, supervisor, "cases", **since_then).get_json()["total"]["opened"] == 3


def test_a_message_without_a_language_counts_in_the_language_and_line_of_the_case_it_joins(exact_app):
    client = exact_app.test_client()
    api_ = _api(exact_app)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    day = "2026-05-06T09:00:00Z"
    with time_machine.travel(datetime(2026, 5, 6, 12, 0, tzinfo=timezone.utc), tick=False):
        first = _sms(client, intake, day, 1, language="sv")
        again = _sms(client, intake, day, 101, **{"from": {"phone": PHONES[1], "name": NAME}})
        assert again["case_id"] == first["case_id"]
        _roll_up(exact_app)

        body = _stats(client, supervisor, group_by="language,service_line",
                      **{"from": "2026-05-06", "to": "2026-05-06"}).get_json()
    assert {(r["language"], r["service_line"]): r["contacts"] for r in body["rows"]} == {("sv", DEFAULT_LINE_NAME): 2}
