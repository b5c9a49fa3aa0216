"""Every setting the service reads, from environment variables, with safe defaults.

This is the only module that looks at ``os.environ``; everything else reads ``app.config``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields

from .version import __version__


def _env_str(name: str, default: str | None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Typed settings; ``as_flask_config`` turns them into Flask config keys."""

    # The embedded default: a SQLite file that Flask-SQLAlchemy places under instance/.
    DATABASE_URL: str = "sqlite:///case-backend.sqlite3"
    # PostgreSQL connections one process keeps, and the most it opens: a thread beyond them
    # waits for one. Python runs one core's worth of requests per process; more only queue there.
    DATABASE_POOL_SIZE: int = 5
    # Lists count their matches up to this many (or the end of the page asked for); past it
    # they answer "at least" (``total_exact`` false). Exact totals of a large queue cost every
    # poll an index scan of all of it.
    LIST_COUNT_UP_TO: int = 10_000
    # How long a search's fallback to similar words (PostgreSQL's trigrams, when the stems find
    # nothing) may take before it gives up and finds nothing: it weighs every text it reads.
    SEARCH_SIMILAR_TIMEOUT_MS: int = 2000
    # Unset: jobs run in-process; set: jobs go to RQ on this Redis.
    REDIS_URL: str | None = None
    SECRET_KEY: str = field(default_factory=lambda: secrets.token_hex(32))
    # Days a closed case is kept before the purge deletes it.
    CASE_RETENTION_DAYS: int = 365
    RECORDING_RETENTION_DAYS: int = 365
    # The audit log's own period; entries older than this are purged behind a chain checkpoint.
    AUDIT_RETENTION_DAYS: int = 5 * 365
    # Days an answered data-subject request keeps the person's name, phone, email and the
    # request's text: three years, the general limitation period for claims (velan
    # vanhentumisesta annettu laki 4 §), within which the person may dispute the answer.
    PRIVACY_REQUEST_RETENTION_DAYS: int = 3 * 365
    # Upper bound of any request body; the web server refuses more with 413.
    MAX_CONTENT_LENGTH: int = 25 * 1024 * 1024
    # Upper bound of one attachment after base64 decoding.
    MAX_ATTACHMENT_BYTES: int = 10 * 1024 * 1024
    # Malware scanning of attachments by ClamAV's clamd (see malware-scanning.md): its Unix
    # socket, or its host and port. Unset both: files are stored unscanned and nothing is scanned.
    CLAMD_SOCKET: str | None = None
    CLAMD_HOST: str | None = None
    CLAMD_PORT: int = 3310
    # How long one scan (or a readiness ping) may take before clamd counts as unreachable.
    CLAMD_TIMEOUT_SECONDS: int = 60
    # clamd's StreamMaxLength: a larger file is unscannable without being sent.
    CLAMD_MAX_BYTES: int = 25 * 1024 * 1024
    # Scanner errors about one file before it is unscannable; the wait before the next try
    # (also the wait after clamd was unreachable).
    SCAN_MAX_ATTEMPTS: int = 3
    SCAN_RETRY_SECONDS: int = 60
    # argon2id cost; the defaults are argon2-cffi's recommended ones.
    ARGON2_TIME_COST: int = 3
    ARGON2_MEMORY_KIB: int = 65536
    TOKEN_TTL_SECONDS: int = 8 * 3600
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_LOCKOUT_SECONDS: int = 15 * 60
    # 0: officials sign in through the OpenID provider only; POST /auth/token is refused.
    PASSWORD_SIGN_IN: int = 1
    # Roles whose password sign-ins need a second factor (comma-separated; "none": no role).
    TWO_FACTOR_REQUIRED_ROLES: str = "admin,privacy_officer"
    # The name authenticator apps show next to the code.
    TOTP_ISSUER: str = "Case backend"
    # OpenID Connect sign-in, on when OIDC_ISSUER is set (discovery is read from it).
    OIDC_ISSUER: str | None = None
    OIDC_CLIENT_ID: str | None = None
    OIDC_CLIENT_SECRET: str | None = None
    OIDC_SCOPES: str = "openid profile"
    # The ID token claim that identifies an official: Entra ID's `oid`, or `sub`. Never email.
    OIDC_SUBJECT_CLAIM: str = "sub"
    # The claim listing the official's groups or app roles, and "value=role" pairs mapping them
    # to roles (comma-separated; the first listed pair that matches wins). Applied at each sign-in.
    OIDC_ROLES_CLAIM: str | None = None
    OIDC_ROLE_MAP: str | None = None
    # 1: a subject not known here, whose roles claim maps to a role, becomes a new official.
    OIDC_CREATE_OFFICIALS: int = 0
    # Where the browser lands after signing in at the provider (the console).
    OIDC_AFTER_SIGN_IN_URL: str = "/console/"
    # How far into the future a given time (a contact's, a provider's signature timestamp) may
    # lie, for clocks that disagree a little; anything later is refused.
    CLOCK_SKEW_SECONDS: int = 300
    # An SMS or chat from a customer joins their open case on that line if it was active this recently.
    THREAD_WINDOW_DAYS: int = 30
    DEFAULT_PHONE_REGION: str = "FI"
    FILE_STORAGE_PATH: str | None = None
    LOG_LEVEL: str = "INFO"
    # "text" (key=value lines) or "json" (one object per line, for log collectors).
    LOG_FORMAT: str = "text"
    # Set for multi-process servers (gunicorn) so /metrics adds up every worker.
    PROMETHEUS_MULTIPROC_DIR: str | None = None
    # When set, /metrics wants it as a bearer token.
    METRICS_TOKEN: str | None = None
    # The externally visible base URL (scheme and host) that providers call and sign.
    PUBLIC_BASE_URL: str | None = None
    # Twilio; without an account and token, SMS goes to the console backend.
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_FROM_NUMBER: str | None = None
    TWILIO_MESSAGING_SERVICE_SID: str | None = None
    # Sent back to a customer whose SMS opened a new case; unset: no auto-reply.
    SMS_AUTO_REPLY: str | None = None
    # Answer to HELP/INFO/APUA/HJÄLP; unset: none (Twilio answers HELP on long codes itself).
    SMS_HELP_REPLY: str | None = None
    # Calls: the Twilio queue callers wait in, or a number to forward them to instead.
    VOICE_QUEUE_NAME: str = "asiakaspalvelu"
    VOICE_FORWARD_TO: str | None = None
    # Largest recording audio a switchboard may upload (PUT /api/v1/recordings/{id}/audio); it
    # raises MAX_CONTENT_LENGTH for that request alone.
    RECORDING_UPLOAD_MAX_BYTES: int = 64 * 1024 * 1024
    # 1: download recording audio from the phone system into FILE_STORAGE_PATH.
    VOICE_FETCH_RECORDINGS: int = 0
    # Where Twilio credentials are set, the purge also deletes Twilio's copy of each recording
    # and SMS it deletes (our period is the one the privacy notice promises). 0: keep them there.
    TWILIO_DELETE_RECORDINGS: int = 1
    TWILIO_DELETE_MESSAGES: int = 1
    # Played before a call that will be recorded, in the caller's language.
    RECORDING_NOTICE_FI: str = "Puhelu nauhoitetaan asiakaspalvelun laadun varmistamiseksi."
    RECORDING_NOTICE_SV: str = "Samtalet spelas in för att säkerställa kundtjänstens kvalitet."
    RECORDING_NOTICE_EN: str = "This call is recorded to ensure the quality of our service."
    # 1: download MMS media from the provider into FILE_STORAGE_PATH (else metadata only).
    SMS_FETCH_MEDIA: int = 0
    # Outbound email; without SMTP_HOST, email goes to the console backend.
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_STARTTLS: int = 1
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    MAIL_FROM: str = "asiakaspalvelu@localhost"
    # The right-hand side of the Message-IDs of our emails.
    MAIL_DOMAIN: str = "localhost"
    # Inbound email: HMAC key of the raw gateway endpoint, and the providers' secrets.
    EMAIL_WEBHOOK_SECRET: str | None = None
    MAILGUN_SIGNING_KEY: str | None = None
    # Largest inbound email accepted whole (attachments over MAX_ATTACHMENT_BYTES become metadata).
    EMAIL_MAX_MESSAGE_BYTES: int = 80 * 1024 * 1024
    SENDGRID_INBOUND_SECRET: str | None = None
    # Chat customers' tokens stop working after this long.
    CHAT_TOKEN_TTL_SECONDS: int = 4 * 3600
    # Public endpoints (chat start, web form): requests per client address per minute.
    PUBLIC_RATE_LIMIT_PER_MINUTE: int = 20
    # Chat long polls (`wait`) one web process lets wait at once, and of those from one chat
    # customer's address; any more are answered at once with Retry-After. Each waits in a server
    # thread: gunicorn.conf.py lowers the first to three quarters of a worker's threads.
    CHAT_WAITS_PER_PROCESS: int = 96
    CHAT_WAITS_PER_ADDRESS: int = 8
    # SMS feedback requests after a case closes.
    FEEDBACK_CHANNELS: str = "sms,phone"
    FEEDBACK_DELAY_SECONDS: int = 3600
    FEEDBACK_MIN_INTERVAL_DAYS: int = 30
    FEEDBACK_ANSWER_WINDOW_DAYS: int = 3
    FEEDBACK_TEMPLATE_FI: str = "Miten onnistuimme? Vastaa numerolla 1-5 (5 = erinomainen)."
    FEEDBACK_TEMPLATE_SV: str = "Hur lyckades vi? Svara med en siffra 1-5 (5 = utmärkt)."
    FEEDBACK_TEMPLATE_EN: str = "How did we do? Reply with a number 1-5 (5 = excellent)."
    # Statistics: the calendar days are this zone's; smaller counts are hidden.
    STATS_TIME_ZONE: str = "Europe/Helsinki"
    STATS_SUPPRESSION_THRESHOLD: int = 5
    # Calls answered within this many seconds count towards the service level.
    STATS_SERVICE_LEVEL_SECONDS: int = 60
    # The longest range one statistics request may cover.
    STATS_MAX_RANGE_DAYS: int = 3 * 366
    # Service clocks: a case whose next target is due within this many minutes is "due soon".
    SERVICE_CLOCK_SOON_MINUTES: int = 60
    OUTBOX_MAX_ATTEMPTS: int = 6
    # A worker that claimed a message and has not reported back by then is presumed gone.
    OUTBOX_LEASE_SECONDS: int = 300
    # How many drain jobs may deliver a backlog at once (about the number of worker processes),
    # and how many messages one claims at a time.
    OUTBOX_DRAIN_JOBS: int = 4
    OUTBOX_BATCH_SIZE: int = 50
    # How many messages of a batch one drain job sends at once. With the provider answering in
    # about 0.2 s, 4 jobs x 16 make about 300 messages/s, and 64 requests in flight stay below
    # the concurrent requests a Twilio account is allowed (more are answered 429 and retried).
    OUTBOX_SEND_CONCURRENCY: int = 16
    # How many jobs may turn landed inbound messages into contacts at once. Each takes batches
    # of up to 200; on one machine a second job only contends with the first for the same rows
    # and cores (bench.end_to_end), so raise it only with workers on more machines.
    INTAKE_JOBS: int = 1
    # Once a job has worked off everything due, it waits this long for more to land before it
    # looks again (0: it stops at once). A batch costs about as much as 25 messages in it, so
    # under steady traffic this turns batches of one or two into batches of dozens, for at
    # most this much longer before a contact is on the queue.
    INTAKE_GATHER_MS: int = 100
    # Embedded default only (no REDIS_URL): how often the in-process sweeper looks for due work.
    INPROCESS_SWEEP_SECONDS: int = 30

    def __post_init__(self):
        for name in ("OUTBOX_DRAIN_JOBS", "OUTBOX_BATCH_SIZE", "OUTBOX_SEND_CONCURRENCY", "INTAKE_JOBS",
                     "PRIVACY_REQUEST_RETENTION_DAYS", "DATABASE_POOL_SIZE", "LIST_COUNT_UP_TO",
                     "SEARCH_SIMILAR_TIMEOUT_MS", "SCAN_MAX_ATTEMPTS", "CLAMD_TIMEOUT_SECONDS"):
            if getattr(self, name) < 1:
                raise RuntimeError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.INTAKE_GATHER_MS <= 5000:
            raise RuntimeError(f"INTAKE_GATHER_MS must be from 0 to 5000, got {self.INTAKE_GATHER_MS}")

    @classmethod
    def from_environ(cls) -> "Settings":
        defaults = cls()
        values = {}
        for f in fields(cls):
            current = getattr(defaults, f.name)
            if isinstance(current, int) and not isinstance(current, bool):
                values[f.name] = _env_int(f.name, current)
            else:
                values[f.name] = _env_str(f.name, current)
        return cls(**values)

    def as_flask_config(self) -> dict:
        config = {f.name: getattr(self, f.name) for f in fields(self)}
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(self.DATABASE_URL)
        # hide_parameters: SQL errors would otherwise quote names, bodies and addresses.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "hide_parameters": True}
        return config


def postgresql_session_options() -> str:
    """The ``options`` of every PostgreSQL session the service opens: the operator's own
    (``PGOPTIONS``), then JIT compilation off. The service's statements are short; a search
    at a million cases is estimated above ``jit_above_cost`` and spent about 55 ms compiling
    for 50 ms of execution (docs/search.md)."""
    return f"{os.environ.get('PGOPTIONS', '')} -c jit=off".strip()


def normalise_database_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form operators paste and use psycopg 3 for it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


API_CONFIG = {
    "API_TITLE": "Case backend",
    # The OpenAPI info.version is the service's version; the path prefix /api/v1 is the API's.
    "API_VERSION": __version__,
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "Multichannel customer-service case backend. Every error is "
                "application/problem+json (RFC 9457). Authenticate with "
                "`Authorization: Bearer <token>` (officials) or an API key (integrations)."
            )
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            }
        },
    },
}
