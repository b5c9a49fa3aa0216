"""Calls reported by a switchboard: a phone contact with its times, and its recording."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..auth.models import Official
from ..auth.permissions import CASE_WORKERS, Principal
from ..cases.calls import CallReport, update_call
from ..errors import ValidationFailed
from ..extensions import db
from ..recordings.logic import ReportedRecording, store_recording
from ..storage import FileStorage
from .logic import IntakeResult, IntakeSettings, receive
from .message import InboundMessage, Sender


@dataclass(frozen=True)
class CallIntakeResult(IntakeResult):
    # The stored recording, whose audio the switchboard may then upload.
    recording_id: int | None = None


def report_call(data: dict, *, actor: Principal, settings: IntakeSettings, storage: FileStorage,
                recording_retention_days: int) -> CallIntakeResult:
    handled_by_id = data.get("handled_by_id")
    if handled_by_id is not None:
        official = db.session.get(Official, handled_by_id)
        if official is None:
            raise ValidationFailed("Unknown official.", errors={"handled_by_id": ["No such official."]})
        # A call credited to the privacy officer would put it in their work history.
        if official.role not in CASE_WORKERS:
            raise ValidationFailed("That official does not handle calls.",
                                   errors={"handled_by_id": ["Not an adviser, supervisor or admin."]})
    sender = data.get("sender") or {}
    message = InboundMessage(
        channel="phone", external_id=data["external_id"], direction=data["direction"],
        sender=Sender(phone=sender.get("phone"), email=sender.get("email"), name=sender.get("name")),
        to=data.get("to"), language=data.get("language"), started_at=data["started_at"],
        answered_at=data.get("answered_at"), ended_at=data.get("ended_at"),
        queue_seconds=data.get("queue_seconds"),
    )
    result = receive(message, actor=actor, settings=settings, storage=storage)
    # Also on a repeated report: both steps below are safe to repeat, and a report may come
    # again with what the first one lacked (the recording, who answered).
    ended, answered = data.get("ended_at"), data.get("answered_at")
    update_call(data["external_id"], CallReport(
        handled_by_id=handled_by_id, status="completed" if answered else ("no-answer" if ended else None),
        duration_seconds=int((ended - answered).total_seconds()) if ended and answered else None))
    recording = data.get("recording")
    stored = None
    if recording:
        stored = store_recording(ReportedRecording(
            provider_sid=recording["reference"], call_sid=data["external_id"], status="completed",
            recorded_at=recording.get("recorded_at") or answered or data["started_at"],
            duration_seconds=recording.get("duration_seconds"), source_url=recording.get("url"),
            reported_by_key_id=actor.id if actor.kind == "api_key" else None),
            default_retention_days=recording_retention_days)
    return CallIntakeResult(**asdict(result), recording_id=stored.id if stored is not None else None)
