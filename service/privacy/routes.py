import json

from flask import Response, current_app, send_file

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..pagination import page_schema
from ..storage import get_storage
from . import logic
from .export import build_export, write_zip
from .schemas import CompleteIn, ExportQuery, ExtendIn, PrivacyRequestIn, PrivacyRequestOut, PrivacyRequestQuery, WithholdIn

blp = Blueprint("privacy", __name__, url_prefix="/api/v1/privacy",
                description="Data-subject requests: every right, answered within its deadline")

RequestPage = page_schema(PrivacyRequestOut, "PrivacyRequestPage")


@blp.route("/requests", methods=["POST"])
@blp.requires("privacy.manage")
@blp.arguments(PrivacyRequestIn)
@blp.response(201, PrivacyRequestOut)
def register_request(data):
    """Register a request; it is due one month from receipt"""
    return logic.register(actor=current_principal(), **data)


@blp.route("/requests", methods=["GET"])
@blp.requires("privacy.manage")
@blp.arguments(PrivacyRequestQuery, location="query")
@blp.response(200, RequestPage)
def list_requests(args):
    """Requests by due date; `overdue=true` for those past it"""
    return logic.list_requests(actor=current_principal(), **args)


@blp.route("/requests/<int:request_id>", methods=["GET"])
@blp.requires("privacy.manage")
@blp.response(200, PrivacyRequestOut)
def get_request(request_id):
    """A request"""
    return logic.read_request(actor=current_principal(), request_id=request_id)


@blp.route("/requests/<int:request_id>/extend", methods=["POST"])
@blp.requires("privacy.manage")
@blp.arguments(ExtendIn)
@blp.response(200, PrivacyRequestOut)
def extend_request(data, request_id):
    """Extend the deadline once, by one or two months, before it passes: with the reasons and when and how
    the person was told"""
    return logic.extend(actor=current_principal(), request_id=request_id, **data)


@blp.route("/requests/<int:request_id>/complete", methods=["POST"])
@blp.requires("privacy.manage")
@blp.arguments(CompleteIn)
@blp.response(200, PrivacyRequestOut)
def complete_request(data, request_id):
    """Mark the request answered; erasure, objection and portability with the legal reason given"""
    return logic.complete(actor=current_principal(), request_id=request_id, **data)


@blp.route("/requests/<int:request_id>/withhold", methods=["POST"])
@blp.requires("privacy.manage")
@blp.arguments(WithholdIn)
@blp.response(200, PrivacyRequestOut)
def withhold_item(data, request_id):
    """Keep an item out of the access export, with the legal reason"""
    return logic.withhold(actor=current_principal(), request_id=request_id, **data)


@blp.route("/requests/<int:request_id>/export", methods=["GET"])
@blp.requires("privacy.manage")
@blp.arguments(ExportQuery, location="query")
@blp.response(200, description="The export as JSON, or a ZIP of export.json with the attachments' and "
                                "recordings' files (`format=zip`)",
              content_type="application/json")
@blp.alt_response(200, description="ZIP archive", content_type="application/zip", success=True)
def export(args, request_id):
    """Everything held about the subject (audited)"""
    document, files = build_export(actor=current_principal(), request_id=request_id,
                                   region=current_app.config["DEFAULT_PHONE_REGION"])
    if args["format"] == "json":
        return Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    archive = write_zip(document, files, get_storage(), current_app.extensions.get("recording_fetcher"))
    return send_file(archive, mimetype="application/zip",
                     as_attachment=True, download_name=f"access-request-{request_id}.zip")
