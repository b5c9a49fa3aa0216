"""The statistics rollups against the exact computation from every fact (``stats.exact``): the
same counts, means and hidden cells, medians and 90th percentiles within 1%; late facts, moved
and withdrawn case times, a rebuild and a change of service level all keep them so."""

import math
import random
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from service.db_types import utcnow
from service.extensions import db
from service.jobs import roll_up_statistics
from service.lines.models import ServiceLine
from service.stats.exact import exact_report
from service.stats.logic import StatsQuery, StatsSettings
from service.stats.models import CaseFact, ContactFact, StatsRecount

QUANTILES = ("_median", "_p90")
FIRST = datetime(2026, 1, 20, tzinfo=timezone.utc)


def _minute(at):
    return at.replace(second=0, microsecond=0)


def _seed(app, rng, n_calls, n_cases, *, days=50, start=FIRST):
    """Facts as the recorder writes them, queued for the rollup job as it queues them."""
    with app.app_context():
        lines = [ServiceLine(name=f"Linja {start.date()} {n}") for n in range(2)]
        db.session.add_all(lines)
        db.session.flush()
        line_ids = [line.id for line in lines] + [None]
        languages = ["fi", "fi", "sv", "en", None]
        for _ in range(n_calls):
            at = _minute(start + timedelta(seconds=rng.randrange(days * 86400)))
            outcome = rng.choice(["answered"] * 5 + ["abandoned", None])
            db.session.add(ContactFact(
                occurred_at=at, channel="phone", direction="inbound", language=rng.choice(languages),
                service_line_id=rng.choice(line_ids), rolled_up=False, call_outcome=outcome,
                queue_seconds=int(rng.expovariate(1 / 45)) if outcome else None,
                handling_seconds=20 + int(rng.expovariate(1 / 280)) if outcome == "answered" else None))
        for _ in range(n_cases):
            # Some open before the range the tests ask for, some closing after it.
            opened = start - timedelta(days=10) + timedelta(seconds=rng.randrange((days + 10) * 86400))
            first = int(rng.expovariate(1 / 7200)) if rng.random() < 0.9 else None
            close = first + int(rng.lognormvariate(11, 1.3)) if first is not None and rng.random() < 0.8 else None
            fact = CaseFact(channel=rng.choice(["sms", "email", "chat"]), language=rng.choice(languages),
                            service_line_id=rng.choice(line_ids), opened_at=_minute(opened))
            if first is not None:
                fact.first_response_at = _minute(opened + timedelta(seconds=first))
                fact.first_response_seconds = first
                if rng.random() < 0.1:
                    fact.forwarded_at = fact.first_response_at
            if close is not None:
                fact.closed_at = _minute(opened + timedelta(seconds=close))
                fact.close_seconds = close
                if rng.random() < 0.5:
                    fact.feedback_sent_at = fact.closed_at + timedelta(hours=1)
                    if rng.random() < 0.6:
                        fact.feedback_answered_at = fact.feedback_sent_at + timedelta(minutes=rng.randrange(3000))
                        fact.feedback_score = rng.randint(1, 5)
            db.session.add(fact)
            db.session.add_all(StatsRecount(at=at) for at in (
                fact.opened_at, fact.first_response_at, fact.forwarded_at, fact.closed_at, fact.feedback_sent_at,
                fact.feedback_answered_at) if at is not None)
        db.session.commit()


def _roll_up(app):
    with app.app_context():
        return roll_up_statistics()


QUERIES = [
    ("calls", {"from": "2026-01-20", "to": "2026-03-10", "interval": "day", "group_by": "language,service_line"}),
    ("calls", {"from": "2026-01-15", "to": "2026-03-10", "interval": "month", "group_by": "service_line"}),
    ("calls", {"from": "2026-01-22", "to": "2026-03-04", "interval": "week", "group_by": "language",
               "service_level": 30}),
    ("cases", {"from": "2026-01-20", "to": "2026-03-10", "interval": "day", "group_by": "channel"}),
    ("cases", {"from": "2026-02-01", "to": "2026-03-31", "interval": "month", "group_by": "channel,language,service_line"}),
    ("cases", {"from": "2026-01-28", "to": "2026-02-24", "interval": "week", "group_by": ""}),
    ("feedback", {"from": "2026-01-20", "to": "2026-03-31", "interval": "week", "group_by": "language"}),
    ("feedback", {"from": "2026-01-01", "to": "2026-03-15", "interval": "month", "group_by": "channel,service_line"}),
]


