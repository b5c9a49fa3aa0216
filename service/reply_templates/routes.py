from flask import current_app

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..pagination import page_schema
from . import logic
from .schemas import (CaseTemplatesQuery, FilledTemplateList, ReplyTemplateIn, ReplyTemplateOut, ReplyTemplateQuery,
                      ReplyTemplateUpdate)

blp = Blueprint("reply_templates", __name__, url_prefix="/api/v1/reply-templates",
                description="Reply templates per service line and language (administrators)")
case_blp = Blueprint("case_reply_templates", __name__, url_prefix="/api/v1/cases",
                     description="Reply templates filled in for a case (advisers)")

ReplyTemplatePage = page_schema(ReplyTemplateOut, "ReplyTemplatePage")


@blp.route("", methods=["GET"])
@blp.requires("reply_templates.manage")
@blp.arguments(ReplyTemplateQuery, location="query")
@blp.response(200, ReplyTemplatePage)
def list_reply_templates(args):
    """Templates, by line, language and title"""
    return logic.list_templates(**args)


@blp.route("", methods=["POST"])
@blp.requires("reply_templates.manage")
@blp.arguments(ReplyTemplateIn)
@blp.response(201, ReplyTemplateOut)
def create_reply_template(data):
    """Add a template to a line, in one language"""
    return logic.save_template(actor=current_principal(), data=data)


@blp.route("/<int:template_id>", methods=["GET"])
@blp.requires("reply_templates.manage")
@blp.response(200, ReplyTemplateOut)
def get_reply_template(template_id):
    """A template as written, with its variables"""
    return logic.get_template(template_id)


@blp.route("/<int:template_id>", methods=["PATCH"])
@blp.requires("reply_templates.manage")
@blp.arguments(ReplyTemplateUpdate(partial=True))
@blp.response(200, ReplyTemplateOut)
def update_reply_template(data, template_id):
    """Change a template, or set it inactive"""
    return logic.save_template(actor=current_principal(), data=data, template_id=template_id)


@blp.route("/<int:template_id>", methods=["DELETE"])
@blp.requires("reply_templates.manage")
@blp.response(204)
def delete_reply_template(template_id):
    """Delete a template"""
    logic.delete_template(actor=current_principal(), template_id=template_id)


@case_blp.route("/<int:case_id>/reply-templates", methods=["GET"])
@case_blp.requires("cases.read")
@case_blp.arguments(CaseTemplatesQuery, location="query")
@case_blp.response(200, FilledTemplateList)
def case_reply_templates(args, case_id):
    """The line's templates in the case's language, filled in from the case"""
    return {"items": logic.templates_for_case(actor=current_principal(), case_id=case_id,
                                              time_zone=current_app.config["STATS_TIME_ZONE"], **args)}
