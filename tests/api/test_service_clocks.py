"""Service clocks on a frozen clock: first response and resolution due in working time on a
Helsinki calendar with Finnish holidays, paused while the case waits on the customer.

The calendar of these tests is open Monday to Friday 08:00-16:00 Helsinki time. Times in the
assertions are UTC: Helsinki is UTC+2 in winter and UTC+3 in summer."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.api.problems import assert_problem
from tests.conftest import Api

HELSINKI = ZoneInfo("Europe/Helsinki")
CASES = "/api/v1/cases"
LINE_PHONE = "+358 9 310 1234"
LINE_EMAIL = "neuvonta@example.fi"
WEEKDAYS_8_TO_16 = {day: ["08:00", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
_numbers = itertools.count(1000)


def local(text: str) -> datetime:
    """A Helsinki wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=HELSINKI)


def utc(text: str) -> str:
    return datetime.fromisoformat(text).isoformat()


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


class Desk:
    """A service line with a calendar and targets, and the people who work it, on a clock that
    only moves when a test moves it."""

    def __init__(self, app, traveller):
        self.app, self.client, self.traveller = app, app.test_client(), traveller
        api = Api(app, self.client)
        self.admin = api.headers_for("admin")
        self.adviser = api.headers_for("adviser")
        self.supervisor = api.headers_for("supervisor")
        self.intake = api.api_key_headers()
        self.api = api
        self.calendar = ok(self.client.post("/api/v1/calendars", json={
            "name": "Virka-aika", "hours": WEEKDAYS_8_TO_16}, headers=self.admin), 201)
        self.line = ok(self.client.post("/api/v1/service-lines", json={
            "name": "Neuvonta", "phone_numbers": [LINE_PHONE], "email_addresses": [LINE_EMAIL]}, headers=self.admin), 201)

    def at(self, when: datetime) -> None:
        self.traveller.move_to(when)

    def targets(self, *rows, calendar_id=None):
        return ok(self.client.put(f"/api/v1/service-lines/{self.line['id']}/targets", json={
            "calendar_id": self.calendar["id"] if calendar_id is None else calendar_id, "targets": list(rows)},
            headers=self.admin))

    def sms(self, phone: str | None = None) -> dict:
        phone = phone or f"040 555 {next(_numbers):04d}"
        result = ok(self.api.inbound(self.intake, channel="sms", to=LINE_PHONE, **{"from": {"phone": phone}}), 201)
        return self.case(result["case_id"]) | {"phone": phone}

    def email(self, address: str | None = None) -> dict:
        address = address or f"asiakas{next(_numbers)}@example.fi"
        result = ok(self.api.inbound(self.intake, channel="email", to=LINE_EMAIL, subject="Kysymys",
                                     **{"from": {"email": address}}), 201)
        return self.case(result["case_id"]) | {"email": address}

    def case(self, case_id: int) -> dict:
        return ok(self.client.get(f"{CASES}/{case_id}", headers=self.adviser))

    def patch(self, case_id: int, **fields) -> dict:
        return ok(self.client.patch(f"{CASES}/{case_id}", json=fields, headers=self.adviser))

    def close(self, case_id: int) -> dict:
        return ok(self.client.post(f"{CASES}/{case_id}/close", headers=self.adviser))

    def reopen(self, case_id: int) -> dict:
        return ok(self.client.post(f"{CASES}/{case_id}/reopen", headers=self.adviser))

    def note(self, case_id: int) -> None:
        ok(self.client.post(f"{CASES}/{case_id}/notes", json={"body": "Vastattu."}, headers=self.adviser), 201)

    def queue(self, headers=None, **query) -> dict:
        return ok(self.client.get(CASES, query_string=query, headers=headers or self.adviser))


@pytest.fixture
def desk(make_app):
    # Tokens outlive the weeks these tests jump across.
    with time_machine.travel(local("2026-01-05 07:00"), tick=False) as traveller:
        app = make_app(TOKEN_TTL_SECONDS=3 * 366 * 24 * 3600)
        yield Desk(app, traveller)


def history(case: dict) -> list[str]:
    return [entry["event"] for entry in case["clock_history"]]


# --- the hard cases of counting ---------------------------------------------------------------

def test_a_case_arriving_friday_at_1555_with_a_two_hour_target_is_due_monday_at_0955(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-27 15:55"))  # a Friday
    case = desk.sms()
    # Five minutes on Friday, the other 115 from Monday's opening at 08:00.
    assert case["first_response_due_at"] == utc("2026-11-30T07:55:00+00:00")
    # Two working days: Monday and Tuesday, at the same working moment.
    assert case["resolution_due_at"] == utc("2026-12-01T13:55:00+00:00")
    assert case["next_due_at"] == case["first_response_due_at"]
    assert case["due_state"] == "on_time"
    assert history(case) == ["started"]


def test_a_message_after_closing_time_starts_counting_at_the_next_opening(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60})
    desk.at(local("2026-11-24 17:30"))  # Tuesday, after 16:00

    case = desk.sms()

    # Nothing of Tuesday evening counts: the hour is Wednesday 08:00-09:00.
    assert case["first_response_due_at"] == utc("2026-11-25T07:00:00+00:00")
    assert case["resolution_due_at"] is None


