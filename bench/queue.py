"""Agent queue benchmark: the adviser's case list (newest first, and by what is due next, of every
line and of one), the breached cases, and a long case, with a million cases on four lines and
five million contacts in PostgreSQL.

    .venv/bin/python -m bench.queue                    # 1,000,000 cases, 5,000,000 contacts
    .venv/bin/python -m bench.queue --cases 100000     # a quick run

Seeded inside PostgreSQL (generate_series), not through the API. Requests go through the HTTP
API in-process (Flask's test client, an adviser's token), so the times are the service's own:
routing, authentication, the queries, the audit entry of each read and serialisation.
"""

from __future__ import annotations

import argparse
import gc
import json

import psycopg
from sqlalchemy import text

from bench.common import bearer, database_url, migrated_app, recreate_database, stopwatch, time_get

SEED_CUSTOMERS = text("""
INSERT INTO customer (name, phone, language, created_at, updated_at)
SELECT 'Asiakas ' || n, '+3584' || lpad(n::text, 8, '0'), 'fi', now(), now() FROM generate_series(1, :n) n
""")
# 10% of cases still being worked on (new or open), the rest closed; five channels, four lines
# (each independent of the status and channel). The cases being worked on have running service
# clocks, due from two days ago (breached) to eight days ahead; new ones still wait for their
# first response.
SEED_CASES = text("""
INSERT INTO "case" (reference, service_line_id, customer_id, channel, status, subject, language,
                    created_at, updated_at, last_activity_at, closed_at,
                    first_response_due_at, resolution_due_at, next_due_at, clock_since,
                    first_response_left_seconds, resolution_left_seconds,
                    first_response_target_seconds, resolution_target_seconds, resolution_started_at)
SELECT '2026-B' || n, (CAST(:lines AS integer[]))[1 + (n / 50) % 4], 1 + (n % :customers),
       (ARRAY['email','sms','chat','phone','webform'])[1 + (n / 10) % 5],
       CASE WHEN n % 10 = 0 THEN 'open' WHEN n % 10 = 1 THEN 'new' ELSE 'closed' END,
       'Asia ' || n, 'fi', t, t, t, CASE WHEN n % 10 > 1 THEN t + interval '2 days' END,
       CASE WHEN n % 10 = 1 THEN due END,
       CASE WHEN n % 10 = 1 THEN due + interval '2 days' WHEN n % 10 = 0 THEN due END,
       CASE WHEN n % 10 < 2 THEN due END,
       CASE WHEN n % 10 < 2 THEN t END,
       CASE WHEN n % 10 = 1 THEN 7200 END, CASE WHEN n % 10 < 2 THEN 57600 END,
       CASE WHEN n % 10 = 1 THEN 7200 END, CASE WHEN n % 10 < 2 THEN 57600 END,
       CASE WHEN n % 10 < 2 THEN t END
FROM (SELECT n, timestamptz '2024-11-01' + (n * interval '1 minute') AS t,
             now() + ((n::bigint * 7919) % 14400 - 2880) * interval '1 minute' AS due
      FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) n) s
""")
SEED_CONTACTS = text("""
INSERT INTO contact (case_id, channel, direction, external_id, sender, body, occurred_at, created_at)
SELECT c.id, c.channel, CASE WHEN k % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'B' || c.id || '-' || k,
       '+358400000000', 'Viesti ' || k, c.created_at + k * interval '1 hour', c.created_at + k * interval '1 hour'
FROM "case" c CROSS JOIN generate_series(1, CAST(:per_case AS integer)) k
WHERE c.id BETWEEN :first AND :last
""")


# The line-member adviser of the benchmark works on the second.
LINES = ("Neuvonta", "Verotus", "Rakennusvalvonta", "Sosiaalipalvelut")


