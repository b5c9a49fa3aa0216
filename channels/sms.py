"""SMS over Twilio: the inbound and status webhooks, opt-out keywords, and the sender.

Twilio reads the answer to its inbound webhook as TwiML, and a text/plain answer would be sent
back to the customer as an SMS; so every answer here is XML, errors included where Twilio
could read them.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable

from flask import Flask, Response, current_app, request
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from service.blueprint import Blueprint
from service.customers.logic import set_sms_opt_out
from service.errors import BadRequest, Forbidden, ProblemSchema, PROBLEM_MIMETYPE
from service.extensions import api
from service.cases.remote_files import waiting_attachments
from service.intake import InboundMessage, RemoteMedia, Sender as MessageSender
from service.intake.envelopes import LandedChannel, land
from service.intake.processing import enqueue_processing
from service.intake.replays import first_use
from service.outbox.delivery import enqueue_delivery
from service.outbox.logic import queue_automatic_message, record_provider_status
from service.outbox.ports import Outgoing, PermanentFailure, SendResult, TemporaryFailure
from service.jobs import fetch_attachment
from service.queue import enqueue

from .twilio_signature import is_from_twilio

log = logging.getLogger(__name__)

# A message that is one of these words alone (any case, trailing punctuation ignored) is a
# request about SMS itself, not a matter for a case. Twilio's own English keywords, plus
# Finnish and Swedish ones.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
                        "LOPETA", "LOPPU", "SEIS", "SLUTA", "STOPP", "AVSLUTA"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "ALOITA", "JATKA", "BÖRJA", "STARTA"})
HELP_WORDS = frozenset({"HELP", "INFO", "APUA", "OHJE", "HJÄLP"})

_TRAILING = re.compile(r"[\s.!?]+$")

blp = Blueprint("twilio_sms", __name__, url_prefix="/webhooks/twilio",
                description="Twilio SMS webhooks (signed with X-Twilio-Signature)")

_FORM_DOC = {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "additionalProperties": {"type": "string"},
    "properties": {"MessageSid": {"type": "string"}, "From": {"type": "string"}, "To": {"type": "string"},
                   "Body": {"type": "string"}, "NumMedia": {"type": "string"}}}}}}
_STATUS_DOC = {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "additionalProperties": {"type": "string"},
    "properties": {"MessageSid": {"type": "string"}, "MessageStatus": {"type": "string"},
                   "ErrorCode": {"type": "string"}}}}}}


def keyword(body: str | None) -> str | None:
    word = _TRAILING.sub("", (body or "").strip()).upper()
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


_NO_REPLY = str(MessagingResponse())  # built once: most answers are this one


def twiml(reply: str | None = None) -> Response:
    if not reply:
        return Response(_NO_REPLY, status=200, mimetype="text/xml")
    response = MessagingResponse()
    response.message(reply)
    return Response(str(response), status=200, mimetype="text/xml")


def _check_signature() -> None:
    config = current_app.config
    if not is_from_twilio(config.get("TWILIO_AUTH_TOKEN"), config.get("PUBLIC_BASE_URL")):
        raise Forbidden("The request does not carry a valid Twilio signature.", code="invalid-signature")


def _media(form) -> tuple[RemoteMedia, ...]:
    try:
        count = min(int(form.get("NumMedia", "0") or 0), 10)
    except ValueError:
        count = 0
    media = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            media.append(RemoteMedia(url=url[:1000], content_type=form.get(f"MediaContentType{index}")))
    return tuple(media)


# What processing needs of Twilio's form; nothing else is kept while a message waits.
_KEPT = ("From", "To", "Body", "NumMedia")
_KEPT_PREFIXES = ("MediaUrl", "MediaContentType")


@blp.route("/sms", methods=["POST"])
@blp.public
@blp.doc(requestBody=_FORM_DOC, responses={
    "200": {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}},
})
@blp.alt_response(403, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description="Signature missing or invalid")
@blp.alt_response(400, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description="Not a Twilio message")
def inbound_sms():
    """Twilio's inbound message webhook. The message is stored as it arrived and answered at
    once; a job turns it into a contact on a case (the embedded default does so before it
    answers)."""
    _check_signature()
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid")
    sender = (form.get("From") or "").strip()
    if not sid or not sender:
        raise BadRequest("MessageSid and From are required.")
    config = current_app.config
    word = keyword(form.get("Body"))
    if word in ("STOP", "START"):
        # Idempotent on MessageSid like every other message: a START replayed after a later
        # STOP must not opt the number back in.
        if first_use("sms-keyword:" + sid[:180]):
            set_sms_opt_out(phone=sender, opted_out=word == "STOP", region=config["DEFAULT_PHONE_REGION"])
        return twiml()
    if word == "HELP":
        return twiml(config.get("SMS_HELP_REPLY"))
    payload = {key: value for key, value in form.items() if key in _KEPT or key.startswith(_KEPT_PREFIXES)}
    envelope_id = land("sms", sid[:255], payload, received_at=datetime.now(timezone.utc))
    if envelope_id is not None:  # else it is Twilio's retry of a message already waiting
        enqueue_processing(envelope_id)
    return twiml()


def decode_landed_sms(sid: str, form: dict, received_at: datetime) -> InboundMessage:
    return InboundMessage(
        channel="sms", external_id=sid, sender=MessageSender(phone=form["From"].strip()[:40]),
        to=(form.get("To") or "")[:254] or None, body=form.get("Body") or "",
        received_at=received_at, media=_media(form),
    )


def after_landed_sms_stored(stored: list) -> Callable[[], None] | None:
    """In the transaction that stored them: an SMS that opened a case gets ``SMS_AUTO_REPLY``.
    After the commit: the replies are delivered, and MMS media fetched (``SMS_FETCH_MEDIA``)."""
    config = current_app.config
    auto_reply = config.get("SMS_AUTO_REPLY")
    replies = [queue_automatic_message(case_id=result.case_id, channel="sms", to=message.sender.phone,
                                       body=auto_reply).id
               for message, result in stored if auto_reply and result.created_case]
    with_media = [result.contact_id for message, result in stored if message.media] \
        if config.get("SMS_FETCH_MEDIA") else []
    if not (replies or with_media):
        return None

    def follow_up() -> None:
        for outbox_id in replies:
            enqueue_delivery(outbox_id)
        for contact_id in with_media:
            for attachment_id in waiting_attachments(contact_id):
                enqueue(fetch_attachment, attachment_id)

    return follow_up


def _outbox_id(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 2**31 else None


@blp.route("/sms/status", methods=["POST"])
@blp.public
@blp.doc(requestBody=_STATUS_DOC, parameters=[{
    "in": "query", "name": "outbox", "required": False, "schema": {"type": "integer"},
    "description": "The outbox row the message was sent for, as put in the callback URL we gave Twilio"}])
@blp.response(204, description="Recorded (or ignored when the message is unknown)")
@blp.alt_response(403, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description="Signature missing or invalid")
def sms_status():
    """Twilio's delivery status callback for messages we sent"""
    _check_signature()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    status = request.form.get("MessageStatus") or request.form.get("SmsStatus")
    if sid and status:
        record_provider_status(provider_id=sid[:64], provider_status=status.strip().lower(),
                               error_code=(request.form.get("ErrorCode") or None),
                               outbox_id=_outbox_id(request.args.get("outbox")))
    return "", 204


