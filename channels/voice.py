"""Phone calls over Twilio: the incoming-call TwiML, call progress callbacks and recordings.

An incoming call becomes a phone contact at once (started_at); the callbacks that follow fill
in when it was answered and by whom, the queue time, the end and the duration, in whatever
order Twilio sends them. Whether a call is recorded follows its service line's policy, and the
recording notice is played, in the caller's language, only when the call will be recorded.

Recording starts when an official answers, never while the caller waits: forwarded calls are
recorded by the <Dial> from its answer, and queued calls by the official's <Dial><Queue>. Each
service line has its own queues (one for the calls it records, one for the others, so that the
official's side records exactly the calls whose caller heard the notice), and an official's phone
client takes callers only off the queues of the lines the official works on.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from flask import Flask, Response, current_app, request
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from service.auth.logic import official_principal
from service.auth.models import Official
from service.blueprint import Blueprint
from service.cases.calls import CallReport, call_answered_on_leg, oldest_waiting_call, update_call
from service.cases.models import Contact
from service.cases.outbound_calls import CallPlacingFailed, CallRequest
from service.errors import PROBLEM_MIMETYPE, BadRequest, Forbidden, ProblemSchema
from service.extensions import api, db
from service.intake import InboundMessage, IntakeSettings, Sender, receive
from service.lines.logic import line_for_address, records_call, visible_line_ids
from service.queue import enqueue
from service.outbox.ports import TemporaryFailure
from service.recordings.logic import ReportedRecording, store_recording
from service.storage import get_storage

from .twilio_signature import is_from_twilio

log = logging.getLogger(__name__)

SAY_LANGUAGE = {"fi": "fi-FI", "sv": "sv-SE", "en": "en-GB"}
RECORDING_CALLBACK = "/webhooks/twilio/voice/recording"
RECORDING_EVENTS = "completed absent"
# How long an official's phone client waits before looking again when nobody is waiting.
AGENT_POLL_SECONDS = 5

blp = Blueprint("twilio_voice", __name__, url_prefix="/webhooks/twilio/voice",
                description="Twilio Voice webhooks (signed with X-Twilio-Signature)")

_FORM = {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "additionalProperties": {"type": "string"},
    "properties": {"CallSid": {"type": "string"}, "From": {"type": "string"}, "To": {"type": "string"},
                   "CallStatus": {"type": "string"}}}}}}
_TWIML = {"200": {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}}}


def _documented(view):
    view = blp.doc(requestBody=_FORM, responses=_TWIML)(view)
    view = blp.alt_response(403, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                            description="Signature missing or invalid")(view)
    view = blp.alt_response(400, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                            description="Not a Twilio call")(view)
    return blp.public(view)


def _xml(response: VoiceResponse | None = None) -> Response:
    return Response(str(response or VoiceResponse()), status=200, mimetype="text/xml")


def _check_signature() -> None:
    config = current_app.config
    if not is_from_twilio(config.get("TWILIO_AUTH_TOKEN"), config.get("PUBLIC_BASE_URL")):
        raise Forbidden("The request does not carry a valid Twilio signature.", code="invalid-signature")


def _seconds(name: str) -> int | None:
    """A duration field; Twilio sends whole seconds, anything else is ignored, not fatal."""
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit():
        return None
    return min(int(raw), 7 * 24 * 3600)


def _call_sid() -> str:
    sid = (request.form.get("CallSid") or "").strip()
    if not sid:
        raise BadRequest("CallSid is required.")
    return sid[:64]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ensure_call(sid: str, started_at: datetime) -> None:
    """Create the call's contact if this is the first we hear of it (a lost or late
    incoming-call webhook); intake makes this idempotent."""
    outbound = (request.form.get("Direction") or "").startswith("outbound")
    # On a call we placed, the customer is the one called, and our number is the caller.
    customer, ours = ("To", "From") if outbound else ("From", "To")
    message = InboundMessage(channel="phone", external_id=sid,
                             sender=Sender(phone=(request.form.get(customer) or "").strip()[:40] or None),
                             to=(request.form.get(ours) or "")[:254] or None, started_at=started_at,
                             direction="outbound" if outbound else "inbound")
    receive(message, actor=None, settings=IntakeSettings.from_config(current_app.config), storage=get_storage())


@blp.route("", methods=["POST"])
@_documented
def incoming_call():
    """Twilio's incoming-call webhook: notice (when recording), then queue or dial"""
    _check_signature()
    sid = _call_sid()
    config = current_app.config
    to = request.form.get("To")
    line = line_for_address("phone", to, config["DEFAULT_PHONE_REGION"])
    record = records_call(line, random.random())
    db.session.commit()  # the default line may have just been created
    _ensure_call(sid, _now())
    update_call(sid, CallReport(status=(request.form.get("CallStatus") or "ringing").lower()[:20],
                                recording_planned=record))

    response = VoiceResponse()
    if record:
        language = _caller_language(sid) or line.default_language
        response.say(config[f"RECORDING_NOTICE_{language.upper()}"], language=SAY_LANGUAGE[language])
    if config.get("VOICE_FORWARD_TO"):
        dial = Dial(action="/webhooks/twilio/voice/dial-result",
                    record="record-from-answer-dual" if record else "do-not-record",
                    recording_status_callback=RECORDING_CALLBACK,
                    recording_status_callback_event=RECORDING_EVENTS)
        dial.number(config["VOICE_FORWARD_TO"])
        response.append(dial)
    else:
        # Nothing is recorded here: the caller's wait is not part of the recording.
        response.enqueue(queue_name(config["VOICE_QUEUE_NAME"], line.id, record),
                         action="/webhooks/twilio/voice/queue-result")
    return _xml(response)


