"""A fixed-window limit per client address for the public endpoints (chat start, web form).

With Redis it is shared by every web process; without it (the embedded default) it is per
process. The address is counted, never stored in the database or logged.
"""

from __future__ import annotations

import threading
import time

from flask import current_app, request

from .errors import TooManyRequests
from .queue import redis_connection

_WINDOW = 60
_lock = threading.Lock()


def _count(key: str, window: int) -> int:
    if current_app.config.get("REDIS_URL"):
        try:
            conn = redis_connection()
            pipe = conn.pipeline()
            pipe.incr(key)
            pipe.expire(key, _WINDOW * 2)
            return int(pipe.execute()[0])
        except Exception:
            pass  # Redis down: fall back to this process's own count rather than refuse everyone
    with _lock:
        _local = current_app.extensions.setdefault("ratelimit_counts", {})
        started, count = _local.get(key, (window, 0))
        count = count + 1 if started == window else 1
        _local[key] = (window, count)
        if len(_local) > 10_000:
            for stale in [k for k, (w, _) in _local.items() if w != window]:
                del _local[stale]
        return count


def limit_per_client(bucket: str, *, per_minute: int) -> None:
    if per_minute <= 0:
        return
    window = int(time.time() // _WINDOW)
    count = _count(f"ratelimit:{bucket}:{request.remote_addr}:{window}", window)
    if count > per_minute:
        retry_after = _WINDOW - int(time.time() % _WINDOW)
        raise TooManyRequests("Too many requests from your address; try again shortly.",
                              headers={"Retry-After": str(retry_after)})
