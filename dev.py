#!/usr/bin/env python3
"""The commands: run the service on its embedded default, run the tests, or measure them (coverage, mutation).

    python3 dev.py serve     # SQLite under instance/, in-process jobs, console backends
    python3 dev.py test      # the whole test suite, one worker per core (extra arguments go to pytest)
    python3 dev.py test --quick   # day-to-day: no browser or fault tests, fuzzing sampled
    python3 dev.py coverage  # branch coverage of service/ and channels/ over both database passes
    python3 dev.py mutation retention   # mutation testing of one domain's rules (docs/development.md)

Needs nothing but Python 3.11+: it makes a virtual environment in .venv and installs the
pinned requirements into it, again only when a requirements file changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from collections import Counter
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


def _coverage(*args: str, env: dict) -> int:
    return subprocess.run([str(PYTHON), "-m", "coverage", *args], cwd=ROOT, env=env).returncode


def _by_domain(report: Path) -> None:
    """Branch coverage per domain (a package of service/, service's own modules, channels/):
    the table of docs/development.md."""
    import json

    domains: dict[str, list[int]] = {}
    for name, data in json.loads(report.read_text())["files"].items():
        parts = Path(name).parts
        domain = parts[0] + "/" if parts[0] == "channels" or len(parts) == 2 else "/".join(parts[:2]) + "/"
        counts = domains.setdefault(domain, [0, 0])
        counts[0] += data["summary"]["covered_branches"]
        counts[1] += data["summary"]["num_branches"]
    print(f"{'domain':<24} {'branches':>9} {'missed':>7} {'cover':>6}")
    # Packages of static files (the console, the widget) have no branches to show.
    measured = {domain: counts for domain, counts in domains.items() if counts[1]}
    for domain, (covered, total) in sorted(measured.items(), key=lambda item: item[1][0] / item[1][1]):
        print(f"{domain:<24} {total:>9} {total - covered:>7} {100 * covered / (total or 1):>5.1f}%")
    covered, total = (sum(c[i] for c in domains.values()) for i in (0, 1))
    print(f"{'all':<24} {total:>9} {total - covered:>7} {100 * covered / (total or 1):>5.1f}%")


def coverage(argv: list[str]) -> int:
    """The suite under coverage.py (.coveragerc): the SQLite pass, then the PostgreSQL and Redis
    pass when DATABASE_URL and REDIS_URL are set (as .ci/run sets them), combined into one
    report. A failing test still leaves its data, so the report is written either way."""
    ensure_environment("requirements-dev.txt")
    env = _test_environment()
    # Absolute, so that subprocesses started in other directories write next to the others.
    env["COVERAGE_FILE"] = str(ROOT / ".coverage")
    env["COVERAGE_RCFILE"] = str(ROOT / ".coveragerc")
    _coverage("erase", env=env)
    # A warning from coverage itself (a forked process with nothing measured) is not a test failure.
    pytest = ["-m", "pytest", "-W", "ignore::coverage.exceptions.CoverageWarning", *_workers(argv), *argv]
    database_url, redis_url = env.pop("DATABASE_URL", None), env.pop("REDIS_URL", None)
    _say("coverage 1/2: SQLite, in-process jobs")
    failed = _coverage("run", *pytest, env=env) != 0
    if database_url and redis_url:
        _say("coverage 2/2: PostgreSQL, jobs through Redis and real RQ workers")
        second = dict(env, DATABASE_URL=database_url, REDIS_URL=redis_url)
        failed = _coverage("run", *pytest, env=second) != 0 or failed
    else:
        _say("coverage 2/2 skipped: set DATABASE_URL and REDIS_URL for the PostgreSQL and Redis pass;"
             " the figure below is the SQLite pass alone")
    _coverage("combine", "-q", env=env)
    _coverage("report", env=env)
    _coverage("json", "-q", "-o", str(ROOT / "test-artifacts" / "coverage.json"), env=env)
    _coverage("html", "-q", env=env)
    _by_domain(ROOT / "test-artifacts" / "coverage.json")
    _say("per-file detail in test-artifacts/coverage/index.html")
    if failed:
        print("[dev] some tests failed: the coverage above is of the tests that ran.", file=sys.stderr)
    return 1 if failed else 0


# Mutation testing (mutmut): per domain, the modules that hold its rules and the tests that
# check them. A run mutates only these files and, for each mutant, runs only the tests that
# called the mutated function, in one process: the whole suite per mutant would take days here.
MUTATION_DOMAINS: dict[str, tuple[list[str], list[str]]] = {
    "retention": (["service/retention/logic.py", "service/privacy/retention.py"],
                  ["tests/api/test_retention.py", "tests/api/test_retention_clocks.py",
                   "tests/api/test_retention_deletion.py", "tests/api/test_retention_recordings.py",
                   "tests/api/test_privacy_retention.py", "tests/api/test_case_merging.py"]),
    # The role matrix as the quick tier samples it (one caller in ten, a different sample each
    # day): the whole matrix once per run is more than this machine can spare.
    "permissions": (["service/auth/permissions.py", "service/auth/guard.py"],
                    ["tests/api/test_auth.py", "tests/api/test_api_keys.py", "tests/api/test_second_factor.py",
                     "tests/api/test_role_matrix.py", "--quick"]),
    # Restriction's rules live with the customer (customers/logic.py): the whole module is
    # mutated, and a run names the restriction functions (docs/development.md).
    "privacy": (["service/privacy/logic.py", "service/privacy/export.py", "service/customers/logic.py"],
                ["tests/api/test_privacy.py", "tests/api/test_restriction.py",
                 # A restriction on one identity applies to the linked person: tested there.
                 "tests/api/test_customer_linking.py"]),
    # The SMS opt-out's rules live with the customer too (customers/logic.py, named by a run).
    "outbox": (["service/outbox/logic.py", "service/outbox/delivery.py", "service/customers/logic.py"],
               # test_customers and test_email kill most of its mutants: mutmut sees only the listed files' kills.
               ["tests/integration/test_outbox_drain.py", "tests/api/test_sms.py", "tests/api/test_customers.py",
                "tests/api/test_email.py"]),
    # Sign-in's rules: failed logins counted, the lockout, tokens issued, expired and revoked.
    "auth": (["service/auth/logic.py"],
             ["tests/api/test_auth.py", "tests/api/test_sessions.py", "tests/api/test_second_factor.py"]),
    "intake": (["service/intake/batch.py", "service/intake/logic.py"],
               ["tests/api/test_intake.py", "tests/integration/test_intake_batches.py",
                "tests/api/test_thread_window.py", "tests/api/test_email.py", "tests/api/test_case_merging.py"]),
}
# What the tests need besides service/ (migrations: create_app finds them beside service/).
MUTATION_ALSO_COPY = ["channels", "migrations", "pytest.ini", "wsgi.py"]


def _mutation_config(domain: str) -> str:
    modules, tests = MUTATION_DOMAINS[domain]
    tests = [t for t in tests if t.startswith("-") or (ROOT / t).exists()]

    def lines(values: list[str]) -> str:
        return "".join(f"\n    {value}" for value in values)

    return ("# Written by `python3 dev.py mutation`; edit MUTATION_DOMAINS in dev.py instead.\n"
            "[mutmut]\n"
            "source_paths = service\n"
            f"only_mutate ={lines(modules)}\n"
            f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
            # One process (the machine is shared), SQLite and in-process jobs (no DATABASE_URL).
            "pytest_add_cli_args =\n    -n\n    0\n    -p\n    no:cacheprovider\n"
            f"also_copy ={lines(MUTATION_ALSO_COPY)}\n"
            "use_git_change_detection = false\n"
            # mutmut stops a mutant after 15 times its tests' measured time, by the wall clock: on a
            # shared machine (load 5-8 on 2 cores) a mutant that merely runs every test slowly got
            # there and counted as killed (a timeout). 40 times leaves room for that load.
            "timeout_multiplier = 40\n"
            # A log line's wording is no rule (masking is tested on the handler itself).
            "do_not_mutate_patterns =\n    ^\\s*log\\.\n")


def mutation(argv: list[str]) -> int:
    """Run mutmut over one domain (or every domain), each in .mutation/<domain>/ with its own
    cache: a rerun tests only the mutants not yet decided and those of functions changed since.
    After the domain, mutant names or globs (service.retention.logic.x_purge*) run just those,
    again even if decided."""
    domains, names = (argv[:1], argv[1:]) if argv else (list(MUTATION_DOMAINS), [])
    unknown = [d for d in domains if d not in MUTATION_DOMAINS]
    if unknown:
        print(f"unknown domain {unknown[0]!r}; one of: {', '.join(MUTATION_DOMAINS)}", file=sys.stderr)
        return 2
    ensure_environment("requirements-dev.txt")
    mutmut = str(BIN / "mutmut")
    env = {k: v for k, v in _test_environment().items() if k not in ("DATABASE_URL", "REDIS_URL")}
    for domain in domains:
        work = ROOT / ".mutation" / domain
        work.mkdir(parents=True, exist_ok=True)
        for name in ["service", "tests", *MUTATION_ALSO_COPY]:
            link = work / name
            if not link.is_symlink():
                link.symlink_to(ROOT / name)
        (work / "setup.cfg").write_text(_mutation_config(domain))
        _say(f"mutation testing {domain} in {work.relative_to(ROOT)}")
        subprocess.run([mutmut, "run", "--max-children", "1", *names], cwd=work, env=env)
        listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, env=env,
                                 capture_output=True, text=True).stdout
        results = [line.strip().rsplit(": ", 1) for line in listing.splitlines() if ": " in line]
        counts = Counter(status for _, status in results)
        killed = counts.get("killed", 0) + counts.get("timeout", 0)
        survived = counts.get("survived", 0)
        score = 100 * killed / (killed + survived) if killed + survived else 0.0
        _say(f"{domain}: {killed} killed, {survived} survived, {counts.get('no tests', 0)} reached by no test, "
             f"{counts.get('not checked', 0)} not run yet: score {score:.1f}%")
        for name, status in results:
            if status not in ("killed", "timeout", "not checked"):
                print(f"    {name}: {status}")
        _say(f"a mutant's diff: cd {work.relative_to(ROOT)} && {mutmut} show <name>")
    return 0


COMMANDS = {"serve": serve, "test": test, "coverage": coverage, "mutation": mutation}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
