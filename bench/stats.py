"""Statistics benchmark: the four reports over HTTP at national volumes, on PostgreSQL.

Seeds two years of anonymous facts (by default 10,000,000 contacts of which 2,000,000 are
inbound calls, 2,000,000 cases of which 300,000 were sent feedback), builds the rollups with
the same code as ``flask stats rebuild``, then serves the application with gunicorn (one sync
worker, the production configuration) and times a year by month and a quarter by day of each
report with realistic breakdowns, over HTTP with a supervisor's token. Reports p50/p90/p99 and
the worker's resident memory: at start, at the end, and its peak (VmHWM).

    .venv/bin/python -m bench.stats                     # full scale
    .venv/bin/python -m bench.stats --scale 0.1         # a tenth of every volume
    .venv/bin/python -m bench.stats --reuse             # measure the database seeded before

Uses its own database (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/bench),
which it drops and recreates. The facts are generated inside PostgreSQL (generate_series), not
posted through the API: this measures reading, not intake.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text

from bench.common import bearer, database_url, migrated_app, recreate_database, stopwatch, summarise

LINES = ["Maahanmuutto", "Väestötiedot", "Neuvonta", "Oleskeluluvat", "Kansalaisuus", "Muutot"]
FIRST_DAY = date(2024, 11, 1)
DAYS = 730
PORT = 8731
START = "timestamptz '2024-10-31 22:00:00+00' + random() * interval '730 days'"
LANGUAGE = "(ARRAY['fi','fi','fi','fi','fi','fi','fi','sv','sv','en'])[1 + floor(random() * 10)::int]"
LINE = "(SELECT min(id) FROM service_line) + floor(random() * :lines)::int"
CHANNEL = "(ARRAY['email','sms','chat','phone','webform'])[1 + floor(random() * 5)::int]"

# Contacts other than inbound calls (the calls are seeded on their own, with their times).
CONTACTS = text(f"""
INSERT INTO stats_contact_fact (occurred_at, channel, direction, language, service_line_id, rolled_up)
SELECT {START}, c.channel, CASE WHEN c.channel = 'phone' OR random() < 0.3 THEN 'outbound' ELSE 'inbound' END,
       {LANGUAGE}, {LINE}, true
FROM (SELECT {CHANNEL} AS channel FROM generate_series(1, :n)) AS c
""")
# Queues exponential around 45 s, talks around five minutes; one call in seven abandoned.
CALLS = text(f"""
INSERT INTO stats_contact_fact (occurred_at, channel, direction, language, service_line_id, rolled_up,
                                call_outcome, queue_seconds, handling_seconds)
SELECT {START}, 'phone', 'inbound', {LANGUAGE}, {LINE}, true, c.outcome, floor(-ln(1 - random()) * 45)::int,
       CASE WHEN c.outcome = 'answered' THEN 20 + floor(-ln(1 - random()) * 280)::int END
FROM (SELECT CASE WHEN random() < 0.86 THEN 'answered' ELSE 'abandoned' END AS outcome
      FROM generate_series(1, :n)) AS c
""")
# First answers within hours, closes within days; one case in twenty forwarded, 15% sent feedback.
CASES = text(f"""
INSERT INTO stats_case_fact (channel, language, service_line_id, opened_at, first_response_at, first_response_seconds,
                             forwarded_at, closed_at, close_seconds, feedback_sent_at, feedback_answered_at,
                             feedback_score)
SELECT channel, language, line, date_trunc('minute', opened), date_trunc('minute', opened + first * interval '1 s'),
       first, CASE WHEN random() < 0.05 THEN date_trunc('minute', opened + first * interval '1 s') END,
       CASE WHEN closes THEN date_trunc('minute', opened + close * interval '1 s') END, CASE WHEN closes THEN close END,
       CASE WHEN feedback AND closes THEN date_trunc('minute', opened + (close + 3600) * interval '1 s') END,
       CASE WHEN feedback AND closes AND answers THEN date_trunc('minute', opened + (close + 7200) * interval '1 s') END,
       CASE WHEN feedback AND closes AND answers THEN 1 + floor(random() * 5)::int END
