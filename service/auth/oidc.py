"""Signing in at an OpenID Connect provider: the authorization code flow with PKCE (Authlib's
client does discovery, state, nonce, the code exchange and the ID token's signature and claims),
then the official matched by one configured claim, and the provider's logouts.

The state, nonce and PKCE verifier wait in Flask's signed session cookie between the redirect to
the provider and its return, so a callback only completes in the browser that started it.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from ..audit.logic import record
from ..db_types import utcnow
from ..errors import BadRequest, NotFound
from ..extensions import db
from .logic import NO_PASSWORD, issue_token, official_principal
from .models import AuthToken, Official
from .permissions import GRANTABLE, ROLES

log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/v1/auth/oidc/callback"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
PROVIDER_TIMEOUT_SECONDS = 10


class SignInRefused(Exception):
    """The provider's answer does not sign anyone in; ``code`` tells the console why."""

    def __init__(self, code: str, official_id: int | None = None):
        super().__init__(code)
        self.code = code
        self.official_id = official_id


def role_map(raw: str | None) -> list[tuple[str, str]]:
    pairs = []
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        value, sep, role = item.rpartition("=")
        if not sep or not value.strip() or role.strip() not in ROLES:
            raise RuntimeError(f"OIDC_ROLE_MAP: {item.strip()!r} is not value=role with a known role")
        pairs.append((value.strip(), role.strip()))
    return pairs


def install(app: Flask) -> None:
    """Register the provider when OIDC_ISSUER is set. Discovery is read at the first sign-in, so
    the service starts while the provider is unreachable."""
    app.extensions["oidc_role_map"] = role_map(app.config.get("OIDC_ROLE_MAP"))
    issuer = app.config.get("OIDC_ISSUER")
    if not issuer:
        return
    if not app.config.get("OIDC_CLIENT_ID"):
        raise RuntimeError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not")
    # The sign-in's own cookie (see NoCookieSessions): sent back on the provider's top-level
    # redirect (Lax), to the single sign-on endpoints only.
    app.config.update(SESSION_COOKIE_NAME="sign_in", SESSION_COOKIE_PATH="/api/v1/auth/oidc/",
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)
    app.config["SESSION_COOKIE_SECURE"] = (app.config.get("PUBLIC_BASE_URL") or "").startswith("https:")
    oauth = OAuth(app)
    oauth.register(
        "provider",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": app.config["OIDC_SCOPES"], "code_challenge_method": "S256",
                       "default_timeout": PROVIDER_TIMEOUT_SECONDS},
    )
    app.extensions["oidc_client"] = oauth.provider


def _client():
    client = current_app.extensions.get("oidc_client")
    if client is None:
        raise NotFound("Single sign-on is not configured here (OIDC_ISSUER).")
    return client


def redirect_uri() -> str:
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return base + CALLBACK_PATH


def start():
    """The redirect to the provider's authorization endpoint, with state, nonce and PKCE."""
    return _client().authorize_redirect(redirect_uri(), nonce=secrets.token_urlsafe(24))


def _finish_url(fragment: dict) -> str:
    return current_app.config["OIDC_AFTER_SIGN_IN_URL"] + "#" + urlencode(fragment)


def finish(*, client: str | None) -> str:
    """Complete the sign-in the provider sent the browser back from; returns where the browser
    goes next: the console, with the new token or the reason for refusal in the fragment (which
    browsers never send to a server)."""
    try:
        raw, token = _complete(client=client)
    except SignInRefused as refused:
        record("auth.oidc_login_failed", actor=None, object_type="official" if refused.official_id else None,
               object_id=refused.official_id, details={"reason": refused.code})
        db.session.commit()
        return _finish_url({"sign_in_error": refused.code})
    return _finish_url({"access_token": raw, "expires_at": token.expires_at.isoformat()})


def _complete(*, client: str | None) -> tuple[str, AuthToken]:
    from flask import request

    if request.args.get("error"):
        # The official cancelled, or the provider refused them (e.g. disabled there).
        raise SignInRefused("provider-refused")
    try:
        answer = _client().authorize_access_token(leeway=current_app.config["CLOCK_SKEW_SECONDS"])
    except OSError:  # the HTTP client's connection errors and timeouts are OSErrors
        log.warning("the OpenID provider could not be reached to complete a sign-in")
        raise SignInRefused("provider-unreachable") from None
    except (AuthlibBaseError, JoseError, ValueError) as error:
        # A forged or replayed answer, a wrong nonce, a foreign signature, an expired token.
        log.warning("an OpenID sign-in was refused: %s", type(error).__name__)
        raise SignInRefused("invalid-id-token") from None
    claims = answer.get("userinfo")
    if not claims:
        raise SignInRefused("invalid-id-token")
    official = _match(claims)
    now = utcnow()
    expires_at = now + timedelta(seconds=current_app.config["TOKEN_TTL_SECONDS"])
    # Never beyond the provider's own word: when the ID token expires, the console goes back to
    # the provider, which signs the official in again only while they are still allowed there.
    expires_at = min(expires_at, datetime.fromtimestamp(int(claims["exp"]), tz=timezone.utc))
    raw, token = issue_token(official, method="oidc", second_factor=False, expires_at=expires_at,
                             client=client, oidc_sid=_text(claims.get("sid")), now=now)
    record("auth.login", actor=official_principal(official, token.id), object_type="official",
           object_id=official.id, details={"method": "oidc"})
    db.session.commit()
    return raw, token


