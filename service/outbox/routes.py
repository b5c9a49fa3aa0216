from flask import current_app, request

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..errors import ValidationFailed
from . import logic
from .delivery import enqueue_delivery
from .schemas import ReplyIn, ReplyOut

blp = Blueprint("replies", __name__, url_prefix="/api/v1/cases",
                description="Replies to the customer on the case's channel, delivered through the outbox")

MAX_KEY_LENGTH = 128


@blp.route("/<int:case_id>/replies", methods=["POST"])
@blp.requires("cases.write")
@blp.arguments(ReplyIn)
@blp.response(201, ReplyOut)
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                      "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
                      "description": "Retries with the same key return the first reply; nothing is sent twice"}])
def send_reply(data, case_id):
    """Reply to the customer; the message is queued and delivered by a job"""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH):
        raise ValidationFailed("The Idempotency-Key header must be 1 to 128 characters.",
                               errors={"Idempotency-Key": ["1 to 128 characters."]})
    result = logic.send_reply(actor=current_principal(), case_id=case_id, idempotency_key=key,
                              mail_domain=current_app.config["MAIL_DOMAIN"], **data)
    if not result.replayed:
        enqueue_delivery(result.outbox.id)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return {"contact": result.contact, "delivery": result.outbox}, 201, headers
