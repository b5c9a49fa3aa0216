from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from . import logic
from .schemas import AuditEntryOut, AuditQuery

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
