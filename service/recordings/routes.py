from flask import current_app, request, send_file

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..errors import PROBLEM_MIMETYPE, ProblemSchema
from ..pagination import page_schema
from ..storage import get_storage
from . import logic, upload
from .schemas import RecordingOut, RecordingQuery

blp = Blueprint("recordings", __name__, url_prefix="/api/v1/recordings",
                description="Call recordings: advisers hear their own calls; inspectors their lines'; "
                            "supervisors, admins and the privacy officer all (within a supervisor's lines "
                            "if limited). Every play is audited")

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


_AUDIO_BODY = {"required": True, "description": "The audio bytes; the type is checked against them",
               "content": {media: {"schema": {"type": "string", "format": "binary"}}
                           for media in ("audio/mpeg", "audio/wav", "audio/ogg", "audio/flac")}}


@blp.route("/<int:recording_id>/audio", methods=["PUT"])
@blp.requires("calls.report")
@blp.doc(requestBody=_AUDIO_BODY)
@blp.response(201, RecordingOut, description="The audio was stored")
@blp.alt_response(200, schema=RecordingOut, success=True,
                  description="This same audio was uploaded before; nothing changed")
@blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                  description="No such recording reported by this integration")
@blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                  description="The recording already has other audio")
@blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description="Too large")
@blp.alt_response(415, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                  description="Not audio of an accepted type, or not the declared type")
def upload_audio(recording_id):
    """Upload a recording's audio (the switchboard that reported it; audited)"""
    max_bytes = current_app.config["RECORDING_UPLOAD_MAX_BYTES"]
    # One byte over the limit is read and refused by the check, naming the limit; anything
    # larger Werkzeug refuses before reading it.
    request.max_content_length = max_bytes + 1
    result = upload.upload_audio(actor=current_principal(), recording_id=recording_id,
                                 content=request.get_data(cache=False), content_type=request.content_type,
                                 max_bytes=max_bytes, storage=get_storage())
    return result.recording, 201 if result.created else 200


# Audio bodies only: any other declared type is refused (415) before the view runs; the
# upload then compares the declared type with the bytes.
upload_audio.accepts_content_types = tuple(upload.ACCEPTED_TYPES)
