from flask import current_app

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from . import logic
from .schemas import ServiceLineIn, ServiceLineOut, ServiceLineQuery, ServiceLineUpdate

blp = Blueprint("service_lines", __name__, url_prefix="/api/v1/service-lines",
                description="Service lines (registers): addresses, language, retention and recording policy")

ServiceLinePage = page_schema(ServiceLineOut, "ServiceLinePage")


def _region() -> str:
    return current_app.config["DEFAULT_PHONE_REGION"]


@blp.route("", methods=["GET"])
@blp.requires("service_lines.read")
@blp.arguments(ServiceLineQuery, location="query")
@blp.response(200, ServiceLinePage)
def list_service_lines(args):
    """List service lines"""
    return logic.list_lines(**args)


@blp.route("", methods=["POST"])
@blp.requires("service_lines.manage")
@blp.arguments(ServiceLineIn)
@blp.response(201, ServiceLineOut)
def create_service_line(data):
    """Create a service line"""
    return logic.create_line(actor=current_principal(), data=data, region=_region())


@blp.route("/<int:line_id>", methods=["GET"])
@blp.requires("service_lines.read")
@blp.response(200, ServiceLineOut)
def get_service_line(line_id):
    """Get a service line"""
    return logic.get_line(line_id)


@blp.route("/<int:line_id>", methods=["PATCH"])
@blp.requires("service_lines.manage")
@blp.arguments(ServiceLineUpdate(partial=True))
@blp.response(200, ServiceLineOut)
def update_service_line(data, line_id):
    """Change a service line; address lists given replace the old ones"""
    return logic.update_line(actor=current_principal(), line_id=line_id, data=data, region=_region())
