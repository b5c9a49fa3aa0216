"""Attachment and recording bytes on local disk, addressed by random keys.

Keys are generated here and checked on every use, so a file name supplied by a client can
never become a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class FileStorage:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("invalid storage key")
        return self.root / key[:2] / key

    def save(self, content: bytes) -> StoredFile:
        key = secrets.token_hex(16)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return StoredFile(key=key, size=len(content), sha256=hashlib.sha256(content).hexdigest())

    def path(self, key: str) -> Path:
        """The file's path, for streaming with Range support."""
        return self._path(key)

    def open(self, key: str):
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass


def get_storage() -> FileStorage:
    from flask import current_app

    return current_app.extensions["file_storage"]
