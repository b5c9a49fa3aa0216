"""Who may do what: the one permission table every endpoint is checked against.

Roles are those of the design's role table, plus the inspector: an official outside the
service (a subcontractor, a partner, a local register office) who may hear one register's
recordings and nothing else. Which lines each role sees is decided in ``lines.logic.line_scope``.
API keys carry scopes instead of a role; the ``intake`` scope maps to the permission to post
inbound contacts and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ADVISER = "adviser"
SUPERVISOR = "supervisor"
ADMIN = "admin"
PRIVACY_OFFICER = "privacy_officer"
INSPECTOR = "inspector"
ROLES = (ADVISER, SUPERVISOR, ADMIN, PRIVACY_OFFICER, INSPECTOR)

SCOPE_INTAKE = "intake"
SCOPES = (SCOPE_INTAKE,)

CASE_WORKERS = frozenset({ADVISER, SUPERVISOR, ADMIN})

PERMISSIONS: dict[str, frozenset[str]] = {
    # Any signed-in official: their own session and profile.
    "session": frozenset(ROLES),
    "cases.read": CASE_WORKERS,
    "cases.write": CASE_WORKERS,
    "cases.reassign": frozenset({SUPERVISOR, ADMIN}),
    # Merging two cases of one line, splitting a case, and undoing a merge.
    "cases.merge": CASE_WORKERS,
    # Merging cases of two lines that both allow it: two registers' data become one case.
    "cases.merge_across_lines": frozenset({SUPERVISOR, ADMIN}),
    # The privacy officer finds data subjects and applies corrections (rectification).
    "customers.read": CASE_WORKERS | {PRIVACY_OFFICER},
    # Advisers: only recordings of calls they handled; inspectors: only their lines' (both
    # enforced in the recordings logic). The privacy officer hears any, to answer access requests.
    "recordings.read": CASE_WORKERS | {PRIVACY_OFFICER, INSPECTOR},
    "customers.write": CASE_WORKERS | {PRIVACY_OFFICER},
    "privacy.manage": frozenset({PRIVACY_OFFICER, ADMIN}),
    # Confirming that two customer records are one person, undoing it, and the candidates.
    "customers.link": frozenset({PRIVACY_OFFICER, ADMIN}),
    # Legal holds, and running the purge by hand.
    "retention.manage": frozenset({PRIVACY_OFFICER, ADMIN}),
    "service_lines.read": CASE_WORKERS,
    "service_lines.manage": frozenset({ADMIN}),
    "authorities.manage": frozenset({ADMIN}),
    # Writing the standard answers advisers pick; advisers read them filled in, through cases.read.
    "reply_templates.manage": frozenset({ADMIN}),
    # Not the inspector: the names and contact details of the service's staff are not theirs to see.
    "officials.read": CASE_WORKERS | {PRIVACY_OFFICER},
    "officials.manage": frozenset({ADMIN}),
    "api_keys.manage": frozenset({ADMIN}),
    "audit.read": frozenset({ADMIN, PRIVACY_OFFICER}),
    # Anonymous contact-volume statistics.
    "stats.read": frozenset({SUPERVISOR, ADMIN}),
    "intake.post": frozenset({ADMIN}),
    # Opening a file the malware scanner could not look into is a security decision.
    "attachments.release": frozenset({ADMIN}),
    "calls.report": frozenset({ADMIN}),
}

# Permissions an administrator may grant one official beyond their role, and to which roles:
# confirming that two customer records are one person is the privacy officer's, but an
# authority may trust some advisers with it. A grant never reaches a role not listed here.
GRANTABLE: dict[str, frozenset[str]] = {
    "customers.link": frozenset({ADVISER, SUPERVISOR}),
}

# Which permissions an API key's scopes grant.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    SCOPE_INTAKE: frozenset({"intake.post", "calls.report"}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request: an official or an integration's API key."""

    kind: str  # "official" | "api_key"
    id: int
    name: str
    role: str | None = None
    # A supervisor an administrator limited to their service lines (``Official.limited_to_lines``).
    limited_to_lines: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None
    # A password session of a role that requires a second factor, without one: it may only
    # enrol (the `session` permission) until it has.
    second_factor_missing: bool = False
    # Permissions granted to this official on top of their role (only those of GRANTABLE).
    grants: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_official(self) -> bool:
        return self.kind == "official"

    @property
    def label(self) -> str:
        """What the audit log calls this caller: a role, or the scopes of a key."""
        return self.role if self.role else "api_key:" + ",".join(sorted(self.scopes))

    def may(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise KeyError(f"unknown permission {permission!r}")
        if self.role is not None:
            return self.role in PERMISSIONS[permission] or (
                permission in self.grants and self.role in GRANTABLE.get(permission, ()))
        return any(permission in SCOPE_PERMISSIONS.get(scope, ()) for scope in self.scopes)
