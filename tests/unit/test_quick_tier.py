"""The quick tier (`python3 dev.py test --quick`) leaves out the browser and fault tests and
samples the fuzzing and the role matrix; without the flag, everything is collected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collected(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_quick_tier_samples_and_the_full_suite_keeps_everything():
    paths = ["tests/console", "tests/integration/test_worker_killed.py", "tests/integration/test_commands.py",
             "tests/api/test_openapi.py", "tests/api/test_role_matrix.py"]
    everything, quick = _collected(*paths), _collected("--quick", *paths)

    assert any(t.startswith("tests/console/") for t in everything)
    assert not any(t.startswith(("tests/console/", "tests/integration/test_worker_killed.py",
                                 "tests/integration/test_commands.py")) for t in quick)
    for name, every in (("test_api_keeps_to_its_schema_under_fuzzing", 20), ("test_role_matrix[", 10),
                        ("test_allowed_callers_succeed_on_real_objects[", 8)):
        full, sampled = [t for t in everything if name in t], [t for t in quick if name in t]
        assert set(sampled) < set(full)
        # A sample, not a handful: close to one in ``every``.
        assert len(full) / every * 0.4 < len(sampled) < len(full) / every * 1.6, (len(full), len(sampled))
    # Tests that are not sampled all run.
    assert {t for t in everything if "test_every_endpoint_declares_its_permission" in t} <= set(quick)