def _text(value) -> str | None:
    return value[:255] if isinstance(value, str) and value else None


def _mapped_role(claims: dict) -> str | None:
    """The role the provider's groups or roles give, or None when no mapping is configured."""
    pairs = current_app.extensions["oidc_role_map"]
    claim = current_app.config.get("OIDC_ROLES_CLAIM")
    if not (pairs and claim):
        return None
    values = claims.get(claim) or []
    values = {values} if isinstance(values, str) else {v for v in values if isinstance(v, str)}
    for value, role in pairs:
        if value in values:
            return role
    raise SignInRefused("no-role")


def _match(claims: dict) -> Official:
    subject = _text(claims.get(current_app.config["OIDC_SUBJECT_CLAIM"]))
    if subject is None:
        raise SignInRefused("subject-claim-missing")
    official = db.session.scalar(select(Official).where(Official.oidc_subject == subject))
    if official is None:
        return _create(claims, subject)
    if not official.active:
        raise SignInRefused("deactivated", official.id)
    try:
        role = _mapped_role(claims)
    except SignInRefused as refused:
        refused.official_id = official.id
        raise
    if role is not None and role != official.role:
        # Applied at every sign-in: a change at the provider (someone moved, or left a group)
        # takes effect here at the next sign-in, as the authority manages it centrally.
        record("official.updated", actor=None, object_type="official", object_id=official.id,
               details={"fields": ["role"], "source": "oidc", "role": role})
        official.role = role
        if role != "supervisor":
            official.limited_to_lines = False
        if role not in GRANTABLE["customers.link"]:
            official.may_link_customers = False
    return official


def _create(claims: dict, subject: str) -> Official:
    if not current_app.config["OIDC_CREATE_OFFICIALS"]:
        raise SignInRefused("unknown-subject")
    role = _mapped_role(claims)
    if role is None or role == "inspector":
        # An inspector needs lines, which the provider does not give.
        raise SignInRefused("unknown-subject")
    name = _text(claims.get("name")) or subject
    username = f"oidc-{secrets.token_hex(6)}"
    official = Official(username=username, password_hash=NO_PASSWORD, role=role, name=name[:200],
                        oidc_subject=subject)
    db.session.add(official)
    db.session.flush()
    record("official.created", actor=None, object_type="official", object_id=official.id,
           details={"role": role, "source": "oidc"})
    return official


def _provider_keys() -> KeySet:
    client = _client()
    client.load_server_metadata()
    return KeySet.import_key_set(client.fetch_jwk_set(force=True))


def backchannel_logout(logout_token: str) -> int:
    """End the sessions a provider's signed logout token names (OpenID Connect Back-Channel
    Logout 1.0): its `sid`, or every single sign-on session of its `sub`."""
    client = _client()
    metadata = client.load_server_metadata()
    try:
        decoded = jwt.decode(logout_token, _provider_keys())
        claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": current_app.config["OIDC_CLIENT_ID"]},
            iat={"essential": True},
            leeway=current_app.config["CLOCK_SKEW_SECONDS"],
        )
        claims.validate(decoded.claims)
    except (JoseError, ValueError):
        raise BadRequest("The logout token is not valid.", code="invalid-logout-token") from None
    payload = decoded.claims
    events = payload.get("events") if isinstance(payload.get("events"), dict) else {}
    too_old = payload["iat"] < time.time() - 2 * current_app.config["CLOCK_SKEW_SECONDS"] - 300
    if BACKCHANNEL_EVENT not in events or "nonce" in payload or too_old or not (payload.get("sid") or payload.get("sub")):
        raise BadRequest("The logout token is not valid.", code="invalid-logout-token")
    return _end(sid=_text(payload.get("sid")), subject_claims=payload)


def frontchannel_logout(*, issuer: str | None, sid: str | None) -> int:
    metadata = _client().load_server_metadata()
    if not sid or (issuer and issuer != metadata["issuer"]):
        raise BadRequest("Give the provider's `iss` and `sid`.")
    return _end(sid=sid[:255], subject_claims={})


def _end(*, sid: str | None, subject_claims: dict) -> int:
    conditions = [AuthToken.method == "oidc", AuthToken.revoked_at.is_(None)]
    if sid:
        conditions.append(AuthToken.oidc_sid == sid)
    else:
        # The logout token's `sub` is the provider's subject; it identifies our official only
        # when the configured claim is `sub` itself.
        if current_app.config["OIDC_SUBJECT_CLAIM"] != "sub":
            return 0
        official = db.session.scalar(select(Official).where(Official.oidc_subject == _text(subject_claims.get("sub"))))
        if official is None:
            return 0
        conditions.append(AuthToken.official_id == official.id)
    officials = set(db.session.scalars(select(AuthToken.official_id).where(*conditions)))
    ended = db.session.execute(update(AuthToken).where(*conditions).values(revoked_at=utcnow())).rowcount
    for official_id in sorted(officials):
        record("auth.provider_logout", actor=None, object_type="official", object_id=official_id)
    db.session.commit()
    return ended
