"""Settings read from the environment: a value that cannot work stops the start, with its name."""

import pytest

from service.config import Settings


def test_outbox_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OUTBOX_DRAIN_JOBS", "8")
    monkeypatch.setenv("OUTBOX_BATCH_SIZE", "100")

    settings = Settings.from_environ()

    assert (settings.OUTBOX_DRAIN_JOBS, settings.OUTBOX_BATCH_SIZE) == (8, 100)


@pytest.mark.parametrize("name, value, message", [
    ("OUTBOX_DRAIN_JOBS", "0", "OUTBOX_DRAIN_JOBS must be at least 1, got 0"),
    ("OUTBOX_BATCH_SIZE", "-5", "OUTBOX_BATCH_SIZE must be at least 1, got -5"),
    ("OUTBOX_BATCH_SIZE", "many", "environment variable OUTBOX_BATCH_SIZE must be an integer, got 'many'"),
])
def test_an_unusable_outbox_setting_is_refused_by_name(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)

    with pytest.raises(RuntimeError) as refused:
        Settings.from_environ()

    assert str(refused.value) == message