def queue_name(base: str, line_id: int, recorded: bool) -> str:
    """The Twilio queue of a line's recorded or unrecorded calls (Twilio allows 64 characters)."""
    return f"{base[:40]}-{line_id}" + ("-recorded" if recorded else "")


def _caller_language(sid: str) -> str | None:
    from service.cases.calls import find_call

    contact = find_call(sid)
    language = contact.case.language if contact else None
    db.session.rollback()  # release the row lock find_call took
    return language if language in SAY_LANGUAGE else None


@blp.route("/agent", methods=["POST"])
@_documented
def agent_leg():
    """TwiML for an official's phone client: take the caller who has waited longest on the
    official's own lines off that line's queue, recording from the answer when the caller was told
    so; with nobody waiting, look again shortly. The client may name one line (``ServiceLine``)."""
    _check_signature()
    identity = (request.form.get("From") or "").removeprefix("client:")
    official = db.session.query(Official).filter_by(username=identity, active=True).first()
    response = VoiceResponse()
    principal = official_principal(official) if official is not None else None
    # Only those who may work on the case the call lands on take calls.
    if principal is None or not principal.may("cases.write"):
        db.session.rollback()
        response.reject()
        return _xml(response)
    line_ids, official_id = visible_line_ids(principal), official.id
    chosen = (request.form.get("ServiceLine") or "").strip()
    if chosen:
        if not (chosen.isascii() and chosen.isdigit() and len(chosen) <= 9) \
                or (line_ids is not None and int(chosen) not in line_ids):
            db.session.rollback()
            response.reject()
            return _xml(response)
        line_ids = {int(chosen)}
    waiting = oldest_waiting_call(line_ids=line_ids, now=_now())
    if waiting is None:
        db.session.rollback()
        response.pause(length=AGENT_POLL_SECONDS)
        response.redirect("/webhooks/twilio/voice/agent")
        return _xml(response)
    line_id, recorded = waiting.case.service_line_id, bool(waiting.recording_planned)
    db.session.rollback()
    # The queue holds only calls recorded alike, so whoever Twilio hands over is recorded
    # exactly when their notice said so; Twilio reports the recording under this leg's CallSid.
    dial = Dial(record="record-from-answer-dual" if recorded else "do-not-record",
                recording_status_callback=RECORDING_CALLBACK if recorded else None,
                recording_status_callback_event=RECORDING_EVENTS if recorded else None)
    dial.queue(queue_name(current_app.config["VOICE_QUEUE_NAME"], line_id, recorded),
               url=f"/webhooks/twilio/voice/answered?official={official_id}")
    response.append(dial)
    return _xml(response)


