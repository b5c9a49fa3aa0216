"""Intake throughput: signed Twilio SMS webhooks against the production setup (gunicorn,
PostgreSQL, Redis, RQ workers), beside the ceiling measured in the same run: a bare Flask
endpoint doing one INSERT per request under the same gunicorn configuration (bench/ceiling.py).
The ceiling and the webhook take turns (``--rounds``, 3 by default, each of a third of
``--seconds``), and each is reported over all its turns.

    .venv/bin/python -m bench.intake                 # 16 clients, 30 s each
    .venv/bin/python -m bench.intake --seconds 5     # a quick run

80% of the messages come from customers who already have an open case (they join it), 20%
from new numbers (a new customer and case). The webhook stores each message and answers; RQ
workers turn stored messages into contacts. The run measures:

1. the webhook alone, no worker running (what Twilio sees during a burst): the best case;
2. the workers processing that backlog into contacts (messages per second), checking that
   every accepted message became exactly one contact;
3. the webhook while the workers process at the same time, on the same two cores, and then
   how long the workers need for what is left: as deployed, since production always runs
   workers. This is the headline; the best case is reported beside it.

The load generator runs on the same machine.
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
from redis import Redis
from twilio.request_validator import RequestValidator

from bench import load
from bench.common import database_url, drain_queue, migrated_app, recreate_database, start_workers

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


def serve_with_gunicorn(target: str, port: int, workers: int, env: dict, *, nice: int = 0) -> subprocess.Popen:
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), **env}
    niceness = ["nice", "-n", str(nice)] if nice else []
    server = subprocess.Popen([*niceness, str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", target],
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


def _contacts(url: str) -> tuple[int, int]:
    """(inbound SMS contacts, messages still waiting to be processed)."""
    with psycopg.connect(url) as conn:
        contacts = conn.execute("SELECT count(*) FROM contact WHERE channel = 'sms'").fetchone()[0]
        waiting = conn.execute("SELECT count(*) FROM inbound_envelope").fetchone()[0]
    return contacts, waiting


def _wait_until_processed(url: str, timeout: float = 3600) -> float:
    started = time.perf_counter()
    while _contacts(url)[1] and time.perf_counter() - started < timeout:
        time.sleep(0.2)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 4)),
                        help="gunicorn workers for both servers")
    parser.add_argument("--rq-workers", type=int, default=4, help="RQ worker processes that process messages")
    parser.add_argument("--customers", type=int, default=2000, help="customers with an open case before the run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns the ceiling and the webhook take, each of --seconds / --rounds")
    args = parser.parse_args()

    url = database_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    print(f"intake benchmark: {args.clients} clients, {args.seconds:g} s, {args.workers} gunicorn workers, "
          f"{args.rq_workers} RQ SimpleWorker processes, PostgreSQL {url.rsplit('@', 1)[-1]}, Redis; load generator "
          "on the same machine", flush=True)
    recreate_database(url)
    Redis.from_url(redis_url).flushdb()
    with psycopg.connect(url, autocommit=True) as conn:
        from bench.ceiling import CREATE
        conn.execute(CREATE)

    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    budget = int(args.seconds * 4000)  # more than either server can take in the time
    senders = [rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}" for n in range(budget * 2)]

    ceiling_port, intake_port = 8701, 8702
    base = f"http://127.0.0.1:{intake_port}"
    # The workers' application: the same settings as the served one.
    app = migrated_app(url, with_channels=True, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base)
    ceiling = serve_with_gunicorn("bench.ceiling:app", ceiling_port, args.workers, {"BENCH_DATABASE_URL": url})
    service = serve_with_gunicorn("wsgi:app", intake_port, args.workers, {
        "DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base, "REDIS_URL": redis_url,
        "LOG_LEVEL": "INFO"})
    try:
        warm = load.run("127.0.0.1", intake_port, signed_sms_requests(base, existing, len(existing), 10_000_000),
                        clients=args.clients, seconds=600)
        drain_queue(app, redis_url, args.rq_workers)
        print(f"  warm-up: {warm['requests']} customers given an open case ({warm['errors']} errors)", flush=True)
        contacts_before, _ = _contacts(url)

        # The ceiling and the webhook take turns, so that both see the machine as it is at
        # the time: its speed drifts over minutes by more than the difference measured here.
        ceiling_samples, webhook_samples = [], []
        per_turn = budget // args.rounds
        for turn in range(args.rounds):
            ceiling_samples.append(load.measure(
                "127.0.0.1", ceiling_port,
                signed_sms_requests(f"http://127.0.0.1:{ceiling_port}", senders, per_turn, turn * per_turn),
                clients=args.clients, seconds=args.seconds / args.rounds))
            webhook_samples.append(load.measure(
                "127.0.0.1", intake_port,
                signed_sms_requests(base, senders[turn * per_turn:], per_turn, 20_000_000 + turn * per_turn),
                clients=args.clients, seconds=args.seconds / args.rounds))
            print(f"  turn {turn + 1}: ceiling {load.summarise(ceiling_samples[-1:])}, "
                  f"webhook {load.summarise(webhook_samples[-1:])}", flush=True)
        ceiling_result, accepted = load.summarise(ceiling_samples), load.summarise(webhook_samples)
        print(f"  ceiling (one INSERT per request): {ceiling_result}", flush=True)
        print(f"  1. webhook, no worker running: {accepted}", flush=True)
        seconds = drain_queue(app, redis_url, args.rq_workers)
        contacts, waiting = _contacts(url)
        made = contacts - contacts_before
        processing = {"messages": made, "seconds": round(seconds, 1), "per_second": round(made / seconds)}
        print(f"  2. workers processing them: {processing}, still waiting: {waiting}", flush=True)
        if made != accepted["requests"] - accepted["errors"] or waiting:
            raise SystemExit("not every accepted message became exactly one contact")

        workers = start_workers(app, redis_url, args.rq_workers, burst=False)
        try:
            together = load.run("127.0.0.1", intake_port,
                                signed_sms_requests(base, senders[budget:], budget, 30_000_000),
                                clients=args.clients, seconds=args.seconds)
            left = _contacts(url)[1]
            catch_up = _wait_until_processed(url)
        finally:
            for worker in workers:
                worker.terminate()
                worker.join()
        total, waiting = _contacts(url)
        print(f"  3. webhook with the workers processing at the same time: {together}; {left} messages were "
              f"waiting when the load stopped, processed {catch_up:.1f} s later", flush=True)
        if total - contacts != together["requests"] - together["errors"] or waiting:
            raise SystemExit("not every accepted message became exactly one contact")
    finally:
        stop_server(service)
        stop_server(ceiling)
        Redis.from_url(redis_url).flushdb()
    def share(result):
        return round(result["per_second"] / ceiling_result["per_second"], 2) if ceiling_result["per_second"] else 0

    # As deployed: every accepted message counted until it was a contact, load and catch-up.
    sustained = (together["requests"] - together["errors"]) / (args.seconds + catch_up)
    print(f"  as deployed: webhook {together['per_second']}/s ({share(together):.0%} of the ceiling), p99 "
          f"{together.get('p99_ms')} ms; contacts made {sustained:.0f}/s sustained "
          f"(best case, no worker running: {accepted['per_second']}/s, {share(accepted):.0%})", flush=True)
    print(json.dumps({"as_deployed": {"webhook": together, "webhook_share_of_ceiling": share(together),
                                      "contacts_per_second_sustained": round(sustained),
                                      "waiting_when_load_stopped": left, "catch_up_seconds": round(catch_up, 1)},
                      "best_case": {"webhook_alone": accepted, "webhook_share_of_ceiling": share(accepted),
                                    "processing_backlog": processing},
                      "ceiling": ceiling_result}, indent=2))


if __name__ == "__main__":
    main()
