"""Random case histories merged, split and unmerged through the API: nothing is lost or
copied, the statistics facts stay as they were, and no piece of data is kept for less time
than before."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.cases.models import Attachment, Case, Contact, Note
from service.extensions import db
from service.forwarding.models import Disclosure
from service.stats.models import CaseFact, ContactFact

CASES = "/api/v1/cases"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
DEFAULT_DAYS = 365

case_shapes = st.lists(st.fixed_dictionaries({
    "contacts": st.integers(1, 3),
    "days_ago": st.integers(0, 300),
    "note": st.booleans(),
    "file": st.booleans(),
    "disclosure": st.booleans(),
    "closed": st.booleans(),
    "held": st.booleans(),
}), min_size=2, max_size=4)
operations = st.lists(st.tuples(st.sampled_from(["merge", "split", "undo"]), st.integers(0, 50),
                                st.integers(0, 50)), min_size=1, max_size=6)

_phones = iter(range(10_000_000))


def _snapshot(app, case_ids: set[int]) -> dict:
    """Where each row of these cases (and of cases split off them) is, and how long it is kept."""
    with app.app_context():
        rows = {}
        for model in (Contact, Note, Attachment, Disclosure):
            rows[model.__tablename__] = dict(db.session.execute(
                select(model.id, model.case_id).where(model.case_id.in_(case_ids))).all())
        cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(case_ids)))}
        due = {}
        for contact_id, case_id in rows["contact"].items():
            when = cases[case_id].deletion_due(DEFAULT_DAYS)
            due[contact_id] = datetime.max.replace(tzinfo=timezone.utc) if when is None else when
        contact_facts = {f.id: (f.occurred_at, f.channel, f.direction, f.language, f.service_line_id)
                         for f in db.session.scalars(select(ContactFact).join(Contact, Contact.stats_fact_id == ContactFact.id)
                                                     .where(Contact.case_id.in_(case_ids)))}
        case_facts = {f.id: (f.opened_at, f.closed_at, f.channel, f.service_line_id, f.first_response_at)
                      for f in db.session.scalars(select(CaseFact).join(Case, Case.stats_fact_id == CaseFact.id)
                                                  .where(Case.id.in_(case_ids)))}
        merged = {c.id for c in cases.values() if c.merged_into_id is not None}
        db.session.remove()
    return {"rows": rows, "due": due, "contact_facts": contact_facts, "case_facts": case_facts,
            "merged": merged}


def _build(api, client, intake, adviser, privacy, shape) -> int:
    case_id = None
    phone = f"+35850{next(_phones):07d}"
    received = (datetime.now(timezone.utc) - timedelta(days=shape["days_ago"])).isoformat()
    for _ in range(shape["contacts"]):
        posted = api.inbound(intake, **{"from": {"phone": phone}}, received_at=received).get_json()
        case_id = posted["case_id"]
    if shape["note"]:
        assert client.post(f"{CASES}/{case_id}/notes", json={"body": "Muistiinpano"},
                           headers=adviser).status_code == 201
    if shape["file"]:
        assert client.post(f"{CASES}/{case_id}/attachments", headers=adviser, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PDF), "liite.pdf", "application/pdf")}).status_code == 201
    if shape["disclosure"]:
        response = client.post(f"{CASES}/{case_id}/disclosures", headers=adviser, json={
            "recipient": "Poliisi", "fields": ["phone"], "legal_basis": "Poliisilaki 4 luku 3 §",
            "disclosed_at": received})
        assert response.status_code == 201, response.get_json()
    if shape["closed"]:
        assert client.post(f"{CASES}/{case_id}/close", headers=adviser).status_code == 200
    if shape["held"]:
        assert client.post(f"{CASES}/{case_id}/hold", json={"reason": "Valitus"}, headers=privacy).status_code == 200
    return case_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(shapes=case_shapes, ops=operations)
def test_merges_splits_and_undos_lose_nothing_copy_nothing_and_shorten_nothing(app, api, client, intake, adviser,
                                                                               shapes, ops):
    privacy = getattr(test_merges_splits_and_undos_lose_nothing_copy_nothing_and_shorten_nothing, "_privacy",
                      None) or api.headers_for("privacy_officer")
    test_merges_splits_and_undos_lose_nothing_copy_nothing_and_shorten_nothing._privacy = privacy
    case_ids = [_build(api, client, intake, adviser, privacy, s) for s in shapes]
    known = set(case_ids)
    start = _snapshot(app, known)
    merges: list[int] = []

    for kind, a, b in ops:
        live = sorted(known - _snapshot(app, known)["merged"])
        if kind == "merge" and len(live) >= 2:
            source, target = live[a % len(live)], live[b % len(live)]
            if source == target:
                continue
            response = client.post(f"{CASES}/{source}/merge", json={"into_case_id": target}, headers=adviser)
            assert response.status_code == 200, response.get_json()
            merges.append(response.get_json()["merge"]["id"])
        elif kind == "split":
            case_id = live[a % len(live)]
            contacts = [c["id"] for c in client.get(f"{CASES}/{case_id}", headers=adviser).get_json()["contacts"]]
            if len(contacts) < 2:
                continue
            chosen = contacts[: 1 + b % (len(contacts) - 1)]
            response = client.post(f"{CASES}/{case_id}/split", json={"contact_ids": chosen}, headers=adviser)
            assert response.status_code == 200, response.get_json()
            known.add(response.get_json()["target"]["id"])
        elif kind == "undo" and merges:
            merge_id = merges[a % len(merges)]
            response = client.post(f"{CASES}/merges/{merge_id}/undo", headers=adviser)
            assert response.status_code in (200, 409), response.get_json()
            if response.status_code == 200:
                merges.remove(merge_id)

        now = _snapshot(app, known)
        for table, rows in start["rows"].items():
            # Every row is still there, once, and on a case someone can open.
            assert set(now["rows"][table]) == set(rows), table
            assert not set(now["rows"][table].values()) & now["merged"], table
        assert now["contact_facts"] == start["contact_facts"]
        assert {k: v for k, v in now["case_facts"].items() if k in start["case_facts"]} == start["case_facts"]
        for contact_id, due in start["due"].items():
            assert now["due"][contact_id] >= due, contact_id