@blp.route("/answered", methods=["POST"])
@_documented
def answered_from_queue():
    """Twilio's request when an official takes a caller off the queue"""
    _check_signature()
    official_id = request.args.get("official", type=int)
    if official_id is not None and db.session.get(Official, official_id) is None:
        official_id = None
    agent_leg_sid = (request.form.get("DequeingCallSid") or "").strip()[:64] or None
    update_call(_call_sid(), CallReport(answered_at=_now(), queue_seconds=_seconds("QueueTime"),
                                        handled_by_id=official_id, status="in-progress",
                                        agent_call_sid=agent_leg_sid))
    return _xml()


@blp.route("/queue-result", methods=["POST"])
@_documented
def queue_result():
    """The <Enqueue> action: the caller left the queue (answered, hung up, ...)"""
    _check_signature()
    result = (request.form.get("QueueResult") or "").lower()
    status = "abandoned" if result in ("hangup", "leave") else None
    update_call(_call_sid(), CallReport(queue_seconds=_seconds("QueueTime"), status=status))
    return _xml()


@blp.route("/dial-result", methods=["POST"])
@_documented
def dial_result():
    """The <Dial> action: the forwarded call ended"""
    _check_signature()
    now = _now()
    talked = _seconds("DialCallDuration")
    answered = (request.form.get("DialCallStatus") or "").lower() == "completed"
    update_call(_call_sid(), CallReport(answered_at=now - timedelta(seconds=talked or 0) if answered else None,
                                        ended_at=now, duration_seconds=talked if answered else None,
                                        status="completed" if answered else "no-answer"))
    return _xml()


@blp.route("/status", methods=["POST"])
@_documented
def call_status():
    """Call status callback: the call progressed or ended"""
    _check_signature()
    sid = _call_sid()
    status = (request.form.get("CallStatus") or "").lower()[:20] or None
    duration = _seconds("CallDuration")
    ended_at = (_timestamp() or _now()) if status in ("completed", "busy", "failed", "no-answer", "canceled") else None
    answered_at = (_timestamp() or _now()) if status == "in-progress" else None
    if ended_at is not None:
        _ensure_call(sid, ended_at - timedelta(seconds=duration or 0))
    report = CallReport(status=status, ended_at=ended_at, answered_at=answered_at, duration_seconds=duration)
    if update_call(sid, report) is None and status:
        log.info("status callback for a call that is not stored yet")
    return _xml()


def _timestamp() -> datetime | None:
    raw = request.form.get("Timestamp")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else None


@blp.route("/recording", methods=["POST"])
@_documented
def recording_status():
    """Recording status callback: a recording is ready (or was too short to keep)"""
    _check_signature()
    sid = (request.form.get("RecordingSid") or "").strip()
    if not sid:
        raise BadRequest("RecordingSid is required.")
    status = (request.form.get("RecordingStatus") or "completed").lower()[:16]
    url = (request.form.get("RecordingUrl") or "").strip()[:1000] or None
    started = _recording_start() or _now() - timedelta(seconds=_seconds("RecordingDuration") or 0)
    call_sid = (request.form.get("CallSid") or "").strip()[:64] or None
    if call_sid:
        # A queued call is recorded on the official's leg, and reported under that leg's id.
        call_sid = call_answered_on_leg(call_sid) or call_sid
    recording = store_recording(
        ReportedRecording(provider_sid=sid[:64], call_sid=call_sid,
                          status=status, recorded_at=started, duration_seconds=_seconds("RecordingDuration"),
                          channels=_seconds("RecordingChannels"), source_url=url),
        default_retention_days=current_app.config["RECORDING_RETENTION_DAYS"],
    )
    if status == "completed" and url and current_app.config.get("VOICE_FETCH_RECORDINGS"):
        from service.jobs import fetch_recording

        enqueue(fetch_recording, recording.id)
    return _xml()


def _recording_start() -> datetime | None:
    raw = request.form.get("RecordingStartTime")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return None
    return value.astimezone(timezone.utc) if value.tzinfo else None


@blp.route("/outbound", methods=["POST"])
@_documented
def outbound_answered():
    """TwiML for a call an official placed, once the customer answers: the notice when the
    call is recorded, then the official's phone client"""
    _check_signature()
    contact = db.session.get(Contact, request.args.get("contact", type=int) or 0)
    response = VoiceResponse()
    if contact is None or contact.handled_by is None:
        response.hangup()
        return _xml(response)
    if contact.recording_planned:
        language = contact.language if contact.language in SAY_LANGUAGE else "fi"
        response.say(current_app.config[f"RECORDING_NOTICE_{language.upper()}"], language=SAY_LANGUAGE[language])
    dial = Dial()
    dial.client(contact.handled_by.username)
    response.append(dial)
    return _xml(response)


