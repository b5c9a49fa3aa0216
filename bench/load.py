"""A small HTTP load generator: N client threads in each of P processes, each sending its
share of prepared requests for a fixed time, recording status and latency per request."""

from __future__ import annotations

import http.client
import multiprocessing
import random
import threading
import time
from dataclasses import dataclass, field


def _client(host: str, port: int, requests: list, deadline: float, out: list, stop=None,
            interval: float | None = None, late: list | None = None) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    due = time.perf_counter() + random.random() * (interval or 0)  # clients out of step
    for path, body, headers in requests:
        if time.perf_counter() >= deadline or (stop is not None and stop.is_set()):
            break
        started = time.perf_counter()
        if interval:
            # Paced: each request has its time, and its latency counts from then, so a request
            # held up behind a slow one is not measured as if it had been sent late on purpose.
            if due > started:
                time.sleep(due - started)
            # How far behind its schedule this client sent: the wait for its own previous
            # answer, and the load generator's own share of the cores, both counted in latency.
            late.append(max(0.0, time.perf_counter() - due))
            started = due
            due += interval
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            status = 599
        out.append((status, time.perf_counter() - started))
    conn.close()


def _process(host, port, shares, seconds, queue, stop=None, interval=None) -> None:
    deadline = time.perf_counter() + seconds
    results: list = []
    late: list = []
    threads = [threading.Thread(target=_client, args=(host, port, share, deadline, results, stop, interval, late))
               for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((results, late))


@dataclass
class Sample:
    """What one load run saw: (status, seconds) per request, how long it ran, and (paced) how
    many seconds behind its schedule each request was sent."""
    results: list
    seconds: float
    late: list = field(default_factory=list)


def measure(host: str, port: int, requests: list, *, clients: int, seconds: float, processes: int = 2,
            stop=None, rate: float | None = None) -> Sample:
    """Send ``requests`` (path, body, headers) from ``clients`` concurrent clients for at most
    ``seconds`` (or until ``stop``, a multiprocessing Event, is set). Without ``rate`` each
    client sends its next request as soon as the last is answered; with it the clients
    together send ``rate`` requests/s."""
    interval = clients / rate if rate else None
    shares = [requests[i::clients] for i in range(clients)]
    queue = multiprocessing.get_context("fork").Queue()
    per_process = [shares[i::processes] for i in range(processes)]
    started = time.perf_counter()
    workers = [multiprocessing.get_context("fork").Process(target=_process,
                                                           args=(host, port, p, seconds, queue, stop, interval))
               for p in per_process]
    for worker in workers:
        worker.start()
    results, late = [], []
    for _ in workers:
        answered, behind = queue.get()
        results.extend(answered)
        late.extend(behind)
    for worker in workers:
        worker.join()
    return Sample(results, time.perf_counter() - started, late)


def summarise(samples: list[Sample]) -> dict:
    """Throughput, latency percentiles and non-2xx counts over one or more samples; paced, also
    how late the requests were sent (p99), which their latencies include."""
    results = [result for sample in samples for result in sample.results]
    elapsed = sum(sample.seconds for sample in samples)
    latencies = sorted(latency for _, latency in results)
    errors = sum(1 for status, _ in results if not 200 <= status < 300)
    late = sorted(seconds for sample in samples for seconds in sample.late)

    def pct(values, share):
        return round(values[min(len(values) - 1, int(share * len(values)))] * 1000, 1) if values else None

    summary = {"requests": len(results), "per_second": round(len(results) / elapsed), "p50_ms": pct(latencies, 0.5),
               "p99_ms": pct(latencies, 0.99), "errors": errors}
    if late:
        summary["sent_late_p99_ms"] = pct(late, 0.99)
    return summary


def run(host: str, port: int, requests: list, **options) -> dict:
    """``measure`` and ``summarise`` in one: returns throughput, latency percentiles and
    non-2xx counts."""
    return summarise([measure(host, port, requests, **options)])
