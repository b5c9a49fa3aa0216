"""Prometheus metrics at /metrics: what operations needs to see the service working.

Counters and histograms live in the process (shared between gunicorn workers through
PROMETHEUS_MULTIPROC_DIR when it is set); the outbox and inbound backlogs are read from the
database at scrape time, so every process reports the same truth. No label ever carries
personal data.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest,
                               multiprocess)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from .db_types import utcnow
from .errors import Forbidden, Unauthorized
from .extensions import db

log = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram("http_request_duration_seconds", "Request latency", ["endpoint", "method", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
INTAKE = Counter("intake_contacts_total", "Inbound contacts stored", ["channel"])
DELIVERIES = Counter("outbox_deliveries_total", "Delivery attempts by outcome", ["channel", "outcome"])
SCANS = Counter("attachment_scans_total", "Malware scans of attachments by outcome "
                "(clean, infected, unscannable, error, scanner_unavailable)", ["outcome"])
PURGED = Counter("retention_purged_total", "Rows and files deleted by the purge", ["kind"])


class OutboxCollector:
    """Backlog and the age of the oldest waiting message, straight from the outbox table."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from .outbox.models import QUEUED, SENDING, OutboxMessage

        backlog = GaugeMetricFamily("outbox_backlog", "Messages waiting to be delivered", labels=["channel"])
        oldest = GaugeMetricFamily("outbox_oldest_waiting_seconds", "Age of the oldest waiting message")
        with self.app.app_context():
            rows = db.session.execute(select(OutboxMessage.channel, func.count(), func.min(OutboxMessage.created_at))
                                      .where(OutboxMessage.status.in_((QUEUED, SENDING)))
                                      .group_by(OutboxMessage.channel)).all()
            db.session.rollback()
        first = None
        for channel, count, created in rows:
            backlog.add_metric([channel], count)
            if created is not None:
                created = _aware(created)
                first = created if first is None or created < first else first
        oldest.add_metric([], _seconds_since(first))
        yield backlog
        yield oldest


class InboundCollector:
    """Inbound messages accepted and not yet processed (landed Twilio SMS), and how long the
    oldest has waited: a growing number means the workers do not keep up, or a message fails."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from .intake.envelopes import backlog

        with self.app.app_context():
            count, oldest = backlog()
            db.session.rollback()
        waiting = GaugeMetricFamily("inbound_backlog", "Inbound messages accepted and not yet processed")
        waiting.add_metric([], count)
        age = GaugeMetricFamily("inbound_oldest_waiting_seconds", "Age of the oldest unprocessed inbound message")
        age.add_metric([], _seconds_since(oldest))
        yield waiting
        yield age


class ServiceClockCollector:
    """Cases whose running service target is past due, and those due within the soon window
    (SERVICE_CLOCK_SOON_MINUTES, an hour by default): two counts on a range of the due index."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from datetime import timedelta

        from .cases.models import Case

        now = utcnow()
        soon = now + timedelta(minutes=self.app.config["SERVICE_CLOCK_SOON_MINUTES"])
        with self.app.app_context():
            breached, due_soon = db.session.execute(select(
                func.count().filter(Case.next_due_at <= now),
                func.count().filter(Case.next_due_at > now)).where(
                Case.next_due_at.is_not(None), Case.next_due_at <= soon,
                # A merged case's clocks are its history; its survivor is the one being worked.
                Case.merged_into_id.is_(None))).one()
            db.session.rollback()
        past = GaugeMetricFamily("service_clock_breached_cases", "Open cases with a service target past due")
        past.add_metric([], breached)
        near = GaugeMetricFamily("service_clock_due_soon_cases",
                                 "Open cases with a service target due within SERVICE_CLOCK_SOON_MINUTES")
        near.add_metric([], due_soon)
        yield past
        yield near


class ScanCollector:
    """Attachments by malware-scan state (infected: quarantined) and the age of the oldest file
    waiting for its scan, from the table: a growing age means clamd is down or too slow."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from .cases.scanning import SCAN_STATUSES, counts, oldest_pending

        with self.app.app_context():
            found, oldest = dict(counts()), oldest_pending()
            db.session.rollback()
        files = GaugeMetricFamily("attachment_files", "Stored attachments by malware-scan state", labels=["scan_status"])
        for status in SCAN_STATUSES:
            files.add_metric([status], found.get(status, 0))
        age = GaugeMetricFamily("attachment_scan_oldest_pending_seconds", "Age of the oldest file waiting for its scan")
        age.add_metric([], _seconds_since(oldest))
        yield files
        yield age


def _aware(when):
    # An aggregate can come back from SQLite without its zone; stored times are UTC.
    return when if when.tzinfo else when.replace(tzinfo=utcnow().tzinfo)


def _seconds_since(when) -> float:
    """Age of the oldest waiting item; 0 when nothing waits."""
    return (utcnow() - _aware(when)).total_seconds() if when is not None else 0


def _registry(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry()
    if app.config.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    return registry


def _from_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def init_metrics(app: Flask) -> None:
    outbox, inbound = OutboxCollector(app), InboundCollector(app)
    clocks, scans = ServiceClockCollector(app), ScanCollector(app)
    # Said by a process that serves requests, at its first one: a command-line tool serves no
    # /metrics, and its users would read the warning on every command.
    unwarned = [not app.config.get("METRICS_TOKEN") and not app.testing]

    @app.before_request
    def _warn_once_about_an_open_metrics_page():
        if unwarned[0]:
            unwarned[0] = False
            log.warning("METRICS_TOKEN is not set: /metrics answers loopback clients only; a proxy on this "
                        "machine makes every client look local, so set the token before exposing it")

    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.get("request_started")
        if started is not None and request.endpoint != "metrics":
            REQUEST_LATENCY.labels(request.endpoint or "unmatched", request.method,
                                   f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", endpoint="metrics")
    def metrics():
        token = current_app.config.get("METRICS_TOKEN")
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given, token):
                raise Unauthorized("Send the metrics token as a bearer token.")
        elif not _from_loopback(request.remote_addr):
            # Queue depths and traffic are for the operator's scraper, not for anyone who asks.
            raise Forbidden("Without METRICS_TOKEN, metrics are served to this machine only.")
        output = generate_latest(_registry(current_app))
        extra = CollectorRegistry()
        extra.register(outbox)
        extra.register(inbound)
        extra.register(clocks)
        extra.register(scans)
        return Response(output + generate_latest(extra), mimetype=CONTENT_TYPE_LATEST)
