"""What the benchmarks share: a database of their own, an application on it, timing."""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager

import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


def recreate_database(url: str) -> None:
    """Drop and create the benchmark database (never the tests' one)."""
    name = url.rsplit("/", 1)[1]
    if name in ("test", "postgres"):
        raise SystemExit(f"refusing to drop the database {name!r}; point BENCH_DATABASE_URL elsewhere")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrated_app(url: str, *, with_channels: bool = False, **config):
    from flask_migrate import upgrade

    from service import create_app

    plugins = []
    if with_channels:
        import channels

        plugins.append(channels.install)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "bench", "REDIS_URL": None,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024, **config}, plugins=plugins)
    with app.app_context():
        upgrade()
    return app


def without_search_index_upkeep(app) -> int:
    """Drop the triggers that keep the full-text search index, so that a run measures what
    keeping the index costs intake. Returns how many were dropped."""
    from sqlalchemy import text

    from service.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            found = conn.execute(text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger"
                                      " WHERE NOT tgisinternal AND tgname LIKE 'search%'")).all()
            for name, table in found:
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
        else:
            found = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                      " AND name LIKE 'search%'")).all()
            for (name,) in found:
                conn.execute(text(f"DROP TRIGGER {name}"))
    return len(found)


def bearer(app, role: str, *, service_line_ids: tuple[int, ...] = ()) -> dict:
    """The headers of an official of ``role``, a member of ``service_line_ids`` (an adviser of
    some lines sees only their cases; of none, every line's)."""
    from service.auth.models import Official
    from service.auth.officials import create_official
    from service.extensions import db

    username = f"bench-{role}" + "".join(f"-{line}" for line in service_line_ids)
    with app.app_context():
        if db.session.query(Official.id).filter_by(username=username).first() is None:
            create_official(actor=None, data={"username": username, "password": "bench-password-123",
                                              "role": role, "name": f"Bench {role}",
                                              "service_line_ids": list(service_line_ids)})
    response = app.test_client().post("/api/v1/auth/token", json={"username": username,
                                                                  "password": "bench-password-123"})
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


@contextmanager
def stopwatch(label: str):
    started = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def summarise(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    return {"runs": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
            "max_ms": round(ordered[-1], 1)}


def time_get(client, path: str, params: dict, headers: dict, runs: int):
    """GET ``path`` once to warm up, then ``runs`` times timed; returns (first body, summary)."""
    first = client.get(path, query_string=params, headers=headers)
    assert first.status_code == 200, first.get_json()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, query_string=params, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return first.get_json(), summarise(samples)


def start_workers(app, redis_url: str, count: int, *, burst: bool, nice: int = 0) -> list:
    """Fork ``count`` RQ ``SimpleWorker`` processes (what ``rq worker -w rq.worker.SimpleWorker``
    runs) on the default queue, each with ``app`` as its application, at niceness ``nice``.
    Burst workers stop when the queue is empty; the others run until terminated (SIGTERM: a
    warm shutdown)."""
    from multiprocessing import get_context

    from redis import Redis
    from rq import Queue, SimpleWorker

    def work():
        from service import jobs
        from service.extensions import db

        if nice:
            os.nice(nice)
        with app.app_context():
            db.engine.dispose(close=False)  # the parent's connections stay the parent's
        # Outside any application context, as under `rq worker`: each job opens its own.
        jobs.use_application(app)
        connection = Redis.from_url(redis_url)
        SimpleWorker([Queue("default", connection=connection)], connection=connection).work(
            burst=burst, logging_level="WARNING", with_scheduler=not burst)

    processes = [get_context("fork").Process(target=work) for _ in range(count)]
    for process in processes:
        process.start()
    return processes


def drain_queue(app, redis_url: str, count: int) -> float:
    """Seconds until ``count`` burst workers have emptied the queue."""
    started = time.perf_counter()
    for process in start_workers(app, redis_url, count, burst=True):
        process.join()
    return time.perf_counter() - started