@pytest.mark.parametrize("arrives, first_response_due", [
    # Midsummer Eve (Friday) and Midsummer Day close the office from Thursday 16:00 to Monday.
    ("2026-06-18 15:00", "2026-06-22T06:00:00+00:00"),
    ("2027-06-24 15:00", "2027-06-28T06:00:00+00:00"),
    # Good Friday and Easter Monday: Easter moves by years (April 2026, March 2027).
    ("2026-04-02 15:00", "2026-04-07T06:00:00+00:00"),
    # ...and in 2027 the clocks go forward on Easter Sunday: Thursday is UTC+2, Tuesday UTC+3.
    ("2027-03-25 15:00", "2027-03-30T06:00:00+00:00"),
])
def test_midsummer_eve_and_easter_of_two_years_are_closed(desk, arrives, first_response_due):
    desk.targets({"channel": "sms", "first_response_minutes": 120})
    desk.at(local(arrives))
    case = desk.sms()
    assert case["first_response_due_at"] == utc(first_response_due)
    assert case["resolution_due_at"] is None


@pytest.mark.parametrize("arrives, first_response_due, resolution_due", [
    # Spring: Friday is UTC+2, Monday UTC+3; 09:00 local either way.
    ("2026-03-27 15:00", "2026-03-30T06:00:00+00:00", "2026-03-30T12:00:00+00:00"),
    # Autumn: Friday is UTC+3, Monday UTC+2.
    ("2026-10-23 15:00", "2026-10-26T07:00:00+00:00", "2026-10-26T13:00:00+00:00"),
])
def test_the_dst_changes_count_working_hours_not_wall_hours(desk, arrives, first_response_due, resolution_due):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 1})
    desk.at(local(arrives))
    case = desk.sms()
    assert case["first_response_due_at"] == utc(first_response_due)
    assert case["resolution_due_at"] == utc(resolution_due)


def test_a_holiday_on_a_weekend_gives_no_day_off_on_monday(desk):
    # Independence Day 2026 is a Sunday; Finland moves no holiday, so Monday 7 December works.
    desk.targets({"channel": "sms", "first_response_minutes": 120})
    desk.at(local("2026-12-04 15:00"))
    assert desk.sms()["first_response_due_at"] == utc("2026-12-07T07:00:00+00:00")


def test_a_case_arriving_at_night_starts_counting_at_opening(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 30})
    desk.at(local("2026-11-24 03:12"))  # a Tuesday
    assert desk.sms()["first_response_due_at"] == utc("2026-11-24T06:30:00+00:00")


# --- pausing, stopping, restarting --------------------------------------------------------------

def test_a_pause_over_a_weekend_keeps_the_working_time_already_used(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-27 10:00"))  # Friday; resolution due Tuesday 10:00
    case = desk.sms()
    assert case["resolution_due_at"] == utc("2026-12-01T08:00:00+00:00")

    desk.at(local("2026-11-27 11:00"))
    waiting = desk.patch(case["id"], status="waiting")
    assert waiting["first_response_met"] is True  # asking the customer is a response
    assert waiting["first_response_working_seconds"] == 3600
    assert waiting["resolution_due_at"] is None and waiting["next_due_at"] is None
    assert waiting["due_state"] == "paused"

    # The customer answers on Monday at noon: 15 working hours were left on Friday at 11:00
    # (5 on Friday, 8 on Monday, 2 on Tuesday); from Monday 12:00 that is Wednesday 11:00.
    desk.at(local("2026-11-30 12:00"))
    ok(desk.api.inbound(desk.intake, channel="sms", to=LINE_PHONE, **{"from": {"phone": case["phone"]}}), 201)
    resumed = desk.case(case["id"])
    assert resumed["status"] == "open"
    assert resumed["resolution_due_at"] == utc("2026-12-02T09:00:00+00:00")
    assert resumed["due_state"] == "on_time"
    # Marking it waiting paused the clocks and answered the customer at the same moment.
    assert history(resumed) == ["started", "paused", "responded", "resumed"]
    paused = resumed["clock_history"][1]
    assert paused["at"] == utc("2026-11-27T09:00:00+00:00")
    assert resumed["clock_history"][3]["at"] == utc("2026-11-30T10:00:00+00:00")

    # Closed on Wednesday at 10:30, within the target: Friday 10-11, Monday 12-16, Tuesday
    # and Wednesday 8-10:30 make 15.5 working hours; the weekend and Monday morning waited.
    desk.at(local("2026-12-02 10:30"))
    closed = desk.close(case["id"])
    assert closed["resolution_met"] is True
    assert closed["resolution_working_seconds"] == 15 * 3600 + 1800
    assert closed["resolution_due_at"] is None and closed["due_state"] is None


def test_a_line_with_a_first_response_target_only_pauses_and_closes_with_no_resolution_clock(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120})
    desk.at(local("2026-11-23 10:00"))  # Monday
    case = desk.sms()
    assert (case["first_response_due_at"], case["resolution_due_at"]) == (utc("2026-11-23T10:00:00+00:00"), None)

    desk.at(local("2026-11-23 11:00"))
    waiting = desk.patch(case["id"], status="waiting")
    assert (waiting["first_response_met"], waiting["first_response_working_seconds"]) == (True, 3600)
    assert waiting["due_state"] == "paused"

    desk.at(local("2026-11-24 09:00"))
    closed = desk.close(case["id"])
    assert (closed["resolution_met"], closed["resolution_working_seconds"]) == (None, None)
    assert (closed["first_response_met"], closed["first_response_working_seconds"]) == (True, 3600)
    assert closed["next_due_at"] is None and closed["due_state"] is None


