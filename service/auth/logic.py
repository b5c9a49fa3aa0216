"""Passwords, logins, bearer tokens and API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..audit.logic import record
from ..db_types import utcnow
from ..errors import NotFound, TooManyRequests, Unauthorized, ValidationFailed
from ..extensions import db
from .models import ApiKey, AuthToken, LoginThrottle, Official
from .permissions import PERMISSIONS, SCOPES, Principal
from .second_factor import accept_recovery_code, accept_totp, is_required

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong username costs as much time as a
# wrong password and response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def configure_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set argon2's cost. Production keeps the library's defaults; the tests lower it."""
    global _hasher, _DUMMY_HASH
    if (time_cost, memory_kib) != (_hasher.time_cost, _hasher.memory_cost):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _DUMMY_HASH = _hasher.hash("not-a-real-password")

API_KEY_PREFIX = "csk_"
KEY_USE_GRANULARITY = timedelta(hours=1)
SESSION_USE_GRANULARITY = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 12
# Stored for an official who signs in at the OpenID provider only: not an argon2 hash, so it
# never verifies.
NO_PASSWORD = "!"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed("The password is too short.",
                               errors={"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]})
    return _hasher.hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def official_principal(official: Official, token_id: int | None = None) -> Principal:
    return Principal(kind="official", id=official.id, name=official.name, role=official.role,
                     limited_to_lines=official.limited_to_lines, token_id=token_id,
                     grants=frozenset({"customers.link"}) if official.may_link_customers else frozenset())


def login(*, username: str, password: str, token_ttl_seconds: int, max_failures: int,
          lockout_seconds: int, client_address: str | None = None, second_factor_code: str | None = None,
          client: str | None = None, now: datetime | None = None) -> tuple[str, AuthToken]:
    """Exchange a username and password for a new bearer token.

    After ``max_failures`` wrong attempts in a row on a username from one client address, the
    username is locked for that address for ``lockout_seconds``; while locked even the right
    password is refused, so guessing gains nothing. Other addresses are not locked out: the
    official can still sign in while someone else hammers their username. Unknown usernames
    are throttled the same way, so the answers do not reveal which accounts exist.
    """
    now = now or utcnow()
    key = (username, (client_address or "")[:45])
    throttle = db.session.get(LoginThrottle, key)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        retry_after = int((throttle.locked_until - now).total_seconds()) + 1
        db.session.rollback()
        raise TooManyRequests("Too many failed logins; this username is locked for a while.",
                              headers={"Retry-After": str(retry_after)})
    official = db.session.scalar(select(Official).where(Official.username == username))
    stored_hash = official.password_hash if official is not None else _DUMMY_HASH
    usable = official is not None and official.active
    # argon2 takes tens of milliseconds: hold no transaction (nor SQLite's write lock) meanwhile.
    db.session.rollback()
    matches = _password_matches(stored_hash, password)
    throttle = db.session.get(LoginThrottle, key)
    official = db.session.scalar(select(Official).where(Official.username == username))
    if matches and throttle and throttle.locked_until and throttle.locked_until > now:
        db.session.rollback()  # a parallel failure locked the username meanwhile
        raise TooManyRequests("Too many failed logins; this username is locked for a while.",
                              headers={"Retry-After": str(int((throttle.locked_until - now).total_seconds()) + 1)})
    if not (matches and usable) or official is None:
        _count_failure(throttle, key, now=now, max_failures=max_failures, lockout_seconds=lockout_seconds)
        if official is not None:
            record("auth.login_failed", actor=None, object_type="official", object_id=official.id)
        db.session.commit()
        raise Unauthorized("Wrong username or password.", code="invalid-credentials")

    second_factor = False
    if official.totp_secret is not None:
        second_factor = _check_second_factor(official, second_factor_code, throttle, key, now=now,
                                             max_failures=max_failures, lockout_seconds=lockout_seconds)

    if _hasher.check_needs_rehash(official.password_hash):
        official.password_hash = _hasher.hash(password)
    if throttle is not None:
        db.session.delete(throttle)
    raw, token = issue_token(official, method="password", second_factor=second_factor, now=now,
                             expires_at=now + timedelta(seconds=token_ttl_seconds), client=client)
    record("auth.login", actor=official_principal(official, token.id), object_type="official",
           object_id=official.id, details={"method": "password", "second_factor": second_factor})
    db.session.commit()
    return raw, token


def _check_second_factor(official: Official, code: str | None, throttle: LoginThrottle | None,
                         key: tuple[str, str], *, now: datetime, max_failures: int, lockout_seconds: int) -> bool:
    """The code after a right password. A wrong one counts towards the same lockout as a wrong
    password, so six-digit codes cannot be guessed through at leisure."""
    if not code:
        db.session.rollback()
        raise Unauthorized("Give the code from your authenticator app, or a recovery code.",
                           code="second-factor-required")
    if accept_totp(official, code, now=now):
        return True
    if accept_recovery_code(official, code):
        record("auth.recovery_code_used", actor=None, object_type="official", object_id=official.id)
        return True
    _count_failure(throttle, key, now=now, max_failures=max_failures, lockout_seconds=lockout_seconds)
    record("auth.second_factor_failed", actor=None, object_type="official", object_id=official.id)
    db.session.commit()
    raise Unauthorized("Wrong code.", code="invalid-second-factor")


def issue_token(official: Official, *, method: str, second_factor: bool, expires_at: datetime,
                client: str | None, oidc_sid: str | None = None, now: datetime | None = None) -> tuple[str, AuthToken]:
    """A new bearer token (session) of ``official``; the caller audits and commits."""
    raw = secrets.token_urlsafe(32)
    token = AuthToken(official=official, token_hash=_sha256(raw), created_at=now or utcnow(),
                      expires_at=expires_at, method=method, second_factor=second_factor,
                      client=(client or "")[:200] or None, oidc_sid=oidc_sid)
    db.session.add(token)
    db.session.flush()
    return raw, token


def _count_failure(throttle: LoginThrottle | None, key: tuple[str, str], *, now: datetime, max_failures: int,
                   lockout_seconds: int) -> None:
    if throttle is None:
        throttle = LoginThrottle(username=key[0], client_address=key[1], failures=0, last_failure_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(throttle)
        except IntegrityError:
            # A parallel failed attempt created the row first.
            throttle = db.session.get(LoginThrottle, key)
    elif throttle.last_failure_at < now - timedelta(seconds=lockout_seconds):
        # Failures long ago do not add up with today's.
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= max_failures:
        throttle.locked_until = now + timedelta(seconds=lockout_seconds)
        throttle.failures = 0


def clear_login_throttle(username: str) -> None:
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))


def revoke_token(*, principal: Principal) -> None:
    token = db.session.get(AuthToken, principal.token_id) if principal.token_id else None
    if token is None:
        raise NotFound("This request was not made with a revocable token.")
    token.revoked_at = utcnow()
    record("auth.logout", actor=principal, object_type="official", object_id=principal.id)
    db.session.commit()


def authenticate(bearer: str, *, now: datetime | None = None) -> Principal | None:
    """The principal behind a bearer credential, or None when it is unknown, expired or revoked."""
    now = now or utcnow()
    digest = _sha256(bearer)
    if bearer.startswith(API_KEY_PREFIX):
        key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if key is None or key.revoked_at is not None:
            return None
        if key.last_used_at is None or key.last_used_at < now - KEY_USE_GRANULARITY:
            # Hourly is enough to see which keys are alive, and spares a write per request.
            key.last_used_at = now
            db.session.commit()
        return Principal(kind="api_key", id=key.id, name=key.name, scopes=frozenset(key.scopes))
    # The official comes in the same query: this runs before every request of a signed-in official.
    token = db.session.scalar(select(AuthToken).options(joinedload(AuthToken.official))
                              .where(AuthToken.token_hash == digest))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    official = token.official
    if not official.active:
        return None
    if token.last_used_at is None or token.last_used_at < now - SESSION_USE_GRANULARITY:
        token.last_used_at = now
        db.session.commit()
        official = token.official
    principal = official_principal(official, token.id)
    if token.method == "password" and not token.second_factor and is_required(official.role):
        principal = replace(principal, second_factor_missing=True)
    return principal


def permissions_of(principal: Principal) -> list[str]:
    return sorted(permission for permission in PERMISSIONS if principal.may(permission))


def describe(principal: Principal) -> dict:
    """What the caller may do, and on which lines, for ``/auth/me``."""
    from ..lines.logic import visible_line_ids

    lines = visible_line_ids(principal) if principal.is_official else None
    return {"kind": principal.kind, "id": principal.id, "name": principal.name,
            "role": principal.role, "scopes": sorted(principal.scopes),
            "permissions": permissions_of(principal),
            "service_line_ids": None if lines is None else sorted(lines),
            "second_factor_missing": principal.second_factor_missing}


def create_api_key(*, actor: Principal, name: str, scopes: list[str]) -> tuple[str, ApiKey]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed("Unknown or missing scopes.",
                               errors={"scopes": [f"Choose from: {', '.join(SCOPES)}."]})
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=_sha256(raw), scopes=sorted(set(scopes)),
                 created_by_id=actor.id if actor.is_official else None)
    db.session.add(key)
    db.session.flush()
    record("api_key.created", actor=actor, object_type="api_key", object_id=key.id,
           details={"scopes": key.scopes})
    db.session.commit()
    return raw, key


def list_api_keys(*, page: int, page_size: int, include_revoked: bool):
    from ..pagination import paginate

    query = select(ApiKey).order_by(ApiKey.id.desc())
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return paginate(query, page=page, page_size=page_size)


def revoke_api_key(*, actor: Principal, key_id: int) -> None:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record("api_key.revoked", actor=actor, object_type="api_key", object_id=key.id)
        db.session.commit()
