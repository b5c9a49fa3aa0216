"""The processes of the Procfile, started as the platform starts them (the line, through a
shell), on a scratch database the `release` process migrates: each comes up, does its work,
and stops cleanly on SIGTERM.

The worker and the cron process need Redis: they run when REDIS_URL is set (CI's second pass),
on the Redis database it names, which is emptied before and after.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN
from tests.integration.test_commands import ROOT, free_port, scratch_database, stop, subprocess_env, wait_for_http
from tests.twilio_fakes import inbound_sms

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="the worker and cron processes need REDIS_URL")
PASSWORD = "a long enough passphrase"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def start(name: str, env: dict) -> subprocess.Popen:
    # exec: the signal reaches the process itself, as the platform's process manager sends it.
    return subprocess.Popen(["sh", "-c", "exec " + procfile()[name].strip()], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Site:
    """The scratch database, and an official who looks at it through the API."""

    def __init__(self, database_url: str, tmp: Path):
        self.database_url = database_url
        self.env = subprocess_env(database_url, tmp, TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
                                  PUBLIC_BASE_URL=PUBLIC_BASE_URL)

    def app(self, **config):
        import channels
        from service import create_app

        return create_app({"DATABASE_URL": self.database_url, "TESTING": True, "REDIS_URL": None,
                           "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                           "TWO_FACTOR_REQUIRED_ROLES": "none", **config},
                          plugins=[channels.install])

    def sms_cases(self, sid: str, timeout: float = 30) -> list[dict]:
        """The cases an official sees, once the SMS ``sid`` is a contact on one of them."""
        app = self.app()
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "ada", "password": PASSWORD}).get_json()
        headers = {"Authorization": "Bearer " + token["access_token"]}
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                listed = client.get("/api/v1/cases", headers=headers)
                # Anything but an answer (a database restart elsewhere on the server) is retried.
                if listed.status_code == 200:
                    cases = listed.get_json()["items"]
                    details = [client.get(f"/api/v1/cases/{c['id']}", headers=headers).get_data(as_text=True)
                               for c in cases]
                    if any(sid in detail for detail in details):
                        return cases
                time.sleep(0.3)
            raise AssertionError(f"no case holds {sid} after {timeout} s")
        finally:
            _close(app)


def _close(app) -> None:
    from service.extensions import db
    from service.queue import flush_soon_enqueues

    flush_soon_enqueues(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if "landing_engine" in app.extensions:
        app.extensions["landing_engine"].dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("procfile")
    database = scratch_database(tmp)
    site = Site(next(database), tmp)
    try:
        release = subprocess.run(["sh", "-c", procfile()["release"]], cwd=ROOT, env=site.env, capture_output=True,
                                 text=True, timeout=120)
        assert release.returncode == 0 and "Running upgrade" in release.stderr, release.stderr
        created = subprocess.run(["flask", "--app", "wsgi", "officials", "create", "ada", "--role", "admin",
                                  "--name", "Ada Admin"], cwd=ROOT, env=site.env, input=PASSWORD + "\n",
                                 capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stderr
        yield site
    finally:
        next(database, None)  # drops it


@pytest.fixture
def redis_env(site):
    from redis import Redis

    conn = Redis.from_url(REDIS_URL)
    conn.flushdb()
    yield {**site.env, "REDIS_URL": REDIS_URL}
    conn.flushdb()
    conn.close()


def _signed_sms(sid: str) -> tuple[bytes, dict]:
    params = inbound_sms(sid, from_="+358401234567")
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + "/webhooks/twilio/sms", params)
    return urlencode(params).encode(), {"X-Twilio-Signature": signature,
                                        "Content-Type": "application/x-www-form-urlencoded"}


def test_release_is_safe_to_run_again(site):
    result = subprocess.run(["sh", "-c", procfile()["release"]], cwd=ROOT, env=site.env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "Running upgrade" not in result.stderr  # at the head since the fixture


def test_web_serves_probes_and_a_signed_twilio_webhook_becomes_a_case(site):
    port = free_port()
    web = start("web", {**site.env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"})
    try:
        status, health = wait_for_http(f"http://127.0.0.1:{port}/healthz", web)
        assert (status, health["status"]) == (200, "ok")
        assert wait_for_http(f"http://127.0.0.1:{port}/readyz", web)[0] == 200
        body, headers = _signed_sms("SM" + "w" * 32)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/twilio/sms", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        assert site.sms_cases("SM" + "w" * 32)
    finally:
        code, output = stop(web)
    assert code == 0, output
    assert "Booting worker" in output and "Shutting down: Master" in output


@needs_redis
def test_worker_turns_a_queued_webhook_into_a_case_and_stops_on_sigterm(site, redis_env):
    worker = start("worker", redis_env)
    try:
        app = site.app(REDIS_URL=REDIS_URL)
        body, headers = _signed_sms("SM" + "r" * 32)
        try:
            response = app.test_client().post("/webhooks/twilio/sms", data=body, headers=headers)
            assert response.status_code == 200
        finally:
            _close(app)  # the processing job goes to Redis now
        assert site.sms_cases("SM" + "r" * 32)
    finally:
        code, output = stop(worker)
    assert code == 0, output
    assert "service.jobs.process_inbound" in output and "Job OK" in output
    assert "warm shut down requested" in output.lower(), output


@needs_redis
def test_cron_sweeps_up_a_message_landed_while_redis_was_down(site, redis_env):
    app = site.app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there: the job is not queued
    body, headers = _signed_sms("SM" + "c" * 32)
    try:
        assert app.test_client().post("/webhooks/twilio/sms", data=body, headers=headers).status_code == 200
    finally:
        _close(app)
    cron, worker = start("cron", redis_env), start("worker", redis_env)
    try:
        assert site.sms_cases("SM" + "c" * 32)  # the cron's sweep queued it, the worker made the case
    finally:
        cron_code, cron_output = stop(cron)
        worker_code, worker_output = stop(worker)
    assert cron_code == 0, cron_output
    assert "starting" in cron_output and "shutdown complete" in cron_output
    assert worker_code == 0 and "service.jobs.sweep_inbound" in worker_output