def test_the_worked_example_of_the_documentation(desk):
    """docs/service-clocks.md, "A worked example", step by step."""
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-27 15:55"))
    case = desk.sms()
    assert (case["first_response_due_at"], case["resolution_due_at"]) == (
        utc("2026-11-30T07:55:00+00:00"), utc("2026-12-01T13:55:00+00:00"))
    desk.at(local("2026-11-30 09:00"))
    waiting = desk.patch(case["id"], status="waiting")
    assert waiting["first_response_met"] is True and waiting["first_response_working_seconds"] == 65 * 60
    desk.at(local("2026-12-02 14:00"))
    ok(desk.api.inbound(desk.intake, channel="sms", to=LINE_PHONE, **{"from": {"phone": case["phone"]}}), 201)
    assert desk.case(case["id"])["resolution_due_at"] == utc("2026-12-04T10:55:00+00:00")
    desk.at(local("2026-12-04 11:00"))
    closed = desk.close(case["id"])
    assert closed["resolution_met"] is True
    assert closed["resolution_working_seconds"] == 14 * 3600 + 5 * 60


def test_reassignment_and_forwarding_do_not_reset_the_clocks(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-23 09:00"))
    case = desk.sms()
    desk.at(local("2026-11-23 10:00"))
    moved = ok(desk.client.patch(f"{CASES}/{case['id']}", json={"assignee_id": desk.supervisor.id},
                                 headers=desk.supervisor))
    assert moved["resolution_due_at"] == case["resolution_due_at"]
    assert moved["first_response_due_at"] == case["first_response_due_at"]
    authority = ok(desk.client.post("/api/v1/authorities", json={
        "name": "Verohallinto", "email": "kirjaamo@vero.example"}, headers=desk.admin), 201)
    forwarded = desk.client.post(f"{CASES}/{case['id']}/forward", json={
        "authority_id": authority["id"], "disclose": ["phone"], "legal_basis": "Hallintolaki 21 §"},
        headers=desk.adviser)
    assert forwarded.status_code == 201, forwarded.get_json()
    after = desk.case(case["id"])
    assert after["status"] == "forwarded"
    assert after["resolution_due_at"] == case["resolution_due_at"]
    assert "paused" not in history(after) and history(after).count("started") == 1


def test_a_case_reopened_after_closing_gets_a_new_resolution_clock(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60, "resolution_days": 1})
    desk.at(local("2026-11-23 09:00"))  # Monday
    case = desk.sms()
    desk.at(local("2026-11-23 09:30"))
    desk.note(case["id"])
    desk.at(local("2026-11-23 14:00"))
    closed = desk.close(case["id"])
    assert closed["resolution_met"] is True
    assert closed["resolution_working_seconds"] == 5 * 3600

    desk.at(local("2026-11-26 11:00"))  # Thursday: a new working day from now
    reopened = desk.reopen(case["id"])
    assert reopened["resolution_due_at"] == utc("2026-11-27T09:00:00+00:00")
    assert reopened["resolution_met"] is None
    # The first response happened; it is not due again.
    assert reopened["first_response_due_at"] is None and reopened["first_response_met"] is True

    desk.at(local("2026-11-30 09:00"))  # Monday, past Friday 11:00
    assert desk.case(case["id"])["due_state"] == "breached"
    closed_again = desk.close(case["id"])
    assert closed_again["resolution_met"] is False
    # Thursday 11-16, Friday 8-16, Monday 8-9.
    assert closed_again["resolution_working_seconds"] == 14 * 3600
    assert history(closed_again) == ["started", "responded", "resolved", "restarted", "resolved"]


