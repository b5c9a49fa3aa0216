"""Cases: opening, finding, working and closing them. Every use case commits once, here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, load_only, selectinload

from .. import events
from ..audit.logic import commit_read, record
from ..clocks import logic as clocks
from ..auth.models import Official
from ..auth.permissions import CASE_WORKERS, Principal
from ..customers.logic import ensure_not_restricted, find_customer, find_or_create, may_see
from ..customers.models import Customer
from ..db_types import utcnow
from ..errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from ..extensions import db
from ..lines.logic import default_line, get_line, official_line_scope, visible_line_ids
from ..lines.models import ServiceLine
from ..pagination import Page, paginate
from . import search, search_terms
from .models import CLOSED, FORWARDED, HAND_LOGGED_IDS, NEW, OPEN, WAITING, Case, Contact, Note

# Which status a case may move to from each status. Closing and reopening have their own
# endpoints; forwarding arrives with the forwarding domain.
TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({OPEN, WAITING, FORWARDED, CLOSED}),
    OPEN: frozenset({WAITING, FORWARDED, CLOSED}),
    WAITING: frozenset({OPEN, FORWARDED, CLOSED}),
    FORWARDED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset({OPEN}),
}


def format_reference(case: Case) -> str:
    return f"{case.created_at.year}-{case.id:06d}"


def move(case: Case, status: str, at: datetime | None = None) -> None:
    if status == case.status:
        return
    if status not in TRANSITIONS[case.status]:
        raise InvalidTransition(f"A {case.status} case cannot become {status}.")
    before, case.status = case.status, status
    clocks.status_changed(case, before, status, at or utcnow())


def touch(case: Case, at: datetime | None = None) -> None:
    at = at or utcnow()
    case.updated_at = at
    if case.last_activity_at is None or at > case.last_activity_at:
        case.last_activity_at = at


def handled_by_official(case: Case, at: datetime | None = None) -> None:
    """An official acted on the case (a reply or a note): it is no longer untouched."""
    if case.status == NEW:
        move(case, OPEN)
    if case.first_response_at is None:
        case.first_response_at = at or utcnow()
        clocks.responded(case, case.first_response_at)


def new_case(*, service_line_id: int, channel: str, customer: Customer | None, subject: str | None,
             language: str | None, created_by_id: int | None = None, at: datetime | None = None) -> Case:
    """Insert a case and give it its reference (needs the id, hence the flush)."""
    at = at or utcnow()
    case = Case(service_line_id=service_line_id, channel=channel, customer=customer,
                subject=subject, language=language, status=NEW, created_by_id=created_by_id,
                created_at=at, updated_at=at, last_activity_at=at)
    db.session.add(case)
    db.session.flush()
    case.reference = format_reference(case)
    clocks.start_clocks(case, at)
    events.case_created.send(case)
    return case


def _visible_cases(principal: Principal, *columns):
    query = select(*columns) if columns else select(Case)
    # A merged case is only its survivor's alias: not listed, opened or written to.
    query = query.where(Case.merged_into_id.is_(None))
    line_ids = visible_line_ids(principal)
    if line_ids is not None:
        query = query.where(Case.service_line_id.in_(line_ids))
    return query


def load_case(*, actor: Principal, case_id: int, for_update: bool = False) -> Case:
    query = _visible_cases(actor).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update()
    case = db.session.scalar(query)
    if case is None:
        raise NotFound(f"Case {case_id} does not exist.")
    return case


# Functions giving loader options for what other domains show on a case's detail (e.g. feedback
# requests), so that it is read with the case, before the read's audit entry commits, not
# lazily afterwards in a transaction of its own.
DETAIL_LOADERS: list[Callable[[], object]] = []


def get_case(*, actor: Principal, case_id: int) -> Case:
    case = db.session.scalar(
        _visible_cases(actor).where(Case.id == case_id).options(
            selectinload(Case.contacts).selectinload(Contact.handled_by),
            selectinload(Case.notes).selectinload(Note.author),
            selectinload(Case.attachments), selectinload(Case.clock_events),
            joinedload(Case.customer), joinedload(Case.service_line),
            *(loader() for loader in DETAIL_LOADERS),
        )
    )
    if case is None:
        raise NotFound(f"Case {case_id} does not exist.")
    record("case.read", actor=actor, object_type="case", object_id=case.id)
    commit_read()
    return case


# What a row of the case list shows (CaseSummaryOut, with its retention and due state), and
# nothing more: a case's texts, clock bookkeeping and the joined official's credentials cost
# the list their transfer and conversion on every row. A column missing here is loaded row by
# row when shown (tests/api/test_cases.py counts the list's statements).
SUMMARY_COLUMNS = (Case.id, Case.reference, Case.status, Case.channel, Case.service_line_id, Case.customer_id,
                   Case.assignee_id, Case.subject, Case.language, Case.topic, Case.created_at, Case.updated_at,
                   Case.last_activity_at, Case.closed_at, Case.retention_until, Case.legal_hold_at,
                   Case.first_response_due_at, Case.resolution_due_at, Case.next_due_at, Case.clock_paused_at)


def list_cases(*, actor: Principal, page: int, page_size: int, region: str, sort: str = "-created_at",
               q: str | None = None, **filters):
    # Each a single row per case: joined into the page's one query rather than three more.
    query = _filtered(_visible_cases(actor), actor, **filters).options(
        load_only(*SUMMARY_COLUMNS),
        joinedload(Case.customer).load_only(Customer.id, Customer.name),
        joinedload(Case.assignee).load_only(Official.id, Official.name),
        joinedload(Case.service_line).load_only(ServiceLine.id, ServiceLine.name, ServiceLine.case_retention_days))
    if sort == "due":
        # Only running clocks have a due time; ascending puts NULLs last on PostgreSQL by
        # default, so ix_case_next_due serves the page in order.
        order = (Case.next_due_at.asc().nulls_last(), Case.id.asc())
    else:
        column = {"created_at": Case.created_at, "updated_at": Case.updated_at,
                  "last_activity_at": Case.last_activity_at}[sort.lstrip("-")]
        order = (column.desc(), Case.id.desc()) if sort.startswith("-") else (column.asc(), Case.id.asc())
    if q:
        result = _searched_page(query, actor, q, region, order, page=page, page_size=page_size, filters=filters)
    else:
        result = paginate(query.order_by(*order), page=page, page_size=page_size)
    # A search names who the official looked for; that is what legality control asks about.
    record("case.listed", actor=actor, object_type="case",
           details={"q": q, "count": len(result.items), "page": page} if q else
           {"count": len(result.items), "page": page})
    commit_read()
    return result


def _searched_page(query, actor: Principal, q: str, region: str, order, *, page: int, page_size: int,
                   filters: dict) -> Page:
    """The case list narrowed by ``q``, in the list's order. The text search finds at most
    search.CANDIDATES cases, so their ids are read once, in order, and counted and paged here:
    paginate() would run the search twice, once for the total and once for the page."""
    ranked, _ = search.ranked_cases(q, region)
    ids = db.session.scalars(
        _filtered(_visible_cases(actor, Case.id), actor, **filters)
        .join(ranked, ranked.c.case_id == Case.id).order_by(*order)).all()
    shown = ids[(page - 1) * page_size:page * page_size]
    items = list(db.session.scalars(query.where(Case.id.in_(shown)).order_by(*order)).unique()) if shown else []
    return Page(items=items, total=len(ids), page=page, page_size=page_size)


def search_cases(*, actor: Principal, q: str, page: int, page_size: int, region: str,
                 similar_timeout_ms: int = 2000, **filters):
    """The cases ``q`` finds among those the official may see, best match first, each with a
    snippet of the text that matched (``search_snippet``) and its rank (``search_rank``)."""
    ranked, groups = search.ranked_cases(q, region)
    matches = _ranked_ids(actor, ranked, filters)
    similar = not matches and groups and not search.names_one_person(q, region) and search.has_trigrams()
    if similar:
        # Nothing by the stems: words that hold the search's words, or nearly (PostgreSQL).
        ranked = search.similar_cases(q)
        groups = [[word] for word in search_terms.words(q)]
        # It weighs every text it reads, and a near miss of a common word reads most of them
        # (seconds at 100,000 cases): past its budget it finds nothing rather than hold the
        # adviser and a web thread.
        matches = search.within_milliseconds(similar_timeout_ms, lambda: _ranked_ids(actor, ranked, filters)) or []
    shown = matches[(page - 1) * page_size:page * page_size]
    loaded = {case.id: case for case in db.session.scalars(
        select(Case).where(Case.id.in_([case_id for case_id, _ in shown]))
        .options(joinedload(Case.customer), joinedload(Case.assignee), joinedload(Case.service_line)))}
    found = search.snippets([case_id for case_id, _ in shown], groups, inside=bool(similar))
    items = []
    for case_id, rank in shown:
        case = loaded[case_id]
        case.search_rank = float(rank)
        case.search_snippet = found.get(case_id)
        items.append(case)
    result = Page(items=items, total=len(matches), page=page, page_size=page_size)
    record("case.searched", actor=actor, object_type="case",
           details={"q": q, "count": len(items), "page": page})
    commit_read()
    return result


def _ranked_ids(actor: Principal, ranked, filters: dict) -> list:
    # Every match's id and rank at once (a few thousand at most, search.CANDIDATES): counting
    # and paging them here runs the text search once, where paginate() would run it twice.
    return db.session.execute(
        _filtered(_visible_cases(actor, Case.id, ranked.c.rank), actor, **filters)
        .join(ranked, ranked.c.case_id == Case.id)
        .order_by(ranked.c.rank.desc(), Case.id.desc())).all()


def _filtered(query, actor: Principal, *, status: list[str] | None = None, channel: list[str] | None = None,
              service_line_id: list[int] | None = None, assignee: str | None = None,
              language: list[str] | None = None, customer_id: int | None = None,
              created_from: datetime | None = None, created_to: datetime | None = None,
              updated_from: datetime | None = None, updated_to: datetime | None = None,
              breached: bool | None = None):
    """The case list's filters, shared by the search."""
    if status:
        query = query.where(Case.status.in_(status))
    if channel:
        query = query.where(Case.channel.in_(channel))
    if service_line_id:
        query = query.where(Case.service_line_id.in_(service_line_id))
    if language:
        query = query.where(Case.language.in_(language))
    if customer_id is not None:
        query = query.where(Case.customer_id == customer_id)
    if assignee == "me":
        query = query.where(Case.assignee_id == actor.id)
    elif assignee == "not_me":
        query = query.where(or_(Case.assignee_id.is_(None), Case.assignee_id != actor.id))
    elif assignee == "none":
        query = query.where(Case.assignee_id.is_(None))
    elif assignee is not None:
        query = query.where(Case.assignee_id == int(assignee))
    for column, lower, upper in ((Case.created_at, created_from, created_to),
                                 (Case.updated_at, updated_from, updated_to)):
        if lower is not None:
            query = query.where(column >= lower)
        if upper is not None:
            query = query.where(column < upper)
    if breached is not None:
        now = utcnow()
        query = query.where(Case.next_due_at <= now if breached
                            else or_(Case.next_due_at.is_(None), Case.next_due_at > now))
    return query


