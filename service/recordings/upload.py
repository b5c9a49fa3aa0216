"""Audio uploaded by the switchboard that reported a recording.

A switchboard that is not Twilio reports a call's recording as metadata (``POST
/api/v1/inbound/calls``); nothing can fetch its audio, so the switchboard sends the bytes itself.
Only the integration key that reported the recording may, and only once: a recording is never
altered, so a second upload is accepted only when it is the same audio (a retry), and audio the
phone system already delivered is never replaced. The bytes are checked as attachments are:
bounded, of an accepted type, and the type read from the bytes, not taken on trust.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import update

from ..audit.logic import record
from ..auth.permissions import Principal
from ..db_types import utcnow
from ..errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from ..extensions import db
from ..storage import FileStorage
from .models import Recording

# Declared types accepted, by the name they are stored under.
_ALIASES = {
    "audio/mpeg": "audio/mpeg", "audio/mp3": "audio/mpeg",
    "audio/wav": "audio/wav", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/ogg": "audio/ogg",
    "audio/flac": "audio/flac", "audio/x-flac": "audio/flac",
}
ACCEPTED_TYPES = frozenset(_ALIASES)


def sniff_audio(content: bytes) -> str | None:
    """The audio type the leading bytes show, or None when they show none we accept."""
    if content.startswith(b"ID3") or (len(content) >= 2 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # an ID3 tag, or an MPEG frame's sync word
    if content[:4] == b"RIFF" and content[8:12] == b"WAVE":
        return "audio/wav"
    if content.startswith(b"OggS"):
        return "audio/ogg"
    if content.startswith(b"fLaC"):
        return "audio/flac"
    return None


def check_audio(content: bytes, content_type: str | None, *, max_bytes: int) -> str:
    """The stored media type of acceptable audio; 413, 415 or 422 otherwise."""
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"The audio is {len(content)} bytes; the limit is {max_bytes}.")
    if not content:
        raise ValidationFailed("The audio is empty.", errors={"body": ["Empty body."]})
    declared = _ALIASES.get((content_type or "").split(";", 1)[0].strip().lower())
    if declared is None:
        raise UnsupportedMediaType(f"Content type {content_type or 'missing'} is not accepted; send "
                                   "audio/mpeg, audio/wav, audio/ogg or audio/flac.")
    if sniff_audio(content) != declared:
        raise UnsupportedMediaType(f"The body is not {declared} audio.")
    return declared


@dataclass(frozen=True)
class Uploaded:
    recording: Recording
    created: bool  # False: the same audio was uploaded before


def _reported_by(actor: Principal, recording_id: int) -> Recording:
    recording = db.session.get(Recording, recording_id, populate_existing=True)
    if recording is None or actor.kind != "api_key" or recording.reported_by_key_id != actor.id:
        # The same answer whether it does not exist or another integration reported it.
        raise NotFound(f"Recording {recording_id} does not exist.")
    return recording


def upload_audio(*, actor: Principal, recording_id: int, content: bytes, content_type: str | None,
                 max_bytes: int, storage: FileStorage) -> Uploaded:
    recording = _reported_by(actor, recording_id)
    media_type = check_audio(content, content_type, max_bytes=max_bytes)
    digest = hashlib.sha256(content).hexdigest()
    if recording.storage_key is not None:
        return _judged_against_stored(recording, digest)
    db.session.rollback()  # no transaction (nor SQLite's write lock) is held while the file is written

    stored = storage.save(content)
    try:
        # Only a recording still without audio takes it: a concurrent upload or fetch that won
        # keeps its file, and this one is judged against it below.
        won = db.session.execute(
            update(Recording).where(Recording.id == recording_id, Recording.storage_key.is_(None))
            .values(storage_key=stored.key, size=stored.size, sha256=stored.sha256, content_type=media_type,
                    audio_uploaded_at=utcnow())
        ).rowcount
        if won:
            recording = _reported_by(actor, recording_id)
            record("recording.uploaded", actor=actor, object_type="recording", object_id=recording.id,
                   details={"case_id": recording.case_id, "size": stored.size, "content_type": media_type})
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(stored.key)
        raise
    if won:
        return Uploaded(recording, created=True)
    storage.delete(stored.key)
    return _judged_against_stored(_reported_by(actor, recording_id), digest)


def _judged_against_stored(recording: Recording, sha256: str) -> Uploaded:
    """A repeat of the upload that stored the audio is a success that changes nothing;
    anything else would replace a recording, which never happens."""
    same = recording.audio_uploaded_at is not None and recording.sha256 == sha256
    uploaded_before = recording.audio_uploaded_at is not None
    db.session.rollback()
    if same:
        return Uploaded(recording, created=False)
    if not uploaded_before:
        raise Conflict("The phone system has already delivered this recording's audio.",
                       code="recording-has-audio")
    raise Conflict("Other audio was already uploaded for this recording; a recording is never replaced.",
                   code="recording-has-audio")
