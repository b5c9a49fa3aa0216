"""Malware scanning: how many 1 MB attachments clamd scans per second through the service's
adapter (INSTREAM over its Unix socket), and whether intake with attachments is as fast with
scanning on as with it off (it should be: intake only stores the file as pending).

    .venv/bin/python -m bench.scan                 # 200 files, 100 intake requests per mode
    .venv/bin/python -m bench.scan --files 50      # a quick run

It starts its own clamd (Debian's clamav-daemon) with the tests' signature database: with
freshclam's full databases (about 8 million signatures) clamd takes longer per file, so the
rates here are an upper bound for the same machine; run it against a production clamd with
``--socket`` for the real figure. Intake runs in-process (Flask's test client) on the
PostgreSQL of BENCH_DATABASE_URL, one email with one 1 MB PDF per request.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import bearer, database_url, migrated_app, recreate_database, summarise

MB = 1024 * 1024


def one_mb_files(count: int) -> list[bytes]:
    # Random bytes behind a PDF header: nothing compresses or short-cuts the scan.
    return [b"%PDF-1.4\n" + os.urandom(MB - 9) for _ in range(count)]


def scan_rate(scanner, files: list[bytes], threads: int) -> dict:
    import io

    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def scan(content: bytes):
        verdict = scanner.scan(io.BytesIO(content), len(content))
        with lock:
            outcomes[verdict.status] = outcomes.get(verdict.status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(scan, files))
    seconds = time.perf_counter() - started
    return {"threads": threads, "files": len(files), "seconds": round(seconds, 2),
            "files_per_s": round(len(files) / seconds, 1), "mb_per_s": round(len(files) / seconds, 1),
            "outcomes": outcomes}


def intake_rate(app, headers: dict, content: bytes, requests: int) -> dict:
    client = app.test_client()
    attachment = {"filename": "hakemus.pdf", "content_type": "application/pdf",
                  "content_base64": base64.b64encode(content).decode()}
    samples = []
    started = time.perf_counter()
    for n in range(requests):
        body = {"channel": "email", "external_id": f"bench-scan-{time.time_ns()}-{n}",
                "from": {"email": f"asukas{n % 50}@example.fi"}, "subject": "Liite", "body": "Ohessa",
                "attachments": [attachment]}
        sent = time.perf_counter()
        response = client.post("/api/v1/inbound/messages", json=body, headers=headers)
        samples.append((time.perf_counter() - sent) * 1000)
        assert response.status_code == 201, response.get_json()
    seconds = time.perf_counter() - started
    return {"requests": requests, "per_s": round(requests / seconds, 1), **summarise(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--socket", help="an existing clamd's socket instead of starting one")
    args = parser.parse_args()

    from channels.clamd import ClamdScanner
    from tests.clamd_server import ClamdServer

    server = None
    socket_path = args.socket
    if socket_path is None:
        server = ClamdServer(tempfile.mkdtemp(prefix="bench-clamd-"), max_file=25 * MB, stream_max=25 * MB).start()
        socket_path = server.socket
    results: dict = {}
    try:
        scanner = ClamdScanner(unix_socket=socket_path, host=None, port=3310, timeout=60, max_bytes=25 * MB)
        files = one_mb_files(args.files)
        # clamd's first scans after its start are several times slower; they are not the rate.
        scan_rate(scanner, files[:20], 2)
        results["scan_1mb"] = [scan_rate(scanner, files, threads) for threads in (1, 2, 4)]

        url = database_url()
        recreate_database(url)
        off = migrated_app(url, with_channels=True, FILE_STORAGE_PATH=tempfile.mkdtemp(prefix="bench-files-"))
        on = migrated_app(url, with_channels=True, FILE_STORAGE_PATH=tempfile.mkdtemp(prefix="bench-files-"),
                          CLAMD_SOCKET=socket_path)
        key = _intake_key(off)
        results["intake_1mb_attachment"] = {"scanning_off": intake_rate(off, key, files[0], args.requests),
                                            "scanning_on": intake_rate(on, key, files[1], args.requests)}
        # The files intake stored pending, scanned as the worker's job scans them.
        from service import jobs
        from service.cases.scanning import SCAN_KEY

        with on.app_context():
            started = time.perf_counter()
            scanned = jobs.scan_files(SCAN_KEY)
            seconds = time.perf_counter() - started
        results["scan_job"] = {"files": scanned, "seconds": round(seconds, 2),
                               "files_per_s": round(scanned / seconds, 1) if seconds else None}
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(results, indent=2))


def _intake_key(app) -> dict:
    admin = bearer(app, "admin")
    response = app.test_client().post("/api/v1/api-keys", json={"name": "bench", "scopes": ["intake"]},
                                      headers=admin)
    return {"Authorization": "Bearer " + response.get_json()["key"]}


if __name__ == "__main__":
    main()
