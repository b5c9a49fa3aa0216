"""Intake end to end, as deployed: signed Twilio SMS webhooks under load while the workers turn
them into contacts on the same machine, timed from the first request until the last accepted
message is a contact, beside the one-INSERT ceiling measured in the same run.

    .venv/bin/python -m bench.end_to_end                 # PostgreSQL + Redis + RQ workers
    .venv/bin/python -m bench.end_to_end --embedded      # SQLite, no Redis: the web process's thread
    .venv/bin/python -m bench.end_to_end --seconds 10    # a quick run

80% of the messages come from customers who already have an open case (they join it), 20%
from new numbers. Three phases, each run ``--rounds`` times in turn so that all see the
machine as it is at the time:

1. the ceiling: a bare Flask endpoint doing one INSERT per request (bench/ceiling.py), on the
   same database engine, under the same gunicorn configuration;
2. flat out: as many webhooks as the clients can send for ``--seconds / --rounds``; reports the
   webhook's rate and p99, and contacts per second from the first request until the last
   accepted message is a contact;
3. paced at half the ceiling's rate: the webhook's p99, and how long after a webhook's answer
   its contact shows in an adviser's ``GET /api/v1/cases`` (a probe sends its own SMS from a
   new number every quarter second and polls the case list for it).

Every phase checks that each accepted message became exactly one contact.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from redis import Redis
from twilio.request_validator import RequestValidator

from bench import load
from bench.cpu import CpuByRole, per_message_ms
from bench.common import (bearer, database_url, migrated_app, recreate_database, start_workers,
                          without_search_index_upkeep)
from bench.intake import ACCOUNT, PATH, TOKEN, serve_with_gunicorn, signed_sms_requests, stop_server


class Database:
    """Counting what the run stored, on either engine."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite_path = url.removeprefix("sqlite:///") if url.startswith("sqlite") else None

    def counts(self) -> tuple[int, int]:
        """(SMS contacts, messages still landed and waiting)."""
        queries = ("SELECT count(*) FROM contact WHERE channel = 'sms'", "SELECT count(*) FROM inbound_envelope")
        if self.sqlite_path:
            with sqlite3.connect(self.sqlite_path, timeout=30) as conn:
                return tuple(conn.execute(q).fetchone()[0] for q in queries)
        with psycopg.connect(self.url) as conn:
            return tuple(conn.execute(q).fetchone()[0] for q in queries)

    def settle(self) -> None:
        """Vacuum and analyze between phases, outside the clocks, as autovacuum would.

        This machine's PostgreSQL runs with ``autovacuum = off``: no table was ever analyzed,
        so the planner read the batch's lookups by a customer's phone or id, and the open
        cases of a batch's customers, as whole-table scans (1,351 of the customer table in
        one run), and the landing table kept every deleted row. A deployment's autovacuum
        analyzes a table soon after it grows and vacuums one with churn every minute, which is
        what this does before each phase of a few seconds."""
        if self.sqlite_path:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

    def autovacuum(self) -> str | None:
        if self.sqlite_path:
            return None
        with psycopg.connect(self.url) as conn:
            return conn.execute("SHOW autovacuum").fetchone()[0]

    def wait_until_stored(self, expected: int, timeout: float = 600) -> float:
        """perf_counter() when ``expected`` SMS contacts exist and nothing waits.

        Until nothing waits it only asks whether a landed message is left, on one connection: a
        row leaves the landing table in the transaction that stores its contact, so none left
        means every accepted message is stored. Counting the contacts on a new connection every
        20 ms, as it did, cost the machine more CPU than the workers it waited for (a backend
        started and the contact table scanned 50 times a second)."""
        deadline = time.perf_counter() + timeout
        ask = "SELECT EXISTS (SELECT 1 FROM inbound_envelope)"
        if self.sqlite_path:
            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
        else:
            conn = psycopg.connect(self.url, autocommit=True)
        try:
            while time.perf_counter() < deadline:
                if not conn.execute(ask).fetchone()[0]:
                    done = time.perf_counter()
                    contacts, _ = self.counts()
                    if contacts >= expected:
                        return done
                time.sleep(0.01)
        finally:
            conn.close()
        raise SystemExit(f"after {timeout:.0f} s: {self.counts()} (contacts, waiting), expected {expected}")


