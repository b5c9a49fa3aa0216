"""The application factory: the composition root of the web process and the workers."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Callable, Iterable

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.orm import configure_mappers
from werkzeug.routing import IntegerConverter, Rule

from .config import API_CONFIG, Settings
from .errors import UnsupportedMediaType, register_error_handlers
from .extensions import api, db, migrate
from .json_body import StrictJSONProvider
from .logs import configure_logging
from .metrics import init_metrics
from .schemas import MAX_ID
from .sqlite import configure_sqlite
from .inprocess import start_inprocess_sweeper
from .outbox.console import ConsoleSender
from .storage import FileStorage

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")))
_API_HEADERS = _HEADERS + tuple((name.lower(), name, value) for name, value in (
    ("Cache-Control", "no-store"), ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")))


def create_app(config: dict | None = None, plugins: Iterable[Callable[[Flask], None]] = ()) -> Flask:
    """Build the application. ``plugins`` install the channel adapters (webhooks, senders):
    the service itself never imports a concrete channel; ``wsgi.py`` passes them in."""
    app = Flask(__name__, instance_relative_config=True)
    app.url_rule_class = RuleBuiltOnFirstUse
    app.json = StrictJSONProvider(app)
    app.session_interface = NoCookieSessions()
    settings = Settings.from_environ()
    app.config.update(settings.as_flask_config())
    app.config.update(API_CONFIG)
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config and "SQLALCHEMY_DATABASE_URI" not in config:
            from .config import normalise_database_url
            app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["DATABASE_URL"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # Threaded web workers (gunicorn.conf.py) would otherwise open up to SQLAlchemy's 15 each.
        from .config import postgresql_session_options
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                                                   "pool_size": app.config["DATABASE_POOL_SIZE"], "max_overflow": 0,
                                                   "connect_args": {"options": postgresql_session_options()}}
    if app.config["LOG_FORMAT"] not in ("text", "json"):
        raise RuntimeError(f"LOG_FORMAT must be text or json, got {app.config['LOG_FORMAT']!r}")
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    from .auth.logic import configure_password_hashing
    configure_password_hashing(time_cost=app.config["ARGON2_TIME_COST"],
                               memory_kib=app.config["ARGON2_MEMORY_KIB"])
    from .auth.second_factor import required_roles
    app.extensions["two_factor_roles"] = required_roles(app.config)
    from .auth import oidc
    oidc.install(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    storage_root = app.config.get("FILE_STORAGE_PATH") or os.path.join(app.instance_path, "files")
    app.extensions["file_storage"] = FileStorage(storage_root)
    # Console backends until a channel plugin installs a real sender.
    app.extensions["senders"] = {"sms": ConsoleSender("sms"), "email": ConsoleSender("email")}
    # Channels that answer their webhook before processing register how to process (intake.envelopes).
    from .intake import webform

    app.extensions["inbound_handlers"] = {"webform": webform.LANDED}
    # Without Redis, landed messages are processed by a thread of the web process (not in the
    # webhook's request); tests process them in the request unless they ask for the thread.
    app.extensions["intake_in_thread"] = not app.config.get("REDIS_URL") and not app.config.get("TESTING")
    # Channels whose provider keeps copies register how to delete them (retention.ProviderCopy).
    app.extensions["provider_copy_deleters"] = {}
    from .chats.waits import WaitingRoom
    app.extensions["chat_waits"] = WaitingRoom(capacity=app.config["CHAT_WAITS_PER_PROCESS"],
                                               per_address=app.config["CHAT_WAITS_PER_ADDRESS"],
                                               redis_url=app.config.get("REDIS_URL"))

    from . import models  # noqa: F401  (complete metadata before anything uses it)
    from .feedback import logic as _feedback  # noqa: F401  (subscribes to case events)
    from .stats import recorder as _stats_recorder  # noqa: F401  (keeps the statistics facts on every flush)
    from .stats.logic import StatsSettings
    try:
        StatsSettings.from_config(app.config)
    except (ValueError, KeyError) as exc:  # zoneinfo's "not found" is a KeyError
        raise RuntimeError(f"STATS_TIME_ZONE is not a known time zone: {app.config['STATS_TIME_ZONE']!r}") from exc

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    api.init_app(app)
    register_error_handlers(app)
    _bound_path_ids(app)
    _register_blueprints(app)
    _register_request_hooks(app)
    from .audit import refusals
    refusals.install(app)
    init_metrics(app)
    from .cases.scanning import init_scanning
    init_scanning(app)
    for plugin in plugins:
        plugin(app)

    # Backrefs (Case.feedback_requests) exist only once the mappers are configured. SQLAlchemy
    # does that at the first query, so code that names a relationship before any query (the
    # statistics rebuild in a fresh CLI process) would find it missing. Every entry point
    # builds the application here: web, workers, cron and the command line.
    configure_mappers()

    from .cli import register_cli
    register_cli(app)
    start_inprocess_sweeper(app)
    return app


class NoCookieSessions(SecureCookieSessionInterface):
    """Every request authenticates with a token or a signature; nothing is kept in a cookie.
    Not opening Flask's signed-cookie session spares each request its serializer, and a
    cookie can never carry state into a request. The one exception is single sign-on: the
    state, nonce and PKCE verifier of a sign-in wait in a signed cookie, sent to its two
    endpoints only, between the redirect to the provider and the browser's return."""

    def _signing_in(self, request) -> bool:
        return request.path.startswith(OIDC_COOKIE_PATH)

    def open_session(self, app, request):
        if not self._signing_in(request):
            return None  # Flask then uses its null session, which refuses writes
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if isinstance(session, SecureCookieSession):
            return super().save_session(app, session, response)
        return None