def _assignable(official_id: int | None, case: Case) -> Official | None:
    if official_id is None:
        return None
    official = db.session.get(Official, official_id)
    if official is None or not official.active or official.role not in CASE_WORKERS:
        raise ValidationFailed("Cannot assign to that official.",
                               errors={"assignee_id": ["Not an active adviser, supervisor or admin."]})
    scope = official_line_scope(official)
    if scope is not None and case.service_line_id not in scope:
        raise ValidationFailed("That official does not work on this case's service line.",
                               errors={"assignee_id": ["Not a member of the case's service line."]})
    return official


def _check_handler(official_id: int, case: Case) -> None:
    """Who handled a contact is someone who could have: a case worker of the case's line. A
    contact credited to the privacy officer or to another line's adviser would put the case in
    their work history (and in their reach) without their line's say."""
    official = db.session.get(Official, official_id)
    if official is None:
        raise ValidationFailed("Unknown official.", errors={"handled_by_id": ["No such official."]})
    if official.role not in CASE_WORKERS:
        raise ValidationFailed("That official does not handle contacts.",
                               errors={"handled_by_id": ["Not an adviser, supervisor or admin."]})
    member_of = {line.id for line in official.service_lines}
    if official.role == "adviser" and member_of and case.service_line_id not in member_of:
        raise ValidationFailed("That adviser does not work on this case's service line.",
                               errors={"handled_by_id": ["Not a member of the case's service line."]})