FROM (SELECT {CHANNEL} AS channel, {LANGUAGE} AS language, {LINE} AS line, {START} AS opened,
             first, first + floor(-ln(1 - random()) * 172800)::int AS close, random() < 0.9 AS closes,
             random() < :feedback_share AS feedback, random() < 0.4 AS answers
      FROM (SELECT 60 + floor(-ln(1 - random()) * 14400)::int AS first FROM generate_series(1, :n)) AS f) AS c
""")

QUERIES = {
    "contacts": {
        "year by month": {"from": "2025-01-01", "to": "2025-12-31", "interval": "month",
                          "group_by": "channel,direction,language"},
        "quarter by day": {"from": "2026-01-01", "to": "2026-03-31", "interval": "day",
                           "group_by": "channel,direction,service_line"},
    },
    "calls": {
        "year by month": {"from": "2025-01-01", "to": "2025-12-31", "interval": "month",
                          "group_by": "language,service_line"},
        "quarter by day": {"from": "2026-01-01", "to": "2026-03-31", "interval": "day", "group_by": "service_line"},
    },
    "cases": {
        "year by month": {"from": "2025-01-01", "to": "2025-12-31", "interval": "month",
                          "group_by": "channel,language,service_line"},
        "quarter by day": {"from": "2026-01-01", "to": "2026-03-31", "interval": "day",
                           "group_by": "channel,service_line"},
    },
    "feedback": {
        "year by month": {"from": "2025-01-01", "to": "2025-12-31", "interval": "month",
                          "group_by": "channel,service_line"},
        "quarter by day": {"from": "2026-01-01", "to": "2026-03-31", "interval": "day", "group_by": "channel"},
    },
}


def _in_chunks(app, statement, total: int, label: str, chunk: int = 1_000_000, **params) -> None:
    from service.extensions import db

    done = 0
    while done < total:
        n = min(chunk, total - done)
        db.session.execute(statement, {"n": n, "lines": len(LINES), **params})
        db.session.commit()
        done += n
        print(f"  seeded {done:,}/{total:,} {label}", flush=True)


def seed(app, contacts: int, calls: int, cases: int, feedback: int) -> None:
    from service.extensions import db
    from service.lines.models import ServiceLine

    with app.app_context():
        db.session.add_all(ServiceLine(name=name) for name in LINES)
        db.session.commit()
        _in_chunks(app, CONTACTS, contacts - calls, "contacts (not inbound calls)")
        _in_chunks(app, CALLS, calls, "inbound calls")
        # Feedback goes to closed cases only (nine in ten close).
        _in_chunks(app, CASES, cases, "cases", feedback_share=min(1.0, feedback / cases / 0.9))


def rollup(app) -> None:
    from service.extensions import db
    from service.stats.logic import StatsSettings
    from service.stats.rollup import rebuild

    with app.app_context():
        zone = StatsSettings.from_config(app.config).zone
        rebuild(zone, first=FIRST_DAY - timedelta(days=1), last=FIRST_DAY + timedelta(days=DAYS + 30),
                progress=lambda line: print(f"  {line}", flush=True), days_per_commit=92)
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _memory(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM")}


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def _time(connection, path: str, headers: dict, runs: int) -> tuple[dict, dict]:
    samples, first = [], None
    for n in range(runs + 1):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, body[:500]
        if n == 0:
            first = json.loads(body)  # the warm-up, not timed
        else:
            samples.append(elapsed)
    return first, summarise(samples)


def measure(app, url: str, runs: int) -> dict:
    from bench.intake import serve_with_gunicorn, stop_server

    bearer(app, "supervisor")  # the official; its token comes from the served application
    server = serve_with_gunicorn("wsgi:app", PORT, 1, {
        "DATABASE_URL": url, "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")})
    try:
        worker = _worker_pid(server.pid)
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        connection.request("POST", "/api/v1/auth/token", body=json.dumps(
            {"username": "bench-supervisor", "password": "bench-password-123"}),
            headers={"Content-Type": "application/json"})
        token = json.loads(connection.getresponse().read())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # Signing in hashes a password (argon2 takes tens of MB for a moment): note that peak,
        # then start the peak afresh so it is the statistics requests' own.
        memory = {"worker_peak_rss_mb_after_sign_in": _memory(worker)["VmHWM"]}
        Path(f"/proc/{worker}/clear_refs").write_text("5")
        memory["worker_rss_mb_at_start"] = _memory(worker)["VmRSS"]
        results = {}
        for report, queries in QUERIES.items():
            for label, params in queries.items():
                path = f"/api/v1/stats/{report}?{urlencode(params)}"
                body, summary = _time(connection, path, headers, runs)
                name = f"{report}: {label} by {params['group_by']}"
                results[name] = {**summary, "rows": len(body["rows"]), "worker_rss_mb": _memory(worker)["VmRSS"]}
                print(f"  {name}: {results[name]}", flush=True)
        after = _memory(worker)
        memory.update({"worker_rss_mb_at_end": after["VmRSS"], "worker_peak_rss_mb_during_reports": after["VmHWM"]})
        print(f"  memory: {memory}", flush=True)
        return {"results": results, "memory": memory}
    finally:
        stop_server(server)


def time_job_run(app) -> float:
    """Seconds of one rollup job run after a new call and a changed case on one day: the
    day's cells, and its week's and month's, of every report."""
    from datetime import datetime, timezone

    from service.extensions import db
    from service.stats.logic import StatsSettings
    from service.stats.models import ContactFact, StatsRecount
    from service.stats.rollup import roll_up

    with app.app_context():
        at = datetime(2026, 3, 18, 10, 0, tzinfo=timezone.utc)
        db.session.add(ContactFact(occurred_at=at, channel="phone", direction="inbound", language="fi",
                                   rolled_up=False, call_outcome="answered", queue_seconds=30, handling_seconds=200))
        db.session.add(StatsRecount(at=at))
        db.session.commit()
        started = time.perf_counter()
        roll_up(StatsSettings.from_config(app.config).zone)
        return round(time.perf_counter() - started, 2)