def _oracle(app, report, params):
    with app.app_context():
        settings = StatsSettings.from_config(app.config)
        names = tuple(name for name in params["group_by"].split(",") if name)
        query = StatsQuery(first=date.fromisoformat(params["from"]), last=date.fromisoformat(params["to"]),
                           interval=params["interval"], group_by=names,
                           service_level_seconds=params.get("service_level"))
        table = exact_report(report, query, settings)
        return {"rows": table.rows, "totals": table.totals, "total": table.total}


def _assert_same(answer, oracle, where):
    assert answer.keys() == oracle.keys() or set(oracle) <= set(answer), where
    for name, expected in oracle.items():
        got = answer[name]
        if name.endswith(QUANTILES) and expected is not None and got is not None:
            assert math.isclose(got, expected, rel_tol=0.01, abs_tol=1e-9), (where, name, got, expected)
        else:
            assert got == expected, (where, name, got, expected)


def _assert_as_exact(app, client, supervisor):
    compared = 0
    for report, params in QUERIES:
        response = client.get(f"/api/v1/stats/{report}", query_string=params, headers=supervisor)
        assert response.status_code == 200, response.get_json()
        body, oracle = response.get_json(), _oracle(app, report, params)
        for part in ("rows", "totals"):
            assert len(body[part]) == len(oracle[part]), (report, params, part)
            for got, expected in zip(body[part], oracle[part]):
                _assert_same(got, expected, (report, params, part))
                compared += 1
        _assert_same(body["total"], oracle["total"], (report, params, "total"))
    return compared


@pytest.mark.parametrize("threshold", [1, 5])
def test_every_report_from_rollups_answers_as_the_exact_computation(make_app, admin_for, threshold):
    app = make_app(STATS_SUPPRESSION_THRESHOLD=threshold)
    client, supervisor = app.test_client(), admin_for(app, "supervisor")
    rng = random.Random(28 + threshold)
    _seed(app, rng, n_calls=700, n_cases=500)
    _roll_up(app)
    assert _assert_as_exact(app, client, supervisor) > 500

    # Late facts for days already counted recount those days (and their weeks and months).
    _seed(app, rng, n_calls=60, n_cases=40, days=10, start=FIRST + timedelta(days=5))
    _roll_up(app)
    _assert_as_exact(app, client, supervisor)

    # A rebuild from the facts gives the same answers.
    before = [client.get(f"/api/v1/stats/{report}", query_string=params, headers=supervisor).get_json()
              for report, params in QUERIES]
    result = app.test_cli_runner().invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert [client.get(f"/api/v1/stats/{report}", query_string=params, headers=supervisor).get_json()
            for report, params in QUERIES] == before


def test_a_case_closed_later_counts_on_its_close_day_and_leaves_it_when_reopened(exact_app_with_supervisor):
    app, client, supervisor, adviser, intake = exact_app_with_supervisor
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-rollup-1", "from": {"phone": "+358407770001"}, "body": "Hei",
        "received_at": utcnow().isoformat()}).get_json()
    case_id = posted["case_id"]
    today = datetime.now(timezone.utc).date()
    window = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    _roll_up(app)
    assert client.get("/api/v1/stats/cases", query_string=window, headers=supervisor).get_json()["total"][
        "opened"] == 1

    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200
    _roll_up(app)
    body = client.get("/api/v1/stats/cases", query_string=window, headers=supervisor).get_json()
    assert (body["total"]["closed"], body["total"]["open_at_end"]) == (1, 0)

    assert client.post(f"/api/v1/cases/{case_id}/reopen", headers=adviser).status_code == 200
    _roll_up(app)
    body = client.get("/api/v1/stats/cases", query_string=window, headers=supervisor).get_json()
    assert (body["total"]["closed"], body["total"]["open_at_end"]) == (0, 1)
    assert all(row["closed"] == 0 for row in body["totals"])


