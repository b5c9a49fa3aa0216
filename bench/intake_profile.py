"""Where a worker's time goes, per message: lands ``--messages`` SMS straight into
``inbound_envelope`` (80% from returning customers with an open case, 20% new), then runs the
processing as a worker does, in this process, and reports per message the wall time, this
process's CPU time (Python: the worker) and the SQL statements sent. ``--profile`` prints
cProfile's top functions as well.

    .venv/bin/python -m bench.intake_profile                  # PostgreSQL (BENCH_DATABASE_URL)
    .venv/bin/python -m bench.intake_profile --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from datetime import datetime, timezone

from sqlalchemy import event

from bench.common import database_url, migrated_app, recreate_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    url = database_url()
    recreate_database(url)
    app = migrated_app(url, with_channels=True)
    from service.extensions import db
    from service.intake import envelopes

    rng = random.Random(7)
    existing = [f"+3584{n:08d}" for n in range(args.customers)]
    handlers = app.extensions["inbound_handlers"]
    with app.app_context():
        def land(sid: str, phone: str) -> None:
            envelopes.land("sms", sid, {"From": phone, "To": "+358501112223", "Body": f"Hei, asia {sid[-6:]}"},
                           received_at=datetime.now(timezone.utc))

        for n, phone in enumerate(existing):
            land(f"SM{n:032d}", phone)
        envelopes.process_due(handlers, limit=10**9)
        for n in range(args.messages):
            phone = rng.choice(existing) if rng.random() < 0.8 else f"+3585{n:08d}"
            land(f"SM{10**9 + n:032d}", phone)

        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_args, **_kwargs):
            statements[0] += 1

        profiler = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        taken = envelopes.process_due(handlers, limit=10**9)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{taken} messages: {taken / wall:.0f}/s; per message {1000 * wall / taken:.2f} ms wall, "
          f"{1000 * cpu / taken:.2f} ms of the worker's CPU, {statements[0] / taken:.2f} SQL statements")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
