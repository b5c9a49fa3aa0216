"""Outbound delivery: queued SMS replies delivered by RQ workers through the production drain
jobs, compared like with like in one run:

1. the ceiling: the same queueing and batching with a sender that does no work per message;
2. a loopback Twilio that answers at once (the cost of the Twilio client and HTTP);
3. a loopback Twilio that answers after a provider's latency (100-300 ms by default), the
   figure that holds in production and the headline.

    .venv/bin/python -m bench.delivery                        # 20,000 messages (1,000 with latency), 4 workers
    .venv/bin/python -m bench.delivery --messages 2000 --latency-messages 200    # a quick run
    .venv/bin/python -m bench.delivery --latency-ms 50-150 --workers 2
    .venv/bin/python -m bench.delivery --send-concurrency 50     # each drain job sends 50 at once

Workers are RQ ``SimpleWorker`` processes (what ``rq worker -w rq.worker.SimpleWorker`` runs),
each draining the queue in burst mode. The messages are queued as the reply endpoint queues
them (``enqueue_delivery``), and the production drain jobs (``service.jobs.drain_outbox``)
deliver them in batches through the real Twilio client, whose HTTP requests go to a small HTTP
server in another process that answers like Twilio's Messages endpoint. Each drain job sends
up to ``OUTBOX_SEND_CONCURRENCY`` messages at once (``--send-concurrency``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context

from redis import Redis
from sqlalchemy import text

from bench.common import database_url, drain_queue, migrated_app, recreate_database
from tests.twilio_fakes import LoopbackTwilioHttp

ACCOUNT = "AC" + "d" * 32
SEED = text("""
INSERT INTO outbox_message (channel, recipient, body, status, attempts, next_attempt_at, created_at, updated_at)
SELECT 'sms', '+3584' || lpad(n::text, 8, '0'), 'Hei! Asiasi on käsitelty.', 'queued', 0, now(), now(), now()
FROM generate_series(1, CAST(:n AS integer)) n
""")


class _NoWork:
    """A sender that does nothing per message: what queueing and batching cost by themselves."""

    def send(self, message):
        from service.outbox.ports import SendResult

        return SendResult(provider_id=None, provider_status="sent")


class _Twilio(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as api.twilio.com
    disable_nagle_algorithm = True  # headers and body go out at once, as from a real server
    sent = 0
    lock = threading.Lock()
    # (low, high) seconds before answering, shared with the benchmark's process.
    latency = None

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        low, high = _Twilio.latency[0], _Twilio.latency[1]
        if high > 0:
            time.sleep(random.uniform(low, high))
        with _Twilio.lock:
            _Twilio.sent += 1
            number = _Twilio.sent
        body = json.dumps({"sid": f"SM{number:032d}", "status": "queued", "account_sid": ACCOUNT}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        body = str(_Twilio.sent).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _TwilioServer(ThreadingHTTPServer):
    # Every drain job opens up to OUTBOX_SEND_CONCURRENCY connections at once; with the default
    # backlog of 5 some would wait for a SYN to be sent again, a second each.
    request_queue_size = 256
    daemon_threads = True


def _serve_twilio(port: int, latency) -> None:
    _Twilio.latency = latency
    _TwilioServer(("127.0.0.1", port), _Twilio).serve_forever()


def _milliseconds(value: str) -> tuple[float, float]:
    low, _, high = value.partition("-")
    return float(low) / 1000, float(high or low) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency-messages", type=int, default=1_000,
                        help="messages in the phase with the provider's latency (it is slow by design)")
    parser.add_argument("--latency-ms", default="100-300", help="the loopback Twilio's answer time, LOW-HIGH")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--send-concurrency", type=int, default=None,
                        help="messages a drain job sends at once (default: OUTBOX_SEND_CONCURRENCY's)")
    args = parser.parse_args()

    url = database_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    port = 8704
    context = get_context("fork")
    latency = context.Array("d", [0.0, 0.0], lock=False)
    twilio = context.Process(target=_serve_twilio, args=(port, latency), daemon=True)
    twilio.start()
    recreate_database(url)
    # One HTTP client for each Twilio client the sender makes, as in production.
    http = functools.partial(LoopbackTwilioHttp, f"http://127.0.0.1:{port}", timeout=20)
    overrides = {"OUTBOX_SEND_CONCURRENCY": args.send_concurrency} if args.send_concurrency else {}
    app = migrated_app(url, with_channels=True, REDIS_URL=redis_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="bench",
                       TWILIO_FROM_NUMBER="+358501112223", PUBLIC_BASE_URL="http://127.0.0.1:8000",
                       TWILIO_HTTP_CLIENT=http, **overrides)
    concurrency = app.config["OUTBOX_SEND_CONCURRENCY"]
    print(f"delivery benchmark: {args.messages:,} SMS ({args.latency_messages:,} with {args.latency_ms} ms provider "
          f"latency), {args.workers} SimpleWorker processes, each drain job sending {concurrency} at once, "
          f"PostgreSQL {url.rsplit('@', 1)[-1]}, Redis {redis_url.rsplit('/', 2)[-2]}; fake Twilio on loopback; "
          f"all on the same machine; load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}", flush=True)
    twilio_sender = app.extensions["senders"]["sms"]
    redis = Redis.from_url(redis_url)
    redis.flushdb()

    from service.extensions import db
    from service.outbox.delivery import enqueue_delivery
    from service.outbox.models import OutboxMessage

    def received() -> int:
        return int(urllib.request.urlopen(f"http://127.0.0.1:{port}/").read())

    def phase(name: str, messages: int, sender) -> float:
        # The workers are forked from this process, so they send with the sender set here.
        app.extensions["senders"]["sms"] = sender
        with app.app_context():
            db.session.execute(text("DELETE FROM outbox_message"))
            db.session.execute(SEED, {"n": messages})
            db.session.commit()
            for outbox_id in db.session.scalars(db.select(OutboxMessage.id)).all():
                enqueue_delivery(outbox_id)
        before = received()
        seconds = drain_queue(app, redis_url, args.workers)
        with app.app_context():
            sent = db.session.scalar(text("SELECT count(*) FROM outbox_message WHERE status = 'sent'"))
        requests = received() - before
        rate = messages / seconds
        print(f"  {name}: {messages:,} in {seconds:.1f} s = {rate:,.0f} messages/s ({sent:,} rows sent, "
              f"{requests:,} requests at the fake Twilio)", flush=True)
        expected_requests = 0 if sender is not twilio_sender else messages
        if sent != messages or requests != expected_requests:
            raise SystemExit(f"{name}: not every message went out exactly once")
        return rate

    try:
        ceiling = phase("ceiling (batching, no work per message)", args.messages, _NoWork())
        immediate = phase("loopback Twilio answering at once", args.messages, twilio_sender)
        latency[0], latency[1] = _milliseconds(args.latency_ms)
        with_latency = phase(f"loopback Twilio answering in {args.latency_ms} ms", args.latency_messages,
                             twilio_sender)
    finally:
        redis.flushdb()
        twilio.terminate()
    print(json.dumps({"workers": args.workers, "send_concurrency": concurrency, "provider_latency_ms": args.latency_ms,
                      "load_average_after": [round(n, 2) for n in os.getloadavg()],
                      "headline_messages_per_second_with_latency": round(with_latency, 1),
                      "messages_per_second_twilio_at_once": round(immediate),
                      "ceiling_messages_per_second": round(ceiling),
                      "share_of_ceiling_twilio_at_once": round(immediate / ceiling, 2),
                      "share_of_ceiling_with_latency": round(with_latency / ceiling, 3)}, indent=2))


if __name__ == "__main__":
    main()