def test_a_late_first_response_is_recorded_as_missed(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60})
    desk.at(local("2026-11-23 15:30"))
    case = desk.sms()
    desk.at(local("2026-11-24 09:00"))  # 30 minutes on Monday, 60 on Tuesday
    desk.note(case["id"])
    answered = desk.case(case["id"])
    assert answered["first_response_met"] is False
    assert answered["first_response_working_seconds"] == 90 * 60
    assert answered["next_due_at"] is None


def test_a_calendar_changed_while_cases_are_open_recomputes_what_is_left(desk):
    """The rule: working time used before the change stays used; what is left is counted on
    the new calendar. A staff training day added on Tuesday pushes Monday's cases on."""
    desk.targets({"channel": "sms", "first_response_minutes": 240, "resolution_days": 2})
    desk.at(local("2026-11-23 10:00"))  # Monday
    case = desk.sms()
    assert case["resolution_due_at"] == utc("2026-11-25T08:00:00+00:00")  # Wednesday 10:00

    desk.at(local("2026-11-23 12:00"))
    ok(desk.client.patch(f"/api/v1/calendars/{desk.calendar['id']}", json={"closed_days": ["2026-11-24"]},
                         headers=desk.admin))
    after = desk.case(case["id"])
    # 2 hours used; 14 left: Monday 12-16, Wednesday 8-16, Thursday 8-10.
    assert after["resolution_due_at"] == utc("2026-11-26T08:00:00+00:00")
    # 2 of 4 first response hours left: Monday 14:00, as before.
    assert after["first_response_due_at"] == utc("2026-11-23T12:00:00+00:00")
    assert history(after) == ["started", "recomputed"]

    # A case arriving on the training day starts counting on Wednesday.
    desk.at(local("2026-11-24 09:00"))
    assert desk.sms()["first_response_due_at"] == utc("2026-11-25T10:00:00+00:00")


def test_chat_and_phone_have_their_own_targets_or_none(desk):
    desk.targets({"channel": "*", "first_response_minutes": 480, "resolution_days": 5},
                 {"channel": "sms", "first_response_minutes": 60, "resolution_days": None})
    desk.at(local("2026-11-23 09:00"))
    sms = desk.sms()
    assert sms["first_response_due_at"] == utc("2026-11-23T08:00:00+00:00")
    assert sms["resolution_due_at"] is None
    email = ok(desk.api.inbound(desk.intake, channel="email", to=LINE_EMAIL,
                                **{"from": {"email": "asiakas@example.fi"}}, subject="Kysymys"), 201)
    by_email = desk.case(email["case_id"])
    assert by_email["first_response_due_at"] == utc("2026-11-24T07:00:00+00:00")
    desk.targets({"channel": "sms", "first_response_minutes": None, "resolution_days": None})
    assert desk.sms()["first_response_due_at"] is None


def test_a_batch_intake_starts_the_clocks_of_each_case_it_opens(desk):
    """Intake's set-based batches (service.intake.batch) write a new case's clocks with the
    case itself: each new case of a channel with targets gets them and its history, a case of
    a channel without targets none, and a returning customer's case keeps the clocks it had."""
    from service.extensions import db
    from service.intake import batch, logic
    from service.intake.message import InboundMessage, Sender

    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-27 15:55"))
    returning = desk.sms()
    desk.at(local("2026-11-27 15:58"))
    messages = [InboundMessage(channel="sms", external_id=f"SM-batch-{n}", to=LINE_PHONE, body="hei",
                               sender=Sender(phone=f"040 555 {next(_numbers):04d}")) for n in range(3)]
    messages.append(InboundMessage(channel="chat", external_id="chat-batch", sender=Sender(email="b@example.fi"),
                                   body="hei"))
    messages.append(InboundMessage(channel="sms", external_id="SM-batch-again", to=LINE_PHONE, body="taas",
                                   sender=Sender(phone=returning["phone"])))
    with desk.app.app_context():
        results = batch.store_plain(messages, actor=None, settings=logic.IntakeSettings.from_config(desk.app.config),
                                    now=datetime.now(HELSINKI).astimezone(ZoneInfo("UTC")))
        db.session.commit()
    assert all(result.created_case for result in results[:4]) and not results[4].created_case
    for result in results[:3]:
        case = desk.case(result.case_id)
        assert case["reference"] == f"2026-{case['id']:06d}"
        assert case["first_response_due_at"] == utc("2026-11-30T07:58:00+00:00")
        assert case["resolution_due_at"] == utc("2026-12-01T13:58:00+00:00")
        assert case["next_due_at"] == case["first_response_due_at"]
        assert history(case) == ["started"]
    chat = desk.case(results[3].case_id)
    assert chat["next_due_at"] is None and chat["resolution_due_at"] is None and history(chat) == []
    again = desk.case(returning["id"])
    assert results[4].case_id == returning["id"]
    assert again["first_response_due_at"] == utc("2026-11-30T07:55:00+00:00") and history(again) == ["started"]
    # The clocks it started run as any other: the first response stops them as usual.
    desk.at(local("2026-11-30 08:30"))
    desk.note(results[0].case_id)
    assert desk.case(results[0].case_id)["first_response_met"] is True


