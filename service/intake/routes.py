import secrets

from flask import current_app

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..ratelimit import limit_per_client
from ..storage import get_storage
from . import calls, logic, webform
from .message import InboundAttachment, InboundMessage, Sender
from .schemas import InboundCallIn, InboundCallOut, IntakeOut, InboundMessageIn, ReceivedOut, WebFormIn

blp = Blueprint("inbound", __name__, url_prefix="/api/v1/inbound",
                description="Inbound contacts posted by integrations (API key with scope `intake`)")


@blp.route("/messages", methods=["POST"])
@blp.requires("intake.post")
@blp.arguments(InboundMessageIn)
@blp.response(201, IntakeOut, description="A new contact was stored")
@blp.alt_response(200, schema=IntakeOut, success=True,
                  description="This (channel, external_id) was received before; nothing new was stored")
def post_message(data):
    """Post an inbound contact (email, SMS, chat, phone call, web form)"""
    sender = data["sender"]
    message = InboundMessage(
        channel=data["channel"], external_id=data["external_id"],
        sender=Sender(phone=sender.get("phone"), email=sender.get("email"), name=sender.get("name")),
        to=data.get("to"), subject=data.get("subject"), body=data.get("body"),
        received_at=data.get("received_at"), language=data.get("language"),
        attachments=tuple(InboundAttachment(a["filename"], a["content_type"], a["content"])
                          for a in data["attachments"]),
        started_at=data.get("started_at"), answered_at=data.get("answered_at"),
        ended_at=data.get("ended_at"), queue_seconds=data.get("queue_seconds"),
    )
    result = logic.receive(message, actor=current_principal(), settings=logic.IntakeSettings.from_config(current_app.config),
                           storage=get_storage())
    return result, 200 if result.duplicate or result.ignored else 201


@blp.route("/calls", methods=["POST"])
@blp.requires("calls.report")
@blp.arguments(InboundCallIn)
@blp.response(201, InboundCallOut, description="A new call was stored")
@blp.alt_response(200, schema=InboundCallOut, success=True,
                  description="This external_id was reported before; nothing new was stored")
def post_call(data):
    """Report a call from a switchboard (inbound, or made by an official), with its times"""
    result = calls.report_call(data, actor=current_principal(),
                               settings=logic.IntakeSettings.from_config(current_app.config),
                               storage=get_storage(),
                               recording_retention_days=current_app.config["RECORDING_RETENTION_DAYS"])
    return result, 200 if result.duplicate or result.ignored else 201


@blp.route("/webform", methods=["POST"])
@blp.public
@blp.arguments(WebFormIn)
@blp.response(202, ReceivedOut, description="Received (the answer is the same for every submission)")
@blp.alt_response(429, description="Too many submissions from this address")
def post_webform(data):
    """The authority's contact form (public; rate-limited per client address)"""
    limit_per_client("webform", per_minute=current_app.config["PUBLIC_RATE_LIMIT_PER_MINUTE"])
    if data.get("website"):
        # A bot filled the hidden field: store nothing, and answer as if all went well.
        return {"received": True}
    webform.land_submission("webform-" + (data.get("submission_id") or secrets.token_hex(16)), data)
    return {"received": True}
