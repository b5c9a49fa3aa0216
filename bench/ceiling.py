"""The ceiling for the intake benchmark: a bare Flask endpoint that does one INSERT with
psycopg per request and nothing else, served by the same gunicorn configuration.

    gunicorn -c gunicorn.conf.py bench.ceiling:app
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, request

from bench.common import database_url

app = Flask(__name__)
_connection: psycopg.Connection | None = None

CREATE = "CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, sid text, body text)"


def _conn() -> psycopg.Connection:
    # One connection per worker process, made after the fork.
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ.get("BENCH_DATABASE_URL", database_url()), autocommit=True)
    return _connection


@app.post("/webhooks/twilio/sms")
def insert_one():
    _conn().execute("INSERT INTO bench_ceiling (sid, body) VALUES (%s, %s)",
                    (request.form.get("MessageSid"), request.form.get("Body")))
    return "<Response/>", 200, {"Content-Type": "text/xml"}