class TwilioSmsSender:
    """Sends through Twilio's REST API, from as many threads as a drain job sends on.

    Twilio's client is not thread-safe: its HTTP client keeps the last response on itself and
    returns it from there, so two threads sharing one could each record the other's message
    id. A send borrows a client no other send is using; clients are kept for the next sends,
    with their open connections. ``http_client`` lets tests and benchmarks stand in for Twilio:
    a function that makes one HTTP client per Twilio client, or one ``HttpClient`` that every
    send shares (it must then be thread-safe itself)."""

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str | None,
                 messaging_service_sid: str | None, status_callback: str | None,
                 http_client: HttpClient | Callable[[], HttpClient] | None = None):
        self.credentials = (account_sid, auth_token)
        # A timeout well below the job timeout and the outbox lease: a hung request must fail
        # (and be retried) before anyone could think the message was lost and send it again.
        self.http_client = http_client or (lambda: TwilioHttpClient(timeout=20))
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self._idle: list[Client] = []
        self._lock = threading.Lock()

    @contextmanager
    def _client(self):
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            http = self.http_client if isinstance(self.http_client, HttpClient) else self.http_client()
            client = Client(*self.credentials, http_client=http)
        try:
            yield client
        finally:
            with self._lock:
                self._idle.append(client)

    def send(self, message: Outgoing) -> SendResult:
        # The callback names the outbox row, so Twilio's report can tie its message id to the
        # row even if this worker dies before it writes the id down (exactly-once sending).
        callback = f"{self.status_callback}?outbox={message.outbox_id}" if self.status_callback else None
        arguments = {"to": message.to, "body": message.body, "status_callback": callback}
        if self.messaging_service_sid:
            arguments["messaging_service_sid"] = self.messaging_service_sid
        else:
            arguments["from_"] = self.from_number
        try:
            with self._client() as client:
                created = client.messages.create(**arguments)
        except TwilioRestException as error:
            code = str(error.code) if error.code else str(error.status)
            if error.status == 429 or error.status >= 500:
                raise TemporaryFailure("Twilio is unavailable", code=code) from None
            # 4xx: the request itself is wrong (e.g. 21610 recipient opted out, 21211 invalid
            # number); sending it again would fail the same way.
            raise PermanentFailure("Twilio refused the message", code=code) from None
        except TwilioException as error:
            raise TemporaryFailure(f"Twilio client error: {type(error).__name__}") from None
        except OSError as error:
            raise TemporaryFailure(f"network error: {type(error).__name__}") from None
        return SendResult(provider_id=created.sid, provider_status=created.status)


