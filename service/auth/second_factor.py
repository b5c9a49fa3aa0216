"""The second factor of password sign-ins: TOTP (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, select, update

from ..audit.logic import record
from ..db_types import utcnow
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from .models import AuthToken, Official, RecoveryCode
from .permissions import ROLES, Principal

RECOVERY_CODES = 10
# Codes of the step before and after the current one are accepted too: phones' clocks drift.
TOTP_WINDOW_STEPS = 1


def required_roles(config) -> frozenset[str]:
    raw = (config.get("TWO_FACTOR_REQUIRED_ROLES") or "").strip()
    if raw.lower() == "none":
        return frozenset()
    roles = frozenset(r.strip() for r in raw.split(",") if r.strip())
    unknown = sorted(roles - set(ROLES))
    if unknown:
        raise RuntimeError(f"TWO_FACTOR_REQUIRED_ROLES names unknown roles: {', '.join(unknown)}")
    return roles


def is_required(role: str) -> bool:
    return role in current_app.extensions["two_factor_roles"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def matching_step(secret: str, code: str, *, now: datetime | None = None) -> int | None:
    """The time step whose code ``code`` is, within the window, or None."""
    code = _normalise(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    found = None
    for step in range(current - TOTP_WINDOW_STEPS, current + TOTP_WINDOW_STEPS + 1):
        # Every candidate is compared, so the time taken does not tell which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def accept_totp(official: Official, code: str, *, now: datetime | None = None) -> bool:
    """True once per code: the step is remembered, and a code of that step or an earlier one is
    refused, so a code seen over someone's shoulder cannot be replayed within its window."""
    if not official.totp_secret:
        return False
    step = matching_step(official.totp_secret, code, now=now)
    if step is None:
        return False
    # A conditional update: of two requests racing with one code, only one moves the step.
    moved = db.session.execute(
        update(Official).where(Official.id == official.id,
                               (Official.totp_last_step.is_(None)) | (Official.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)).rowcount
    if moved:
        official.totp_last_step = step
    return bool(moved)


def accept_recovery_code(official: Official, code: str) -> bool:
    digest = _sha256(_normalise(code))
    used = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.official_id == official.id, RecoveryCode.code_hash == digest,
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    return bool(used)


def recovery_codes_left(official_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.official_id == official_id, RecoveryCode.used_at.is_(None))) or 0


def status(principal: Principal) -> dict:
    official = db.session.get(Official, principal.id)
    return {"totp_enabled": official.totp_secret is not None,
            "enrolment_pending": official.totp_pending_secret is not None,
            "required": is_required(official.role),
            "recovery_codes_left": recovery_codes_left(official.id)}


def start_enrolment(principal: Principal) -> dict:
    """A new secret, pending until a code from it is confirmed. An enrolled factor stays in force
    meanwhile: replacing it takes the confirmation."""
    official = db.session.get(Official, principal.id)
    secret = pyotp.random_base32()
    official.totp_pending_secret = secret
    db.session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=official.username,
                                              issuer_name=current_app.config["TOTP_ISSUER"])
    return {"secret": secret, "otpauth_uri": uri,
            "qr_svg": segno.make(uri, error="m").svg_data_uri(scale=4, border=2)}


def _new_recovery_codes(official: Official) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.official_id == official.id))
    codes = [f"{secrets.token_hex(5)}-{secrets.token_hex(5)}" for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(official_id=official.id, code_hash=_sha256(_normalise(c))) for c in codes)
    return codes


def confirm_enrolment(principal: Principal, code: str) -> list[str]:
    """Turn the pending secret on with a code from it; returns new recovery codes (shown once).
    The session that confirmed has proved the factor, so it counts as a two-factor session."""
    official = db.session.get(Official, principal.id)
    if official.totp_pending_secret is None:
        raise Conflict("Start the enrolment first (POST /api/v1/auth/second-factor/totp).")
    step = matching_step(official.totp_pending_secret, code)
    if step is None:
        record("auth.second_factor_failed", actor=principal, object_type="official", object_id=official.id,
               details={"during": "enrolment"})
        db.session.commit()
        raise ValidationFailed("The code does not match.", errors={"code": ["Wrong or expired code."]})
    replaced = official.totp_secret is not None
    official.totp_secret, official.totp_pending_secret = official.totp_pending_secret, None
    official.totp_last_step = step
    codes = _new_recovery_codes(official)
    if principal.token_id:
        db.session.execute(update(AuthToken).where(AuthToken.id == principal.token_id).values(second_factor=True))
    record("auth.totp_enrolled", actor=principal, object_type="official", object_id=official.id,
           details={"replaced": replaced})
    db.session.commit()
    return codes


def _prove(official: Official, principal: Principal, code: str) -> None:
    """A code for a change of the factor. Wrong ones count towards the sign-in lockout of the
    official's username from this address: a stolen session must not be a way to guess codes."""
    from flask import request

    from ..errors import TooManyRequests
    from .logic import _count_failure
    from .models import LoginThrottle

    config = current_app.config
    now = utcnow()
    key = (official.username, (request.remote_addr or "")[:45])
    throttle = db.session.get(LoginThrottle, key)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        raise TooManyRequests("Too many wrong codes; try again later.",
                              headers={"Retry-After": str(int((throttle.locked_until - now).total_seconds()) + 1)})
    if not (accept_totp(official, code) or accept_recovery_code(official, code)):
        _count_failure(throttle, key, now=now, max_failures=config["LOGIN_MAX_FAILURES"],
                       lockout_seconds=config["LOGIN_LOCKOUT_SECONDS"])
        record("auth.second_factor_failed", actor=principal, object_type="official", object_id=official.id)
        db.session.commit()
        raise ValidationFailed("The code does not match.",
                               errors={"code": ["Give a current code or an unused recovery code."]})


def renew_recovery_codes(principal: Principal, code: str) -> list[str]:
    official = db.session.get(Official, principal.id)
    if official.totp_secret is None:
        raise Conflict("Enrol an authenticator app first.")
    _prove(official, principal, code)
    codes = _new_recovery_codes(official)
    record("auth.recovery_codes_renewed", actor=principal, object_type="official", object_id=official.id)
    db.session.commit()
    return codes


def remove_own(principal: Principal, code: str) -> None:
    official = db.session.get(Official, principal.id)
    if official.totp_secret is None:
        raise Conflict("No authenticator app is enrolled.")
    if is_required(official.role):
        raise Conflict("Your role requires a second factor; enrol a new app instead of removing it.")
    _prove(official, principal, code)
    _clear(official)
    record("auth.totp_removed", actor=principal, object_type="official", object_id=official.id)
    db.session.commit()


def reset_for(actor: Principal, official: Official) -> None:
    """An administrator's reset for an official who lost both the device and the recovery codes:
    their sessions end too, and a role that requires the factor enrols again at next sign-in."""
    from .sessions import revoke_all_of

    _clear(official)
    revoke_all_of(official.id)
    record("auth.totp_reset", actor=actor, object_type="official", object_id=official.id)
    db.session.commit()


def _clear(official: Official) -> None:
    official.totp_secret = official.totp_pending_secret = official.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.official_id == official.id))
