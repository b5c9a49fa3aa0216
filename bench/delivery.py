"""Outbound delivery: queued SMS replies delivered by RQ workers to a fake Twilio on loopback,
beside the rate at which the same workers drain no-op jobs, in the same run.

    .venv/bin/python -m bench.delivery                        # 20,000 messages, 4 workers
    .venv/bin/python -m bench.delivery --messages 2000        # a quick run
    .venv/bin/python -m bench.delivery --workers 2

Workers are RQ ``SimpleWorker`` processes (what ``rq worker -w rq.worker.SimpleWorker`` runs),
each draining the queue in burst mode. The messages are queued as the reply endpoint queues
them (``enqueue_delivery``), and the production drain jobs (``service.jobs.drain_outbox``)
deliver them in batches through the real Twilio client, whose HTTP requests go to a small HTTP
server in another process that answers like Twilio's Messages endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context

from redis import Redis
from rq import Queue
from sqlalchemy import text

from bench.common import database_url, drain_queue, migrated_app, recreate_database
from tests.twilio_fakes import LoopbackTwilioHttp

ACCOUNT = "AC" + "d" * 32
SEED = text("""
INSERT INTO outbox_message (channel, recipient, body, status, attempts, next_attempt_at, created_at, updated_at)
SELECT 'sms', '+3584' || lpad(n::text, 8, '0'), 'Hei! Asiasi on käsitelty.', 'queued', 0, now(), now(), now()
FROM generate_series(1, CAST(:n AS integer)) n
""")


def noop() -> None:
    """The job that does nothing: what the worker setup costs by itself."""


class _Twilio(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as api.twilio.com
    disable_nagle_algorithm = True  # headers and body go out at once, as from a real server
    sent = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
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


def _serve_twilio(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Twilio).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    url = database_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    print(f"delivery benchmark: {args.messages:,} SMS, {args.workers} SimpleWorker processes, PostgreSQL "
          f"{url.rsplit('@', 1)[-1]}, Redis {redis_url.rsplit('/', 2)[-2]}; fake Twilio on loopback; all on the "
          "same machine", flush=True)
    port = 8704
    twilio = get_context("fork").Process(target=_serve_twilio, args=(port,), daemon=True)
    twilio.start()
    recreate_database(url)
    app = migrated_app(url, with_channels=True, REDIS_URL=redis_url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="bench",
                       TWILIO_FROM_NUMBER="+358501112223", PUBLIC_BASE_URL="http://127.0.0.1:8000",
                       TWILIO_HTTP_CLIENT=LoopbackTwilioHttp(f"http://127.0.0.1:{port}", timeout=20))
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    try:
        queue = Queue("default", connection=redis)
        for _ in range(args.messages):
            queue.enqueue("bench.delivery.noop")
        noop_seconds = drain_queue(app, redis_url, args.workers)
        noop_rate = args.messages / noop_seconds
        print(f"  no-op jobs: {args.messages:,} in {noop_seconds:.1f} s = {noop_rate:,.0f} jobs/s", flush=True)

        from service.extensions import db
        from service.outbox.delivery import enqueue_delivery
        from service.outbox.models import OutboxMessage

        with app.app_context():
            db.session.execute(SEED, {"n": args.messages})
            db.session.commit()
            ids = db.session.scalars(db.select(OutboxMessage.id)).all()
            for outbox_id in ids:
                enqueue_delivery(outbox_id)
        seconds = drain_queue(app, redis_url, args.workers)
        rate = args.messages / seconds
        with app.app_context():
            sent = db.session.scalar(text("SELECT count(*) FROM outbox_message WHERE status = 'sent'"))
        received = int(urllib.request.urlopen(f"http://127.0.0.1:{port}/").read())
        print(f"  deliveries: {args.messages:,} in {seconds:.1f} s = {rate:,.0f} messages/s "
              f"({sent:,} rows sent, {received:,} requests at the fake Twilio)", flush=True)
        if received != args.messages or sent != args.messages:
            raise SystemExit("not every message went through the fake Twilio exactly once")
    finally:
        redis.flushdb()
        twilio.terminate()
    print(json.dumps({"messages": args.messages, "workers": args.workers, "noop_jobs_per_second": round(noop_rate),
                      "deliveries_per_second": round(rate), "share_of_noop": round(rate / noop_rate, 2),
                      "rows_sent": sent, "requests_received": received}, indent=2))


if __name__ == "__main__":
    main()
