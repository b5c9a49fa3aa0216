"""Fixtures shared by every test.

The database is built once per run by the real Alembic migrations (SQLite by default, the
PostgreSQL of DATABASE_URL when set) and emptied after each test.
"""

from __future__ import annotations

import datetime
import itertools
import os
import zlib

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from tests.workers import exclusive_while, isolate_this_worker

isolate_this_worker()  # before anything below reads DATABASE_URL or REDIS_URL

import channels  # noqa: E402
from service import create_app  # noqa: E402
from service.extensions import db  # noqa: E402
from service.queue import flush_soon_enqueues  # noqa: E402
from tests.jobs import REAL_REDIS_URL, WorkingClient  # noqa: E402
from tests.oidc.provider import oidc_provider  # noqa: E402, F401  (a fixture, for tests/oidc and tests/console)

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"

# --- the quick tier ----------------------------------------------------------------------------
# `python3 dev.py test --quick`: for day-to-day work. CI always runs everything.

QUICK_LEAVES_OUT = (
    "tests/console/",  # a real browser: minutes, and Chromium may not be installed
    "tests/integration/test_database_restart.py",  # restarts the PostgreSQL cluster
    "tests/integration/test_worker_killed.py",  # forks and SIGKILLs workers
    # Each starts real processes (flask commands, gunicorn, RQ) against a scratch database.
    "tests/integration/test_commands.py",
    "tests/integration/test_procfile.py",
    "tests/integration/test_chat_long_polls.py",
    "tests/oidc/",  # a real OpenID provider under Node.js (npm ci on first use)
    "tests/unit/test_quick_tier.py",  # collects the suite twice, to check this very list
)
# Tests parametrised over every operation and every kind of caller: the quick tier runs one
# pair in this many, a different sample each day, so over a couple of weeks every pair has run.
QUICK_SAMPLED = {"test_api_keeps_to_its_schema_under_fuzzing": 20, "test_role_matrix": 10,
                 "test_allowed_callers_succeed_on_real_objects": 8}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    with exclusive_while(item.get_closest_marker("serial") is not None):
        return (yield)


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help="the quick tier: no browser or fault tests, fuzzing and the role matrix sampled")


def _quick_day() -> int:
    return datetime.date.today().toordinal()


def pytest_report_header(config):
    if config.getoption("--quick"):
        return f"quick tier: sample of day {_quick_day()}; `python3 dev.py test` runs everything"
    return None


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    kept, left_out = [], []
    for item in items:
        every = QUICK_SAMPLED.get(item.originalname if hasattr(item, "originalname") else item.name)
        if item.nodeid.startswith(QUICK_LEAVES_OUT) or (
                every and (zlib.crc32(item.nodeid.encode()) + _quick_day()) % every):
            left_out.append(item)
        else:
            kept.append(item)
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


def _drop_everything(app) -> None:
    with app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def _migrated(database_url, tmp_path_factory):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    _drop_everything(app)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield database_url


@pytest.fixture(autouse=True)
def _empty_real_redis():
    if REAL_REDIS_URL is None:
        yield
        return
    from redis import Redis

    conn = Redis.from_url(REAL_REDIS_URL)
    conn.flushdb()
    yield
    conn.flushdb()
    conn.close()


TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
PUBLIC_BASE_URL = "https://cs.example.fi"


@pytest.fixture
def make_app(_migrated, tmp_path):
    """Build an application on the migrated database with config overrides; every app made
    is emptied and closed after the test."""
    made = []

    def make(**overrides):
        config = {
            "DATABASE_URL": _migrated,
            "TESTING": True,
            "FILE_STORAGE_PATH": str(tmp_path / "files"),
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 1024,
            "SECRET_KEY": "test",
            # In-process jobs on the first pass; the real Redis and RQ on the Redis pass.
            "REDIS_URL": REAL_REDIS_URL,
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            # The officials the tests make sign in with a password alone; the tests of the
            # second factor turn the requirement back on (its default: admin, privacy officer).
            "TWO_FACTOR_REQUIRED_ROLES": "none",
            # A worker's intake job waits for more messages after its last batch; a test's job
            # has no more coming (tests/integration/test_intake_batches.py sets it).
            "INTAKE_GATHER_MS": 0,
        }
        config.update(overrides)
        app = create_app(config, plugins=[channels.install])
        if "REDIS_URL" not in overrides and REAL_REDIS_URL:
            app.test_client_class = WorkingClient
        made.append(app)
        return app

    yield make
    for app in made:
        # Jobs a request asked for are enqueued now, not while the next test runs (its
        # Redis is emptied when it starts).
        flush_soon_enqueues(app)
        with app.app_context():
            db.session.remove()
    on_test_database = [a for a in made if a.config["DATABASE_URL"] == _migrated]
    if on_test_database:
        with on_test_database[0].app_context():
            _empty_tables()
    for app in made:
        with app.app_context():
            db.engine.dispose()
        if "landing_engine" in app.extensions:
            app.extensions["landing_engine"].dispose()