class Probe(threading.Thread):
    """One SMS at a time from a new number; after the webhook's answer, polls the adviser's case
    list until the case is there. Records (webhook answer -> visible) in seconds."""

    def __init__(self, port: int, base: str, adviser: dict, start: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.port, self.base, self.adviser, self.every = port, base, adviser, every
        self.number = start
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.sent = 0

    def run(self) -> None:
        validator = RequestValidator(TOKEN)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            began = time.perf_counter()
            self.number += 1
            phone = f"+35845{self.number % 10**7:07d}"
            sid = f"SM{90_000_000 + self.number:032d}"
            params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": phone,
                      "To": "+358501112223", "Body": "probe", "NumMedia": "0"}
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Twilio-Signature": validator.compute_signature(self.base + PATH, params)}
            conn.request("POST", PATH, body=urlencode(params), headers=headers)
            response = conn.getresponse()
            response.read()
            answered = time.perf_counter()
            if response.status != 200:
                continue
            self.sent += 1
            query = urlencode({"q": phone, "page_size": 1})
            while not self.stop.is_set():
                conn.request("GET", f"/api/v1/cases?{query}", headers=self.adviser)
                listing = conn.getresponse()
                body = json.loads(listing.read())
                if listing.status == 200 and body["total"]:
                    self.latencies.append(time.perf_counter() - answered)
                    break
                time.sleep(0.05)  # an adviser's poll, not a load of its own
            time.sleep(max(0.0, self.every - (time.perf_counter() - began)))
        conn.close()


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"probes": 0}

    def pct(share):
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"probes": len(ordered), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


def _roles(per_message: dict) -> str:
    return ", ".join(f"{role} {per_message[role]:.2f}" for role in ("web", "workers", "postgres", "bench", "machine"))


def _added(phases: list[dict]) -> dict:
    return {role: sum(phase[role] for phase in phases) for role in phases[0]}