class TwilioCallPlacer:
    """Places an official's call with Twilio's REST API; Twilio records from the answer."""

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str, public_base_url: str,
                 http_client=None):
        self.client = Client(account_sid, auth_token, http_client=http_client)
        self.from_number = from_number
        self.base = public_base_url.rstrip("/")

    def place(self, call: CallRequest) -> str:
        arguments = {
            "to": call.to, "from_": self.from_number,
            "url": f"{self.base}/webhooks/twilio/voice/outbound?contact={call.contact_id}",
            "status_callback": f"{self.base}/webhooks/twilio/voice/status",
            "status_callback_event": ["answered", "completed"],
        }
        if call.record:
            arguments.update(record=True, recording_status_callback=f"{self.base}{RECORDING_CALLBACK}",
                             recording_status_callback_event=["completed", "absent"])
        try:
            created = self.client.calls.create(**arguments)
        except TwilioRestException as error:
            raise CallPlacingFailed(f"Twilio error {error.code or error.status}") from None
        except (TwilioException, OSError) as error:
            raise CallPlacingFailed(type(error).__name__) from None
        return created.sid


class TwilioRecordingDeleter:
    """Deletes Twilio's copy of a recording (Twilio keeps its metadata 40 days more)."""

    def __init__(self, *, account_sid: str, auth_token: str, http_client=None):
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def delete(self, provider_sid: str) -> None:
        if not provider_sid.startswith("RE"):
            return  # a switchboard's own reference, not Twilio's
        try:
            self.client.recordings(provider_sid).delete()
        except TwilioRestException as error:
            if error.status != 404:  # already gone is what we wanted
                raise


class TwilioMediaFetcher:
    """Downloads recording audio (MP3) and MMS media with the account's credentials. ``get``
    is ``requests.get`` unless a test stands in for Twilio's media server."""

    def __init__(self, *, account_sid: str, auth_token: str, get=None):
        import requests

        self.auth = (account_sid, auth_token)
        self.get = get or requests.get

    def fetch(self, source_url: str) -> tuple[bytes, str]:
        """A recording's audio as MP3."""
        url = source_url if source_url.endswith(".mp3") else source_url + ".mp3"
        return self.fetch_media(url)[0], "audio/mpeg"

    def fetch_media(self, url: str) -> tuple[bytes, str | None]:
        response = self.get(url, auth=self.auth, timeout=30)
        if response.status_code != 200:
            raise TemporaryFailure(f"media download answered {response.status_code}")
        headers = getattr(response, "headers", None) or {}
        return response.content, headers.get("Content-Type")


def install(app: Flask) -> None:
    api.register_blueprint(blp)
    config = app.config
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN") and config.get("TWILIO_FROM_NUMBER") \
            and config.get("PUBLIC_BASE_URL"):
        app.extensions["call_placer"] = TwilioCallPlacer(
            account_sid=config["TWILIO_ACCOUNT_SID"], auth_token=config["TWILIO_AUTH_TOKEN"],
            from_number=config["TWILIO_FROM_NUMBER"], public_base_url=config["PUBLIC_BASE_URL"],
            http_client=config.get("TWILIO_HTTP_CLIENT"))
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN"):
        fetcher = TwilioMediaFetcher(account_sid=config["TWILIO_ACCOUNT_SID"],
                                     auth_token=config["TWILIO_AUTH_TOKEN"], get=config.get("TWILIO_MEDIA_GET"))
        app.extensions["recording_fetcher"] = fetcher
        app.extensions["media_fetcher"] = fetcher
        if config.get("TWILIO_DELETE_RECORDINGS"):
            app.extensions["provider_copy_deleters"]["recording"] = TwilioRecordingDeleter(
                account_sid=config["TWILIO_ACCOUNT_SID"], auth_token=config["TWILIO_AUTH_TOKEN"],
                http_client=config.get("TWILIO_HTTP_CLIENT"))
