"""Email: inbound from a mail gateway or a provider's inbound webhook, outbound over SMTP.

Inbound authentication: the raw endpoint takes an HMAC-SHA256 of the body under
EMAIL_WEBHOOK_SECRET (header ``X-Signature: sha256=<hex>``) or an API key with scope
``intake``; Mailgun's route posts are checked with its signing key; SendGrid Inbound Parse
(raw mode) carries a secret in the URL, as SendGrid itself offers no signature for it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import ssl
import time
from datetime import datetime, timezone
from email.message import EmailMessage

from flask import Flask, current_app, request

from service.auth.guard import principal_from_request
from service.blueprint import Blueprint
from service.cases.attachments import ALLOWED_CONTENT_TYPES
from service.errors import PROBLEM_MIMETYPE, Forbidden, ProblemSchema, UnsupportedMediaType, ValidationFailed
from service.extensions import api
from service.intake import IntakeSettings, RefusedFile, receive
from service.intake.replays import first_use
from service.intake.schemas import IntakeOut
from service.outbox.ports import Outgoing, PermanentFailure, SendResult, TemporaryFailure
from service.storage import get_storage

from . import mime

log = logging.getLogger(__name__)

blp = Blueprint("email_inbound", __name__, url_prefix="/webhooks/email",
                description="Inbound email: raw RFC 5322 from a mail gateway, or a provider's inbound webhook")

_RAW_DOC = {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}
_FORM_DOC = {"content": {"multipart/form-data": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
                         "application/x-www-form-urlencoded": {"schema": {"type": "object",
                                                                          "additionalProperties": {"type": "string"}}}}}


def _documented(request_body):
    def decorate(view):
        view = blp.doc(requestBody=request_body)(view)
        view = blp.response(201, IntakeOut, description="Stored as a contact")(view)
        view = blp.alt_response(200, schema=IntakeOut, success=True,
                                description="Seen before, or an automatic message naming no case: nothing new")(view)
        for status, text in ((403, "Not authenticated"), (415, "Not a raw message"),
                             (422, "Unreadable message (no sender, too many parts)")):
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description=text)(view)
        return blp.public(view)
    return decorate


@blp.before_request
def _allow_whole_messages():
    # Mail is larger than API bodies: a 50 MB attachment must not lose the message around it
    # (the attachment itself is then kept as metadata only).
    request.max_content_length = current_app.config["EMAIL_MAX_MESSAGE_BYTES"]


def _signature_ok(secret: str | None, body: bytes, header: str) -> bool:
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip()
    return hmac.compare_digest(expected, given)


def _authenticated_by_api_key() -> bool:
    if not request.headers.get("Authorization"):
        return False
    try:
        return principal_from_request().may("intake.post")
    except Exception:
        return False


def _receive_raw(raw: bytes):
    config = current_app.config
    try:
        parsed = mime.parse(raw, max_attachment_bytes=config["MAX_ATTACHMENT_BYTES"],
                            accepted_types=ALLOWED_CONTENT_TYPES)
    except mime.UnreadableMessage as error:
        raise ValidationFailed(str(error), errors={"message": [str(error)]}) from None
    message = parsed.message
    if parsed.refused_files or parsed.automatic:
        from dataclasses import replace

        message = replace(message, automatic=parsed.automatic,
                          refused_files=tuple(RefusedFile(*f) for f in parsed.refused_files))
    result = receive(message, actor=None, settings=IntakeSettings.from_config(config), storage=get_storage())
    if result.ignored:
        log.info("automatic email naming no case was not stored")
    return result, 201 if not (result.duplicate or result.ignored) else 200


@blp.route("", methods=["POST"])
@_documented(_RAW_DOC)
def raw_message():
    """A raw message as a mail gateway pipes it (Content-Type: message/rfc822)"""
    body = request.get_data(cache=True)
    if not (_signature_ok(current_app.config.get("EMAIL_WEBHOOK_SECRET"), body,
                          request.headers.get("X-Signature", "")) or _authenticated_by_api_key()):
        raise Forbidden("Sign the body (X-Signature: sha256=<HMAC>) or send an intake API key.",
                        code="invalid-signature")
    if request.mimetype != "message/rfc822":
        raise UnsupportedMediaType("Send the raw message as message/rfc822.")
    return _receive_raw(body)


# Mailgun's signature is good for this long after its timestamp; a timestamp ahead of our clock
# by more than a clock's drift was not made by Mailgun now, and would stretch that window.
MAILGUN_MAX_AGE = 300
MAILGUN_MAX_AHEAD = 30


def mailgun_signature_ok(form, key: str | None, *, max_age: int = MAILGUN_MAX_AGE,
                         max_ahead: int = MAILGUN_MAX_AHEAD) -> bool:
    timestamp, token, signature = form.get("timestamp", ""), form.get("token", ""), form.get("signature", "")
    if not (key and timestamp.isdigit() and len(timestamp) <= 12 and token and signature):
        return False
    age = time.time() - int(timestamp)
    if age > max_age or age < -max_ahead:
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _mailgun_token_unused(form, raw: str) -> bool:
    """The signature covers the timestamp and token, not the body: the same signature with
    another body is a replay. Mailgun retrying the same post is not."""
    expires = datetime.fromtimestamp(int(form["timestamp"]) + MAILGUN_MAX_AGE + MAILGUN_MAX_AHEAD, timezone.utc)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
    return first_use("mailgun:" + hashlib.sha256(form["token"].encode()).hexdigest(), digest=digest,
                     expires_at=expires)


@blp.route("/mailgun", methods=["POST"])
@_documented(_FORM_DOC)
def mailgun_message():
    """Mailgun route forward to a URL ending in `mime` (field `body-mime`), signed by Mailgun"""
    if not mailgun_signature_ok(request.form, current_app.config.get("MAILGUN_SIGNING_KEY")):
        raise Forbidden("The Mailgun signature is missing, stale or wrong.", code="invalid-signature")
    raw = request.form.get("body-mime")
    if not raw:
        raise ValidationFailed("No body-mime field: configure the route URL to end in `mime`.",
                               errors={"body-mime": ["Missing."]})
    if not _mailgun_token_unused(request.form, raw):
        raise Forbidden("This Mailgun signature was used before for another message.", code="replayed-signature")
    return _receive_raw(raw.encode("utf-8", "surrogateescape"))


@blp.route("/sendgrid", methods=["POST"])
@_documented(_FORM_DOC)
def sendgrid_message():
    """SendGrid Inbound Parse in raw mode (field `email`); the URL carries `?key=<secret>`"""
    secret = current_app.config.get("SENDGRID_INBOUND_SECRET")
    if not secret or not hmac.compare_digest(request.args.get("key", ""), secret):
        raise Forbidden("The inbound secret in the URL is missing or wrong.", code="invalid-signature")
    raw = request.form.get("email")
    if raw is None and "email" in request.files:
        raw = request.files["email"].read().decode("utf-8", "surrogateescape")
    if not raw:
        raise ValidationFailed("No email field: enable 'POST the raw, full MIME message'.",
                               errors={"email": ["Missing."]})
    return _receive_raw(raw.encode("utf-8", "surrogateescape"))


class SmtpSender:
    """Sends email over SMTP (STARTTLS when configured). One connection per message keeps a
    failed session from spoiling the next, and lets a drain job's threads send at once with
    nothing shared between them but settings; batching is for the delivery benchmark to argue."""

    def __init__(self, *, host: str, port: int, starttls: bool, user: str | None, password: str | None,
                 mail_from: str, timeout: float = 30):
        self.host, self.port, self.starttls = host, port, starttls
        self.user, self.password = user, password
        self.mail_from = mail_from
        self.timeout = timeout

    def build(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.mail_from
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        for name, value in message.headers.items():
            mail[name] = value
        mail.set_content(message.body)
        for file in message.files:
            maintype, _, subtype = file.content_type.partition("/")
            mail.add_attachment(file.content, maintype=maintype, subtype=subtype or "octet-stream",
                                filename=file.filename)
        return mail

    def send(self, message: Outgoing) -> SendResult:
        mail = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise PermanentFailure("the server refused the recipient") from None
        except smtplib.SMTPResponseException as error:
            failure = PermanentFailure if 500 <= error.smtp_code < 600 else TemporaryFailure
            raise failure("the SMTP server refused the message", code=str(error.smtp_code)) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TemporaryFailure(f"SMTP unavailable: {type(error).__name__}") from None
        return SendResult(provider_id=message.headers.get("Message-ID"), provider_status="sent")


def install(app: Flask) -> None:
    api.register_blueprint(blp)
    config = app.config
    if config.get("SMTP_HOST"):
        app.extensions["senders"]["email"] = SmtpSender(
            host=config["SMTP_HOST"], port=int(config.get("SMTP_PORT") or 25),
            starttls=bool(config.get("SMTP_STARTTLS")), user=config.get("SMTP_USER"),
            password=config.get("SMTP_PASSWORD"), mail_from=config["MAIL_FROM"])
