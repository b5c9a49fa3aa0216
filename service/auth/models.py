from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, JSON, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class Official(db.Model):
    __tablename__ = "official"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    organisation_email: Mapped[str | None] = mapped_column(String(254))
    organisation_phone: Mapped[str | None] = mapped_column(String(32))
    organisation_address: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    # A supervisor with this set sees and works only on their service lines; without it, all
    # lines (what every supervisor did before the flag existed). See lines.logic.line_scope.
    limited_to_lines: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # An adviser or supervisor an administrator trusts to confirm that two customer records are
    # one person (permission customers.link, which their role lacks). See permissions.GRANTABLE.
    may_link_customers: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The value of the OpenID provider's subject claim (OIDC_SUBJECT_CLAIM) this official signs
    # in as; never an email address, which the provider may reassign to someone else.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The TOTP secret once confirmed with a code; the pending one while enrolment is under way.
    # They cannot be hashed: the server computes the expected codes from them.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    # The time step of the last accepted code: a code is good once, even within its window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    service_lines: Mapped[list["ServiceLine"]] = relationship(  # noqa: F821
        secondary="service_line_member", back_populates="members", order_by="ServiceLine.id"
    )


class LoginThrottle(db.Model):
    """Failed sign-ins per attempted username, existing or not, and client address: keyed by
    what was typed, so a lockout looks the same for a real account and a made-up one; and by
    where it came from, so failures from one address lock that address out, not the account
    for everyone (five wrong passwords from anywhere would otherwise lock out the admin)."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_address: Mapped[str] = mapped_column(String(45), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthToken(db.Model):
    """A bearer token of an official. Only the SHA-256 of the token is stored."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("official.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Within a minute: enough to tell a live session from a forgotten one.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The browser or program that signed in (its User-Agent, shortened), for the sessions list.
    client: Mapped[str | None] = mapped_column(String(200))
    # "password" or "oidc": the second-factor requirement applies to password sign-ins only.
    method: Mapped[str] = mapped_column(String(16), default="password", server_default="password")
    # The password sign-in was completed with a second factor (or one was enrolled with it).
    second_factor: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The provider's session id (`sid`), so its back-channel or front-channel logout ends this.
    oidc_sid: Mapped[str | None] = mapped_column(String(255), index=True)

    official: Mapped[Official] = relationship()


class RecoveryCode(db.Model):
    """A single-use code that stands in for the TOTP code when the device is lost. Only its
    SHA-256 is stored: the codes are long random strings, so a fast hash is enough."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("official.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(db.Model):
    """An integration's key. Shown once at creation; only its SHA-256 is stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