def test_no_clock_without_targets(desk):
    desk.at(local("2026-11-23 09:00"))
    case = desk.sms()
    assert case["first_response_due_at"] is None and case["due_state"] is None
    assert case["clock_history"] == []



def test_a_case_waiting_past_its_due_time_is_still_breached_when_it_resumes(desk):
    """The clock keeps the working time it overran: resuming counts the overrun back from now."""
    desk.targets({"channel": "sms", "resolution_days": 1})
    desk.at(local("2026-11-23 10:00"))  # Monday; due Tuesday 10:00
    case = desk.sms()
    desk.at(local("2026-11-25 10:00"))  # Wednesday: 8 working hours past due
    assert desk.case(case["id"])["due_state"] == "breached"
    assert desk.patch(case["id"], status="waiting")["due_state"] == "paused"

    desk.at(local("2026-11-26 12:00"))  # Thursday: the customer answers
    ok(desk.api.inbound(desk.intake, channel="sms", to=LINE_PHONE, **{"from": {"phone": case["phone"]}}), 201)
    resumed = desk.case(case["id"])
    # 8 working hours before Thursday 12:00: Thursday 8-12 and Wednesday 12-16.
    assert resumed["resolution_due_at"] == utc("2026-11-25T10:00:00+00:00")
    assert resumed["due_state"] == "breached"
    desk.at(local("2026-11-26 13:00"))
    closed = desk.close(case["id"])
    assert closed["resolution_met"] is False
    assert closed["resolution_working_seconds"] == 17 * 3600  # 16 before the pause, 1 after


def test_an_overrun_counted_back_from_before_opening_skips_the_closed_weekend(desk):
    desk.targets({"channel": "sms", "resolution_days": 1})
    desk.at(local("2026-11-23 10:00"))  # Monday; due Tuesday 10:00
    case = desk.sms()
    desk.at(local("2026-11-25 10:00"))  # Wednesday: 8 working hours past due
    desk.patch(case["id"], status="waiting")

    desk.at(local("2026-11-30 07:30"))  # the next Monday, before the office opens
    ok(desk.api.inbound(desk.intake, channel="sms", to=LINE_PHONE, **{"from": {"phone": case["phone"]}}), 201)

    # 8 working hours back: nothing of Monday before 07:30, the weekend is closed, and Friday
    # 08:00-16:00 holds all of it.
    resumed = desk.case(case["id"])
    assert resumed["resolution_due_at"] == utc("2026-11-27T06:00:00+00:00")
    assert resumed["due_state"] == "breached"


def test_a_calendar_closed_for_three_years_ahead_stops_the_clocks_and_fails_nothing(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60, "resolution_days": 1})
    desk.at(local("2026-11-23 10:00"))  # Monday
    running = desk.sms()
    assert running["next_due_at"] is not None
    closed_later = desk.sms()
    desk.close(closed_later["id"])

    # Open on Mondays only, and every Monday for more than three years is closed.
    mondays = [(datetime(2026, 11, 23) + timedelta(weeks=week)).date().isoformat() for week in range(160)]
    ok(desk.client.patch(f"/api/v1/calendars/{desk.calendar['id']}", json={
        "hours": {"mon": ["08:00", "16:00"]}, "closed_days": mondays}, headers=desk.admin))
    recomputed = desk.case(running["id"])
    assert recomputed["first_response_due_at"] is None and recomputed["resolution_due_at"] is None
    assert recomputed["due_state"] is None
    assert history(recomputed) == ["started", "recomputed"]

    # New cases are created all the same, with no clocks: by intake and by an official.
    fresh = desk.sms()
    assert fresh["next_due_at"] is None and fresh["clock_history"] == []
    by_official = ok(desk.client.post(CASES, json={"service_line_id": desk.line["id"], "channel": "sms"},
                                      headers=desk.adviser), 201)
    assert by_official["next_due_at"] is None and by_official["clock_history"] == []
    reopened = desk.reopen(closed_later["id"])  # no new resolution clock can start
    assert reopened["status"] == "open" and reopened["resolution_due_at"] is None
    assert history(reopened) == ["started", "resolved"]


