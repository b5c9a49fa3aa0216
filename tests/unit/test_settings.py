"""Settings read from the environment: a value that cannot work stops the start, with its name."""

import pytest

from service.config import Settings


def test_outbox_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OUTBOX_DRAIN_JOBS", "8")
    monkeypatch.setenv("OUTBOX_BATCH_SIZE", "100")
    monkeypatch.setenv("OUTBOX_SEND_CONCURRENCY", "25")

    settings = Settings.from_environ()

    assert (settings.OUTBOX_DRAIN_JOBS, settings.OUTBOX_BATCH_SIZE, settings.OUTBOX_SEND_CONCURRENCY) == (8, 100, 25)


def test_a_drain_job_sends_16_messages_at_once_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("OUTBOX_SEND_CONCURRENCY", raising=False)

    assert Settings.from_environ().OUTBOX_SEND_CONCURRENCY == 16  # the default docs/configuration.md states


@pytest.mark.parametrize("name, value, message", [
    ("OUTBOX_DRAIN_JOBS", "0", "OUTBOX_DRAIN_JOBS must be at least 1, got 0"),
    ("OUTBOX_BATCH_SIZE", "-5", "OUTBOX_BATCH_SIZE must be at least 1, got -5"),
    ("OUTBOX_SEND_CONCURRENCY", "0", "OUTBOX_SEND_CONCURRENCY must be at least 1, got 0"),
    ("OUTBOX_BATCH_SIZE", "many", "environment variable OUTBOX_BATCH_SIZE must be an integer, got 'many'"),
    ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE must be at least 1, got 0"),
    ("INTAKE_GATHER_MS", "-1", "INTAKE_GATHER_MS must be from 0 to 5000, got -1"),
    ("INTAKE_GATHER_MS", "60000", "INTAKE_GATHER_MS must be from 0 to 5000, got 60000"),
])
def test_an_unusable_outbox_setting_is_refused_by_name(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)

    with pytest.raises(RuntimeError) as refused:
        Settings.from_environ()

    assert str(refused.value) == message


def test_a_process_opens_at_most_database_pool_size_connections_to_postgresql():
    from service import create_app
    from service.extensions import db

    # Nothing is connected to: the engine is only built.
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "TESTING": True,
                      "DATABASE_POOL_SIZE": 3})

    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 0)


@pytest.mark.parametrize("settings, message", [
    ({"OIDC_ROLE_MAP": "cs-staff=adviser,cs-boss=wizard"}, "OIDC_ROLE_MAP: 'cs-boss=wizard' is not value=role with a known role"),
    ({"OIDC_ROLE_MAP": "cs-staff"}, "OIDC_ROLE_MAP: 'cs-staff' is not value=role with a known role"),
    ({"OIDC_ISSUER": "https://login.example.fi"}, "OIDC_ISSUER is set but OIDC_CLIENT_ID is not"),
])
def test_single_sign_on_settings_that_cannot_work_stop_the_start(settings, message):
    # A typo here is found when the service starts, not at somebody's sign-in.
    from service import create_app

    with pytest.raises(RuntimeError) as refused:
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None, **settings})

    assert str(refused.value) == message


def test_an_unknown_log_format_stops_the_start():
    # Otherwise the logs of every process would come out in a format nobody's collector reads.
    from service import create_app

    with pytest.raises(RuntimeError) as refused:
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None, "LOG_FORMAT": "xml"})

    assert str(refused.value) == "LOG_FORMAT must be text or json, got 'xml'"
