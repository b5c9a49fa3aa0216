"""Merging one case into another, splitting contacts off to a new case, and undoing a merge.

What must hold, whatever is merged or split:

- Nothing is lost or copied: rows move (their ids, contents and timestamps stay), so a contact,
  file or disclosure is on exactly one case before and after.
- Statistics do not change: the anonymous facts are left alone, since a merge is not a new
  contact; the contacts' facts still count each contact on the line and day it arrived.
- Retention is never shortened: the result is kept at least as long as either case would have
  been, and a legal hold on either holds the result.
- The merged case stays as a row pointing at its survivor, so its reference (in old subject
  tags) threads there, and the merge can be undone while neither case is purged.

The tables are walked from the schema rather than imported, since the domains that keep rows
on a case (chats, outbox, feedback, ...) build on cases and not the reverse. Every foreign key
into a case or a contact must be listed below; a test compares them with the schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, func, select, update

from ..audit.logic import record
from ..auth.permissions import Principal
from ..db_types import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..lines.logic import visible_line_ids
from .logic import load_case, new_case, touch
from .models import CLOSED, MERGE, SPLIT, Case, CaseMerge, Contact

MOVES = "moves with the case"
STAYS = "stays"

# Every foreign key into a case, and what a merge does with it.
CASE_REFERENCES: dict[tuple[str, str], str] = {
    ("contact", "case_id"): MOVES,
    ("note", "case_id"): MOVES,
    ("attachment", "case_id"): MOVES,
    ("recording", "case_id"): MOVES,
    ("chat", "case_id"): MOVES,
    ("outbox_message", "case_id"): MOVES,
    ("feedback_request", "case_id"): MOVES,
    ("disclosure", "case_id"): MOVES,
    # The merged case's own service clocks: its history, counted in statistics as it was.
    ("case_clock_event", "case_id"): STAYS,
    # A case linked to the merged one reaches the survivor through merged_into_id.
    ("case", "linked_case_id"): STAYS,
    # Re-pointed to the new survivor when a survivor is merged in turn (recorded, and undone).
    ("case", "merged_into_id"): STAYS,
    ("case_merge", "source_id"): STAYS,
    ("case_merge", "target_id"): STAYS,
    # The search index: database triggers move an entry with its contact, note or file.
    ("search_entry", "case_id"): STAYS,
}

# Every foreign key into a contact: on a split, rows of these tables go with their contact.
FOLLOWS_THE_CONTACT = "follows its contact"
CONTACT_REFERENCES: dict[tuple[str, str], str] = {
    ("attachment", "contact_id"): FOLLOWS_THE_CONTACT,
    ("recording", "contact_id"): FOLLOWS_THE_CONTACT,
    ("chat", "contact_id"): FOLLOWS_THE_CONTACT,
    ("outbox_message", "contact_id"): FOLLOWS_THE_CONTACT,
}

# Tombstones re-pointed at a new survivor are recorded under this key of CaseMerge.moved.
_REPOINTED = "case"


def _table(name: str) -> Table:
    return db.metadata.tables[name]


def _moving_tables() -> list[str]:
    return [table for (table, column), effect in CASE_REFERENCES.items() if effect == MOVES]


def _execute(statement):
    return db.session.execute(statement, execution_options={"synchronize_session": False})


def _lock_pair(actor: Principal, first_id: int, second_id: int) -> tuple[Case, Case]:
    """Both cases, locked in id order so two merges of the same pair cannot deadlock."""
    if first_id == second_id:
        raise ValidationFailed("A case cannot be merged into itself.", errors={"into_case_id": ["Same case."]})
    loaded = {}
    for case_id in sorted((first_id, second_id)):
        loaded[case_id] = load_case(actor=actor, case_id=case_id, for_update=True)
    return loaded[first_id], loaded[second_id]


def _check_lines(actor: Principal, source: Case, target: Case) -> None:
    if source.service_line_id == target.service_line_id:
        return
    if not actor.may("cases.merge_across_lines"):
        raise Forbidden("Only a supervisor may merge cases of different service lines.",
                        code="merge-across-lines-forbidden")
    if not (source.service_line.merge_across_lines and target.service_line.merge_across_lines):
        raise Conflict("Both service lines must allow merging across lines.", code="lines-do-not-allow-merge")


def _period_days(case: Case, default_days: int) -> int:
    return case.service_line.case_retention_days or default_days


def _keep_until(case: Case, default_days: int) -> datetime:
    """When the purge would take the case if nothing more happened, ignoring any hold."""
    if case.status == CLOSED and case.retention_until is not None:
        return case.retention_until
    return case.last_activity_at + timedelta(days=_period_days(case, default_days))


def _extend(target: Case, until: datetime, default_days: int) -> None:
    """Keep ``target`` at least until ``until``: a closed case by its date, an open one by its
    last activity, since that is what its clock counts from."""
    if target.status == CLOSED and target.retention_until is not None:
        target.retention_until = max(target.retention_until, until)
    else:
        earliest_activity = until - timedelta(days=_period_days(target, default_days))
        if earliest_activity > target.last_activity_at:
            target.last_activity_at = earliest_activity


def _hold_like(target: Case, other: Case) -> None:
    if target.legal_hold_at is None and other.legal_hold_at is not None:
        target.legal_hold_at, target.legal_hold_reason = other.legal_hold_at, other.legal_hold_reason


def _counts(case_id: int) -> dict[str, int]:
    counts = {}
    for name in _moving_tables():
        table = _table(name)
        counts[name] = db.session.scalar(select(func.count()).select_from(table).where(table.c.case_id == case_id))
    return counts


def merge_cases(*, actor: Principal, case_id: int, into_case_id: int, default_retention_days: int,
                dry_run: bool = False) -> dict:
    """Merge case ``case_id`` into ``into_case_id``. With ``dry_run``, only say what would move."""
    source, target = _lock_pair(actor, case_id, into_case_id)
    _check_lines(actor, source, target)
    keep_until = max(_keep_until(source, default_retention_days), _keep_until(target, default_retention_days))
    preview = {
        "source": source, "target": target, "moves": _counts(source.id),
        "customers_differ": source.customer_id != target.customer_id,
        "lines_differ": source.service_line_id != target.service_line_id,
        "keep_until": keep_until,
        "legal_hold": source.legal_hold_at is not None or target.legal_hold_at is not None,
    }
    if dry_run:
        db.session.rollback()  # the locks
        return preview
    moved: dict[str, list[int]] = {}
    for name in _moving_tables():
        table = _table(name)
        ids = list(db.session.scalars(
            update(table).where(table.c.case_id == source.id).values(case_id=target.id).returning(table.c.id),
            execution_options={"synchronize_session": False}))
        moved[name] = sorted(ids)
    cases = _table("case")
    moved[_REPOINTED] = sorted(db.session.scalars(
        update(cases).where(cases.c.merged_into_id == source.id).values(merged_into_id=target.id)
        .returning(cases.c.id), execution_options={"synchronize_session": False}))
    _extend(target, keep_until, default_retention_days)
    _hold_like(target, source)
    source.merged_into_id = target.id
    now = utcnow()
    touch(target, now)
    merge = CaseMerge(kind=MERGE, source_id=source.id, target_id=target.id, moved=moved,
                      by_id=actor.id if actor.is_official else None, at=now)
    db.session.add(merge)
    db.session.flush()
    record("case.merged", actor=actor, object_type="case", object_id=target.id,
           details={"merged_case_id": source.id, "merge_id": merge.id,
                    "moved": {name: len(ids) for name, ids in moved.items()}})
    db.session.commit()
    return {**preview, "merge": merge, "moves": {name: len(ids) for name, ids in moved.items() if name != _REPOINTED}}


def split_case(*, actor: Principal, case_id: int, contact_ids: list[int], dry_run: bool = False) -> dict:
    """Move the contacts ``contact_ids`` of case ``case_id``, with what belongs to each, to a new case."""
    source = load_case(actor=actor, case_id=case_id, for_update=True)
    wanted = set(contact_ids)
    contacts = list(db.session.scalars(select(Contact).where(Contact.case_id == source.id)
                                       .order_by(Contact.occurred_at, Contact.id)))
    mine = {c.id for c in contacts}
    strangers = sorted(wanted - mine)
    if strangers:
        raise ValidationFailed("Some contacts are not on this case.",
                               errors={"contact_ids": [f"Not on this case: {', '.join(map(str, strangers))}."]})
    if not wanted or wanted == mine:
        raise ValidationFailed("Choose some of the case's contacts, not none or all.",
                               errors={"contact_ids": ["At least one contact must stay and one must move."]})
    chosen = [c for c in contacts if c.id in wanted]
    follows = {table: sorted(db.session.scalars(select(_table(table).c.id).where(
        _table(table).c.contact_id.in_(wanted), _table(table).c.case_id == source.id)))
        for (table, _column) in CONTACT_REFERENCES}
    moves = {"contact": len(chosen), **{table: len(ids) for table, ids in follows.items()}}
    if dry_run:
        db.session.rollback()
        return {"source": source, "target": None, "moves": moves, "customers_differ": False,
                "lines_differ": False, "keep_until": None, "legal_hold": source.legal_hold_at is not None}
    now = utcnow()
    first = chosen[0]
    target = new_case(service_line_id=source.service_line_id, channel=first.channel, customer=source.customer,
                      subject=first.subject or source.subject, language=first.language or source.language,
                      created_by_id=actor.id if actor.is_official else None, at=now)
    # The new case is open from now, so it is kept at least as long as the case it came from.
    _hold_like(target, source)
    contacts_table = _table("contact")
    _execute(update(contacts_table).where(contacts_table.c.id.in_(wanted)).values(case_id=target.id))
    for table, ids in follows.items():
        if ids:
            _execute(update(_table(table)).where(_table(table).c.id.in_(ids)).values(case_id=target.id))
    moved = {"contact": sorted(wanted), **follows}
    merge = CaseMerge(kind=SPLIT, source_id=source.id, target_id=target.id, moved=moved,
                      by_id=actor.id if actor.is_official else None, at=now)
    db.session.add(merge)
    touch(source, now)
    db.session.flush()
    record("case.split", actor=actor, object_type="case", object_id=source.id,
           details={"new_case_id": target.id, "merge_id": merge.id, "moved": moves})
    db.session.commit()
    return {"source": source, "target": target, "merge": merge, "moves": moves, "customers_differ": False,
            "lines_differ": False, "keep_until": None, "legal_hold": target.legal_hold_at is not None}


def undo_merge(*, actor: Principal, merge_id: int, default_retention_days: int) -> CaseMerge:
    """Split a merged case back out of its survivor: what the merge moved, and is still on the
    survivor, moves back. Rows written on the survivor since stay there."""
    merge = db.session.get(CaseMerge, merge_id)
    if merge is None or merge.kind != MERGE:
        raise NotFound(f"Merge {merge_id} does not exist.")
    pair = {case.id: case for case in db.session.scalars(
        select(Case).where(Case.id.in_((merge.source_id, merge.target_id))).order_by(Case.id).with_for_update())}
    source, target = pair.get(merge.source_id), pair.get(merge.target_id)
    # The lines first: whether another line's merge was undone, or lost a case to the purge, is
    # not for an official of this line to learn (404, as for an id that never existed).
    line_ids = visible_line_ids(actor)
    if line_ids is not None and not {case.service_line_id for case in pair.values()} <= line_ids:
        raise NotFound(f"Merge {merge_id} does not exist.")
    if merge.undone_at is not None:
        raise Conflict("This merge has already been undone.", code="merge-already-undone")
    if source is None or target is None:
        raise Conflict("One of the cases has been purged: the merge can no longer be undone.", code="case-purged")
    if source.merged_into_id != target.id or target.merged_into_id is not None:
        raise Conflict("The survivor has since been merged into another case: undo that merge first.",
                       code="merge-not-last")
    _check_lines(actor, source, target)
    for name, ids in merge.moved.items():
        if not ids:
            continue
        table = _table(name)
        if name == _REPOINTED:
            _execute(update(table).where(table.c.id.in_(ids), table.c.merged_into_id == target.id)
                     .values(merged_into_id=source.id))
        else:
            _execute(update(table).where(table.c.id.in_(ids), table.c.case_id == target.id)
                     .values(case_id=source.id))
    source.merged_into_id = None
    # Never shortened: what came back was kept as long as the survivor while merged, and a hold
    # placed on the survivor meanwhile may have been meant for what came back.
    _extend(source, _keep_until(target, default_retention_days), default_retention_days)
    _hold_like(source, target)
    now = utcnow()
    touch(source, now)
    touch(target, now)
    merge.undone_at, merge.undone_by_id = now, actor.id if actor.is_official else None
    record("case.merge_undone", actor=actor, object_type="case", object_id=target.id,
           details={"merged_case_id": source.id, "merge_id": merge.id})
    db.session.commit()
    return merge


def merges_of(*, actor: Principal, case_id: int) -> list[CaseMerge]:
    """The merges and splits a case took part in, newest first."""
    case = load_case(actor=actor, case_id=case_id)
    return list(db.session.scalars(
        select(CaseMerge).where((CaseMerge.source_id == case.id) | (CaseMerge.target_id == case.id))
        .order_by(CaseMerge.at.desc(), CaseMerge.id.desc())))


def survivor_of(case: Case) -> Case:
    """The case a merged case's reference leads to now."""
    if case.merged_into_id is None:
        return case
    return db.session.get(Case, case.merged_into_id) or case
