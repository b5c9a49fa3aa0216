from flask import current_app
from sqlalchemy import select

from ..auth.guard import current_principal
from ..db_types import utcnow
from ..errors import ValidationFailed
from ..blueprint import Blueprint
from ..extensions import db
from ..lines.logic import update_line
from ..lines.models import ServiceLine
from ..storage import get_storage
from . import logic
from .schemas import HoldIn, HoldOut, PolicyIn, PolicyList, PolicyOut, PurgeIn, PurgeOut

blp = Blueprint("retention", __name__, url_prefix="/api/v1/retention",
                description="Retention policies and the purge")
holds_blp = Blueprint("legal_holds", __name__, url_prefix="/api/v1/cases",
                      description="Legal holds keep a case and its recordings from the purge")


@blp.route("/policies", methods=["GET"])
@blp.requires("retention.manage")
@blp.response(200, PolicyList)
def list_policies():
    """Retention periods per service line, and the defaults"""
    config = current_app.config
    return {"default_case_retention_days": config["CASE_RETENTION_DAYS"],
            "default_recording_retention_days": config["RECORDING_RETENTION_DAYS"],
            "items": list(db.session.scalars(select(ServiceLine).order_by(ServiceLine.name)))}


@blp.route("/policies/<int:line_id>", methods=["PATCH"])
@blp.requires("service_lines.manage")
@blp.arguments(PolicyIn)
@blp.response(200, PolicyOut)
def update_policy(data, line_id):
    """Change a line's periods; the retention dates of what they cover are recomputed"""
    return update_line(actor=current_principal(), line_id=line_id, data=data,
                       region=current_app.config["DEFAULT_PHONE_REGION"])


@blp.route("/purge", methods=["POST"])
@blp.requires("retention.manage")
@blp.arguments(PurgeIn)
@blp.response(200, PurgeOut)
def run_purge(data):
    """Purge everything past its retention date now (or count it with dry_run)"""
    if not data["dry_run"] and data.get("as_of") and data["as_of"] > utcnow():
        # Deleting ahead of time is for an operator at the console, never for an API call.
        raise ValidationFailed("A purge that deletes cannot run as of a future time.",
                               errors={"as_of": ["Only a dry run may look ahead."]})
    return logic.purge(as_of=data.get("as_of"), dry_run=data["dry_run"], storage=get_storage(),
                       actor=current_principal(), settings=logic.PurgeSettings.from_app(current_app))


@holds_blp.route("/<int:case_id>/hold", methods=["POST"])
@holds_blp.requires("retention.manage")
@holds_blp.arguments(HoldIn)
@holds_blp.response(200, HoldOut)
def place_hold(data, case_id):
    """Place a legal hold on the case"""
    return logic.place_hold(actor=current_principal(), case_id=case_id, reason=data["reason"])


@holds_blp.route("/<int:case_id>/hold", methods=["DELETE"])
@holds_blp.requires("retention.manage")
@holds_blp.response(200, HoldOut)
def release_hold(case_id):
    """Release the legal hold"""
    return logic.release_hold(actor=current_principal(), case_id=case_id)
