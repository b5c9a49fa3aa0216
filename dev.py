#!/usr/bin/env python3
"""The two commands: run the service on its embedded default, or run the tests.

    python3 dev.py serve     # SQLite under instance/, in-process jobs, console backends
    python3 dev.py test      # the whole test suite, one worker per core (extra arguments go to pytest)
    python3 dev.py test --quick   # day-to-day: no browser or fault tests, fuzzing sampled

Needs nothing but Python 3.11+: it makes a virtual environment in .venv and installs the
pinned requirements into it, again only when a requirements file changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(text: str) -> None:
    print(f"[dev] {text}", flush=True)


def _requirements_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment(requirements: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed (SQLAlchemy 2.1 requires it).")
    if not PYTHON.exists():
        _say(f"creating virtual environment in {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = [ROOT / "requirements.txt", ROOT / requirements]
    stamp = VENV / f".installed-{requirements}"
    wanted = _requirements_digest(files)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    _say(f"installing {requirements} (first run takes a minute)")
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-r", str(ROOT / requirements)], check=True)
    stamp.write_text(wanted)


def _flask(*args: str, env: dict) -> None:
    subprocess.run([str(PYTHON), "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


def serve(argv: list[str]) -> int:
    ensure_environment("requirements.txt")
    env = dict(os.environ)
    _say("bringing the database to the latest schema")
    _flask("db", "upgrade", env=env)
    _flask("demo", env=env)
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "5000")
    _say(f"serving on http://{host}:{port}  (console: http://{host}:{port}/console/, "
         f"API docs: http://{host}:{port}/api/v1/docs)")
    try:
        _flask("run", "--host", host, "--port", port, *argv, env=env)
    except KeyboardInterrupt:
        pass
    return 0


def _workers(argv: list[str]) -> list[str]:
    """pytest-xdist workers, one per core unless TEST_WORKERS or the arguments say otherwise."""
    if any(arg.startswith(("-n", "--numprocesses", "--dist")) for arg in argv):
        return []
    count = int(os.environ.get("TEST_WORKERS") or os.cpu_count() or 1)
    return ["-n", str(count)] if count > 1 else []


def _test_environment() -> dict:
    env = dict(os.environ)
    # The tests' SQLite databases and files go to memory where the machine offers it: on disk,
    # every commit waits for an fsync (about 5 ms here), and the suite commits tens of
    # thousands of times. Durability is not what these tests are about.
    shared_memory = Path("/dev/shm")
    if "TMPDIR" not in env and shared_memory.is_dir() and os.access(shared_memory, os.W_OK):
        env["TMPDIR"] = str(shared_memory)
    return env


def test(argv: list[str]) -> int:
    ensure_environment("requirements-dev.txt")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *_workers(argv), *argv], cwd=ROOT,
                            env=_test_environment())
    if result.returncode == 5:
        print("[dev] pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
        return 1
    return result.returncode


COMMANDS = {"serve": serve, "test": test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
