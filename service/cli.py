"""Command-line tools: ``flask --app wsgi officials create ...`` and friends."""

from __future__ import annotations

import sys

import click
from flask import Flask

from .auth.officials import create_official
from .auth.permissions import ADMIN, ROLES
from .errors import Problem
from .extensions import db


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def register_cli(app: Flask) -> None:
    @app.cli.group()
    def officials():
        """Manage officials."""

    @officials.command("create")
    @click.argument("username")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--name", required=True, help="Full name")
    @click.option("--title")
    @click.option("--organisation")
    @click.option("--organisation-email")
    @click.option("--organisation-phone")
    def create(username, role, name, title, organisation, organisation_email, organisation_phone):
        """Create an official. The password is read from standard input (prompted on a terminal)."""
        from .customers.normalise import InvalidContactDetail, normalise_email, normalise_phone

        password = _read_password()
        try:
            data = {"username": username, "password": password, "role": role, "name": name,
                    "title": title, "organisation": organisation,
                    "organisation_email": normalise_email(organisation_email) if organisation_email else None,
                    "organisation_phone": normalise_phone(organisation_phone, app.config["DEFAULT_PHONE_REGION"])
                    if organisation_phone else None}
            official = create_official(actor=None, data=data)
        except InvalidContactDetail as exc:
            raise click.ClickException(f"organisation contact details: {exc}") from None
        except Problem as exc:
            details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (exc.errors or {}).items())
            raise click.ClickException(f"{exc.detail} {details}".strip()) from None
        click.echo(f"Created {official.role} {official.username} (id {official.id}).")

    @app.cli.group()
    def retention():
        """Retention: the purge."""

    @retention.command("purge")
    @click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
    @click.option("--as-of", "as_of", help="Purge as if it were this time (ISO 8601 with a zone).")
    @click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
    def purge_command(dry_run, as_of, batch_size):
        """Delete everything past its retention date (in batches; safe to interrupt and rerun)."""
        from datetime import datetime

        from .retention.logic import PurgeSettings, purge
        from .storage import get_storage

        moment = None
        if as_of:
            try:
                moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
            except ValueError:
                raise click.BadParameter("use ISO 8601, e.g. 2027-12-01T00:00:00Z", param_hint="--as-of") from None
            if moment.tzinfo is None:
                raise click.BadParameter("give a time zone, e.g. Z or +02:00", param_hint="--as-of")

        def progress(report):
            click.echo(f"  batch {report.batches}: {report.cases} cases, {report.recordings} recordings, "
                       f"{report.customers} customers, {report.files} files so far")

        report = purge(as_of=moment, dry_run=dry_run, storage=get_storage(), batch_size=batch_size,
                       settings=PurgeSettings.from_app(app), progress=progress)
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"As of {report.as_of.isoformat()}: {verb} {report.cases} cases, {report.attachments} attachments, "
                   f"{report.recordings} recordings, {report.customers} customers; "
                   f"{report.held_cases_skipped} expired cases kept under legal hold.")

    @app.cli.group()
    def audit():
        """The audit log's hash chain."""

    @audit.command("verify")
    def audit_verify():
        """Seal what is pending, then check the whole chain; exit 1 at the first broken link."""
        from .audit.chain import seal, verify

        sealed = seal()
        result = verify()
        if result.intact:
            click.echo(f"The audit chain is intact: {result.checked} entries checked ({sealed} newly sealed).")
            return
        where = f"entry {result.broken_at_seq}" + (f" (audit id {result.entry_id})" if result.entry_id else "")
        click.echo(f"The audit chain is broken at {where}: {result.problem}. "
                   f"{result.checked} entries before it are intact.", err=True)
        raise SystemExit(1)

    @app.cli.group()
    def stats():
        """Contact-volume statistics."""

    @stats.command("rebuild")
    @click.option("--from", "first", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="First local day to recount (default: the earliest contact).")
    @click.option("--to", "last", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Last local day to recount (default: today).")
    def stats_rebuild(first, last):
        """Give facts to cases and contacts that have none, then recount the daily statistics.

        Facts outlive the purge, so a rebuild never loses a purged month's numbers. Needed after
        changing STATS_TIME_ZONE, and once after upgrading a database that held cases before
        statistics existed."""
        from .stats.logic import StatsSettings
        from .stats.rollup import rebuild

        first_day, last_day = (first.date() if first else None), (last.date() if last else None)
        if first_day and last_day and first_day > last_day:
            raise click.BadParameter("--from is after --to", param_hint="--from")
        zone = StatsSettings.from_config(app.config).zone
        days = rebuild(zone, first=first_day, last=last_day, progress=lambda text: click.echo(f"  {text}"))
        click.echo(f"Statistics rebuilt: {days} days recounted in {zone.key}.")

    @app.cli.group()
    def scan():
        """Malware scanning of attachments."""

    @scan.command("backfill")
    @click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10_000))
    def scan_backfill(batch_size):
        """Scan every file stored before a scanner was configured (and any still pending).

        Safe to interrupt and rerun. If clamd goes away, the files of the batch wait, pending,
        for the workers; exit 1."""
        from .cases.scanning import ScannerUnavailable, ScanSettings, backfill

        def progress(report):
            found = ", ".join(f"{status} {count}" for status, count in sorted(report.by_status.items()))
            click.echo(f"  scanned {report.scanned}/{report.total} ({found})")

        try:
            report = backfill(settings=ScanSettings.from_config(app.config), batch_size=batch_size,
                              progress=progress)
        except RuntimeError as problem:
            raise click.ClickException(str(problem)) from None
        except ScannerUnavailable:
            click.echo("clamd is unreachable; the files not scanned yet wait, pending, for the workers.", err=True)
            raise SystemExit(1) from None
        found = ", ".join(f"{status} {count}" for status, count in sorted(report.by_status.items()))
        click.echo(f"Backfill done: {report.scanned} files scanned ({found or 'none'}).")

    @app.cli.command("demo")
    @click.option("--username", default="admin", show_default=True)
    @click.option("--password", default="admin-demo-password", show_default=True)
    def demo(username, password):
        """Create a demo admin when no official exists yet (embedded default only)."""
        from .auth.models import Official

        if db.session.query(Official.id).first() is not None:
            click.echo("Officials exist already; no demo admin created.")
            return
        create_official(actor=None, data={"username": username, "password": password, "role": ADMIN,
                                          "name": "Demo Administrator"})
        click.echo(f"Demo admin created: username {username!r}, password {password!r}.")