class TwilioMessageDeleter:
    """Deletes Twilio's copy of an SMS or MMS, inbound or outbound, with its media."""

    def __init__(self, *, account_sid: str, auth_token: str, http_client=None):
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def delete(self, provider_sid: str) -> None:
        if not provider_sid.startswith(("SM", "MM")):
            return  # not Twilio's: a hand-logged or another provider's id
        try:
            self.client.messages(provider_sid).delete()
        except TwilioRestException as error:
            # 404: already gone. Twilio refuses (20009) to delete a message still being sent;
            # that is raised, and the purge tries again later.
            if error.status != 404:
                raise


def install(app: Flask) -> None:
    api.register_blueprint(blp)
    app.extensions["inbound_handlers"]["sms"] = LandedChannel(decode=decode_landed_sms,
                                                              stored=after_landed_sms_stored)
    config = app.config
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN"):
        base = config.get("PUBLIC_BASE_URL")
        app.extensions["senders"]["sms"] = TwilioSmsSender(
            account_sid=config["TWILIO_ACCOUNT_SID"], auth_token=config["TWILIO_AUTH_TOKEN"],
            from_number=config.get("TWILIO_FROM_NUMBER"),
            messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID"),
            status_callback=f"{base.rstrip('/')}/webhooks/twilio/sms/status" if base else None,
            http_client=config.get("TWILIO_HTTP_CLIENT"),
        )
        if config.get("TWILIO_DELETE_MESSAGES"):
            app.extensions["provider_copy_deleters"]["message"] = TwilioMessageDeleter(
                account_sid=config["TWILIO_ACCOUNT_SID"], auth_token=config["TWILIO_AUTH_TOKEN"],
                http_client=config.get("TWILIO_HTTP_CLIENT"))
