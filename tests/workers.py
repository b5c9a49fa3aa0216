"""Parallel test workers (pytest-xdist) that do not step on each other.

Each worker gets a PostgreSQL database and a Redis database of its own, derived from the
DATABASE_URL and REDIS_URL the run was started with, by rewriting those variables before
anything reads them; the subprocesses the tests start inherit them too. SQLite files and
temporary directories are per worker already.

A test marked ``serial`` changes something every worker shares (it restarts the PostgreSQL
cluster) or measures response times that another worker's load would distort: while it runs,
no other test runs (``exclusive_while``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... under xdist; else None


def worker_number() -> int:
    return int(WORKER.removeprefix("gw")) if WORKER else 0


def isolate_this_worker() -> None:
    """Point DATABASE_URL and REDIS_URL at this worker's own databases."""
    if WORKER is None:
        return
    database_url = os.environ.get("DATABASE_URL")
    if database_url and database_url.startswith(("postgresql", "postgres:")):
        os.environ["DATABASE_URL"] = _own_postgres_database(database_url)
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        os.environ["REDIS_URL"] = _own_redis_database(redis_url)


def _own_postgres_database(url: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    from service.config import normalise_database_url

    base = make_url(url)
    name = f"{base.database}_{WORKER}"
    # Created from the server's maintenance database: the run's own need not exist.
    maintenance = base.set(database="postgres").render_as_string(hide_password=False)
    server = create_engine(normalise_database_url(maintenance), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _own_redis_database(url: str) -> str:
    parts = urlsplit(url)
    # Counting down from the run's database: CI's 15 gives 15, 14, ... (16 databases by default).
    own = (int(parts.path.strip("/") or 0) - worker_number()) % 16
    return urlunsplit(parts._replace(path=f"/{own}"))


def _lock_path() -> Path:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "single")
    return Path(tempfile.gettempdir()) / f"cs-tests-{run}.lock"


@contextlib.contextmanager
def exclusive_while(serial: bool):
    """Hold the run's lock around one test: shared for an ordinary test, exclusive for a
    serial one. The turnstile makes a waiting serial test stop new tests from starting, so it
    is not starved by the other workers' ever-new shared holds."""
    if WORKER is None:
        yield
        return
    path = _lock_path()
    with open(path.with_suffix(".turnstile"), "a") as turnstile, open(path, "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