def test_a_call_that_ends_after_the_rollup_is_recounted_on_its_day(exact_app_with_supervisor):
    app, client, supervisor, _, intake = exact_app_with_supervisor
    start = datetime(2026, 9, 14, 7, 0, tzinfo=timezone.utc)
    ringing = {"external_id": "CALL-rollup-1", "from": {"phone": "+358407770002"}, "started_at": start.isoformat()}
    assert client.post("/api/v1/inbound/calls", json=ringing, headers=intake).status_code in (200, 201)
    _roll_up(app)
    day = {"from": "2026-09-14", "to": "2026-09-14"}
    total = client.get("/api/v1/stats/calls", query_string=day, headers=supervisor).get_json()["total"]
    assert (total["offered"], total["answered"]) == (1, 0)

    with app.app_context():  # the call is answered and ends, as the provider's status callbacks say
        from service.cases.models import Contact

        call = db.session.scalars(select(Contact).where(Contact.channel == "phone")).one()
        call.answered_at, call.ended_at = start + timedelta(seconds=40), start + timedelta(seconds=340)
        db.session.commit()
    _roll_up(app)
    total = client.get("/api/v1/stats/calls", query_string=day, headers=supervisor).get_json()["total"]
    assert (total["offered"], total["answered"], total["answered_within_service_level"]) == (1, 1, 1)
    assert (total["queue_seconds_median"], total["handling_seconds_median"]) == (40, pytest.approx(300, rel=0.01))


def test_a_call_still_going_at_the_rollup_counts_as_answered_with_no_handling_time_yet(exact_app_with_supervisor):
    app, client, supervisor, _, intake = exact_app_with_supervisor
    start = datetime(2026, 9, 15, 7, 0, tzinfo=timezone.utc)
    for n, ended in enumerate((None, start + timedelta(seconds=400))):
        call = {"external_id": f"CALL-rollup-going-{n}", "from": {"phone": f"+35840777001{n}"},
                "started_at": start.isoformat(), "answered_at": (start + timedelta(seconds=20 + 20 * n)).isoformat(),
                "ended_at": ended and ended.isoformat()}
        assert client.post("/api/v1/inbound/calls", json=call, headers=intake).status_code in (200, 201)
    _roll_up(app)
    day = {"from": "2026-09-15", "to": "2026-09-15"}
    total = client.get("/api/v1/stats/calls", query_string=day, headers=supervisor).get_json()["total"]
    assert (total["offered"], total["answered"]) == (2, 2)
    # Both waited (20 s and 40 s); only the call that ended has a handling time (360 s, not
    # averaged with a zero for the call still going).
    assert (total["queue_seconds_mean"], total["handling_seconds_mean"]) == (30.0, 360.0)


@pytest.fixture
def exact_app_with_supervisor(make_app, admin_for):
    from tests.conftest import Api

    app = make_app(STATS_SUPPRESSION_THRESHOLD=1)
    client = app.test_client()
    api = Api(app, client)
    return app, client, api.headers_for("supervisor"), api.headers_for("adviser"), api.api_key_headers()


def test_upgrading_a_database_that_has_facts_counts_them_on_the_next_rollup(make_app, admin_for):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import update

    app = make_app(STATS_SUPPRESSION_THRESHOLD=1)
    client, supervisor = app.test_client(), admin_for(app, "supervisor")
    _seed(app, random.Random(2028), n_calls=200, n_cases=150)
    with app.app_context():  # as the database looked before the rollups: facts, all counted as contacts
        db.session.execute(update(ContactFact).values(rolled_up=True))
        db.session.commit()
        db.session.remove()
        downgrade(revision="r17_retention_clocks")
        upgrade()
    _roll_up(app)
    assert _assert_as_exact(app, client, supervisor) > 100
