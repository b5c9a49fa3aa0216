"""Where a benchmark's CPU went, by role, read from Linux's /proc: the web server's processes,
the job workers, PostgreSQL, Redis, and this process with its load generators. Summed over a
phase and divided by the messages it handled, it says what each message cost the machine,
which a profile of one process cannot (the HTTP server, the driver's peer and the load
generator are outside it)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, CPU seconds so far), of every process readable now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone since the listing
        # The command name is in parentheses and may hold spaces; the fields after it are fixed.
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()
        # Its own time and that of its children it has reaped: a load generator or a database
        # backend that ends during a phase stays counted, with its parent.
        found[int(entry.name)] = (name, int(rest[1]), sum(int(value) for value in rest[11:15]) / TICKS)
    return found


def _descendants(processes: dict, roots: set[int]) -> set[int]:
    members, grew = set(roots), True
    while grew:
        grew = False
        for pid, (_, parent, _) in processes.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def _machine_busy_seconds() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return (sum(fields[:8]) - idle) / TICKS


class CpuByRole:
    """``snapshot()`` before and after a phase; ``since(earlier)`` gives CPU seconds per role.

    Roles: ``web`` (the server processes' trees), ``workers`` (the worker processes),
    ``postgres`` and ``redis`` (every such process on the machine, so run it on a quiet one),
    ``bench`` (this process and its other children: the load generators) and ``machine`` (all
    busy time, from /proc/stat); ``other`` is what the machine spent outside the roles."""

    def __init__(self, *, web: list[int], workers: list[int]):
        self.web, self.workers = set(web), set(workers)

    def snapshot(self) -> dict[str, float]:
        processes = _processes()
        web = _descendants(processes, self.web)
        workers = _descendants(processes, self.workers)
        bench = _descendants(processes, {os.getpid()}) - web - workers
        totals = {"web": 0.0, "workers": 0.0, "postgres": 0.0, "redis": 0.0, "bench": 0.0}
        postgres_parts = dict.fromkeys(POSTGRES_PARTS, 0.0)
        for pid, (name, _, seconds) in processes.items():
            if pid in web:
                totals["web"] += seconds
            elif pid in workers:
                totals["workers"] += seconds
            elif pid in bench:
                totals["bench"] += seconds
            elif name.startswith("postgres"):
                totals["postgres"] += seconds
                postgres_parts[_postgres_part(pid)] += seconds
            elif name.startswith("redis-server"):
                totals["redis"] += seconds
        totals["machine"] = _machine_busy_seconds()
        return totals | postgres_parts

    @staticmethod
    def since(earlier: dict[str, float], later: dict[str, float]) -> dict[str, float]:
        spent = {role: later[role] - earlier[role] for role in earlier}
        spent["other"] = spent["machine"] - sum(value for role, value in spent.items()
                                                if role != "machine" and role not in POSTGRES_PARTS)
        return spent


# PostgreSQL's share split by what its processes do: the sessions serving statements, the
# autovacuum workers (the landing table's churn, the GIN pending lists), and the rest (the
# WAL writer, the checkpointer, the background writer, and the postmaster with the sessions
# and workers it has reaped).
POSTGRES_PARTS = ("postgres_sessions", "postgres_autovacuum", "postgres_background")


def _postgres_part(pid: int) -> str:
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "postgres_background"
    if "autovacuum" in title:
        return "postgres_autovacuum"
    # A session's title is "postgres: USER DATABASE HOST(PORT) STATE".
    if "(" in title or "[local]" in title:
        return "postgres_sessions"
    return "postgres_background"


def per_message_ms(spent: dict[str, float], messages: int) -> dict[str, float]:
    return {role: round(seconds * 1000 / max(messages, 1), 3) for role, seconds in spent.items()}