def _ceiling_env(db: Database) -> dict:
    if db.sqlite_path:
        return {"BENCH_CEILING_SQLITE": str(Path(db.sqlite_path).with_name("ceiling.sqlite"))}
    return {"BENCH_DATABASE_URL": db.url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true",
                        help="the embedded default: SQLite, no Redis, the web process's intake thread")
    parser.add_argument("--seconds", type=float, default=30, help="load per phase, over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers")
    parser.add_argument("--rq-workers", type=int, default=2, help="RQ SimpleWorker processes (not with --embedded)")
    parser.add_argument("--customers", type=int, default=2000, help="customers with an open case before the run")
    parser.add_argument("--web-nice", type=int, default=0,
                        help="run the service's web server at this niceness (not the ceiling's), so that the "
                             "workers turning messages into contacts take the cores first")
    parser.add_argument("--worker-nice", type=int, default=0,
                        help="run the RQ workers at this niceness, so that the webhook takes the cores first")
    parser.add_argument("--without-search-index", action="store_true",
                        help="drop the triggers that keep the search index: what indexing costs intake")
    args = parser.parse_args()

    redis_url = None if args.embedded else os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    if args.embedded:
        folder = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        url = f"sqlite:///{folder / 'service.sqlite'}"
    else:
        url = database_url()
        recreate_database(url)
        Redis.from_url(redis_url).flushdb()
        with psycopg.connect(url, autocommit=True) as conn:
            from bench.ceiling import CREATE
            conn.execute(CREATE)
    db = Database(url)
    print(f"end-to-end intake benchmark: {'embedded default (SQLite, no Redis)' if args.embedded else 'PostgreSQL + Redis'}"
          f", {args.clients} clients, {args.workers} gunicorn workers"
          f"{'' if args.embedded else f', {args.rq_workers} RQ SimpleWorkers'}, load generator on the same machine, "
          f"{os.cpu_count()} cores", flush=True)

    ceiling_port, intake_port = 8711, 8712
    base = f"http://127.0.0.1:{intake_port}"
    app = migrated_app(url, with_channels=True, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base)
    if args.without_search_index:
        print(f"  search index not kept: {without_search_index_upkeep(app)} triggers dropped", flush=True)
    adviser = bearer(app, "adviser")
    service_env = {"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base, "LOG_LEVEL": "WARNING",
                   "INPROCESS_SWEEP_SECONDS": "30"}
    if redis_url:
        service_env["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    ceiling = serve_with_gunicorn("bench.ceiling:app", ceiling_port, args.workers, _ceiling_env(db))
    service = serve_with_gunicorn("wsgi:app", intake_port, args.workers, service_env, nice=args.web_nice)
    workers = start_workers(app, redis_url, args.rq_workers, burst=False, nice=args.worker_nice) if redis_url else []
    worker_pids = [worker.pid for worker in workers]
    ceiling_cpu = CpuByRole(web=[ceiling.pid], workers=[])
    service_cpu = CpuByRole(web=[service.pid], workers=worker_pids)

    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    budget = int(args.seconds * 3000)
    senders = [rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}" for n in range(budget * 2)]
    next_sid = iter(range(10_000_000, 10**12, budget)).__next__
    report: dict = {}
    try:
        warm = load.run("127.0.0.1", intake_port, signed_sms_requests(base, existing, len(existing), next_sid()),
                        clients=args.clients, seconds=600)
        expected = warm["requests"] - warm["errors"]
        db.wait_until_stored(expected)
        print(f"  warm-up: {warm['requests']} customers given an open case", flush=True)
        db.settle()

        per_turn = args.seconds / args.rounds
        ceilings, flat, paced, paced_rates, e2e_rates, probes = [], [], [], [], [], []
        ceiling_spent, e2e_spent, ceiling_requests, e2e_messages = [], [], 0, 0
        for turn in range(args.rounds):
            # Signing a turn's requests takes over a second of this process: done before the
            # clocks start, never inside a measured phase.
            requests = signed_sms_requests(f"http://127.0.0.1:{ceiling_port}", senders, budget, 0)
            cpu_before = ceiling_cpu.snapshot()
            ceilings.append(load.measure("127.0.0.1", ceiling_port, requests, clients=args.clients,
                                         seconds=per_turn))
            ceiling_spent.append(CpuByRole.since(cpu_before, ceiling_cpu.snapshot()))
            ceiling_requests += len(ceilings[-1].results)
            ceiling_rate = load.summarise(ceilings[-1:])["per_second"]

            requests = signed_sms_requests(base, senders[rng.randrange(budget):], budget, next_sid())
            db.settle()
            before, _ = db.counts()
            cpu_before = service_cpu.snapshot()
            started = time.perf_counter()
            sample = load.measure("127.0.0.1", intake_port, requests, clients=args.clients, seconds=per_turn)
            flat.append(sample)
            accepted = sum(1 for status, _ in sample.results if status == 200)
            expected += accepted
            done = db.wait_until_stored(before + accepted)
            e2e_spent.append(CpuByRole.since(cpu_before, service_cpu.snapshot()))
            e2e_messages += accepted
            e2e_rates.append(accepted / (done - started))
            flat_cpu = _roles(per_message_ms(e2e_spent[-1], accepted))

            requests = signed_sms_requests(base, senders[rng.randrange(budget):], budget, next_sid())
            db.settle()
            before, _ = db.counts()
            probe = Probe(intake_port, base, adviser, start=1_000_000 * (turn + 1))
            probe.start()
            rate = ceiling_rate / 2
            sample = load.measure("127.0.0.1", intake_port, requests, clients=args.clients, seconds=per_turn,
                                  rate=rate)
            probe.stop.set()
            probe.join()
            paced.append(sample)
            paced_rates.append(rate)
            probes.extend(probe.latencies)
            accepted = sum(1 for status, _ in sample.results if status == 200)
            expected += accepted + probe.sent
            db.wait_until_stored(before + accepted + probe.sent)
            print(f"  round {turn + 1}: ceiling {ceiling_rate}/s; flat out: webhook "
                  f"{load.summarise(flat[-1:])}, end to end {e2e_rates[-1]:.0f} contacts/s "
                  f"(CPU ms per message: {flat_cpu}); paced at {rate:.0f}/s: "
                  f"webhook {load.summarise(paced[-1:])}, visible {_percentiles(probe.latencies)}", flush=True)

        ceiling_result = load.summarise(ceilings)
        end_to_end = round(sum(e2e_rates) / len(e2e_rates))
        report = {
            "setup": "embedded default (SQLite, no Redis)" if args.embedded else "PostgreSQL + Redis",
            "server_autovacuum": db.autovacuum(),
            "ceiling": ceiling_result,
            "flat_out": {"webhook": load.summarise(flat), "end_to_end_contacts_per_second": end_to_end,
                         "share_of_ceiling": round(end_to_end / ceiling_result["per_second"], 2)},
            # CPU milliseconds by role for each ceiling request, and for each message from its
            # request until it is a contact: where the two cores went.
            "cpu_ms_per_request": {"ceiling": per_message_ms(_added(ceiling_spent), ceiling_requests),
                                   "end_to_end": per_message_ms(_added(e2e_spent), e2e_messages)},
            "paced_at_half_the_ceiling": {"rate": round(sum(paced_rates) / len(paced_rates)),
                                          "webhook": load.summarise(paced),
                                          "answer_to_visible_in_case_list": _percentiles(probes)},
        }
        contacts, waiting = db.counts()
        report["accepted"], report["contacts_stored"], report["still_waiting"] = expected, contacts, waiting
        if contacts != expected or waiting:
            raise SystemExit(f"not every accepted message became exactly one contact: {report}")
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()
        stop_server(service)
        stop_server(ceiling)
        if redis_url:
            Redis.from_url(redis_url).flushdb()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