def _count(app, sql: str) -> int:
    from service.extensions import db

    with app.app_context():
        return db.session.execute(text(sql)).scalar()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full volumes to seed")
    parser.add_argument("--runs", type=int, default=50, help="timed requests per query")
    parser.add_argument("--reuse", action="store_true", help="measure the database seeded by an earlier run")
    args = parser.parse_args()

    url = database_url()
    volumes = {name: int(full * args.scale) for name, full in
               (("contacts", 10_000_000), ("calls", 2_000_000), ("cases", 2_000_000), ("feedback", 300_000))}
    if args.reuse:
        app = migrated_app(url)
    else:
        recreate_database(url)
        app = migrated_app(url)
        print(f"statistics benchmark: seeding {volumes} over {DAYS} days on {url.rsplit('@', 1)[-1]}", flush=True)
        with stopwatch("seed"):
            seed(app, **volumes)
        with stopwatch("rollups of every day (flask stats rebuild)"):
            rollup(app)
    seeded = {"contacts": _count(app, "SELECT count(*) FROM stats_contact_fact"),
              "calls": _count(app, "SELECT count(*) FROM stats_contact_fact WHERE channel = 'phone' "
                                   "AND direction = 'inbound'"),
              "cases": _count(app, "SELECT count(*) FROM stats_case_fact"),
              "feedback": _count(app, "SELECT count(*) FROM stats_case_fact WHERE feedback_sent_at IS NOT NULL"),
              "cells": _count(app, "SELECT count(*) FROM stats_cell")}
    print(f"  in the database: {seeded}", flush=True)
    measured = measure(app, url, args.runs)
    job = time_job_run(app)
    print(f"  one rollup job run after a new call and a changed case: {job} s", flush=True)
    print(json.dumps({"seeded": seeded, **measured, "job_run_seconds": job}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
