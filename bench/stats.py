"""Statistics benchmark: ten million contacts over two years, then the two queries of the
statistics issue through the HTTP API on PostgreSQL.

    .venv/bin/python -m bench.stats                 # full scale: 10,000,000 contacts
    .venv/bin/python -m bench.stats --contacts 1000000   # a quicker run

Uses its own database (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/bench),
which it drops and recreates. The facts are generated inside PostgreSQL (generate_series), not
posted through the API: this measures reading, not intake. The daily table is then built by
the same code as ``flask stats rebuild``.
"""

from __future__ import annotations

import argparse
import gc
import json
from datetime import date, timedelta

from sqlalchemy import text

from bench.common import bearer, database_url, migrated_app, recreate_database, stopwatch, time_get

LINES = ["Maahanmuutto", "Väestötiedot", "Neuvonta", "Oleskeluluvat", "Kansalaisuus", "Muutot"]
FIRST_DAY = date(2024, 11, 1)
DAYS = 730

SEED = text("""
INSERT INTO stats_contact_fact (occurred_at, channel, direction, language, service_line_id, rolled_up)
SELECT timestamptz '2024-10-31 22:00:00+00' + random() * interval '730 days',
       (ARRAY['email','sms','chat','phone','webform'])[1 + floor(random() * 5)::int],
       CASE WHEN random() < 0.7 THEN 'inbound' ELSE 'outbound' END,
       (ARRAY['fi','fi','fi','fi','fi','fi','fi','sv','sv','en'])[1 + floor(random() * 10)::int],
       (SELECT min(id) FROM service_line) + floor(random() * :lines)::int,
       true
FROM generate_series(1, :n)
""")


def seed(app, contacts: int, chunk: int = 1_000_000) -> None:
    from service.extensions import db
    from service.lines.models import ServiceLine

    with app.app_context():
        db.session.add_all(ServiceLine(name=name) for name in LINES)
        db.session.commit()
        done = 0
        while done < contacts:
            n = min(chunk, contacts - done)
            db.session.execute(SEED, {"n": n, "lines": len(LINES)})
            db.session.commit()
            done += n
            print(f"  seeded {done:,}/{contacts:,} contacts", flush=True)


def rollup(app) -> None:
    from service.extensions import db
    from service.stats.logic import StatsSettings
    from service.stats.rollup import rebuild

    with app.app_context():
        zone = StatsSettings.from_config(app.config).zone
        rebuild(zone, first=FIRST_DAY - timedelta(days=1), last=FIRST_DAY + timedelta(days=DAYS),
                progress=lambda line: print(f"  {line}", flush=True) if "days" in line else None,
                days_per_commit=92)
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def measure(app, runs: int) -> dict:
    client = app.test_client()
    supervisor = bearer(app, "supervisor")
    queries = {
        "year by month, 3 dimensions": {"from": "2025-01-01", "to": "2025-12-31", "interval": "month",
                                        "group_by": "channel,direction,language"},
        "quarter by day, 3 dimensions": {"from": "2026-01-01", "to": "2026-03-31", "interval": "day",
                                         "group_by": "channel,direction,service_line"},
    }
    results = {}
    for label, params in queries.items():
        body, summary = time_get(client, "/api/v1/stats/contacts", params, supervisor, runs)
        results[label] = {**summary, "rows": len(body["rows"]), "total": body["total"]["contacts"]}
        print(f"  {label}: {results[label]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed requests per query")
    parser.add_argument("--reuse", action="store_true", help="measure the database seeded by an earlier run")
    args = parser.parse_args()

    url = database_url()
    if args.reuse:
        app = migrated_app(url)
        with app.app_context():
            from service.extensions import db
            args.contacts = db.session.execute(text("SELECT count(*) FROM stats_contact_fact")).scalar()
    print(f"statistics benchmark: {args.contacts:,} contacts over {DAYS} days on {url.rsplit('@', 1)[-1]}")
    if not args.reuse:
        recreate_database(url)
        app = migrated_app(url)
        with stopwatch("seed"):
            seed(app, args.contacts)
        with stopwatch("daily rollup of every day (flask stats rebuild)"):
            rollup(app)
    gc.freeze()  # as wsgi.py does once the application is built
    results = measure(app, args.runs)
    print(json.dumps({"contacts": args.contacts, "results": results}, indent=2))


if __name__ == "__main__":
    main()