def test_a_line_whose_calendar_is_taken_away_keeps_its_running_clocks_waiting(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 2})
    desk.at(local("2026-11-23 10:00"))
    case = desk.sms()
    desk.at(local("2026-11-23 11:00"))
    ok(desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets",
                       json={"calendar_id": None, "targets": []}, headers=desk.admin))
    waiting = desk.case(case["id"])
    assert waiting["next_due_at"] is None and waiting["due_state"] == "paused"
    assert history(waiting) == ["started", "recomputed"]
    # Nothing can be counted any more: moving or closing the case changes no clock.
    desk.patch(case["id"], status="waiting")
    desk.patch(case["id"], status="open")
    closed = desk.close(case["id"])
    assert closed["resolution_met"] is None and closed["resolution_working_seconds"] is None
    assert history(closed) == ["started", "recomputed"]


# --- the queue ---------------------------------------------------------------------------------

def test_the_queue_sorted_by_due_and_filtered_to_breached(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 3},
                 {"channel": "email", "first_response_minutes": 30})
    desk.at(local("2026-11-23 09:00"))
    first = desk.sms()  # due 11:00
    desk.at(local("2026-11-23 09:45"))
    second = ok(desk.api.inbound(desk.intake, channel="email", to=LINE_EMAIL,
                                 **{"from": {"email": "a@example.fi"}}), 201)  # due 10:15
    desk.at(local("2026-11-23 10:00"))
    third = desk.sms()  # due 12:00
    queue = desk.queue(sort="due")
    assert [item["id"] for item in queue["items"]][:3] == [second["case_id"], first["id"], third["id"]]

    desk.at(local("2026-11-23 10:30"))
    states = {item["id"]: item["due_state"] for item in desk.queue(sort="due")["items"]}
    assert states == {second["case_id"]: "breached", first["id"]: "due_soon", third["id"]: "on_time"}

    breached = desk.queue(desk.supervisor, breached="true")
    assert [item["id"] for item in breached["items"]] == [second["case_id"]]
    assert breached["total"] == 1
    not_breached = desk.queue(desk.supervisor, breached="false", sort="due")
    assert [item["id"] for item in not_breached["items"]] == [first["id"], third["id"]]

    # Answered, the email has nothing due any more and goes to the end of the queue.
    desk.note(second["case_id"])
    assert [item["id"] for item in desk.queue(sort="due")["items"]] == [first["id"], third["id"], second["case_id"]]


def test_a_page_of_the_queue_costs_the_same_statements_whatever_its_length(desk):
    """Each row shows its customer, assignee, line, due state and deletion date; none of it may
    be read row by row (the list loads only the columns it shows, see cases.logic)."""
    from sqlalchemy import event

    from service.extensions import db

    desk.targets({"channel": "sms", "first_response_minutes": 120, "resolution_days": 3})
    desk.at(local("2026-11-23 09:00"))
    cases = [desk.sms() for _ in range(4)]
    ok(desk.client.patch(f"/api/v1/customers/{cases[0]['customer']['id']}", json={"name": "Maija Meikäläinen"},
                       headers=desk.adviser))
    desk.patch(cases[1]["id"], assignee_id=desk.adviser.id)
    desk.patch(cases[2]["id"], status="waiting")
    desk.at(local("2026-11-23 10:30"))
    desk.queue()  # the session's hourly note of its use is written now, not in what is counted

    sent = []
    with desk.app.app_context():
        engine = db.engine

    def count(*_args, **_kwargs):
        sent.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        short = desk.queue(sort="due", page_size=1)
        statements_of_one = len(sent)
        sent.clear()
        full = desk.queue(sort="due", page_size=25)
        statements_of_four = len(sent)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert (len(short["items"]), len(full["items"])) == (1, 4)
    assert statements_of_four == statements_of_one
    rows = {item["id"]: item for item in full["items"]}
    assert rows[cases[0]["id"]]["customer"]["name"] == "Maija Meikäläinen"
    assert rows[cases[1]["id"]]["assignee"]["id"] == desk.adviser.id
    assert rows[cases[1]["id"]]["assignee"]["name"]
    assert {row["due_state"] for row in rows.values()} == {"due_soon", "paused"}
    assert all(row["service_line"]["name"] == "Neuvonta" and row["deleted_after"] for row in rows.values())


def test_metrics_count_the_breached_cases_and_those_due_within_the_hour(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60})
    desk.at(local("2026-11-23 09:00"))
    desk.sms(), desk.sms()  # due 10:00
    desk.at(local("2026-11-23 10:30"))
    desk.sms()  # due 11:30
    desk.at(local("2026-11-23 10:45"))
    text = desk.client.get("/metrics").get_data(as_text=True)
    assert "service_clock_breached_cases 2.0" in text
    assert "service_clock_due_soon_cases 1.0" in text


# --- calendars and targets as the administrator sets them ---------------------------------------