def _check_assignment_right(actor: Principal, case: Case, new_assignee_id: int | None) -> None:
    """Advisers take cases for themselves or let them go; giving work to others is a
    supervisor's call."""
    if actor.may("cases.reassign"):
        return
    own_or_free = case.assignee_id in (None, actor.id)
    if not own_or_free or new_assignee_id not in (None, actor.id):
        raise Forbidden("Only supervisors and admins assign cases to others.")


def _line_named(line_id: int):
    # The request body names the line; the resource at the URL exists, so this is bad input.
    try:
        return get_line(line_id)
    except NotFound:
        raise ValidationFailed("Unknown service line.",
                               errors={"service_line_id": [f"No service line {line_id}."]}) from None


def open_case(*, actor: Principal, data: dict, region: str) -> Case:
    line = _line_named(data["service_line_id"]) if data.get("service_line_id") else default_line()
    allowed = visible_line_ids(actor)
    if allowed is not None and line.id not in allowed:
        raise Forbidden("You do not work on that service line.")
    customer = None
    ref = data.get("customer")
    if ref:
        if ref.get("id") is not None:
            from ..customers.logic import get_customer

            try:
                customer = get_customer(actor=actor, customer_id=ref["id"], audit=False)
            except NotFound:
                raise ValidationFailed("Unknown customer.", errors={"customer": {"id": ["No such customer."]}}) from None
        else:
            # A phone or email names a customer as surely as an id does, and gets the same line
            # check. The details are unique, so there is no record of this line's own to make:
            # the adviser learns only that the details are taken, nothing of whose they are.
            existing = find_customer(phone=ref.get("phone"), email=ref.get("email"))
            if existing is not None and not may_see(actor, existing):
                raise Conflict("These contact details belong to a customer of a service line you do not work on; "
                               "ask a supervisor to open the case.", code="customer-not-visible")
            customer, created = find_or_create(phone=ref.get("phone"), email=ref.get("email"),
                                               name=ref.get("name"))
            if created:
                record("customer.created", actor=actor, object_type="customer", object_id=customer.id)
        ensure_not_restricted(customer, "opening a case")
    case = new_case(service_line_id=line.id, channel=data.get("channel", "internal"), customer=customer,
                    subject=data.get("subject"), language=data.get("language") or line.default_language,
                    created_by_id=actor.id)
    case.topic = data.get("topic")
    case.question = data.get("question")
    if data.get("assignee_id") is not None:
        _check_assignment_right(actor, case, data["assignee_id"])
        case.assignee = _assignable(data["assignee_id"], case)
    handled_by_official(case)
    record("case.created", actor=actor, object_type="case", object_id=case.id)
    db.session.commit()
    return case


