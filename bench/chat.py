"""Open chats beside advisers: hundreds of chat long polls against the production setup
(gunicorn with gunicorn.conf.py, PostgreSQL, Redis), the load generator on the same machine.

    .venv/bin/python -m bench.chat                         # 300 open chats, 30 s per phase
    .venv/bin/python -m bench.chat --chats 50 --seconds 10  # a quick run

Two phases against the same server:

1. advisers alone: ``--advisers`` clients together send ``--rate`` requests/s, listing cases
   (GET /api/v1/cases) and opening one (GET /api/v1/cases/{id}) in turn, while a probe asks
   /healthz 5 times a second;
2. the same while ``--chats`` customers each keep a long poll (``wait=25``) open on their own
   chat, each from an address of its own (127.1.x.y), polling again as soon as one is answered
   (after its Retry-After when it has one), and advisers write ``--messages`` messages/s into
   chats picked at random.

Latencies count from when a request was due (paced clients), so a request held up behind a
slow one is not measured as if it had been sent late on purpose. A message's delay runs from
just before its POST is sent to the return of the customer's poll that carries it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import threading
import time

from redis import Redis

from bench.common import bearer, database_url, migrated_app, recreate_database
from bench.intake import serve_with_gunicorn, stop_server

HOST = "127.0.0.1"


def _pct(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1) if ordered else None


def _latency(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": _pct(values, 0.5), "p99_ms": _pct(values, 0.99),
            "max_ms": round(max(values) * 1000, 1) if values else None}


def _request(conn, method, path, headers, body=None):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
    return response.status, response, data


def _paced(port, interval, deadline, next_request, out):
    """Send ``next_request()`` (method, path, headers, body) every ``interval`` s until
    ``deadline``; append (status, seconds since it was due) to ``out``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    due = time.perf_counter() + random.random() * interval
    # Ends at the deadline even when behind: a server that no longer answers must not keep the
    # clients sending what they would have sent, one timeout after another.
    while due < deadline and time.perf_counter() < deadline:
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        method, path, headers, body = next_request()
        try:
            status = _request(conn, method, path, headers, body)[0]
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            status = 599
        out.append((status, time.perf_counter() - due))
        due += interval
    conn.close()