def test_a_calendar_is_refused_when_it_cannot_be_counted_on(desk):
    for body, field in (({"name": "x", "hours": {"mon": ["16:00", "08:00"]}}, "hours"),
                        ({"name": "x", "hours": {}}, "hours"),
                        ({"name": "x", "hours": {"mon": ["8:00", "16:00"]}}, "hours"),
                        ({"name": "x", "hours": WEEKDAYS_8_TO_16, "time_zone": "Mars/Olympus"}, "time_zone"),
                        ({"name": "x", "hours": WEEKDAYS_8_TO_16, "time_zone": "Europe"}, "time_zone"),
                        ({"name": "x", "hours": WEEKDAYS_8_TO_16, "holiday_country": "QQ"}, "holiday_country")):
        response = desk.client.post("/api/v1/calendars", json=body, headers=desk.admin)
        assert_problem(response, 422)
        assert field in response.get_json()["errors"], response.get_json()
    duplicate = desk.client.post("/api/v1/calendars", json={"name": "Virka-aika", "hours": WEEKDAYS_8_TO_16},
                                 headers=desk.admin)
    assert_problem(duplicate, 409)


def test_targets_need_a_calendar_and_only_admins_set_them(desk):
    response = desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets", json={
        "calendar_id": None, "targets": [{"channel": "sms", "first_response_minutes": 60}]}, headers=desk.admin)
    assert_problem(response, 422)
    response = desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets", json={
        "calendar_id": 999999, "targets": []}, headers=desk.admin)
    assert_problem(response, 422)
    response = desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets", json={
        "calendar_id": desk.calendar["id"], "targets": []}, headers=desk.supervisor)
    assert_problem(response, 403)
    mondays = ok(desk.client.post("/api/v1/calendars", json={"name": "Maanantaisin", "holiday_country": None,
                                                             "hours": {"mon": ["08:00", "08:01"]}}, headers=desk.admin), 201)
    response = desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets", json={
        "calendar_id": mondays["id"], "targets": [{"channel": "sms", "resolution_days": 365}]}, headers=desk.admin)
    assert_problem(response, 422)
    desk.targets({"channel": "chat", "first_response_minutes": 5})
    shown = ok(desk.client.get(f"/api/v1/service-lines/{desk.line['id']}/targets", headers=desk.adviser))
    assert shown == {"service_line_id": desk.line["id"], "calendar_id": desk.calendar["id"],
                     "targets": [{"channel": "chat", "first_response_minutes": 5, "resolution_days": None}]}
    calendar = ok(desk.client.get(f"/api/v1/calendars/{desk.calendar['id']}", headers=desk.adviser))
    assert calendar["hours"]["mon"] == ["08:00", "16:00"] and calendar["hours"]["sat"] is None
    assert calendar["holiday_country"] == "FI" and calendar["time_zone"] == "Europe/Helsinki"
    listed = ok(desk.client.get("/api/v1/calendars", headers=desk.adviser))
    assert [c["name"] for c in listed["items"]] == ["Maanantaisin", "Virka-aika"]
    assert_problem(desk.client.get("/api/v1/calendars/999999", headers=desk.adviser), 404)
    assert_problem(desk.client.patch("/api/v1/calendars/999999", json={"name": "y"}, headers=desk.admin), 404)


def test_targets_take_one_row_per_channel_and_a_renamed_calendar_keeps_its_closed_days(desk):
    desk.targets({"channel": "sms", "first_response_minutes": 60})
    twice = desk.client.put(f"/api/v1/service-lines/{desk.line['id']}/targets", json={
        "calendar_id": desk.calendar["id"], "targets": [{"channel": "sms", "first_response_minutes": 30},
                                                        {"channel": "sms", "resolution_days": 2}]}, headers=desk.admin)
    assert_problem(twice, 422, fields=["targets"])
    shown = ok(desk.client.get(f"/api/v1/service-lines/{desk.line['id']}/targets", headers=desk.adviser))
    assert shown["targets"] == [{"channel": "sms", "first_response_minutes": 60, "resolution_days": None}]

    url = f"/api/v1/calendars/{desk.calendar['id']}"
    ok(desk.client.patch(url, json={"closed_days": ["2026-12-28", "2026-12-23"]}, headers=desk.admin))
    renamed = ok(desk.client.patch(url, json={"name": "Virka-aika 2027"}, headers=desk.admin))

    assert (renamed["name"], renamed["closed_days"]) == ("Virka-aika 2027", ["2026-12-23", "2026-12-28"])
    assert renamed["hours"]["mon"] == ["08:00", "16:00"]


# --- statistics ----------------------------------------------------------------------------------

