"""Attachments: checked, stored by content, and read back only by those who may read the case."""

from __future__ import annotations

import re
import unicodedata

from ..audit.logic import record
from ..auth.permissions import Principal
from ..errors import NotFound, PayloadTooLarge, ValidationFailed
from ..extensions import db
from ..storage import FileStorage
from .logic import load_case, touch
from .models import Attachment, Case
from .scanning import ensure_openable, initial_status

# Types advisers and customers exchange with an authority. Anything else (executables,
# archives, HTML) is refused rather than stored and later opened by an official.
ALLOWED_CONTENT_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/gif", "image/heic", "image/webp",
    "text/plain", "text/csv", "application/rtf",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "audio/mpeg", "audio/wav", "audio/x-wav", "message/rfc822",
})

# Leading bytes of the types whose content can be checked cheaply against the declared type.
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


# The extensions a browser or desktop opens each accepted type by; the first is given to a
# download whose name says otherwise.
EXTENSIONS = {
    "application/pdf": (".pdf",), "image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",), "image/gif": (".gif",),
    "image/heic": (".heic",), "image/webp": (".webp",), "text/plain": (".txt", ".text", ".log"),
    "text/csv": (".csv",), "application/rtf": (".rtf",), "application/msword": (".doc",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.ms-excel": (".xls",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.oasis.opendocument.text": (".odt",), "application/vnd.oasis.opendocument.spreadsheet": (".ods",),
    "audio/mpeg": (".mp3",), "audio/wav": (".wav",), "audio/x-wav": (".wav",), "message/rfc822": (".eml",),
}


def download_name(filename: str, content_type: str) -> str:
    """The name a download is saved under ends in its type's extension: the type was checked,
    the name was not, and ``x.html`` sent as text/plain would open in a browser as a page."""
    known = EXTENSIONS.get(content_type)
    if not known or filename.lower().endswith(known):
        return filename
    return filename + known[0]


def safe_filename(name: str | None) -> str:
    """A display name without path parts or control characters; never used as a path."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:255] or "attachment"


def check_file(filename: str | None, content_type: str | None, content: bytes, *, max_bytes: int,
               field: str = "file") -> tuple[str, str]:
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"{safe_filename(filename)!r} is {len(content)} bytes; the limit is {max_bytes}.")
    if not content:
        raise ValidationFailed("The file is empty.", errors={field: ["Empty file."]})
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ALLOWED_CONTENT_TYPES:
        raise ValidationFailed("This kind of file is not accepted.",
                               errors={field: [f"Content type {media_type or 'missing'} is not accepted."]})
    magic = _MAGIC.get(media_type)
    if magic and not content.startswith(magic):
        raise ValidationFailed("The file's content does not match its declared type.",
                               errors={field: [f"Not a {media_type} file."]})
    return safe_filename(filename), media_type


def store(storage: FileStorage, *, case: Case, filename: str, content_type: str, content: bytes,
          contact_id: int | None = None, uploaded_by_id: int | None = None) -> Attachment:
    stored = storage.save(content)
    # Stored pending (or unscanned, without a scanner); the commit asks for the scan job.
    attachment = Attachment(case=case, contact_id=contact_id, filename=filename, content_type=content_type,
                            size=stored.size, sha256=stored.sha256, storage_key=stored.key,
                            uploaded_by_id=uploaded_by_id, scan_status=initial_status())
    db.session.add(attachment)
    return attachment


def add_attachment(*, actor: Principal, storage: FileStorage, case_id: int, filename: str | None,
                   content_type: str | None, content: bytes, max_bytes: int) -> Attachment:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    name, media_type = check_file(filename, content_type, content, max_bytes=max_bytes)
    attachment = store(storage, case=case, filename=name, content_type=media_type, content=content,
                       uploaded_by_id=actor.id)
    touch(case)
    try:
        db.session.flush()
        record("attachment.created", actor=actor, object_type="case", object_id=case.id,
               details={"attachment_id": attachment.id})
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(attachment.storage_key)
        raise
    return attachment


def find_attachment(*, actor: Principal, case_id: int, attachment_id: int) -> Attachment:
    case = load_case(actor=actor, case_id=case_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        raise NotFound(f"Attachment {attachment_id} does not exist on case {case_id}.")
    return attachment


def get_attachment(*, actor: Principal, case_id: int, attachment_id: int) -> Attachment:
    """The file to download: only one that is clean (see scanning.openable)."""
    attachment = find_attachment(actor=actor, case_id=case_id, attachment_id=attachment_id)
    case = attachment.case
    ensure_openable(attachment)
    record("attachment.downloaded", actor=actor, object_type="case", object_id=case.id,
           details={"attachment_id": attachment.id})
    db.session.commit()
    return attachment
