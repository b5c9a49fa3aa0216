from flask import current_app, send_file

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from ..storage import get_storage
from . import attachments, logic, merging, outbound_calls, scanning
from .merge_schemas import MergeIn, MergeList, MergeOut, MergeRecordOut, SplitIn
from .schemas import (AttachmentOut, AttachmentRelease, AttachmentUpload, CaseHitOut, CaseIn, CaseOut, CaseQuery,
                      CaseSearchQuery, CaseSummaryOut,
                      CaseUpdate, ContactIn, ContactOut, NoteIn, NoteOut)

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases",
                description="Cases: contacts, notes, attachments, and their life from new to closed")

CasePage = page_schema(CaseSummaryOut, "CasePage")
CaseHitPage = page_schema(CaseHitOut, "CaseHitPage")


@blp.route("", methods=["GET"])
@blp.requires("cases.read")
@blp.arguments(CaseQuery, location="query")
@blp.response(200, CasePage)
def list_cases(args):
    """List cases, newest first, with filters and free-text search"""
    return logic.list_cases(actor=current_principal(), region=current_app.config["DEFAULT_PHONE_REGION"],
                            **args)


@blp.route("/search", methods=["GET"])
@blp.requires("cases.read")
@blp.arguments(CaseSearchQuery, location="query")
@blp.response(200, CaseHitPage)
def search_cases(args):
    """Search everything on the cases you may see, best match first, with the matching text"""
    return logic.search_cases(actor=current_principal(), region=current_app.config["DEFAULT_PHONE_REGION"],
                              similar_timeout_ms=current_app.config["SEARCH_SIMILAR_TIMEOUT_MS"], **args)


@blp.route("", methods=["POST"])
@blp.requires("cases.write")
@blp.arguments(CaseIn)
@blp.response(201, CaseOut)
def open_case(data):
    """Open a case by hand (e.g. an internal service request)"""
    return logic.open_case(actor=current_principal(), data=data,
                           region=current_app.config["DEFAULT_PHONE_REGION"])


@blp.route("/<int:case_id>", methods=["GET"])
@blp.requires("cases.read")
@blp.response(200, CaseOut)
def get_case(case_id):
    """A case with its customer, contact timeline, notes and attachments"""
    return logic.get_case(actor=current_principal(), case_id=case_id)


@blp.route("/<int:case_id>", methods=["PATCH"])
@blp.requires("cases.write")
@blp.arguments(CaseUpdate(partial=True))
@blp.response(200, CaseOut)
def update_case(data, case_id):
    """Change assignee, language, topic, subject, question, answer or waiting status"""
    return logic.update_case(actor=current_principal(), case_id=case_id, data=data)


@blp.route("/<int:case_id>/notes", methods=["POST"])
@blp.requires("cases.write")
@blp.arguments(NoteIn)
@blp.response(201, NoteOut)
def add_note(data, case_id):
    """Add an official's note"""
    return logic.add_note(actor=current_principal(), case_id=case_id, body=data["body"])


@blp.route("/<int:case_id>/contacts", methods=["POST"])
@blp.requires("cases.write")
@blp.arguments(ContactIn)
@blp.response(201, ContactOut)
def log_contact(data, case_id):
    """Log a contact by hand, e.g. a phone call with its times"""
    return logic.log_contact(actor=current_principal(), case_id=case_id, data=data)


