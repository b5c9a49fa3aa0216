"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Workers, class and bind come from the environment, so one file serves every machine.
"""

import multiprocessing
import os
import signal

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Threads, so that a chat's long poll holds a thread and not a whole process. The application
# lets long polls take three quarters of a worker's threads at most (post_worker_init below):
# the rest serve officials, health checks and everything else however many chats are open.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "128"))
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


def _waiting_room(worker):
    return getattr(worker.wsgi, "extensions", {}).get("chat_waits")


def post_worker_init(worker):
    # A thread-per-request worker (sync: one thread) tells the application how many threads it
    # has, so that waiting chat long polls never take them all (service/chats/waits.py).
    from gunicorn.workers.gthread import ThreadWorker
    from gunicorn.workers.sync import SyncWorker

    room = _waiting_room(worker)
    if room is None:
        return
    if isinstance(worker, (ThreadWorker, SyncWorker)):
        room.fit_to_threads(worker.cfg.threads if isinstance(worker, ThreadWorker) else 1)
    # A stopping worker (a deploy: SIGTERM) answers its waiting long polls at once rather than
    # holding the stop for up to graceful_timeout; the customers poll again, on the new workers.
    stop = signal.getsignal(signal.SIGTERM)

    def answer_waiting_polls_then_stop(signum, frame):
        room.close()
        stop(signum, frame)

    signal.signal(signal.SIGTERM, answer_waiting_polls_then_stop)


def worker_int(worker):
    # The quick stop (SIGINT, SIGQUIT) too: the process exits only when its threads have ended.
    room = _waiting_room(worker)
    if room is not None:
        room.close()
