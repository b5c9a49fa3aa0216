"""Where the time of one case-list request goes, on the database `bench.queue` seeded: for each
of its list requests, per request the wall time, this process's CPU time (Python: routing,
authentication, the ORM, serialisation), the SQL statements sent and the time spent waiting on
each. ``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of every statement one request sends;
``--profile`` prints cProfile's top functions.

    .venv/bin/python -m bench.queue --cases 100000          # seed first (BENCH_DATABASE_URL)
    .venv/bin/python -m bench.queue_profile --explain
    .venv/bin/python -m bench.queue_profile --profile
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import time

from sqlalchemy import event

from bench.common import database_url, migrated_app
from bench.queue import list_requests, queue_roles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    app = migrated_app(database_url())
    client = app.test_client()
    roles = queue_roles(app)
    from service.extensions import db

    sent: list[list] = []  # [statement, parameters, seconds] of the request being timed

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        sent.append([statement, parameters, time.perf_counter() - conn.info.pop("started")])

    gc.freeze()
    for label, (role, params) in list_requests().items():
        headers = roles[role]
        client.get("/api/v1/cases", query_string=params, headers=headers)  # warm up
        walls, cpus, sql = [], [], []
        for _ in range(args.runs):
            sent.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get("/api/v1/cases", query_string=params, headers=headers)
            walls.append(1000 * (time.perf_counter() - wall))
            cpus.append(1000 * (time.process_time() - cpu))
            sql.append([(statement, parameters, 1000 * seconds) for statement, parameters, seconds in sent])
            assert response.status_code == 200
        print(f"\n{label}: p50 {statistics.median(walls):.1f} ms wall, {statistics.median(cpus):.1f} ms of this "
              f"process's CPU, {len(sql[-1])} statements, waiting on them {statistics.median(sum(t for *_, t in run) for run in sql):.1f} ms")
        for index, (statement, parameters, _) in enumerate(sql[-1]):
            median = statistics.median(run[index][2] for run in sql if len(run) > index)
            print(f"  {median:7.2f} ms  {' '.join(statement.split())[:150]}")
        if args.explain:
            with app.app_context():
                for statement, parameters, _ in sql[-1]:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    raw = db.session.connection().connection.driver_connection
                    with raw.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                        print("\n    " + "\n    ".join(row[0] for row in cursor.fetchall()))
                db.session.rollback()
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not the waits of a busy machine
            profiler.enable()
            for _ in range(args.runs):
                client.get("/api/v1/cases", query_string=params, headers=headers)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
            print(out.getvalue())


if __name__ == "__main__":
    main()
