from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from . import logic
from .actions import ACTIONS
from .schemas import AuditActionsOut, AuditEntryOut, AuditQuery

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="The audit log: who read or changed which personal data")

AuditPage = page_schema(AuditEntryOut, "AuditPage")


@blp.route("", methods=["GET"])
@blp.requires("audit.read")
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditPage)
def list_audit_entries(args):
    """Audit entries, newest first"""
    return logic.list_entries(actor=current_principal(), **args)


@blp.route("/actions", methods=["GET"])
@blp.requires("audit.read")
@blp.response(200, AuditActionsOut)
def list_audit_actions():
    """Every action the audit log records, so a client can offer them as a filter"""
    return {"items": sorted(ACTIONS)}
