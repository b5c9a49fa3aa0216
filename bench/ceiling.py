"""The ceiling for the intake benchmarks: a bare Flask endpoint that does one INSERT with
psycopg per request and nothing else, served by the same gunicorn configuration. With
BENCH_CEILING_SQLITE (a file path) the INSERT goes to SQLite instead, the embedded default's
engine.

    gunicorn -c gunicorn.conf.py bench.ceiling:app
"""

from __future__ import annotations

import os
import sqlite3
import threading

import psycopg
from flask import Flask, request

from bench.common import database_url

app = Flask(__name__)
_connection: psycopg.Connection | None = None
_sqlite: sqlite3.Connection | None = None

CREATE = "CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, sid text, body text)"


def _conn() -> psycopg.Connection:
    # One connection per worker process, made after the fork.
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ.get("BENCH_DATABASE_URL", database_url()), autocommit=True)
    return _connection


def _sqlite_conn() -> sqlite3.Connection:
    # The embedded default's ceiling: the same INSERT into a SQLite file in WAL mode, one
    # connection per thread-safe use (a lock, as gunicorn's threads share the process).
    global _sqlite
    if _sqlite is None:
        _sqlite = sqlite3.connect(os.environ["BENCH_CEILING_SQLITE"], timeout=30, check_same_thread=False,
                                  isolation_level=None)
        _sqlite.execute("PRAGMA journal_mode=WAL")
        _sqlite.execute("CREATE TABLE IF NOT EXISTS bench_ceiling (id INTEGER PRIMARY KEY, sid TEXT, body TEXT)")
    return _sqlite


_lock = threading.Lock()


@app.post("/webhooks/twilio/sms")
def insert_one():
    values = (request.form.get("MessageSid"), request.form.get("Body"))
    with _lock:  # one statement at a time on the process's one connection
        if os.environ.get("BENCH_CEILING_SQLITE"):
            _sqlite_conn().execute("INSERT INTO bench_ceiling (sid, body) VALUES (?, ?)", values)
        else:
            _conn().execute("INSERT INTO bench_ceiling (sid, body) VALUES (%s, %s)", values)
    return "<Response/>", 200, {"Content-Type": "text/xml"}
