"""The only module that talks to Redis and RQ.

Without REDIS_URL the embedded default runs jobs in-process; the connection is made lazily,
once per process, so a web process that never needs Redis never connects.
"""

from __future__ import annotations

from flask import current_app


def redis_connection():
    from redis import Redis

    app = current_app
    conn = app.extensions.get("redis")
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions["redis"] = conn
    return conn
