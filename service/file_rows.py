"""Attaching fetched bytes to a row that has none yet, once."""

from sqlalchemy import update

from .extensions import db
from .storage import FileStorage


def store_once(storage: FileStorage, model, row_id: int, content: bytes, **values) -> bool:
    """Save ``content`` and point the row at it if the row still has no file. Only the first
    of two concurrent fetches keeps its file; the other removes its own."""
    stored = storage.save(content)
    try:
        won = db.session.execute(
            update(model).where(model.id == row_id, model.storage_key.is_(None))
            .values(storage_key=stored.key, size=stored.size, sha256=stored.sha256, **values)
        ).rowcount
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(stored.key)
        raise
    if not won:
        storage.delete(stored.key)
    return bool(won)