def seed(app, cases: int, contacts_per_case: int, chunk: int = 200_000) -> int:
    from service.extensions import db
    from service.lines.models import ServiceLine

    with app.app_context():
        lines = [ServiceLine(name=name, is_default=name == LINES[0]) for name in LINES]
        db.session.add_all(lines)
        db.session.commit()
        line_ids = [line.id for line in lines]
        customers = max(1, cases // 2)
        db.session.execute(SEED_CUSTOMERS, {"n": customers})
        db.session.commit()
        for first in range(1, cases + 1, chunk):
            last = min(cases, first + chunk - 1)
            db.session.execute(SEED_CASES, {"first": first, "last": last, "lines": line_ids, "customers": customers})
            db.session.commit()
            print(f"  seeded {last:,}/{cases:,} cases", flush=True)
        low, high = db.session.execute(text('SELECT min(id), max(id) FROM "case"')).one()
        for first in range(low, high + 1, chunk):
            db.session.execute(SEED_CONTACTS, {"first": first, "last": min(high, first + chunk - 1),
                                               "per_case": contacts_per_case})
            db.session.commit()
            print(f"  seeded contacts of cases up to id {min(high, first + chunk - 1):,}", flush=True)
        # One open case with 50 contacts: the long timeline an adviser opens.
        long_case = db.session.execute(text("""SELECT id FROM "case" WHERE status = 'open' ORDER BY id DESC LIMIT 1""")).scalar()
        db.session.execute(text("""
            INSERT INTO contact (case_id, channel, direction, external_id, sender, body, occurred_at, created_at)
            SELECT :id, 'sms', 'inbound', 'LONG-' || k, '+358400000000', 'Pitkä ketju ' || k,
                   now() - k * interval '1 hour', now() FROM generate_series(1, 50 - :per_case) k"""),
            {"id": long_case, "per_case": contacts_per_case})
        db.session.commit()
    # As autovacuum leaves a table that has settled: statistics and the visibility map (which
    # lets counting the queue read the index alone).
    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return long_case


def list_requests() -> dict:
    """The case lists timed, each with who asks (its role; "line adviser": an adviser of the
    second line, who sees its cases only) and its query. The lists sorted by due time are timed
    on the same page."""
    return {
        "case list: open, sms, newest first, page 2": ("adviser", {"status": "open", "channel": "sms",
                                                                   "sort": "-created_at", "page": 2}),
        "case list: open, sms, due first, page 2": ("adviser", {"status": "open", "channel": "sms", "sort": "due",
                                                                "page": 2}),
        "case list: new and open, every channel, due first, page 2": ("adviser", {"status": ["new", "open"],
                                                                                  "sort": "due", "page": 2}),
        "case list: new and open, own line, due first, page 2 (line adviser)": (
            "line adviser", {"status": ["new", "open"], "sort": "due", "page": 2}),
        "case list: breached, due first (supervisor)": ("supervisor", {"breached": "true", "sort": "due"}),
    }


def queue_roles(app) -> dict:
    """The headers of each role list_requests names."""
    from service.extensions import db
    from service.lines.models import ServiceLine

    with app.app_context():
        line = db.session.query(ServiceLine.id).filter_by(name=LINES[1]).scalar()
    if line is None:
        raise SystemExit(f"no line {LINES[1]!r}: the database was seeded on one line; seed it again")
    return {"adviser": bearer(app, "adviser"), "supervisor": bearer(app, "supervisor"),
            "line adviser": bearer(app, "adviser", service_line_ids=(line,))}


def measure(app, long_case: int, runs: int) -> dict:
    client = app.test_client()
    roles = queue_roles(app)
    requests = {label: (roles[role], params) for label, (role, params) in list_requests().items()}
    requests["a case with 50 contacts"] = (roles["adviser"], None)
    results = {}
    for label, (headers, params) in requests.items():
        path = "/api/v1/cases" if params is not None else f"/api/v1/cases/{long_case}"
        _, results[label] = time_get(client, path, params or {}, headers, runs)
        print(f"  {label}: {results[label]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--contacts-per-case", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="measure the database seeded by an earlier run")
    args = parser.parse_args()

    url = database_url()
    if args.reuse:
        app = migrated_app(url)
        with app.app_context():
            from service.extensions import db
            args.cases = db.session.execute(text('SELECT count(*) FROM "case"')).scalar()
            long_case = db.session.execute(text(
                "SELECT case_id FROM contact GROUP BY case_id HAVING count(*) >= 50 LIMIT 1")).scalar()
    print(f"agent queue benchmark: {args.cases:,} cases, {args.cases * args.contacts_per_case:,} contacts "
          f"on {url.rsplit('@', 1)[-1]}", flush=True)
    if not args.reuse:
        recreate_database(url)
        app = migrated_app(url)
        with stopwatch("seed"):
            long_case = seed(app, args.cases, args.contacts_per_case)
    gc.freeze()  # as wsgi.py does once the application is built
    results = measure(app, long_case, args.runs)
    print(json.dumps({"cases": args.cases, "results": results}, indent=2))


if __name__ == "__main__":
    main()
