"""The audit log is hash-chained: `audit verify` finds an edited or removed entry."""

from datetime import timedelta

from sqlalchemy import delete, select, update

from service.audit.chain import entry_digest, seal, verify
from service.audit.models import AuditEntry
from service.db_types import utcnow
from service.extensions import db


def _activity(client, intake, adviser, n=3):
    for i in range(n):
        posted = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-chain-{i}", "from": {"phone": f"+35840{i:07d}"}, "body": "x"})
        client.get(f"/api/v1/cases/{posted.get_json()['case_id']}", headers=adviser)


def _seal_all(app):
    with app.app_context():
        return seal(now=utcnow() + timedelta(minutes=1))


def test_an_untouched_chain_verifies(app, client, runner, intake, adviser):
    _activity(client, intake, adviser)
    assert _seal_all(app) > 5

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "The audit chain is intact" in result.output


def test_an_edited_entry_is_found(app, client, runner, intake, adviser):
    _activity(client, intake, adviser)
    _seal_all(app)
    with app.app_context():
        victim = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "case.read")
                                    .order_by(AuditEntry.id)).first()
        seq, entry_id = victim.seq, victim.id
        db.session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(actor_id=999))
        db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"broken at entry {seq} (audit id {entry_id})" in result.output
    assert "changed after sealing" in result.output


def test_a_removed_entry_is_found(app, client, runner, intake, adviser):
    _activity(client, intake, adviser)
    _seal_all(app)
    with app.app_context():
        db.session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
        db.session.commit()
        result = verify()

    assert (result.intact, result.broken_at_seq, result.checked) == (False, 3, 2)
    assert "missing" in result.problem


def test_removing_the_newest_entries_is_found(app, client, intake, adviser):
    _activity(client, intake, adviser)
    _seal_all(app)
    with app.app_context():
        last = db.session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
        db.session.execute(delete(AuditEntry).where(AuditEntry.seq == last))
        db.session.commit()
        result = verify()

    assert not result.intact and result.broken_at_seq == last


def test_entries_are_sealed_in_order_and_new_ones_wait_for_the_margin(app, client, intake, adviser):
    _activity(client, intake, adviser, n=1)
    with app.app_context():
        newest = db.session.scalar(select(db.func.max(AuditEntry.at)))
        total = db.session.scalar(select(db.func.count(AuditEntry.id)))
        db.session.commit()
        # Too fresh: a transaction with a lower id may still be committing. The clock is the
        # entries' own, so a slow machine cannot push the newest past the margin unseen.
        # Entries more than the margin older than the newest may be sealed already (on a
        # loaded machine the activity spreads over more than a second); the newest may not.
        sealed_early = seal(now=newest + timedelta(seconds=4))
        assert sealed_early < total
        assert db.session.scalar(select(AuditEntry.seq).where(AuditEntry.at == newest).limit(1)) is None
        db.session.commit()
        sealed = sealed_early + _seal_all(app)
        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert sealed == total == len(rows)
        assert [r.seq for r in rows] == list(range(1, sealed + 1))
        assert all(r.prev_hash == p.entry_hash for p, r in zip(rows, rows[1:]))


def test_purging_old_entries_leaves_a_checkpoint_and_the_rest_still_verifies(app, client, runner, intake, adviser):
    _activity(client, intake, adviser)
    _seal_all(app)
    with app.app_context():
        from service.audit.chain import purge_before

        total = db.session.query(AuditEntry).count()
        removed = purge_before(utcnow() + timedelta(minutes=2))
        assert removed == total
    _activity(client, intake, adviser, n=1)  # new entries after the checkpoint
    _seal_all(app)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


def test_an_entry_resealed_onto_another_chain_is_found(app, client, runner, intake, adviser):
    # Whoever rewrites an entry and recomputes its hash over a predecessor of their own making
    # leaves every entry's content consistent with its hash: only the link to the real entry
    # before it gives the forgery away.
    _activity(client, intake, adviser)
    _seal_all(app)
    with app.app_context():
        victim = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 3))
        seq, entry_id = victim.seq, victim.id
        forged_prev = "f" * 64
        victim.actor_id = 999
        victim.prev_hash, victim.entry_hash = forged_prev, entry_digest(victim, forged_prev)
        db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"broken at entry {seq} (audit id {entry_id})" in result.output
    assert "does not follow the entry before it" in result.output
    assert "2 entries before it are intact" in result.output


def test_sealing_and_verifying_in_batches_chain_across_the_batch_boundaries(app, client, intake, adviser):
    # Batches of two, so that the boundary falls inside the chain several times.
    _activity(client, intake, adviser)
    with app.app_context():
        total = db.session.scalar(select(db.func.count(AuditEntry.id)))
        db.session.commit()
        assert total > 5
        assert seal(now=utcnow() + timedelta(minutes=1), batch_size=2) == total
        assert verify(batch_size=2) == verify() and verify(batch_size=2).checked == total
        db.session.execute(update(AuditEntry).where(AuditEntry.seq == total - 1).values(actor_id=999))
        db.session.commit()
        broken = verify(batch_size=2)

    assert (broken.intact, broken.broken_at_seq, broken.checked) == (False, total - 1, total - 2)


def test_purging_when_nothing_is_old_enough_removes_nothing(app, client, runner, intake, adviser):
    _activity(client, intake, adviser, n=1)
    _seal_all(app)
    with app.app_context():
        from service.audit.chain import purge_before

        total = db.session.query(AuditEntry).count()
        assert purge_before(utcnow() - timedelta(days=1)) == 0
        assert db.session.query(AuditEntry).count() == total

    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