OIDC_COOKIE_PATH = "/api/v1/auth/oidc/"


class RuleBuiltOnFirstUse(Rule):
    """A URL rule whose ``url_for`` builder is generated the first time it is used.

    Werkzeug generates and compiles Python code for two builders of every rule as the rule is
    added: some 35 ms of each application's start-up, for builders most rules never use
    (``url_for`` is called for a handful of routes). Matching requests is unaffected."""

    def _compile_builder(self, append_unknown: bool = True):
        attribute = "_build_unknown" if append_unknown else "_build"

        def build_then_replace(rule, *args, **kwargs):
            # Two threads may both get here; each installs an identical builder.
            built = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, attribute, built)
            return built(*args, **kwargs)

        return build_then_replace


class IdConverter(IntegerConverter):
    """``<int:...>`` path ids bounded to 64 bits: a larger number is a 404, not a driver error."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _bound_path_ids(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    api.register_converter(IdConverter, lambda _c: {"type": "integer", "minimum": 1, "maximum": MAX_ID})


def _register_blueprints(app: Flask) -> None:
    from . import health
    from .audit import routes as audit_routes
    from .auth import routes as auth_routes
    from .cases import routes as case_routes
    from .chats import routes as chat_routes
    from .clocks import routes as clock_routes
    from .customers import routes as customer_routes
    from .forwarding import routes as forwarding_routes
    from .intake import routes as intake_routes
    from .lines import routes as line_routes
    from .outbox import routes as outbox_routes
    from .privacy import routes as privacy_routes
    from .recordings import routes as recording_routes
    from .reply_templates import routes as reply_template_routes
    from .retention import routes as retention_routes
    from .stats import routes as stats_routes

    for blueprint in (health.blp, auth_routes.auth_blp, auth_routes.officials_blp,
                      auth_routes.api_keys_blp, line_routes.blp, case_routes.blp,
                      outbox_routes.blp, recording_routes.blp, chat_routes.blp, customer_routes.blp,
                      forwarding_routes.authorities_blp, forwarding_routes.forwarding_blp,
                      retention_routes.blp, retention_routes.holds_blp, privacy_routes.blp, intake_routes.blp,
                      audit_routes.blp, stats_routes.blp, reply_template_routes.blp, reply_template_routes.case_blp,
                      clock_routes.blp):
        api.register_blueprint(blueprint)

    from .console import blp as console_blp
    app.register_blueprint(console_blp)
    from .widget import blp as widget_blp
    app.register_blueprint(widget_blp)


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        purpose = request.headers.get("X-Purpose", "").strip()
        g.purpose = purpose[:200] or None

    @app.before_request
    def require_json_bodies():
        # A body in another format would be read as "no fields" and fail with a confusing
        # 422; say what is wrong instead.
        if request.method not in _BODY_METHODS or not request.path.startswith("/api/"):
            return None
        if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", ""):
            return None
        view = current_app.view_functions.get(request.endpoint)
        if view is None:
            return None
        accepted = getattr(view, "accepts_content_types", ("application/json",))
        if request.mimetype not in accepted:
            raise UnsupportedMediaType(
                f"Send the body as {' or '.join(accepted)} (got {request.mimetype or 'no content type'}).")
        return None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        path = request.path
        defaults = _API_HEADERS if path.startswith("/api/") and not path.startswith("/api/v1/docs") else _HEADERS
        # A view's own value wins. Read once: a setdefault per header scanned the list each time.
        present = {name.lower() for name, _ in headers.items()}
        for lowered, name, value in defaults:
            if lowered not in present:
                headers.add(name, value)
        return response