def _advisers(port, headers, case_ids, clients, rate, seconds, queue):
    deadline = time.perf_counter() + seconds
    advisers, health = [], []
    turn = iter(range(10**9))

    def case_request():
        if next(turn) % 2:
            return "GET", f"/api/v1/cases/{random.choice(case_ids)}", headers, None
        return "GET", "/api/v1/cases?page_size=25", headers, None

    threads = [threading.Thread(target=_paced, args=(port, clients / rate, deadline, case_request, advisers))
               for _ in range(clients)]
    threads.append(threading.Thread(target=_paced, args=(port, 0.2, deadline,
                                                         lambda: ("GET", "/healthz", {}, None), health)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(("advisers", advisers, health))


def _writers(port, headers, chat_ids, rate, seconds, queue):
    deadline = time.perf_counter() + seconds
    written, clients = [], 4

    def message():
        body = json.dumps({"body": f"bench {time.time():.6f}"})
        return ("POST", f"/api/v1/chats/{random.choice(chat_ids)}/messages",
                {**headers, "Content-Type": "application/json"}, body)

    threads = [threading.Thread(target=_paced, args=(port, clients / rate, deadline, message, written))
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(("writers", written))


def _chatter(port, number, chat_id, token, stop, out):
    source = (f"127.1.{number // 250}.{number % 250 + 1}", 0)
    headers = {"Authorization": "Bearer " + token}
    conn = http.client.HTTPConnection(HOST, port, timeout=60, source_address=source)
    after = 0
    while not stop.is_set():
        try:
            status, response, data = _request(conn, "GET", f"/api/v1/chats/{chat_id}/messages?after={after}&wait=25",
                                              headers)
        except (OSError, http.client.HTTPException):
            conn.close()
            if stop.is_set():
                break
            out["errors"] += 1
            time.sleep(0.5)
            conn = http.client.HTTPConnection(HOST, port, timeout=60, source_address=source)
            continue
        received = time.time()
        if status != 200:
            out["errors"] += 1
            time.sleep(1)
            continue
        out["polls"] += 1
        for item in json.loads(data)["items"]:
            after = item["id"]
            out["delays"].append(received - float(item["body"].split()[1]))
        retry_after = response.getheader("Retry-After")
        if retry_after:
            out["turned_away"] += 1
            time.sleep(int(retry_after))
    conn.close()


def _chatters(port, chats, stop, queue):
    out = {"polls": 0, "turned_away": 0, "errors": 0, "delays": []}
    threads = [threading.Thread(target=_chatter, args=(port, number, chat_id, token, stop, out), daemon=True)
               for number, chat_id, token in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    queue.put(("chatters", out))


def _fork(target, *args):
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    return process


def _summary(results: dict) -> dict:
    advisers = [latency for _, latency in results["advisers"]]
    return {"adviser": {**_latency(advisers), "errors": sum(1 for s, _ in results["advisers"] if s != 200)},
            "healthz": {**_latency([latency for _, latency in results["health"]]),
                        "errors": sum(1 for s, _ in results["health"] if s != 200)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=300, help="customers holding a long poll open")
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    parser.add_argument("--advisers", type=int, default=8, help="adviser clients")
    parser.add_argument("--rate", type=float, default=20, help="adviser requests/s, all clients together")
    parser.add_argument("--messages", type=float, default=20, help="messages/s advisers write into chats")
    parser.add_argument("--cases", type=int, default=1000, help="SMS cases besides the chats' own")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 0))
                        or multiprocessing.cpu_count() * 2 + 1, help="gunicorn workers (gunicorn.conf.py's default)")
    args = parser.parse_args()
    url = database_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    print(f"chat benchmark: {args.chats} open chats, {args.advisers} adviser clients at {args.rate:g} requests/s, "
          f"{args.messages:g} chat messages/s, {args.seconds:g} s per phase; {args.workers} gunicorn workers "
          f"(class {os.environ.get('GUNICORN_WORKER_CLASS', 'as gunicorn.conf.py says')}, threads "
          f"{os.environ.get('GUNICORN_THREADS', 'as gunicorn.conf.py says')}), PostgreSQL {url.rsplit('@', 1)[-1]}, "
          f"Redis; {multiprocessing.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    recreate_database(url)
    Redis.from_url(redis_url).flushdb()
    app = migrated_app(url, with_channels=True, PUBLIC_RATE_LIMIT_PER_MINUTE=0)
    adviser = bearer(app, "adviser")
    client = app.test_client()
    admin = bearer(app, "admin")
    key = client.post("/api/v1/api-keys", json={"name": "bench", "scopes": ["intake"]}, headers=admin).get_json()["key"]
    for n in range(args.cases):
        client.post("/api/v1/inbound/messages", headers={"Authorization": "Bearer " + key},
                    json={"channel": "sms", "external_id": f"SM{n:032d}", "from": {"phone": f"+35840{n:07d}"},
                          "body": "Hei"})
    chats = []
    for number in range(args.chats):
        started = client.post("/api/v1/chats", json={"anonymous": True, "language": "fi"}).get_json()
        chats.append((number, started["chat_id"], started["token"]))
    with app.app_context():
        from service.cases.models import Case
        from service.extensions import db

        case_ids = list(db.session.scalars(db.select(Case.id)))
        db.engine.dispose()

    port = 18000 + os.getpid() % 1000
    server = serve_with_gunicorn("wsgi:app", port, args.workers, {"DATABASE_URL": url, "REDIS_URL": redis_url})
    queue = multiprocessing.get_context("fork").Queue()
    try:
        # Warm up every worker (first requests import and connect) before anything is measured.
        process = _fork(_advisers, port, adviser, case_ids, args.advisers, args.rate, 5, queue)
        queue.get()
        process.join()
        print("  1. advisers alone ...", flush=True)
        process = _fork(_advisers, port, adviser, case_ids, args.advisers, args.rate, args.seconds, queue)
        _, advisers, health = queue.get()
        process.join()
        alone = _summary({"advisers": advisers, "health": health})
        print(f"     {json.dumps(alone)}", flush=True)

        print(f"  2. advisers beside {args.chats} open chats ...", flush=True)
        stop = multiprocessing.get_context("fork").Event()
        halves = [chats[0::2], chats[1::2]]
        chatters = [_fork(_chatters, port, half, stop, queue) for half in halves]
        time.sleep(3)  # every customer's first poll is in
        loads = [_fork(_advisers, port, adviser, case_ids, args.advisers, args.rate, args.seconds, queue),
                 _fork(_writers, port, adviser, [c[1] for c in chats], args.messages, args.seconds, queue)]
        results = {}
        for _ in loads:
            name, *values = queue.get()
            results[name] = values
        for process in loads:
            process.join()
        time.sleep(4)  # the last messages reach their customers, also one in a Retry-After pause
        stop.set()
    finally:
        stop_server(server)  # answers the polls still waiting
    chatter_results = [queue.get()[1] for _ in chatters]
    for process in chatters:
        process.join()

    beside = _summary({"advisers": results["advisers"][0], "health": results["advisers"][1]})
    written = [latency for status, latency in results["writers"][0] if status == 201]
    delays = [d for out in chatter_results for d in out["delays"]]
    chat = {"written": len(written), "write_errors": len(results["writers"][0]) - len(written),
            "write": _latency(written), "delivered": len(delays), "delivery": _latency(delays),
            "polls_answered": sum(out["polls"] for out in chatter_results),
            "turned_away": sum(out["turned_away"] for out in chatter_results),
            "poll_errors": sum(out["errors"] for out in chatter_results)}
    print(f"     {json.dumps(beside)}")
    print(f"     chats: {json.dumps(chat)}")
    print(f"  load average {os.getloadavg()[0]:.1f} at the end")
    print()
    print("| phase | adviser p50 / p99 ms | healthz p50 / p99 / max ms | errors |")
    print("|---|---|---|---|")
    for label, summary in (("advisers alone", alone), (f"beside {args.chats} open chats", beside)):
        print(f"| {label} | {summary['adviser']['p50_ms']} / {summary['adviser']['p99_ms']} | "
              f"{summary['healthz']['p50_ms']} / {summary['healthz']['p99_ms']} / {summary['healthz']['max_ms']} | "
              f"{summary['adviser']['errors'] + summary['healthz']['errors']} |")
    print(f"\nmessages: {chat['delivered']} of {chat['written']} delivered, delay p50 {chat['delivery']['p50_ms']} ms, "
          f"p99 {chat['delivery']['p99_ms']} ms, max {chat['delivery']['max_ms']} ms; "
          f"{chat['turned_away']} of {chat['polls_answered']} polls turned away (Retry-After)")


if __name__ == "__main__":
    main()
