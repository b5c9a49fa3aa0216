"""Attachments the provider still holds (MMS media): fetching their bytes into our storage.

The bytes pass the same checks as any attachment; a file of a refused type or size stays as
metadata, so nothing dangerous is stored and nothing about the message is lost.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from ..errors import Problem
from ..extensions import db
from ..file_rows import store_once
from ..storage import get_storage
from .attachments import check_file
from .models import Attachment
from .scanning import PENDING, ask_for_scans, initial_status

log = logging.getLogger(__name__)


def waiting_attachments(contact_id: int) -> list[int]:
    return list(db.session.scalars(select(Attachment.id).where(
        Attachment.contact_id == contact_id, Attachment.storage_key.is_(None), Attachment.source_url.is_not(None))))


def fetch(attachment_id: int) -> bool:
    fetcher = current_app.extensions.get("media_fetcher")
    attachment = db.session.get(Attachment, attachment_id)
    if fetcher is None or attachment is None or attachment.storage_key or not attachment.source_url:
        db.session.rollback()
        return False
    url, filename, declared = attachment.source_url, attachment.filename, attachment.content_type
    db.session.rollback()  # no transaction (nor SQLite's write lock) is held over the download
    content, content_type = fetcher.fetch_media(url)
    try:
        _, media_type = check_file(filename, content_type or declared, content,
                                   max_bytes=current_app.config["MAX_ATTACHMENT_BYTES"])
    except Problem as refused:
        log.warning("provider-held attachment %s left as metadata: %s", attachment_id, refused.code)
        return False
    status = initial_status()
    stored = store_once(get_storage(), Attachment, attachment_id, content, content_type=media_type,
                        scan_status=status)
    if stored and status == PENDING:
        ask_for_scans()
    return stored
