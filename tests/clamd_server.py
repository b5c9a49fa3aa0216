"""A real clamd for the tests, on a Unix socket in a temporary directory, with a signature
database the tests write: freshclam needs the internet, and the tests must know exactly what
is infected. Debian's ``clamav-daemon`` provides clamd (``apt-get install clamav-daemon``)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

# The standard anti-virus test file (eicar.org): harmless, and detected by every scanner.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Test.EICAR.UNOFFICIAL"  # clamd adds .UNOFFICIAL to signatures of local databases

# A harmless file the database knows by its hash, as freshclam's databases know real malware.
KNOWN_BAD = b"This harmless text is listed in the test signature database by its MD5 hash.\n"
KNOWN_BAD_SIGNATURE = "Test.KnownHash.UNOFFICIAL"

# The scanner's limits in the tests: a file over MAX_FILE is reported as exceeding them.
MAX_FILE = 1024 * 1024
STREAM_MAX = 2 * 1024 * 1024


def clamd_binary() -> str | None:
    return shutil.which("clamd") or (str(Path("/usr/sbin/clamd")) if Path("/usr/sbin/clamd").exists() else None)


class ClamdServer:
    def __init__(self, directory: Path, *, max_file: int = MAX_FILE, stream_max: int = STREAM_MAX):
        self.directory = Path(directory)
        self.max_file, self.stream_max = max_file, stream_max
        self.socket = str(self.directory / "clamd.sock")
        self.process: subprocess.Popen | None = None
        self._write_database()

    def _write_database(self) -> None:
        db = self.directory / "db"
        db.mkdir(parents=True, exist_ok=True)
        # Body-based signature (.ndb): name, any target type, anywhere in the file, hex bytes.
        (db / "test.ndb").write_text(f"Test.EICAR:0:*:{EICAR.hex()}\n")
        # Hash signature (.hdb): MD5, size, name.
        (db / "test.hdb").write_text(f"{hashlib.md5(KNOWN_BAD).hexdigest()}:{len(KNOWN_BAD)}:Test.KnownHash\n")
        (self.directory / "clamd.conf").write_text(
            f"LocalSocket {self.socket}\n"
            "Foreground yes\n"
            f"DatabaseDirectory {db}\n"
            f"LogFile {self.directory / 'clamd.log'}\n"
            f"StreamMaxLength {self.stream_max}\n"
            f"MaxFileSize {self.max_file}\n"
            f"MaxScanSize {self.max_file}\n"
            # Without these clamd answers OK for what it could not look into.
            "AlertExceedsMax yes\n"
            "AlertEncrypted yes\n"
        )

    def start(self, timeout: float = 30) -> "ClamdServer":
        Path(self.socket).unlink(missing_ok=True)
        self.process = subprocess.Popen([clamd_binary(), "-c", str(self.directory / "clamd.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.directory / "clamd.log")
        raise RuntimeError("clamd did not start: " + (log.read_text()[-2000:] if log.exists() else "no log"))

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(2)
                conn.connect(self.socket)
                conn.sendall(b"nPING\n")
                return conn.recv(16).strip() == b"PONG"
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
