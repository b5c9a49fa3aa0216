from flask import send_file

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..pagination import page_schema
from ..storage import get_storage
from . import logic
from .schemas import RecordingOut, RecordingQuery

blp = Blueprint("recordings", __name__, url_prefix="/api/v1/recordings",
                description="Call recordings: advisers hear their own calls; supervisors and admins all")

RecordingPage = page_schema(RecordingOut, "RecordingPage")


@blp.route("", methods=["GET"])
@blp.requires("recordings.read")
@blp.arguments(RecordingQuery, location="query")
@blp.response(200, RecordingPage)
def list_recordings(args):
    """Recordings you may hear, newest first"""
    return logic.list_recordings(actor=current_principal(), **args)


@blp.route("/<int:recording_id>", methods=["GET"])
@blp.requires("recordings.read")
@blp.response(200, RecordingOut)
def get_recording(recording_id):
    """A recording's details"""
    return logic.get_recording(actor=current_principal(), recording_id=recording_id)


@blp.route("/<int:recording_id>/audio", methods=["GET"])
@blp.requires("recordings.read")
@blp.response(200, description="The audio; supports HTTP Range requests", content_type="audio/mpeg")
@blp.alt_response(206, description="Part of the audio (Range request)", content_type="audio/mpeg", success=True)
def play_recording(recording_id):
    """Play a recording (audited)"""
    return logic.play(actor=current_principal(), recording_id=recording_id, respond=_audio)


def _audio(recording):
    return send_file(get_storage().path(recording.storage_key), mimetype=recording.content_type or "audio/mpeg",
                     conditional=True, etag=recording.sha256, max_age=0)
