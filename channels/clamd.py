"""ClamAV's clamd as the service's malware scanner (``service.cases.scanning.Scanner``).

Files are streamed over clamd's socket with its INSTREAM command, through the
``clamav-client`` library; clamd never needs access to the file storage. What clamd's answers
mean for a file is decided here: its heuristics for encrypted archives and for files over its
limits say that clamd could not look inside, so such a file is unscannable, not infected.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

from clamav_client.clamd import (BufferTooLongError, ClamdError, ClamdNetworkSocket, ClamdUnixSocket,
                                 CommunicationError)
from flask import Flask

from service.cases.scanning import CLEAN, INFECTED, UNSCANNABLE, ScanFailed, ScannerUnavailable, Verdict

log = logging.getLogger(__name__)

# Signature names of clamd's "could not look inside" heuristics (AlertEncrypted*,
# AlertExceedsMax), and what the official is told.
_UNSCANNABLE = (
    ("Heuristics.Encrypted.", "encrypted: the scanner cannot look inside"),
    ("Heuristics.Limits.Exceeded", "over the scanner's size or depth limits"),
)


class ClamdScanner:
    def __init__(self, *, unix_socket: str | None, host: str | None, port: int, timeout: float, max_bytes: int):
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._unix_socket, self._host, self._port = unix_socket, host, port

    def _client(self, timeout: float):
        if self._unix_socket:
            return ClamdUnixSocket(path=self._unix_socket, timeout=timeout)
        return ClamdNetworkSocket(host=self._host, port=self._port, timeout=timeout)

    def ping(self) -> bool:
        # Short: a readiness probe must answer before the orchestrator gives up on it.
        client = self._client(min(self.timeout, 2))
        try:
            return client.ping() == "PONG"
        except (ClamdError, OSError):
            return False
        finally:
            _close(client)

    def scan(self, stream: BinaryIO, size: int) -> Verdict:
        if size > self.max_bytes:
            return Verdict(UNSCANNABLE, f"larger than the scanner accepts ({self.max_bytes} bytes)")
        client = self._client(self.timeout)
        try:
            result = client.instream(_Chunks(stream))
        except BufferTooLongError:
            return Verdict(UNSCANNABLE, "larger than the scanner accepts (StreamMaxLength)")
        except CommunicationError as exc:  # no connection, or no answer in time
            raise ScannerUnavailable(type(exc).__name__) from exc
        except ClamdError as exc:  # an answer about this file that is not a verdict
            raise ScanFailed(type(exc).__name__) from exc
        except OSError as exc:  # the connection broke while the file was sent: clamd went away
            raise ScannerUnavailable(type(exc).__name__) from exc
        finally:
            _close(client)
        if not result:
            raise ScanFailed("empty answer")
        status, name = next(iter(result.values()))
        if status == "OK":
            return Verdict(CLEAN)
        if status == "FOUND":
            for prefix, reason in _UNSCANNABLE:
                if name and name.startswith(prefix):
                    return Verdict(UNSCANNABLE, f"{reason} ({name})")
            return Verdict(INFECTED, name)
        raise ScanFailed(f"{status}: {name}")


class _Chunks:
    """The file, read 64 KiB at a time. clamav-client asks for 1 KiB chunks and frames each
    with the length it got; with 1 KiB a single worker scanned 1 MB files about 3 times slower
    (bench.scan), the round trips and not clamd's work being the cost."""

    SIZE = 64 * 1024

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def read(self, _size: int = -1) -> bytes:
        return self._stream.read(self.SIZE)


def _close(client) -> None:
    # clamav-client leaves the socket of a failed connection open.
    conn = getattr(client, "clamd_socket", None)
    if conn is not None:
        conn.close()


def install(app: Flask) -> None:
    config = app.config
    if not (config.get("CLAMD_SOCKET") or config.get("CLAMD_HOST")):
        return
    app.extensions["malware_scanner"] = ClamdScanner(
        unix_socket=config.get("CLAMD_SOCKET"), host=config.get("CLAMD_HOST"), port=config["CLAMD_PORT"],
        timeout=config["CLAMD_TIMEOUT_SECONDS"], max_bytes=config["CLAMD_MAX_BYTES"])