def update_case(*, actor: Principal, case_id: int, data: dict) -> Case:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is closed; reopen it before changing it.")
    if "assignee_id" in data and data["assignee_id"] != case.assignee_id:
        _check_assignment_right(actor, case, data["assignee_id"])
        case.assignee = _assignable(data["assignee_id"], case)
    for name in ("language", "topic", "subject", "question", "answer"):
        if name in data:
            setattr(case, name, data[name])
    if "status" in data:
        move(case, data["status"])
    if "answer" in data or "status" in data:
        handled_by_official(case)
    touch(case)
    record("case.updated", actor=actor, object_type="case", object_id=case.id,
           details={"fields": sorted(data)})
    db.session.commit()
    return case


def add_note(*, actor: Principal, case_id: int, body: str) -> Note:
    """Notes may be added to closed cases too: a correction is appended, never rewritten."""
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    note = Note(case=case, author_id=actor.id, body=body)
    db.session.add(note)
    if case.status != CLOSED:
        handled_by_official(case)
    touch(case)
    db.session.flush()
    record("note.created", actor=actor, object_type="case", object_id=case.id, details={"note_id": note.id})
    db.session.commit()
    return note


def log_contact(*, actor: Principal, case_id: int, data: dict) -> Contact:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is closed; reopen it before logging contacts on it.")
    handled_by_id = data.get("handled_by_id", actor.id)
    if handled_by_id is not None:
        _check_handler(handled_by_id, case)
    occurred_at = data.get("started_at") or data.get("received_at") or utcnow()
    contact = Contact(case=case, channel=data["channel"], direction=data.get("direction", "inbound"),
                      external_id=data.get("external_id"), external_id_source=HAND_LOGGED_IDS,
                      subject=data.get("subject"),
                      body=data.get("body"), language=data.get("language"),
                      received_at=data.get("received_at"), started_at=data.get("started_at"),
                      answered_at=data.get("answered_at"), ended_at=data.get("ended_at"),
                      queue_seconds=data.get("queue_seconds"), occurred_at=occurred_at,
                      handled_by_id=handled_by_id, created_by_id=actor.id)
    db.session.add(contact)
    handled_by_official(case)
    touch(case)
    db.session.flush()
    record("contact.created", actor=actor, object_type="case", object_id=case.id,
           details={"contact_id": contact.id})
    db.session.commit()
    return contact


