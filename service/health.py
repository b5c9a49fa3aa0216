"""Liveness and readiness probes for load balancers and orchestrators."""

from flask import current_app
from sqlalchemy import text

from .blueprint import Blueprint
from .extensions import db
from .queue import redis_connection
from .version import __version__

blp = Blueprint("health", __name__, description="Liveness and readiness")


@blp.route("/healthz", methods=["GET"])
@blp.public
@blp.response(200, description="The process is up, and which version it runs")
def healthz():
    """Liveness: the process answers, with the service's version"""
    return {"status": "ok", "version": __version__}


@blp.route("/readyz", methods=["GET"])
@blp.public
@blp.response(200, description="Database (and Redis, when configured) reachable; `degraded` when only the "
                                "malware scanner is not")
@blp.alt_response(503, description="A dependency is unreachable")
def readyz():
    """Readiness: the database, and Redis when configured, answer; the malware scanner is reported"""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        db.session.rollback()
        checks["database"] = "unreachable"
    if current_app.config.get("REDIS_URL"):
        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unreachable"
    ok = all(v == "ok" for v in checks.values())
    scanner = current_app.extensions.get("malware_scanner")
    if scanner is not None:
        checks["malware_scanner"] = "ok" if scanner.ping() else "unreachable"
        if ok and checks["malware_scanner"] != "ok":
            # Reported, but the process stays in rotation: intake does not need the scanner
            # (files wait, pending), and taking every web process out would stop intake too.
            return {"status": "degraded", "checks": checks}, 200
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
