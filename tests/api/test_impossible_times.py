"""An impossible contact time (year 1, year 9999, tomorrow) is refused on every path that takes
one, naming the field; a fact stored before times were bounded is left out of the statistics
instead of stopping them for everyone."""

from datetime import datetime, timedelta, timezone

import pytest

from service.extensions import db
from service.jobs import roll_up_statistics
from service.stats.models import ContactFact
from tests.api.problems import assert_problem
from tests.conftest import Api

YEAR_9999 = "9999-12-31T12:00:00Z"
YEAR_1 = "0001-01-01T00:00:00Z"


def _in(minutes: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize("at", [YEAR_9999, YEAR_1, "1999-12-31T23:59:59Z", "tomorrow"])
def test_intake_refuses_an_impossible_received_at(client, api, intake, at):
    at = _in(24 * 60) if at == "tomorrow" else at

    problem = assert_problem(api.inbound(intake, received_at=at), 422, "validation-failed", fields=["received_at"])

    assert problem["errors"]["received_at"]


def test_intake_takes_a_time_a_little_ahead_of_our_clock(client, api, intake):
    # Clocks disagree by seconds to minutes; that is not an impossible time.
    assert api.inbound(intake, received_at=_in(2)).status_code == 201


@pytest.mark.parametrize("field", ["started_at", "ended_at"])
def test_a_call_report_refuses_an_impossible_time(client, intake, field):
    body = {"external_id": "call-impossible", "from": {"phone": "040 765 4321"}, "started_at": "2026-03-02T08:00:00Z"}
    body[field] = YEAR_9999

    assert_problem(client.post("/api/v1/inbound/calls", json=body, headers=intake), 422, fields=[field])


def test_a_call_recording_refuses_an_impossible_time(client, intake):
    body = {"external_id": "call-rec", "from": {"phone": "040 765 4321"}, "started_at": "2026-03-02T08:00:00Z",
            "recording": {"external_id": "RE1", "recorded_at": YEAR_1}}

    problem = assert_problem(client.post("/api/v1/inbound/calls", json=body, headers=intake), 422)

    assert "recorded_at" in problem["errors"]["recording"]


@pytest.mark.parametrize("field", ["received_at", "started_at"])
def test_a_hand_logged_contact_refuses_an_impossible_time(client, api, intake, adviser, field):
    case_id = api.inbound(intake).get_json()["case_id"]

    response = client.post(f"/api/v1/cases/{case_id}/contacts", headers=adviser,
                           json={"channel": "phone", field: YEAR_9999})

    assert_problem(response, 422, fields=[field])
    assert len(client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["contacts"]) == 1


def _roll_up(app):
    with app.app_context():
        return roll_up_statistics()


def test_a_fact_with_an_impossible_time_does_not_stop_the_statistics(make_app, caplog):
    app = make_app(STATS_SUPPRESSION_THRESHOLD=1)
    client = app.test_client()
    api_ = Api(app, client)
    intake, supervisor = api_.api_key_headers(), api_.headers_for("supervisor")
    # Stored before input times were bounded: nothing can post one any more.
    with app.app_context():
        for at in (datetime(9999, 12, 31, 23, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc)):
            db.session.add(ContactFact(occurred_at=at, channel="sms", direction="inbound"))
        db.session.commit()
    assert api_.inbound(intake, received_at="2026-03-02T08:00:00Z").status_code == 201

    with caplog.at_level("WARNING"):
        taken = _roll_up(app)

    assert taken == 3
    assert "left out of the counts" in caplog.text
    stats = client.get("/api/v1/stats/contacts", headers=supervisor,
                       query_string={"from": "2026-03-01", "to": "2026-03-03"}).get_json()
    assert {row["period"]: row["contacts"] for row in stats["totals"]}["2026-03-02"] == 1
