"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Workers, class and bind come from the environment, so one file serves every machine.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Twilio and mail gateways retry on errors; a slow client must not hold a worker forever.
graceful_timeout = 20
keepalive = 5
accesslog = None  # the application logs requests itself, with personal data masked
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    # Prometheus keeps each worker's values in PROMETHEUS_MULTIPROC_DIR; drop a dead one's gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