@pytest.fixture
def app(make_app):
    """A fresh application on the migrated database (console SMS and email backends)."""
    return make_app()


def _empty_tables() -> None:
    # DELETE, not TRUNCATE: on tables this small it is several times faster on PostgreSQL.
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for the app's command-line commands."""
    return app.test_cli_runner()


class Caller(dict):
    """Request headers of a signed-in official, with who they are."""

    def __init__(self, headers: dict, *, id: int, username: str):
        super().__init__(headers)
        self.id = id
        self.username = username


class Api:
    """Helpers that act as officials and integrations through the public API."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def official(self, role: str = "adviser", **extra) -> dict:
        from service.auth.officials import create_official

        n = next(_counter)
        data = {"username": f"{role}{n}", "password": PASSWORD, "role": role, "name": f"{role.title()} {n}"}
        data.update(extra)
        with self.app.app_context():
            official = create_official(actor=None, data=data)
            return {"id": official.id, "username": official.username, "role": role, "name": official.name}

    def login(self, username: str, password: str = PASSWORD):
        return self.client.post("/api/v1/auth/token", json={"username": username, "password": password})

    def headers_for(self, role: str = "adviser", **extra) -> dict:
        official = self.official(role, **extra)
        response = self.login(official["username"])
        assert response.status_code == 201, response.get_json()
        return Caller({"Authorization": "Bearer " + response.get_json()["access_token"]},
                      id=official["id"], username=official["username"])

    def api_key_headers(self, scopes=("intake",)) -> dict:
        admin = self.headers_for("admin")
        response = self.client.post("/api/v1/api-keys", json={"name": "integration", "scopes": list(scopes)},
                                    headers=admin)
        assert response.status_code == 201, response.get_json()
        return {"Authorization": "Bearer " + response.get_json()["key"]}

    def inbound(self, headers, **fields):
        body = {"channel": "sms", "external_id": f"SM{next(_counter):032d}",
                "from": {"phone": "040 123 4567"}, "body": "Hei"}
        body.update(fields)
        return self.client.post("/api/v1/inbound/messages", json=body, headers=headers)


@pytest.fixture
def api(app, client):
    """Acting as officials and integrations."""
    return Api(app, client)


@pytest.fixture
def intake(api):
    """Headers of an integration allowed to post inbound contacts."""
    return api.api_key_headers()


@pytest.fixture
def adviser(api):
    return api.headers_for("adviser")


@pytest.fixture
def supervisor(api):
    return api.headers_for("supervisor")


@pytest.fixture
def admin(api):
    return api.headers_for("admin")


@pytest.fixture
def admin_for():
    """Headers of a new signed-in official on a given app (for tests that build their own)."""
    def headers(app, role="admin"):
        return Api(app, app.test_client()).headers_for(role)
    return headers


@pytest.fixture
def smtpd():
    """A real SMTP server on loopback: (controller, inbox)."""
    from aiosmtpd.controller import Controller

    from tests.smtp_server import Inbox, free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def _need_clamd():
    from tests.clamd_server import clamd_binary

    if clamd_binary() is None:
        message = "clamd is needed for the malware-scanning tests (Debian: apt-get install clamav-daemon)"
        if os.environ.get("CLAMD_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory):
    """A real clamd on a Unix socket, with the tests' own signature database; one per run."""
    from tests.clamd_server import ClamdServer

    _need_clamd()
    server = ClamdServer(tmp_path_factory.mktemp("clamd")).start()
    yield server
    server.stop()


@pytest.fixture
def own_clamd(tmp_path_factory):
    """A clamd of this test's own, for a test that stops and starts it."""
    from tests.clamd_server import ClamdServer

    _need_clamd()
    server = ClamdServer(tmp_path_factory.mktemp("own-clamd")).start()
    yield server
    server.stop()