def test_statistics_count_the_targets_met_and_working_times_anonymously_and_survive_the_purge(desk):
    from service.jobs import roll_up_statistics

    desk.targets({"channel": "sms", "first_response_minutes": 60, "resolution_days": 1},
                 {"channel": "email", "first_response_minutes": 120, "resolution_days": 1})
    desk.at(local("2026-11-23 09:00"))  # Monday
    cases = [desk.sms() for _ in range(13)]
    emails = [desk.email() for _ in range(5)]
    desk.at(local("2026-11-23 09:30"))
    for case in cases[:7] + emails:
        desk.note(case["id"])  # within the hour: 30 working minutes
    desk.at(local("2026-11-24 08:30"))
    for case in cases[7:12]:
        desk.note(case["id"])  # late: Monday 09-16 and Tuesday 08-08:30
    for case in cases[:6] + emails:
        desk.close(case["id"])  # within the working day, due Tuesday 09:00
    desk.at(local("2026-11-25 10:00"))
    desk.note(cases[12]["id"])  # one more late answer, alone on its day
    for case in cases[6:10]:
        desk.close(case["id"])  # late: 7 + 8 + 2 working hours
    desk.at(local("2026-11-25 15:00"))
    for case in cases[10:]:
        desk.close(case["id"])  # later still: 7 + 8 + 7 working hours
    with desk.app.app_context():
        roll_up_statistics()

    window = {"from": "2026-11-22", "to": "2026-11-26", "group_by": "service_line"}
    response = desk.client.get("/api/v1/stats/cases", query_string=window, headers=desk.supervisor)
    body = ok(response)
    total = body["total"]
    assert (total["first_response_target_met"], total["first_response_target_missed"]) == (12, 6)
    assert total["first_response_target_share"] == pytest.approx(0.667)
    assert (total["resolution_target_met"], total["resolution_target_missed"]) == (11, 7)
    assert total["resolution_target_share"] == pytest.approx(0.611)
    # First responses: twelve of 30 minutes, five of 7.5 hours, one of 17.
    assert total["first_response_working_seconds_median"] == pytest.approx(1800, rel=0.01)
    assert total["first_response_working_seconds_p90"] == pytest.approx(7.5 * 3600, rel=0.01)
    # Resolutions: eleven of 7.5 working hours, four of 17 and three of 22.
    assert total["resolution_working_seconds_median"] == pytest.approx(7.5 * 3600, rel=0.01)
    assert total["resolution_working_seconds_p90"] == pytest.approx(22 * 3600, rel=0.01)
    days = {row["period"]: row for row in body["rows"]}
    assert days["2026-11-23"]["first_response_target_met"] == 12
    assert days["2026-11-24"]["first_response_target_missed"] == 5
    # Wednesday's one late answer is fewer than the threshold of five: hidden, and so is the
    # share it would be read back from.
    wednesday = days["2026-11-25"]
    assert wednesday["first_response_target_missed"] is None
    assert {"first_response_target_missed", "first_response_target_share"} <= set(wednesday["suppressed"])
    text = response.get_data(as_text=True)
    assert not any(case["reference"] in text or case["phone"].replace(" ", "")[1:] in text for case in cases)
    assert not any(case["reference"] in text or case["email"] in text for case in emails)

    # Per channel, over the week: each channel's own targets and times, not the line's mix.
    by_channel = {"from": "2026-11-23", "to": "2026-11-26", "group_by": "channel", "interval": "week"}
    channels = {row["channel"]: row for row in ok(desk.client.get(
        "/api/v1/stats/cases", query_string=by_channel, headers=desk.supervisor))["rows"]}
    assert set(channels) == {"sms", "email"}
    sms, email = channels["sms"], channels["email"]
    assert (sms["first_response_target_met"], sms["first_response_target_missed"]) == (7, 6)
    assert (sms["resolution_target_met"], sms["resolution_target_missed"]) == (6, 7)
    assert sms["resolution_target_share"] == pytest.approx(0.462)
    assert sms["first_response_working_seconds_p90"] == pytest.approx(7.5 * 3600, rel=0.01)
    assert sms["resolution_working_seconds_median"] == pytest.approx(17 * 3600, rel=0.01)
    assert sms["resolution_working_seconds_p90"] == pytest.approx(22 * 3600, rel=0.01)
    assert (email["first_response_target_met"], email["first_response_target_missed"]) == (5, 0)
    assert (email["resolution_target_met"], email["resolution_target_missed"]) == (5, 0)
    assert email["resolution_target_share"] == pytest.approx(1.0)
    assert email["first_response_working_seconds_p90"] == pytest.approx(1800, rel=0.01)
    assert email["resolution_working_seconds_median"] == pytest.approx(7.5 * 3600, rel=0.01)
    assert email["resolution_working_seconds_p90"] == pytest.approx(7.5 * 3600, rel=0.01)

    purged = desk.app.test_cli_runner().invoke(args=["retention", "purge", "--as-of", "2028-01-01T00:00:00Z"])
    assert "deleted 18 cases" in purged.output, purged.output
    after = ok(desk.client.get("/api/v1/stats/cases", query_string=window, headers=desk.supervisor))
    assert after == body
