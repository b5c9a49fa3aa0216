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