@blp.route("/<int:case_id>/attachments", methods=["POST"])
@blp.requires("cases.write")
@blp.arguments(AttachmentUpload, location="files")
@blp.response(201, AttachmentOut)
def add_attachment(files, case_id):
    """Attach a file (multipart/form-data, field `file`)"""
    upload = files["file"]
    try:
        content = upload.read(current_app.config["MAX_ATTACHMENT_BYTES"] + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file: it goes now, not at collection
    return attachments.add_attachment(
        actor=current_principal(), storage=get_storage(), case_id=case_id, filename=upload.filename,
        content_type=upload.mimetype, content=content, max_bytes=current_app.config["MAX_ATTACHMENT_BYTES"],
    )


add_attachment.accepts_content_types = ("multipart/form-data",)


@blp.route("/<int:case_id>/attachments/<int:attachment_id>", methods=["GET"])
@blp.requires("cases.read")
@blp.response(200, description="The file, as an attachment download",
              content_type="application/octet-stream")
def download_attachment(case_id, attachment_id):
    """Download an attachment"""
    attachment = attachments.get_attachment(actor=current_principal(), case_id=case_id,
                                            attachment_id=attachment_id)
    return send_file(get_storage().open(attachment.storage_key), mimetype=attachment.content_type,
                     as_attachment=True, etag=attachment.sha256,
                     download_name=attachments.download_name(attachment.filename, attachment.content_type))


@blp.route("/<int:case_id>/attachments/<int:attachment_id>/release", methods=["POST"])
@blp.requires("attachments.release")
@blp.arguments(AttachmentRelease)
@blp.response(200, AttachmentOut)
def release_attachment(data, case_id, attachment_id):
    """Release a file the malware scanner could not scan, so it can be opened (audited, with the reason)"""
    return scanning.release(actor=current_principal(), case_id=case_id, attachment_id=attachment_id,
                            reason=data["reason"])


@blp.route("/<int:case_id>/calls", methods=["POST"])
@blp.requires("cases.write")
@blp.response(201, ContactOut)
def call_customer(case_id):
    """Call the customer through the phone system; the call is recorded per the line's policy"""
    return outbound_calls.start_call(actor=current_principal(), case_id=case_id,
                                     placer=current_app.extensions.get("call_placer"))


@blp.route("/<int:case_id>/close", methods=["POST"])
@blp.requires("cases.write")
@blp.response(200, CaseOut)
def close_case(case_id):
    """Close the case; this starts its retention clock"""
    return logic.close_case(actor=current_principal(), case_id=case_id,
                            default_retention_days=current_app.config["CASE_RETENTION_DAYS"])


@blp.route("/<int:case_id>/reopen", methods=["POST"])
@blp.requires("cases.write")
@blp.response(200, CaseOut)
def reopen_case(case_id):
    """Reopen a closed case; this stops its retention clock"""
    return logic.reopen_case(actor=current_principal(), case_id=case_id)


@blp.route("/<int:case_id>/merge", methods=["POST"])
@blp.requires("cases.merge")
@blp.arguments(MergeIn)
@blp.response(200, MergeOut)
def merge_case(data, case_id):
    """Merge this case into another: everything on it moves there, and its reference becomes an alias"""
    return merging.merge_cases(actor=current_principal(), case_id=case_id, into_case_id=data["into_case_id"],
                               dry_run=data["dry_run"],
                               default_retention_days=current_app.config["CASE_RETENTION_DAYS"])


@blp.route("/<int:case_id>/split", methods=["POST"])
@blp.requires("cases.merge")
@blp.arguments(SplitIn)
@blp.response(200, MergeOut)
def split_case(data, case_id):
    """Move chosen contacts, with their files, chats and messages, to a new case"""
    return merging.split_case(actor=current_principal(), case_id=case_id, contact_ids=data["contact_ids"],
                              dry_run=data["dry_run"])


@blp.route("/<int:case_id>/merges", methods=["GET"])
@blp.requires("cases.read")
@blp.response(200, MergeList)
def list_merges(case_id):
    """The merges and splits this case took part in, newest first"""
    return {"items": merging.merges_of(actor=current_principal(), case_id=case_id)}


@blp.route("/merges/<int:merge_id>/undo", methods=["POST"])
@blp.requires("cases.merge")
@blp.response(200, MergeRecordOut)
def undo_merge(merge_id):
    """Split a merged case back out of the case it was merged into"""
    return merging.undo_merge(actor=current_principal(), merge_id=merge_id,
                              default_retention_days=current_app.config["CASE_RETENTION_DAYS"])
