"""Landed messages become contacts in batches, keeping every rule of single-message intake:
threading, arrival order, replays, feedback answers, waiting cases reopened, statistics and
audit; and no message is lost or doubled when a worker dies in the middle of a batch."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from service.audit.models import AuditEntry
from service.db_types import utcnow
from service.extensions import db
from service.intake import envelopes
from service.intake.background import intake_thread
from service.intake.models import InboundEnvelope
from service.stats.models import ContactFact
from tests.integration.test_queue import queued_app, redis_conn, twilio_http  # noqa: F401  (fixtures)
from tests.integration.test_worker_killed import _worker_process
from tests.twilio_fakes import inbound_sms, twilio_post


def _land(app, messages: list[tuple[str, str, str]]) -> None:
    """Land SMS as the webhook does, without a worker taking them yet."""
    with app.app_context():
        for sid, phone, body in messages:
            assert envelopes.land("sms", sid, {"From": phone, "To": "+358501112223", "Body": body},
                                  received_at=utcnow()) is not None


def _process(app, *, batch_size: int = 200) -> int:
    with app.app_context():
        return envelopes.process_due(app.extensions["inbound_handlers"], limit=10_000, batch_size=batch_size)


def _cases(client, headers) -> list[dict]:
    return client.get("/api/v1/cases", headers=headers, query_string={"page_size": 100}).get_json()["items"]


def _bodies(client, headers, case_id) -> list[str]:
    contacts = client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["contacts"]
    return [contact["body"] for contact in contacts]


def _count(app, query) -> int:
    with app.app_context():
        return db.session.scalar(query)


def test_one_batch_threads_each_customers_messages_in_order_onto_one_case(queued_app, admin_for):  # noqa: F811
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    # A returning customer with an open case, and two new ones; their messages interleaved.
    _land(queued_app, [("SM" + "a" * 32, "+358401000001", "ensimmäinen")])
    assert _process(queued_app) == 1
    (existing,) = _cases(client, adviser)
    _land(queued_app, [("SM" + f"{n:032d}", phone, body) for n, (phone, body) in enumerate([
        ("+358401000002", "uusi 1"), ("+358401000001", "toinen"), ("+358401000003", "kolmas asiakas 1"),
        ("+358401000002", "uusi 2"), ("+358401000001", "kolmas"), ("0401000002", "uusi 3 kotimaisena")])])

    assert _process(queued_app) == 6

    cases = {case["id"]: case for case in _cases(client, adviser)}
    assert len(cases) == 3  # one per customer, the returning one's old case reused
    assert _bodies(client, adviser, existing["id"]) == ["ensimmäinen", "toinen", "kolmas"]
    bodies = sorted(_bodies(client, adviser, case_id) for case_id in cases if case_id != existing["id"])
    assert bodies == [["kolmas asiakas 1"], ["uusi 1", "uusi 2", "uusi 3 kotimaisena"]]
    new_cases = [case for case in cases.values() if case["id"] != existing["id"]]
    assert all(case["reference"].endswith(f"{case['id']:06d}") for case in new_cases)
    # Anonymous statistics and the audit log count each contact and each new customer once.
    assert _count(queued_app, select(func.count()).select_from(ContactFact)) == 7
    assert _count(queued_app, select(func.count()).select_from(AuditEntry)
                  .where(AuditEntry.action == "contact.received")) == 7
    assert _count(queued_app, select(func.count()).select_from(AuditEntry)
                  .where(AuditEntry.action == "customer.created")) == 3


def test_an_answer_reopens_a_case_waiting_on_the_customer(queued_app, admin_for):  # noqa: F811
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [("SM" + "w" * 32, "+358401000011", "kysymys")])
    _process(queued_app)
    (case,) = _cases(client, adviser)
    assert client.patch(f"/api/v1/cases/{case['id']}", headers=adviser,
                        json={"status": "waiting"}).status_code == 200
    _land(queued_app, [("SM" + "x" * 32, "+358401000011", "tässä vastaus"),
                       ("SM" + "y" * 32, "+358401000012", "toinen asiakas")])

    _process(queued_app)

    detail = client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()
    assert detail["status"] == "open"
    assert [c["body"] for c in detail["contacts"]] == ["kysymys", "tässä vastaus"]


def test_one_batch_reopens_the_waiting_case_and_leaves_another_customers_case_as_it_was(queued_app,  # noqa: F811
                                                                                          admin_for):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [("SM" + "m" * 32, "+358401000021", "odottaa"), ("SM" + "n" * 32, "+358401000022", "uusi")])
    _process(queued_app)
    cases = {case["customer"]["phone"]: case["id"] for case in
             (client.get(f"/api/v1/cases/{c['id']}", headers=adviser).get_json() for c in _cases(client, adviser))}
    waiting, untouched = cases["+358401000021"], cases["+358401000022"]
    assert client.patch(f"/api/v1/cases/{waiting}", headers=adviser, json={"status": "waiting"}).status_code == 200
    _land(queued_app, [("SM" + "o" * 32, "+358401000021", "vastaus"), ("SM" + "p" * 32, "+358401000022", "lisää")])

    _process(queued_app)

    shown = {case_id: client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
             for case_id in (waiting, untouched)}
    assert (shown[waiting]["status"], shown[untouched]["status"]) == ("open", "new")
    assert [c["body"] for c in shown[untouched]["contacts"]] == ["uusi", "lisää"]


def test_a_message_stored_before_under_the_same_id_is_not_stored_again(queued_app, admin_for):  # noqa: F811
    from tests.conftest import Api

    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    sid = "SM" + "r" * 32
    posted = client.post("/api/v1/inbound/messages", headers=Api(queued_app, client).api_key_headers(), json={
        "channel": "sms", "external_id": sid, "from": {"phone": "+358401000021"}, "body": "api:n kautta"})
    assert posted.status_code == 201
    _land(queued_app, [(sid, "+358401000021", "api:n kautta"), ("SM" + "s" * 32, "+358401000021", "uusi")])

    assert _process(queued_app) == 2

    (case,) = _cases(client, adviser)
    assert _bodies(client, adviser, case["id"]) == ["api:n kautta", "uusi"]


def test_a_feedback_score_in_a_batch_answers_the_request_and_the_rest_become_contacts(queued_app, admin_for):  # noqa: F811
    from service.feedback.models import FeedbackRequest

    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [("SM" + "f" * 32, "+358401000031", "alkuperäinen asia")])
    _process(queued_app)
    (case,) = _cases(client, adviser)
    with queued_app.app_context():
        db.session.add(FeedbackRequest(case_id=case["id"], phone="+358401000031", language="fi", status="sent",
                                       send_after=utcnow(), sent_at=utcnow()))
        db.session.commit()
    _land(queued_app, [("SM" + "g" * 32, "+358401000032", "hei"), ("SM" + "h" * 32, "+358401000031", "5"),
                       ("SM" + "i" * 32, "+358401000033", "moi")])

    assert _process(queued_app) == 3

    with queued_app.app_context():
        assert db.session.scalar(select(FeedbackRequest.score)) == 5
    assert _bodies(client, adviser, case["id"]) == ["alkuperäinen asia"]  # the score is no contact
    assert len(_cases(client, adviser)) == 3


def test_a_message_that_reads_as_a_score_but_answers_no_request_is_taken_alone_and_threads_like_the_batch(
        make_app, admin_for):
    # In the deployment's region: a number without its country code is Swedish in Sweden.
    app = make_app(DEFAULT_PHONE_REGION="SE")
    adviser = admin_for(app, "adviser")
    client = app.test_client()
    _land(app, [("SM" + "j" * 32, "+46701234567", "kysymys")])
    _process(app)
    (case,) = _cases(client, adviser)
    _land(app, [("SM" + "k" * 32, "070-123 45 67", "5 kiitos vastauksesta")])

    assert _process(app) == 1

    detail = client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()
    assert [(c["sender"], c["body"]) for c in detail["contacts"]] == [
        ("+46701234567", "kysymys"), ("+46701234567", "5 kiitos vastauksesta")]
    assert len(_cases(client, adviser)) == 1


def test_messages_are_taken_in_batches_of_the_given_size(queued_app, admin_for):  # noqa: F811
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [(f"SM{n:032d}", f"+3584010001{n % 5:02d}", f"viesti {n}") for n in range(23)])

    assert _process(queued_app, batch_size=10) == 23

    cases = _cases(client, adviser)
    assert len(cases) == 5
    for case in cases:  # each customer's messages in the order they arrived, across batches
        numbers = [int(body.split()[1]) for body in _bodies(client, adviser, case["id"])]
        assert numbers == sorted(numbers) and len(numbers) in (4, 5)


def test_messages_from_senders_without_a_number_each_open_their_own_case_in_one_batch(queued_app, admin_for,  # noqa: F811
                                                                                        caplog):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    # Alphanumeric sender ids and a number too long to be one: no customer can be kept for
    # them, and two such new cases look alike until each has its id.
    _land(queued_app, [("SM" + "b" * 32, "NORDEA", "tunnusluku"), ("SM" + "c" * 32, "+35851000000000", "hei"),
                       ("SM" + "d" * 32, "+358401000009", "kysymys")])

    assert _process(queued_app) == 3

    assert not [r for r in caplog.records if "failed; each is tried alone" in r.getMessage()]
    bodies = sorted(_bodies(client, adviser, case["id"]) for case in _cases(client, adviser))
    assert bodies == [["hei"], ["kysymys"], ["tunnusluku"]]


def test_a_step_takes_no_more_than_its_limit__oldest_first__and_the_rest_wait_for_the_next(queued_app,  # noqa: F811
                                                                                          admin_for):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [("SM" + f"{n:032d}", "+358401000041", f"viesti {n}") for n in range(5)])

    with queued_app.app_context():
        handlers = queued_app.extensions["inbound_handlers"]
        assert envelopes.process_due(handlers, limit=3, batch_size=2) == 3  # a batch of 2, then 1
        assert envelopes.due_count() == 2
    (case,) = _cases(client, adviser)
    assert _bodies(client, adviser, case["id"]) == ["viesti 0", "viesti 1", "viesti 2"]

    assert _process(queued_app) == 2
    assert _bodies(client, adviser, case["id"]) == [f"viesti {n}" for n in range(5)]


def test_a_job_that_worked_off_everything_waits_for_more_to_batch(make_app, redis_conn, twilio_http,  # noqa: F811
                                                                  admin_for):
    from service.intake import processing

    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", INTAKE_GATHER_MS=250)
    app.extensions["redis"] = redis_conn
    adviser = admin_for(app, "adviser")
    _land(app, [("SM" + "e" * 32, "+358401000011", "ensimmäinen")])
    waits = []

    def meanwhile(seconds):  # what lands while the job waits is its next batch
        waits.append(seconds)
        if len(waits) == 1:
            _land(app, [(f"SM{n:032d}", f"+35840100002{n}", f"viesti {n}") for n in range(3)])

    with app.app_context():
        assert processing.process("inbound-0", sleep=meanwhile) == 4

    assert waits == [0.25, 0.25]  # after the first message, after the three; then nothing was due
    assert len(_cases(app.test_client(), adviser)) == 4


def test_a_job_hands_over_to_the_next_one_already_enqueued_instead_of_waiting(make_app, redis_conn,  # noqa: F811
                                                                              twilio_http, monkeypatch):  # noqa: F811
    from service.intake import processing
    from service.queue import PENDING

    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", INTAKE_GATHER_MS=250)
    app.extensions["redis"] = redis_conn
    _land(app, [("SM" + "g" * 32, "+358401000041", "hei")])
    original = envelopes.process_due

    def while_a_landing_enqueues_the_next_job(*args, **kwargs):
        taken = original(*args, **kwargs)
        redis_conn.set(PENDING + "inbound-0", 1)
        return taken

    def never(seconds):
        raise AssertionError("waited although the next job was enqueued")

    monkeypatch.setattr(envelopes, "process_due", while_a_landing_enqueues_the_next_job)
    try:
        with app.app_context():
            assert processing.process("inbound-0", sleep=never) == 1
    finally:
        redis_conn.delete(PENDING + "inbound-0")


def test_a_job_without_a_wait_or_in_the_request_never_waits(make_app, redis_conn, twilio_http):  # noqa: F811
    from service.intake import processing

    def never(seconds):
        raise AssertionError("waited")

    for app in (make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", INTAKE_GATHER_MS=0),
                make_app(REDIS_URL=None, INTAKE_GATHER_MS=100)):
        if app.config["REDIS_URL"]:
            app.extensions["redis"] = redis_conn
        _land(app, [("SM" + "f" * 32, "+358401000031", "hei")])
        with app.app_context():
            assert processing.process("inbound-0", sleep=never) == 1


def test_without_redis_a_thread_of_the_web_process_makes_contacts_of_a_burst(make_app, admin_for):
    from tests.twilio_fakes import ACCOUNT_SID

    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223")
    app.extensions["intake_in_thread"] = True  # as in production on the embedded default
    adviser = admin_for(app, "adviser")
    client = app.test_client()
    for n in range(40):
        assert twilio_post(client, "/webhooks/twilio/sms",
                           inbound_sms(f"SM{n:032d}", from_=f"+3584010002{n % 8:02d}", body=f"viesti {n}")
                           ).status_code == 200

    thread = intake_thread(app)
    assert thread.idle.wait(30), "the intake thread did not finish"
    time.sleep(0.05)
    assert thread.idle.wait(30)

    cases = _cases(client, adviser)
    assert len(cases) == 8
    assert sum(len(_bodies(client, adviser, case["id"])) for case in cases) == 40
    assert _count(app, select(func.count()).select_from(InboundEnvelope)) == 0


def test_a_worker_killed_in_the_middle_of_a_batch_loses_and_doubles_nothing(queued_app, redis_conn, admin_for,  # noqa: F811
                                                                              tmp_path):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    messages = [(f"SM{n:032d}", f"+3584010003{n % 12:02d}", f"viesti {n}") for n in range(150)]
    for sid, phone, body in messages:
        twilio_post(client, "/webhooks/twilio/sms", inbound_sms(sid, from_=phone, body=body))
    from service.queue import flush_soon_enqueues

    flush_soon_enqueues(queued_app)
    handlers = queued_app.extensions["inbound_handlers"]
    landed_sms = handlers["sms"]
    inside = tmp_path / "inside-a-batch"

    def stall_inside_the_transaction(stored):
        # The batch's rows are deleted and its contacts inserted, not yet committed.
        Path(inside).write_text(str(len(stored)))
        time.sleep(60)
        return landed_sms.stored(stored)

    handlers["sms"] = replace(landed_sms, stored=stall_inside_the_transaction)
    pid = _worker_process(queued_app, redis_conn)  # the forked worker has the stalling hook
    handlers["sms"] = landed_sms
    deadline = time.monotonic() + 30
    while not inside.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inside.exists(), "the worker never got inside a batch"
    assert int(inside.read_text()) > 1  # a real batch, not one message
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)

    # Whatever the killed worker had not committed is still landed; another worker takes it.
    with queued_app.app_context():
        envelopes.process_due(handlers, limit=10_000, now=utcnow() + timedelta(seconds=1))

    stored = [body for case in _cases(client, adviser) for body in _bodies(client, adviser, case["id"])]
    assert sorted(stored) == sorted(body for _, _, body in messages)  # each exactly once
    assert _count(queued_app, select(func.count()).select_from(InboundEnvelope)) == 0


def test_messages_made_contacts_in_a_batch_are_found_by_search(queued_app, admin_for):  # noqa: F811
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    _land(queued_app, [("SM" + "s" * 32, "+358401000001", "Muuttoilmoitukseni Tampereelle jäi kesken"),
                       ("SM" + "t" * 32, "+358401000002", "Verokortti pitäisi tilata")])
    assert _process(queued_app) == 2

    hits = client.get("/api/v1/cases/search", query_string={"q": "muuttoilmoitus"}, headers=adviser).get_json()
    assert [hit["snippet"]["text"] for hit in hits["items"]] == ["Muuttoilmoitukseni Tampereelle jäi kesken"]
    assert client.get("/api/v1/cases/search", query_string={"q": "+358401000002"},
                      headers=adviser).get_json()["total"] == 1


def test_a_batch_stores_a_repeat_once_messages_without_an_id_each_and_names_a_known_customer(make_app, admin_for):
    """``store_plain`` as an API client's burst reaches it: a message repeated within the batch,
    messages without a provider id, and a name on a customer known only by number."""
    from service.intake import batch
    from service.intake.logic import IntakeSettings
    from service.intake.message import InboundMessage, Sender
    from tests.conftest import Api

    app = make_app()
    adviser = admin_for(app, "adviser")
    client = app.test_client()
    known = client.post("/api/v1/inbound/messages", headers=Api(app, client).api_key_headers(), json={
        "channel": "sms", "external_id": "API-1", "from": {"phone": "+358401000041"}, "body": "ensimmäinen"}
    ).get_json()

    def sms(external_id, phone, body, name=None):
        return InboundMessage(channel="sms", external_id=external_id, sender=Sender(phone=phone, name=name),
                              to="+358501112223", body=body, received_at=utcnow())

    messages = [sms("SM" + "k" * 32, "+358401000041", "toinen", name="Maija Meikäläinen"),
                sms("SM" + "k" * 32, "+358401000041", "toinen"),  # the provider sent it twice
                sms(None, "+358401000042", "ilman tunnusta"), sms(None, "+358401000042", "ilman tunnusta")]
    with app.app_context():
        results = batch.store_plain(messages, actor=None, settings=IntakeSettings(), now=utcnow())
        db.session.commit()

    first, repeat, plain, plain_again = results
    assert repeat.duplicate and repeat.contact_id == first.contact_id and not first.duplicate
    assert first.case_id == known["case_id"] and not first.created_case
    assert _bodies(client, adviser, known["case_id"]) == ["ensimmäinen", "toinen"]
    assert client.get(f"/api/v1/cases/{known['case_id']}", headers=adviser).get_json()["customer"]["name"] \
        == "Maija Meikäläinen"
    # Without an id nothing can tell a repeat from a second message: both are kept, on one case.
    assert not plain.duplicate and not plain_again.duplicate and plain.contact_id != plain_again.contact_id
    assert plain.case_id == plain_again.case_id
    assert _bodies(client, adviser, plain.case_id) == ["ilman tunnusta", "ilman tunnusta"]


def test_a_providers_retry_of_a_stored_message_is_taken_as_a_replay_by_the_batch_not_as_its_failure(  # noqa: F811
        queued_app, admin_for, caplog):
    """Providers retry: a message stored before, landed again among new ones, is answered as a
    replay inside the batch. Were it missed there, the contacts' unique index would fail the
    whole batch, logged as an error, and every message of it would be stored again alone."""
    import logging

    from tests.conftest import Api

    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    sid = "SM" + "q" * 32
    assert client.post("/api/v1/inbound/messages", headers=Api(queued_app, client).api_key_headers(), json={
        "channel": "sms", "external_id": sid, "from": {"phone": "+358401000051"}, "body": "ensin"}).status_code == 201
    _land(queued_app, [("SM" + "p" * 32, "+358401000052", "toinen asiakas"), (sid, "+358401000051", "ensin"),
                       ("SM" + "o" * 32, "+358401000051", "sitten")])

    with caplog.at_level(logging.WARNING):
        assert _process(queued_app) == 3

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    bodies = sorted(_bodies(client, adviser, case["id"]) for case in _cases(client, adviser))
    assert bodies == [["ensin", "sitten"], ["toinen asiakas"]]


def test_a_new_customers_name_from_a_later_message_of_the_same_batch_is_kept(make_app, admin_for):
    """Two messages of one new customer in a batch: the first gives no name, the second does."""
    from service.intake import batch
    from service.intake.logic import IntakeSettings
    from service.intake.message import InboundMessage, Sender

    app = make_app()
    adviser = admin_for(app, "adviser")
    client = app.test_client()

    def sms(external_id, body, name=None):
        return InboundMessage(channel="sms", external_id=external_id, sender=Sender(phone="+358401000051", name=name),
                              to="+358501112223", body=body, received_at=utcnow())

    with app.app_context():
        messages = [sms("SM" + "m" * 32, "hei"), sms("SM" + "n" * 32, "terveisin", "Matti Virtanen")]
        first, second = batch.store_plain(messages, actor=None, settings=IntakeSettings(), now=utcnow())
        db.session.commit()

    assert first.created_case and second.case_id == first.case_id
    case = client.get(f"/api/v1/cases/{first.case_id}", headers=adviser).get_json()
    assert case["customer"]["name"] == "Matti Virtanen"
    assert _bodies(client, adviser, first.case_id) == ["hei", "terveisin"]


def test_an_id_stored_on_another_channel_is_no_replay_in_a_batch(make_app, admin_for):
    """Idempotency is on (channel, provider id): a batch looks the ids and the channels up as
    two lists, so an id seen on another channel must not be taken for a replay."""
    from service.intake import batch
    from service.intake.logic import IntakeSettings
    from service.intake.message import InboundMessage, Sender
    from tests.conftest import Api

    app = make_app()
    adviser = admin_for(app, "adviser")
    client = app.test_client()
    stored = client.post("/api/v1/inbound/messages", headers=Api(app, client).api_key_headers(), json={
        "channel": "chat", "external_id": "X-7", "from": {"name": "Chat-asiakas"}, "body": "chatissa"}).get_json()

    def message(channel, body):
        return InboundMessage(channel=channel, external_id="X-7", sender=Sender(phone="+358401000061"),
                              to="+358501112223", body=body, received_at=utcnow())

    with app.app_context():
        sms, chat_again = batch.store_plain([message("sms", "tekstiviestinä"), message("chat", "chatissa")],
                                            actor=None, settings=IntakeSettings(), now=utcnow())
        db.session.commit()

    assert not sms.duplicate and sms.case_id != stored["case_id"]
    assert _bodies(client, adviser, sms.case_id) == ["tekstiviestinä"]
    assert chat_again.duplicate and chat_again.contact_id == stored["contact_id"]


def test_people_known_only_by_a_name_each_become_a_customer_of_their_own_in_one_batch(make_app, admin_for):
    """Chats signed only with a name, among a message from a number, in one batch: each name is
    a new person, none of them the customer known by a number (who has no email either)."""
    from service.intake import batch
    from service.intake.logic import IntakeSettings
    from service.intake.message import InboundMessage, Sender

    app = make_app()
    adviser = admin_for(app, "adviser")
    client = app.test_client()

    def message(channel, body, **sender):
        return InboundMessage(channel=channel, external_id=None, sender=Sender(**sender), to="+358501112223",
                              body=body, received_at=utcnow())

    with app.app_context():
        results = batch.store_plain([message("chat", "liisan", name="Liisa"), message("sms", "numerosta",
                                                                                     phone="+358401000071"),
                                     message("chat", "pekan", name="Pekka")],
                                    actor=None, settings=IntakeSettings(), now=utcnow())
        db.session.commit()

    customers = [client.get(f"/api/v1/cases/{r.case_id}", headers=adviser).get_json()["customer"] for r in results]
    assert [(c["name"], c["phone"]) for c in customers] == [("Liisa", None), (None, "+358401000071"), ("Pekka", None)]
    assert len({c["id"] for c in customers}) == 3


def test_a_new_person_writing_thrice_by_email_in_one_batch_is_one_customer_created_once_with_the_first_name(
        make_app, admin_for):
    """Three web forms of one new address in a batch, the later ones unsigned or signed otherwise:
    one customer, created (and audited) once, keeping the name the first one gave."""
    from service.intake import batch
    from service.intake.logic import IntakeSettings
    from service.intake.message import InboundMessage, Sender

    app = make_app()
    adviser = admin_for(app, "adviser")
    client = app.test_client()

    def form(n, name=None):
        return InboundMessage(channel="webform", external_id=f"webform-twice-{n}",
                              sender=Sender(email="uusi@example.fi", name=name), to=None, body=f"lomake {n}",
                              received_at=utcnow())

    with app.app_context():
        first, *later = batch.store_plain([form(1, "Uusi Asiakas"), form(2), form(3, "U. A.")], actor=None,
                                          settings=IntakeSettings(), now=utcnow())
        db.session.commit()

    assert [(result.case_id, result.created_case) for result in later] == [(first.case_id, False)] * 2
    customer = client.get(f"/api/v1/cases/{first.case_id}", headers=adviser).get_json()["customer"]
    assert customer["name"] == "Uusi Asiakas"
    assert _count(app, select(func.count()).select_from(AuditEntry)
                  .where(AuditEntry.action == "customer.created")) == 1
