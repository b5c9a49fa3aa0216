"""Where intake's time goes, in one process, with no load generator or server in the way.

The worker (the default): lands ``--messages`` SMS straight into ``inbound_envelope`` (80%
from returning customers with an open case, 20% new), then runs the processing as a worker
does, in this process, and reports per message the wall time, this process's CPU time
(Python: the worker) and the SQL statements sent.

The webhook (``--webhook``): calls the WSGI application of ``wsgi.py`` (the service as
gunicorn serves it, Redis included) with ``--requests`` signed Twilio SMS webhooks, each a
ready-made WSGI environ, and then ``bench/ceiling.py``'s one-INSERT application with the same
requests. Reported per request: the CPU of the thread that answered it, the CPU of the
process's other threads (the enqueueing thread; the intake thread on the embedded default),
SQL statements and commits, and Redis round trips. ``--embedded`` does the same on SQLite
without Redis, the embedded default, whose intake thread processes the messages meanwhile.

The worker under steady traffic (``--rate N``): another process lands N SMS a second for
``--seconds`` while this one runs the worker's loop, with ``--gather-ms`` as
``INTAKE_GATHER_MS``; reported per message: how many a batch held, the worker's and
PostgreSQL's CPU, and the statements. ``--clocks`` gives the line a calendar and targets, so
that new cases start service clocks.

The worker's runs also report what PostgreSQL wrote per message, which other work on the
machine does not blur as it does the CPU figures: the WAL of the benchmark database's
relations (by relation) and the rows inserted, updated (HOT) and deleted per table.

``--profile`` prints cProfile's top functions as well (of the worker, or of the answering
thread).

    .venv/bin/python -m bench.intake_profile                  # PostgreSQL (BENCH_DATABASE_URL)
    .venv/bin/python -m bench.intake_profile --profile
    .venv/bin/python -m bench.intake_profile --webhook        # and Redis (BENCH_REDIS_URL)
    .venv/bin/python -m bench.intake_profile --webhook --embedded
    .venv/bin/python -m bench.intake_profile --rate 300 --gather-ms 0
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import event

from bench.common import database_url, migrated_app, recreate_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--webhook", action="store_true", help="profile the webhook request, not the worker")
    parser.add_argument("--requests", type=int, default=4000, help="webhook requests measured (--webhook)")
    parser.add_argument("--embedded", action="store_true", help="SQLite without Redis (--webhook)")
    parser.add_argument("--turns", type=int, default=3, help="turns of the ceiling and the webhook (--webhook)")
    parser.add_argument("--rate", type=int, default=0,
                        help="the worker under steady traffic: messages landed per second by another process")
    parser.add_argument("--seconds", type=float, default=10, help="how long messages land (--rate)")
    parser.add_argument("--gather-ms", type=int, default=None, help="INTAKE_GATHER_MS of the worker (--rate)")
    parser.add_argument("--clocks", action="store_true",
                        help="give the lines a calendar and targets, so that new cases start service clocks (--rate)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.webhook:
        profile_webhook(args)
    elif args.rate:
        profile_steady_worker(args)
    else:
        profile_worker(args)


def profile_worker(args) -> None:
    url = database_url()
    recreate_database(url)
    app = migrated_app(url, with_channels=True)
    from service.extensions import db
    from service.intake import envelopes

    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    handlers = app.extensions["inbound_handlers"]
    with app.app_context():
        def land(sid: str, phone: str) -> None:
            envelopes.land("sms", sid, {"From": phone, "To": "+358501112223", "Body": f"Hei, asia {sid[-6:]}"},
                           received_at=datetime.now(timezone.utc))

        for n, phone in enumerate(existing):
            land(f"SM{n:032d}", phone)
        envelopes.process_due(handlers, limit=10**9)
        for n in range(args.messages):
            phone = rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}"
            land(f"SM{10**9 + n:032d}", phone)

        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_args, **_kwargs):
            statements[0] += 1

        app.extensions.pop("landing_engine").dispose()  # its counters reach the statistics now
        time.sleep(1.5)
        work = DatabaseWork(url)
        work.before()
        profiler = cProfile.Profile() if args.profile else None
        server: dict = {}
        with Backends(url).measured(server):
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            taken = envelopes.process_due(handlers, limit=10**9)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        db.session.remove()
        db.engine.dispose()  # its backends report their counters as they end
        time.sleep(1.5)
    print(f"{taken} messages: {taken / wall:.0f}/s; per message {1000 * wall / taken:.2f} ms wall, "
          f"{1000 * cpu / taken:.2f} ms of the worker's CPU, {server['ns'] / 1e6 / taken:.2f} ms of PostgreSQL's, "
          f"{statements[0] / taken:.2f} SQL statements")
    print(work.after(taken))
    if profiler:
        _print_profile(profiler)


def _land_steadily(app, rate: int, seconds: float, existing: list[str], start: int, pids) -> None:
    """A forked process: land ``rate`` SMS a second for ``seconds``, as the webhooks would."""
    from service.extensions import db
    from service.intake import envelopes

    rng = random.Random(start)
    with app.app_context():
        db.engine.dispose(close=False)  # the parent's connections stay the parent's
        app.extensions.pop("landing_engine", None)
        connection = envelopes.landing_engine().raw_connection()
        pids.put(connection.driver_connection.info.backend_pid)  # its server CPU is the webhook's
        connection.close()
        began = time.perf_counter()
        for n in range(int(rate * seconds)):
            due = began + n / rate
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())
            # A new sender's number is one that can be kept, so a new customer is created for it.
            phone = rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}"
            envelopes.land("sms", f"SM{start + n:032d}", {"From": phone, "To": "+358501112223", "Body": "Hei"},
                           received_at=datetime.now(timezone.utc))


def _with_clocks() -> None:
    """Every line on a calendar open every day, with targets for every channel, as a deployment
    that keeps service clocks has."""
    import json

    from service.clocks.models import ANY_CHANNEL, BusinessCalendar, ServiceTarget
    from service.extensions import db
    from service.lines.models import ServiceLine

    calendar = BusinessCalendar(name="bench", time_zone="Europe/Helsinki", holiday_country=None,
                                hours=json.dumps({day: ["07:00", "22:00"]
                                                  for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}))
    db.session.add(calendar)
    db.session.flush()
    for line in db.session.query(ServiceLine):
        line.calendar_id = calendar.id
        db.session.add(ServiceTarget(service_line_id=line.id, channel=ANY_CHANNEL, first_response_minutes=60,
                                     resolution_days=5))
    db.session.commit()


def profile_steady_worker(args) -> None:
    """The worker while messages keep landing at ``--rate``: what a batch costs depends on
    how many it holds, and under steady traffic that is decided by how the worker waits."""
    from multiprocessing import get_context

    url = database_url()
    recreate_database(url)
    config = {} if args.gather_ms is None else {"INTAKE_GATHER_MS": args.gather_ms}
    app = migrated_app(url, with_channels=True, REDIS_URL=os.environ.get("BENCH_REDIS_URL",
                                                                         "redis://127.0.0.1:6379/13"), **config)
    from service.extensions import db
    from service.intake import envelopes, processing

    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    handlers = app.extensions["inbound_handlers"]
    with app.app_context():
        for n, phone in enumerate(existing):
            envelopes.land("sms", f"SM{n:032d}", {"From": phone, "To": "+358501112223", "Body": "Hei"},
                           received_at=datetime.now(timezone.utc))
        envelopes.process_due(handlers, limit=10**9)
        if args.clocks:  # for the cases opened from here on, on the line the first ones made
            _with_clocks()
        db.session.remove()
        db.engine.dispose()
        app.extensions.pop("landing_engine").dispose()  # and its counters reach the statistics now
        time.sleep(1.5)
        statements, batches = [0], [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(conn, cursor, statement, *_args):
            statements[0] += 1
            batches[0] += statement.startswith("DELETE FROM inbound_envelope")

        context = get_context("fork")
        pids = context.Queue()
        lander = context.Process(target=_land_steadily, args=(app, args.rate, args.seconds, existing, 10**9, pids))
        lander.start()
        backends = Backends(url, exclude={pids.get(timeout=60)})
        work = DatabaseWork(url)
        work.before()
        server: dict = {}
        taken = 0
        with backends.measured(server):
            cpu, wall = time.thread_time(), time.perf_counter()
            # The worker's loop (processing.process) until the lander is done and nothing is due.
            step = processing._gathering_step(time.sleep, handed_over=lambda: False)
            while lander.is_alive() or envelopes.due_count():
                done = step()
                taken += done
                if not done:
                    time.sleep(0.05)  # idle: RQ would start the next job on the next landing
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        lander.join()
        db.session.remove()
        db.engine.dispose()  # its backends report their counters as they end
        time.sleep(1.5)
    print(f"{taken} messages landed at {args.rate}/s for {args.seconds:.0f} s, INTAKE_GATHER_MS "
          f"{app.config['INTAKE_GATHER_MS']}: {taken / max(batches[0], 1):.1f} messages a batch; per message "
          f"{1000 * cpu / taken:.2f} ms of the worker's CPU, {server['ns'] / 1e6 / taken:.2f} ms of PostgreSQL's, "
          f"{statements[0] / taken:.2f} SQL statements (idle looks included); the worker busy "
          f"{100 * cpu / wall:.0f}% of a core, {wall:.1f} s in all")
    print(work.after(taken))


# --- the webhook ---------------------------------------------------------------------------

class Counts:
    """What reached PostgreSQL, SQLite and Redis, counted at the drivers: every statement sent,
    whichever way it was sent (SQLAlchemy, or the landing's prepared INSERT on the bare
    driver connection), the commits and rollbacks, and each write to a Redis socket (a
    pipeline is one); apart for the thread that answers the requests and for the others."""

    def __init__(self):
        self.seen: Counter = Counter()

    def _add(self, counter: str) -> None:
        self.seen[("request" if threading.current_thread() is threading.main_thread() else "background",
                   counter)] += 1

    @contextmanager
    def installed(self):
        import psycopg
        from redis.connection import AbstractConnection

        originals = {(psycopg.Cursor, "execute"): psycopg.Cursor.execute,
                     (psycopg.Cursor, "executemany"): psycopg.Cursor.executemany,
                     (psycopg.Connection, "commit"): psycopg.Connection.commit,
                     (psycopg.Connection, "rollback"): psycopg.Connection.rollback,
                     (AbstractConnection, "send_packed_command"): AbstractConnection.send_packed_command}

        def counting(original, counter):
            def wrapper(*args, **kwargs):
                # A commit or rollback outside a transaction (the pool's reset of an autocommit
                # connection) sends nothing.
                if counter != "ends" or args[0].info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    self._add(counter)
                return original(*args, **kwargs)
            return wrapper

        for (owner, name), original in originals.items():
            counter = {"execute": "statements", "executemany": "statements",
                       "send_packed_command": "redis"}.get(name, "ends")
            setattr(owner, name, counting(original, counter))
        try:
            yield self
        finally:
            for (owner, name), original in originals.items():
                setattr(owner, name, original)

    def sqlite_trace(self, statement: str) -> None:
        # sqlite3's trace callback sees every statement, BEGIN and COMMIT included.
        self._add("ends" if statement.startswith(("COMMIT", "ROLLBACK")) else "statements")


class DatabaseWork:
    """What the statements made PostgreSQL write, which the CPU figures only hint at and which
    other work on the machine does not blur: the WAL of this database's relations (read back
    with pg_walinspect: the server's WAL is shared by every database on it, and a plain
    difference of positions would count their work too), with and without full-page images
    (those depend on when the last checkpoint was), and each table's inserted, updated (of
    which HOT) and deleted rows from pg_stat_user_tables."""

    TABLES = ("inbound_envelope", "case", "contact", "customer", "search_entry", "clock_event",
              "stats_contact_fact", "stats_case_fact", "audit_entry")

    def __init__(self, url: str):
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        self._oid = self._conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]

    def _tables(self) -> dict:
        # Counters reach the view when a backend reports them (at exit, or a second after a
        # transaction): the caller closes its connections before ``after``.
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        return {row[0]: row[1:] for row in self._conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
            " WHERE relname = ANY(%s)", [list(self.TABLES)])}

    def before(self) -> None:
        self._lsn = self._conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        self._before = self._tables()

    def after(self, messages: int) -> str:
        end = self._conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        wal, fpi, records = self._conn.execute(
            "SELECT coalesce(sum(record_length), 0), coalesce(sum(fpi_length), 0), count(*)"
            " FROM pg_get_wal_records_info_till_end_of_wal(%s) WHERE start_lsn < %s AND block_ref LIKE %s",
            [self._lsn, end, f"%/{self._oid}/%"]).fetchone()
        by_relation = self._conn.execute(
            "SELECT coalesce(c.relname, r.node), sum(w.record_length), count(*)"
            " FROM pg_get_wal_records_info_till_end_of_wal(%s) w"
            " CROSS JOIN LATERAL (SELECT substring(w.block_ref from '/' || %s || '/(\\d+)') AS node) r"
            " LEFT JOIN pg_class c ON c.relfilenode::text = r.node"
            " WHERE w.start_lsn < %s AND r.node IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 40",
            [self._lsn, self._oid, end]).fetchall()
        after = self._tables()
        lines = [f"WAL of this database per message: {wal / messages:,.0f} bytes "
                 f"({(wal - fpi) / messages:,.0f} without full-page images), {records / messages:.1f} records",
                 "rows per message: table inserted updated (HOT) deleted"]
        for table in self.TABLES:
            if table in after:
                ins, upd, hot, dele = (a - b for a, b in zip(after[table], self._before.get(table, (0, 0, 0, 0))))
                lines.append(f"  {table:<20} {ins / messages:6.2f} {upd / messages:6.2f} ({hot / messages:4.2f})"
                             f" {dele / messages:6.2f}")
        lines.append("WAL per message by relation (the first block a record touches): bytes records")
        lines.extend(f"  {name:<40} {size / messages:6.0f} {count / messages:5.2f}" for name, size, count in by_relation)
        return "\n".join(lines)


class Backends:
    """CPU time of the PostgreSQL server processes serving the benchmark database (the
    statements' cost on the server, which the client's CPU time does not show), read from
    /proc on this machine; 0 on SQLite."""

    def __init__(self, url: str | None, *, exclude: set[int] = frozenset()):
        self._conn, self._exclude = None, exclude
        if url and url.startswith("postgresql"):
            import psycopg

            self._conn = psycopg.connect(url, autocommit=True)

    def _times(self) -> dict[int, int]:
        pids = [row[0] for row in self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        times = {}
        for pid in pids:
            if pid in self._exclude:
                continue
            try:
                with open(f"/proc/{pid}/schedstat") as stat:  # nanoseconds on a CPU
                    times[pid] = int(stat.read().split()[0])
            except OSError:
                pass
        return times

    @contextmanager
    def measured(self, into: dict):
        before = self._times() if self._conn else {}
        try:
            yield
        finally:
            after = self._times() if self._conn else {}
            into["ns"] = sum(ns - before.get(pid, 0) for pid, ns in after.items())


TOKEN = "bench-twilio-auth-token"
BASE = "http://127.0.0.1:8712"


def _environs(count: int, start: int, senders: list[str]) -> list[dict]:
    """Signed webhook requests as the WSGI server hands them over, built before the clock starts."""
    from werkzeug.test import EnvironBuilder

    from bench.intake import signed_sms_requests

    environs = []
    for path, body, headers in signed_sms_requests(BASE, senders, count, start):
        environ = EnvironBuilder(path=path, base_url=BASE, method="POST", data=body.encode(),
                                 headers=headers).get_environ()
        environs.append(environ)
    return environs


def _serve(app, environs: list[dict]) -> int:
    ok = 0
    for environ in environs:
        status = []
        body = app(environ, lambda code, headers, exc_info=None: status.append(code))
        try:
            for _chunk in body:
                pass
        finally:
            if hasattr(body, "close"):
                body.close()
        ok += status[0].startswith("200")
    return ok


def _measure(label: str, app, environs: list[dict], counts: Counts, backends: Backends, *, settle,
             profile: bool) -> dict:
    server: dict = {}
    # Timed by the thread's CPU clock: the time spent waiting for PostgreSQL is not the cost.
    profiler = cProfile.Profile(time.thread_time) if profile else None
    with backends.measured(server):
        counts.seen.clear()
        wall, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
        if profiler:
            profiler.enable()
        ok = _serve(app, environs)
        if profiler:
            profiler.disable()
        thread = time.thread_time() - thread
        settle()  # the background threads finish what these requests gave them
        wall, process = time.perf_counter() - wall, time.process_time() - process
        seen = Counter(counts.seen)
    n = len(environs)
    result = {"label": label, "requests": n, "answered 200": ok,
              "request CPU ms": 1000 * thread / n, "other threads' CPU ms": 1000 * (process - thread) / n,
              "PostgreSQL CPU ms": server["ns"] / 1e6 / n,
              "SQL statements": seen["request", "statements"] / n,
              "commits and rollbacks": seen["request", "ends"] / n,
              "Redis round trips": seen["request", "redis"] / n,
              "other threads' SQL statements and commits": (seen["background", "statements"]
                                                             + seen["background", "ends"]) / n,
              "other threads' Redis round trips": seen["background", "redis"] / n, "wall ms": 1000 * wall / n}
    _print_result(result)
    if profiler:
        _print_profile(profiler, sort="tottime", lines=30)
        _print_profile(profiler, sort="cumulative", lines=40)
    return result


def _print_result(result: dict) -> None:
    print("  " + "; ".join(f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                           for key, value in result.items()), flush=True)


def profile_webhook(args) -> None:
    import bench.ceiling

    counts = Counts()
    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    senders = [rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}" for n in range(args.requests)]
    if args.embedded:
        folder = Path(tempfile.mkdtemp(prefix="bench-profile-"))
        url, redis_url = f"sqlite:///{folder / 'service.sqlite'}", None
        os.environ["BENCH_CEILING_SQLITE"] = str(folder / "ceiling.sqlite")
    else:
        from redis import Redis

        url, redis_url = database_url(), os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
        recreate_database(url)
        Redis.from_url(redis_url).flushdb()
        os.environ["BENCH_DATABASE_URL"] = url
        os.environ.pop("BENCH_CEILING_SQLITE", None)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(bench.ceiling.CREATE)
    migrated_app(url)

    # The service as wsgi.py builds it for gunicorn, with the end-to-end benchmark's settings.
    os.environ.update({"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE,
                       "LOG_LEVEL": "WARNING", "INPROCESS_SWEEP_SECONDS": "30"})
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import wsgi
    from service.extensions import db
    from service.queue import flush_soon_enqueues

    app = wsgi.app
    if args.embedded:
        with app.app_context():
            @event.listens_for(db.engine, "connect")
            def _trace(dbapi_connection, _record):
                if isinstance(dbapi_connection, sqlite3.Connection):
                    dbapi_connection.set_trace_callback(counts.sqlite_trace)
            db.engine.dispose()

    def settle_service():
        flush_soon_enqueues(app)
        thread = app.extensions.get("intake_thread")
        if thread is not None:
            thread.idle.wait(600)

    sid = iter(range(0, 10**12, 10**7)).__next__
    print(f"webhook profile: {'SQLite, no Redis' if args.embedded else 'PostgreSQL + Redis'}, "
          f"{args.requests} requests each", flush=True)
    backends = Backends(url)
    with counts.installed():
        # Warm-up: the first requests open connections and fill caches that later ones reuse.
        _serve(app, _environs(min(500, args.customers), sid(), existing))
        _serve(bench.ceiling.app, _environs(200, sid(), existing))
        settle_service()
        # In turns, each reported by its turn with the least CPU per request: the one least
        # disturbed by whatever else the machine was doing.
        ceilings, services = [], []
        for turn in range(args.turns):
            ceilings.append(_measure("ceiling (bench/ceiling.py)", bench.ceiling.app,
                                     _environs(args.requests, sid(), senders), counts, backends,
                                     settle=lambda: None, profile=False))
            services.append(_measure("webhook (wsgi.py)", app, _environs(args.requests, sid(), senders), counts,
                                     backends, settle=settle_service, profile=args.profile and turn == 0))
        ceiling = min(ceilings, key=lambda result: result["request CPU ms"])
        service = min(services, key=lambda result: result["request CPU ms"])
        print("lowest of the turns:")
        for result in (ceiling, service):
            _print_result(result)
    for key in ("request CPU ms", "PostgreSQL CPU ms"):
        if ceiling[key]:
            print(f"the webhook's {key} are {service[key] / ceiling[key]:.1f} times the ceiling's", flush=True)


def _print_profile(profiler, *, sort: str = "cumulative", lines: int = 25) -> None:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(lines)
    print(out.getvalue())


if __name__ == "__main__":
    main()
