"""Purge benchmark: a million expired cases with their contacts and notes deleted by the
retention purge, while intake keeps taking signed Twilio SMS webhooks.

    .venv/bin/python -m bench.purge                    # 1,000,000 cases, 5,000,000 contacts
    .venv/bin/python -m bench.purge --cases 100000     # a quick run

    .venv/bin/python -m bench.purge --intake-rate 50   # intake at a steady 50 messages/s
    .venv/bin/python -m bench.purge --clients 0        # the purge alone

Seeds inside PostgreSQL as bench/queue.py does, then closes every case with a retention date
in the past and gives each a note. Intake runs as in production (bench/intake.py): gunicorn
takes the webhooks from 4 clients and 4 RQ workers turn them into contacts. Its latency is
measured alone first, then while the purge runs in this process with the code of `flask
retention purge`. By default each client sends its next message as soon as the last is
answered, so intake takes all the CPU it can; `--intake-rate` paces them instead.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import threading
import time

import psycopg
from redis import Redis
from sqlalchemy import text

from bench import load
from bench.common import database_url, migrated_app, recreate_database, start_workers, stopwatch
from bench.intake import TOKEN, serve_with_gunicorn, signed_sms_requests, stop_server
from bench.queue import seed

EXPIRE = text("""
UPDATE "case" SET status = 'closed', closed_at = created_at + interval '1 day',
                  retention_until = now() - interval '1 day'
""")
PORT = 8703
NOTES = text("""INSERT INTO note (case_id, body, created_at) SELECT id, 'Muistiinpano', created_at FROM "case" """)


def _waiting(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM inbound_envelope").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4, help="intake clients during the purge (0: no intake)")
    parser.add_argument("--intake-rate", type=float, help="messages/s the clients send together "
                        "(default: each sends its next as soon as the last is answered)")
    args = parser.parse_args()

    url = database_url()
    print(f"purge benchmark: {args.cases:,} expired cases with 5 contacts and a note each, batches of "
          f"{args.batch_size:,}, intake from {args.clients} clients meanwhile"
          f"{f' at {args.intake_rate:g} messages/s' if args.intake_rate else ''}; PostgreSQL "
          f"{url.rsplit('@', 1)[-1]}; everything on the same machine", flush=True)
    recreate_database(url)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    # The workers' application, with the served one's settings.
    app = migrated_app(url, with_channels=True, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=TOKEN,
                       PUBLIC_BASE_URL=f"http://127.0.0.1:{PORT}")
    with stopwatch("seed"):
        seed(app, args.cases, 5)
        with app.app_context():
            from service.extensions import db
            db.session.execute(EXPIRE)
            db.session.execute(NOTES)
            db.session.commit()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    alone = during = None
    if args.clients:
        report, elapsed, alone, during = _purge_during_intake(app, url, args)
    else:
        report, elapsed = _purge(app, args.batch_size)
    rate = report.cases / elapsed if elapsed else 0
    print(f"  purge: {report.cases:,} cases in {elapsed:.1f} s = {rate:,.0f} cases/s", flush=True)
    print(f"  intake during the purge: {during}", flush=True)
    print(json.dumps({"cases": report.cases, "seconds": round(elapsed, 1), "cases_per_second": round(rate),
                      "intake_rate": args.intake_rate, "intake_alone": alone, "intake_during_purge": during},
                     indent=2))


def _purge(app, batch_size: int):
    from service.retention.logic import purge
    from service.storage import get_storage

    with app.app_context():
        started = time.perf_counter()
        report = purge(storage=get_storage(), batch_size=batch_size, progress=lambda r: print(
            f"  purged {r.cases:,} cases", flush=True) if r.batches % 20 == 0 else None)
        return report, time.perf_counter() - started


def _purge_during_intake(app, url: str, args):
    port = PORT
    base = f"http://127.0.0.1:{port}"
    redis_url = app.config["REDIS_URL"]
    senders = [f"+3585{n:08d}" for n in range(200_000)]
    service = serve_with_gunicorn("wsgi:app", port, 4, {
        "DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base, "REDIS_URL": redis_url})
    Redis.from_url(redis_url).flushdb()
    workers = start_workers(app, redis_url, 4, burst=False)
    try:
        # Every gunicorn worker has served requests (its connections open) before anything counts.
        load.run("127.0.0.1", port, signed_sms_requests(base, senders[100_000:], 2_000, 40_000_000),
                 clients=args.clients, seconds=3)
        alone = load.run("127.0.0.1", port, signed_sms_requests(base, senders[:100_000], 100_000, 50_000_000),
                         clients=args.clients, seconds=15, rate=args.intake_rate)
        print(f"  intake alone, 15 s: {alone}", flush=True)

        stop = multiprocessing.get_context("fork").Event()
        during: dict = {}
        prepared = signed_sms_requests(base, senders[100_000:], 100_000, 60_000_000)
        intake = threading.Thread(target=lambda: during.update(load.run(
            "127.0.0.1", port, prepared, clients=args.clients, seconds=3600, stop=stop, rate=args.intake_rate)))
        intake.start()
        time.sleep(2)  # intake is running before the purge starts
        report, elapsed = _purge(app, args.batch_size)
        stop.set()
        intake.join()
        left, stopped = _waiting(url), time.perf_counter()
        while _waiting(url):  # the workers finish what intake accepted
            time.sleep(0.2)
        print(f"  {left:,} accepted messages were still waiting for a worker when the load stopped; "
              f"processed {time.perf_counter() - stopped:.1f} s later", flush=True)
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()
        stop_server(service)
    return report, elapsed, alone, during


if __name__ == "__main__":
    main()
