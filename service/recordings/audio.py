"""Fetching recording audio from the phone system through the channel's fetcher port."""

from __future__ import annotations

import logging

from flask import current_app

from ..extensions import db
from ..storage import get_storage
from .logic import store_audio
from .models import Recording

log = logging.getLogger(__name__)


def fetch(recording_id: int) -> bool:
    fetcher = current_app.extensions.get("recording_fetcher")
    recording = db.session.get(Recording, recording_id)
    if fetcher is None or recording is None or recording.storage_key or not recording.source_url:
        db.session.rollback()
        return False
    url = recording.source_url
    db.session.rollback()  # no transaction (nor SQLite's write lock) is held over the download
    content, content_type = fetcher.fetch(url)
    return store_audio(recording_id=recording_id, content=content, content_type=content_type,
                       storage=get_storage())
