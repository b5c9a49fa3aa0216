"""The purge deletes every row that belongs to an expired case, whether the database's
cascades do it (SQLite, or a PostgreSQL role without the grant) or the purge deletes table by
table with the row triggers switched off (PostgreSQL, a role that may). .ci/run's PostgreSQL
pass connects as a superuser, so it runs the second way, and the first way through a role
made without the grant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from service.cases.models import Attachment, Case, Contact, Note
from service.chats.models import Chat, ChatMessage
from service.customers.models import Customer, RectificationHistory
from service.db_types import utcnow
from service.extensions import db
from service.feedback.models import FeedbackRequest
from service.forwarding.models import Authority, Disclosure
from service.lines.models import ServiceLine
from service.outbox.models import OutboxMessage
from service.recordings.models import Recording
from service.retention import deletion, logic
from service.retention.logic import purge

PURGED_TABLES = {"case", "contact", "note", "attachment", "recording", "chat", "chat_message", "outbox_message",
                 "feedback_request", "disclosure", "customer", "rectification_history"}


def test_every_foreign_key_into_what_the_purge_deletes_is_known_to_it(app):  # app: every model loaded
    found = {}
    for table in db.metadata.tables.values():
        for key in table.foreign_keys:
            if key.column.table.name in PURGED_TABLES:
                found[(table.name, key.parent.name)] = key.ondelete
    assert set(found) == set(deletion.REFERENCES), "a new reference: teach service/retention/deletion.py about it"
    # And each table said to go with the case is one the purge deletes from by case id.
    by_case = {model.__tablename__ for model in deletion._BY_CASE} | {"chat", "outbox_message"}
    assert {table for (table, column), effect in deletion.REFERENCES.items()
            if effect == deletion.DELETED_WITH_THE_CASE} <= by_case
    for reference, effect in deletion.REFERENCES.items():
        expected = {deletion.SET_TO_NULL: "SET NULL", deletion.DETACHED: "SET NULL", deletion.CUSTOMERS_CHECKED: None}.get(effect, "CASCADE")
        assert found[reference] == expected, reference


def _case_with_everything(line: ServiceLine, authority: Authority, n: int, *, expired: bool) -> Case:
    now = utcnow()
    customer = Customer(name=f"Asiakas {n}", phone=f"+35840555{n:04d}")
    case = Case(service_line=line, customer=customer, channel="chat", status="closed", created_at=now, closed_at=now,
                retention_until=now - timedelta(days=1) if expired else now + timedelta(days=300))
    db.session.add(case)
    db.session.flush()
    case.reference = f"T-{case.id}"
    contact = Contact(case_id=case.id, channel="chat", direction="inbound", body="hei", occurred_at=now, created_at=now)
    db.session.add_all([contact, Note(case_id=case.id, body="muistiinpano")])
    db.session.flush()
    chat = Chat(case_id=case.id, contact_id=contact.id, token_hash=f"{n:064d}", token_expires_at=now)
    outbox = OutboxMessage(case_id=case.id, contact_id=contact.id, channel="sms", recipient=customer.phone,
                           body="vastaus")
    db.session.add_all([chat, outbox,
                        Attachment(case_id=case.id, contact_id=contact.id, filename="a.pdf",
                                   content_type="application/pdf"),
                        Recording(case_id=case.id, contact_id=contact.id, provider_sid=f"RE{n}", recorded_at=now,
                                  retention_until=now + timedelta(days=300))])
    db.session.flush()
    db.session.add_all([ChatMessage(chat_id=chat.id, author="customer", body="viesti"),
                        RectificationHistory(customer_id=customer.id, field="name", old_value=f"Vanha {n}"),
                        FeedbackRequest(case_id=case.id, customer_id=customer.id, outbox_id=outbox.id,
                                        phone=customer.phone, language="fi", send_after=now),
                        Disclosure(case_id=case.id, customer_id=customer.id, authority_id=authority.id,
                                   outbox_id=outbox.id, recipient=authority.email, fields=["name"],
                                   legal_basis="Hallintolaki 21 §")])
    db.session.flush()
    return case


def _rows(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return db.session.scalar(query)


def _dangling_references() -> list[str]:
    """Rows whose foreign key names a row that no longer exists (nothing checked them)."""
    found = []
    for table in db.metadata.tables.values():
        for key in table.foreign_keys:
            parent = key.column.table
            count = db.session.scalar(select(func.count()).select_from(table).where(
                key.parent.is_not(None), ~select(parent).where(key.column == key.parent).exists()))
            if count:
                found.append(f"{table.name}.{key.parent.name}: {count}")
    return found


def _purge_everything_expired(app) -> None:
    with app.app_context():
        line = ServiceLine(name="Neuvonta", is_default=True)
        authority = Authority(name="Maistraatti", email="kirjaamo@example.fi")
        db.session.add_all([line, authority])
        db.session.flush()
        expired = [_case_with_everything(line, authority, n, expired=True) for n in range(3)]
        kept = _case_with_everything(line, authority, 9, expired=False)
        # A kept case's feedback and disclosure that point at an expired case's message and
        # customer lose only those pointers.
        other_message = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.case_id == expired[0].id))
        for model in (FeedbackRequest, Disclosure):
            db.session.execute(model.__table__.update().where(model.case_id == kept.id)
                               .values(outbox_id=other_message, customer_id=expired[1].customer_id))
        db.session.commit()
        kept_id, kept_customer = kept.id, kept.customer_id

        report = purge(storage=app.extensions["file_storage"], batch_size=2)

        # The recordings' own dates are 300 days away: they outlive their cases, detached.
        assert (report.cases, report.customers, report.attachments) == (3, 3, 3)
        assert (report.recordings, report.recordings_detached) == (0, 3)
        for model in (Contact, Note, Attachment, Chat, OutboxMessage, FeedbackRequest, Disclosure):
            assert _rows(model) == 1, model.__tablename__
            assert _rows(model, case_id=kept_id) == 1, model.__tablename__
        assert _rows(Recording, case_id=kept_id) == 1
        assert db.session.execute(select(Recording.contact_id).where(Recording.case_id.is_(None))
                                  ).all() == [(None,)] * 3
        assert _rows(ChatMessage) == 1 and _rows(Case) == 1
        assert db.session.scalars(select(RectificationHistory.customer_id)).all() == [kept_customer]
        assert db.session.scalars(select(Customer.id)).all() == [kept_customer]
        for model in (FeedbackRequest, Disclosure):
            assert db.session.execute(select(model.outbox_id, model.customer_id)).one() == (None, None)
        assert _dangling_references() == []


def test_the_purge_leaves_no_row_of_an_expired_case_behind(app):
    _purge_everything_expired(app)


@pytest.fixture
def role_without_the_grant(app):
    """The application's connections log in as a role that owns nothing and may not set
    session_replication_role."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("roles and session_replication_role are PostgreSQL's")
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'purge_without_grant') THEN
                    CREATE ROLE purge_without_grant NOLOGIN;
                  END IF;
                END $$"""))
            conn.execute(text("GRANT USAGE ON SCHEMA public TO purge_without_grant"))
            conn.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO purge_without_grant"))
            conn.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO purge_without_grant"))

    from sqlalchemy import event

    def _as_the_role(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET ROLE purge_without_grant")
        dbapi_connection.commit()  # a rolled back SET ROLE would not last

    with app.app_context():
        db.engine.dispose()
        event.listen(db.engine, "connect", _as_the_role)
    yield
    with app.app_context():
        db.session.remove()
        event.remove(db.engine, "connect", _as_the_role)
        db.engine.dispose()


def test_a_role_without_the_grant_purges_with_the_row_triggers_on(app, role_without_the_grant, caplog):
    with app.app_context():
        db.session.rollback()
        assert db.session.scalar(text("SELECT current_user")) == "purge_without_grant"
        db.session.rollback()
    with caplog.at_level("INFO", logger="service.retention.deletion"):
        _purge_everything_expired(app)
    assert "the purge runs with foreign-key triggers on" in caplog.text


def test_a_superuser_purges_with_the_row_triggers_off_for_each_batch_only(app, monkeypatch):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with app.app_context():
        if db.session.scalar(text("SHOW is_superuser")) != "on":
            pytest.skip("the tests' role is not a superuser")
        db.session.rollback()
    during = []
    delete_cases = logic.delete_cases

    def watched(ids):
        during.append(db.session.scalar(text("SHOW session_replication_role")))
        delete_cases(ids)

    monkeypatch.setattr(logic, "delete_cases", watched)
    _purge_everything_expired(app)

    assert during == ["replica", "replica"]  # three cases in batches of two
    with app.app_context():
        assert db.session.scalar(text("SHOW session_replication_role")) == "origin"
