"""Customer records confirmed by an official to be one person, and the candidates to confirm.

Nothing here runs by itself: intake never links two records (a number or an address may pass
from one person to another, and a wrong link shows one citizen's matters to another). Linking
points one record at the person's main record; each keeps its own phone and email, so the
number's STOP and the record's own cases stay as they are. What follows the person:

- a restriction of processing on any of the records applies to all of them, and lifting it
  lifts it on all of them;
- an access request that finds one record finds all of them (``privacy.logic.find_customers``),
  so the export, and the purge's keeping of customers under a request, follow the person;
- the customer page lists the cases of every record.

A person is one main record and the records pointing at it: one level, so linking a main
record to another person moves its linked records along.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select

from ..audit.logic import commit_read, record
from ..auth.permissions import Principal
from ..db_types import utcnow
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from .logic import _visible, get_customer, may_see
from .models import Customer


def person_of(customer: Customer) -> list[Customer]:
    """Every record of the person ``customer`` belongs to, the main record first."""
    main = customer if customer.merged_into_id is None else db.session.get(Customer, customer.merged_into_id)
    main = main or customer
    linked = db.session.scalars(select(Customer).where(Customer.merged_into_id == main.id).order_by(Customer.id))
    return [main, *linked]


def linked_records(*, actor: Principal, customer: Customer) -> list[Customer]:
    """The person's other records that ``actor`` may see. A record only on lines the official
    does not see is another register's, as it is by id (404): its number and address are not
    named to them because an official of every line linked it to one of theirs."""
    others = [c for c in person_of(customer) if c.id != customer.id]
    if not others:
        return []
    seen = set(db.session.scalars(_visible(select(Customer.id).where(Customer.id.in_([c.id for c in others])),
                                           actor)))
    return [c for c in others if c.id in seen]


def person_ids(customer_ids: set[int]) -> set[int]:
    """``customer_ids`` with every record linked to any of them."""
    if not customer_ids:
        return set()
    mains = set(db.session.scalars(select(func.coalesce(Customer.merged_into_id, Customer.id))
                                   .where(Customer.id.in_(customer_ids))))
    return customer_ids | mains | set(db.session.scalars(
        select(Customer.id).where(Customer.merged_into_id.in_(mains))))


def _restrict_alike(records: list[Customer]) -> None:
    restricted = sorted((c for c in records if c.restricted_at is not None), key=lambda c: c.restricted_at)
    if not restricted:
        return
    first = restricted[0]
    for customer in records:
        if customer.restricted_at is None:
            customer.restricted_at, customer.restriction_reason = first.restricted_at, first.restriction_reason
            customer.restriction_request_id = first.restriction_request_id


def link(*, actor: Principal, customer_id: int, into_customer_id: int) -> Customer:
    """Confirm that record ``customer_id`` is the same person as ``into_customer_id``."""
    if customer_id == into_customer_id:
        raise ValidationFailed("A customer cannot be linked to themselves.",
                               errors={"into_customer_id": ["Same customer."]})
    source = get_customer(actor=actor, customer_id=customer_id, audit=False)
    target = get_customer(actor=actor, customer_id=into_customer_id, audit=False)
    main = person_of(target)[0]
    if source.id == main.id or source.merged_into_id == main.id:
        raise Conflict("The records are already linked as one person.", code="already-linked")
    moved = [c for c in person_of(source)]
    for customer in moved:
        customer.merged_into_id = main.id
    _restrict_alike([main, *person_of(main)[1:], *moved])
    now = utcnow()
    for customer in moved:
        customer.updated_at = now
    record("customer.linked", actor=actor, object_type="customer", object_id=main.id,
           details={"linked_customer_ids": [c.id for c in moved]})
    db.session.commit()
    # The person's main record, unless it is on lines the official does not see: then the one they named.
    return main if may_see(actor, main) else target


def unlink(*, actor: Principal, customer_id: int) -> Customer:
    """Undo a link: the record stands alone again. A restriction it got from the person stays
    until the privacy officer lifts it: nothing is loosened by an unlink."""
    customer = get_customer(actor=actor, customer_id=customer_id, audit=False)
    if customer.merged_into_id is None:
        raise Conflict("The record is not linked to another person's record.", code="not-linked")
    main_id, customer.merged_into_id = customer.merged_into_id, None
    record("customer.unlinked", actor=actor, object_type="customer", object_id=customer.id,
           details={"unlinked_from_customer_id": main_id})
    db.session.commit()
    return customer


def candidates(*, actor: Principal, customer_id: int) -> list[dict]:
    """Records that may be the same person, with why: one of the person's phones or emails on
    the other's contacts or the other's on theirs, or the same name and address. Only listed;
    an official confirms each."""
    from ..cases.models import Case, Contact

    customer = get_customer(actor=actor, customer_id=customer_id, audit=False)
    person = person_of(customer)
    ids = {c.id for c in person}
    identities = {value for c in person for value in (c.phone, c.email) if value}
    found: dict[int, set[str]] = {}

    def add(query, reason: str) -> None:
        for other_id in db.session.scalars(_visible(query, actor)):
            if other_id not in ids:
                found.setdefault(other_id, set()).add(reason)

    # Addresses the person's cases wrote from or to, that are another record's identity.
    theirs = select(Contact.sender).join(Case, Contact.case_id == Case.id).where(Case.customer_id.in_(ids))
    theirs_to = select(Contact.recipient).join(Case, Contact.case_id == Case.id).where(Case.customer_id.in_(ids))
    add(select(Customer.id).where(or_(Customer.phone.in_(theirs), Customer.email.in_(theirs),
                                      Customer.phone.in_(theirs_to), Customer.email.in_(theirs_to))),
        "identity_seen_on_their_cases")
    if identities:
        add(select(Case.customer_id).join(Contact, Contact.case_id == Case.id).join(
            Customer, Customer.id == Case.customer_id).where(
            or_(Contact.sender.in_(identities), Contact.recipient.in_(identities))),
            "their_identity_seen_on_its_cases")
    for c in person:
        if c.name and c.address:
            add(select(Customer.id).where(func.lower(Customer.name) == c.name.strip().lower(),
                                          func.lower(Customer.address) == c.address.strip().lower()),
                "same_name_and_address")
    others = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(found)))}
    record("customer.link_candidates_listed", actor=actor, object_type="customer", object_id=customer.id,
           details={"count": len(others)})
    commit_read()
    return [{"customer": others[i], "reasons": sorted(found[i])} for i in sorted(others)]