def retention_date(case: Case, *, closed_at: datetime, default_days: int) -> datetime:
    """When closed case ``case`` may be purged, by the retention periods in force now.

    Its own period from closing, but never earlier than the clock of a case merged into it (or
    of the survivor a merge of it was undone from): a merge keeps the result as long as either
    case would have been kept (cases/merging.py), and closing the survivor or recounting after
    a policy change must not take that away. Each clock is counted by its own case's line, so a
    shorter period shortens the merged cases too, as it would have had they not been merged.
    """
    from .models import MERGE, CaseMerge

    def own(one: Case) -> datetime:
        days = one.service_line.case_retention_days or default_days
        return (one.closed_at if one.closed_at is not None else one.last_activity_at) + timedelta(days=days)

    until = closed_at + timedelta(days=case.service_line.case_retention_days or default_days)
    for merged in db.session.scalars(select(Case).where(Case.merged_into_id == case.id)):
        until = max(until, own(merged))
    for survivor, undone_at in db.session.execute(
            select(Case, CaseMerge.undone_at).join(CaseMerge, CaseMerge.target_id == Case.id)
            .where(CaseMerge.source_id == case.id, CaseMerge.kind == MERGE, CaseMerge.undone_at.is_not(None))):
        # The survivor's clock as it stood at the undo: activity on it since is not this case's.
        at_undo = undone_at + timedelta(days=survivor.service_line.case_retention_days or default_days)
        until = max(until, min(own(survivor), at_undo))
    return until


def close_case(*, actor: Principal, case_id: int, default_retention_days: int,
               at: datetime | None = None) -> Case:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is already closed.")
    at = at or utcnow()
    move(case, CLOSED, at)
    case.closed_at = at
    case.retention_until = retention_date(case, closed_at=at, default_days=default_retention_days)
    touch(case, at)
    record("case.closed", actor=actor, object_type="case", object_id=case.id)
    events.case_closed.send(case)
    db.session.commit()
    return case


def reopen_case(*, actor: Principal, case_id: int) -> Case:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status != CLOSED:
        raise InvalidTransition("Only a closed case can be reopened.")
    at = utcnow()
    move(case, OPEN, at)
    case.closed_at = None
    case.retention_until = None
    touch(case, at)
    record("case.reopened", actor=actor, object_type="case", object_id=case.id)
    events.case_reopened.send(case)
    db.session.commit()
    return case
