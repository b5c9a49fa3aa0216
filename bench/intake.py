"""Intake throughput: signed Twilio SMS webhooks against the production setup (gunicorn,
PostgreSQL), beside the ceiling measured in the same run: a bare Flask endpoint doing one
INSERT per request under the same gunicorn configuration (bench/ceiling.py).

    .venv/bin/python -m bench.intake                 # 16 clients, 30 s each
    .venv/bin/python -m bench.intake --seconds 5     # a quick run

80% of the messages come from customers who already have an open case (they join it), 20%
from new numbers (a new customer and case). The load generator runs on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from twilio.request_validator import RequestValidator

from bench import load
from bench.common import database_url, migrated_app, recreate_database

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-twilio-auth-token"
PATH = "/webhooks/twilio/sms"
ACCOUNT = "AC" + "b" * 32


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


def serve_with_gunicorn(target: str, port: int, workers: int, env: dict) -> subprocess.Popen:
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), **env}
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", target],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(port)
    time.sleep(1.0)  # every worker up, not just the first
    return server


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def signed_sms_requests(base: str, senders: list[str], count: int, start: int) -> list:
    validator = RequestValidator(TOKEN)
    prepared = []
    for n in range(start, start + count):
        sid = f"SM{n:032d}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": senders[n - start],
                  "To": "+358501112223", "Body": f"Hei, kysymys numero {n}", "NumMedia": "0", "NumSegments": "1",
                  "ApiVersion": "2010-04-01"}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": validator.compute_signature(base + PATH, params)}
        prepared.append((PATH, urlencode(params), headers))
    return prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 4)),
                        help="gunicorn workers for both servers")
    parser.add_argument("--customers", type=int, default=2000, help="customers with an open case before the run")
    args = parser.parse_args()

    url = database_url()
    print(f"intake benchmark: {args.clients} clients, {args.seconds:g} s, {args.workers} sync gunicorn workers, "
          f"PostgreSQL {url.rsplit('@', 1)[-1]}; load generator on the same machine", flush=True)
    recreate_database(url)
    migrated_app(url)
    with psycopg.connect(url, autocommit=True) as conn:
        from bench.ceiling import CREATE
        conn.execute(CREATE)

    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    budget = int(args.seconds * 4000)  # more than either server can take in the time
    senders = [rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}" for n in range(budget)]

    ceiling_port, intake_port = 8701, 8702
    ceiling = serve_with_gunicorn("bench.ceiling:app", ceiling_port, args.workers, {"BENCH_DATABASE_URL": url})
    try:
        ceiling_requests = signed_sms_requests(f"http://127.0.0.1:{ceiling_port}", senders, budget, 0)
        ceiling_result = load.run("127.0.0.1", ceiling_port, ceiling_requests,
                                  clients=args.clients, seconds=args.seconds)
    finally:
        stop_server(ceiling)
    print(f"  ceiling (one INSERT per request): {ceiling_result}", flush=True)

    base = f"http://127.0.0.1:{intake_port}"
    service = serve_with_gunicorn("wsgi:app", intake_port, args.workers, {
        "DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"), "LOG_LEVEL": "INFO"})
    try:
        warm = load.run("127.0.0.1", intake_port, signed_sms_requests(base, existing, len(existing), 10_000_000),
                        clients=args.clients, seconds=600)
        print(f"  warm-up: {warm['requests']} customers given an open case ({warm['errors']} errors)", flush=True)
        intake_result = load.run("127.0.0.1", intake_port, signed_sms_requests(base, senders, budget, 20_000_000),
                                 clients=args.clients, seconds=args.seconds)
    finally:
        stop_server(service)
    print(f"  intake (signed Twilio SMS webhooks): {intake_result}", flush=True)
    share = intake_result["per_second"] / ceiling_result["per_second"] if ceiling_result["per_second"] else 0
    print(json.dumps({"ceiling": ceiling_result, "intake": intake_result, "intake_share_of_ceiling": round(share, 2)},
                     indent=2))


if __name__ == "__main__":
    main()
