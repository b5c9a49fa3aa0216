"""Searching what citizens and officials wrote on the cases an official may see."""

from __future__ import annotations

import base64
import io
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import false, true

from tests.api.problems import assert_problem

CASES = "/api/v1/cases"
SEARCH = "/api/v1/cases/search"
PDF = b"%PDF-1.4\nsearch test\n%%EOF\n"
_ids = itertools.count()


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def search(client, headers, q, **filters) -> dict:
    return ok(client.get(SEARCH, query_string={"q": q, **filters}, headers=headers))


def found(client, headers, q, **filters) -> list[int]:
    return [hit["id"] for hit in search(client, headers, q, **filters)["items"]]


def sms(client, intake, text, *, phone="+358401111111", **extra) -> int:
    body = {"channel": "sms", "external_id": f"SM-{next(_ids)}", "from": {"phone": phone}, "body": text, **extra}
    return ok(client.post("/api/v1/inbound/messages", headers=intake, json=body), 201)["case_id"]


def marked(hit) -> list[str]:
    snippet = hit["snippet"]
    return [snippet["text"][start:end] for start, end in snippet["highlights"]]


def test_a_word_in_an_sms_finds_its_case_with_the_word_marked(client, intake, adviser):
    wanted = sms(client, intake, "Hei, muuttoilmoitukseni Tampereelle jäi kesken. Voitteko auttaa?", language="fi")
    sms(client, intake, "Verokortti pitäisi tilata", phone="+358402222222", language="fi")

    (hit,) = search(client, adviser, "muuttoilmoitus")["items"]

    assert hit["id"] == wanted
    assert hit["snippet"]["source"] == "contact"
    assert marked(hit) == ["muuttoilmoitukseni"]
    assert found(client, adviser, "Tampere") == [wanted]
    assert found(client, adviser, "tampereella") == [wanted]


def test_every_text_an_official_may_see_is_searched(client, intake, adviser):
    opened = ok(client.post(CASES, json={"subject": "Asumistuki", "question": "Kuinka haetaan eläkettä?",
                                         "language": "fi",
                                         "customer": {"name": "Liisa Virtanen", "email": "liisa@example.fi",
                                                      "phone": "040 555 1234"}},
                            headers=adviser), 201)
    case_id = opened["id"]
    ok(client.patch(f"{CASES}/{case_id}", json={"answer": "Lähetetty lomake kotiosoitteeseen"}, headers=adviser))
    ok(client.post(f"{CASES}/{case_id}/notes", json={"body": "Asiakas toivoo soittoa iltapäivällä"},
                   headers=adviser), 201)
    ok(client.post(f"{CASES}/{case_id}/attachments", headers=adviser, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(PDF), "vuokrasopimus_2026.pdf", "application/pdf")}), 201)
    ok(client.post(f"{CASES}/{case_id}/replies", json={"channel": "email", "subject": "Vastaus",
                                                        "body": "Hakemuksenne on käsittelyssä Kelassa"},
                   headers=adviser), 201)
    sms(client, intake, "Ihan muu asia", phone="+358409999999")

    for q, source in [("asumistuki", "case"), ("eläke", "case"), ("kotiosoite", "case"),
                      ("iltapäivä", "note"), ("vuokrasopimus", "attachment"), ("käsittelyssä", "contact"),
                      ("Virtanen", "customer"), ("liisa@example.fi", "customer"),
                      ("040 555 1234", None)]:
        (hit,) = search(client, adviser, q)["items"]
        assert hit["id"] == case_id, q
        assert (hit["snippet"] or {}).get("source") == source, q


def test_a_chat_transcript_is_searched_once_the_chat_has_ended(client, adviser):
    started = ok(client.post("/api/v1/chats", json={"anonymous": True, "language": "fi"}), 201)
    token = {"Authorization": "Bearer " + started["token"]}
    ok(client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "Miten uusin passini?"},
                   headers=token), 201)
    ok(client.post(f"/api/v1/chats/{started['chat_id']}/end", headers=token))

    assert found(client, adviser, "passi") == [started["case_id"]]


def test_every_word_must_be_found_somewhere_on_the_case(client, intake, adviser):
    both = sms(client, intake, "Rakennuslupa Espooseen", phone="+358401000001", language="fi")
    ok(client.post(f"{CASES}/{both}/notes", json={"body": "Naapurin kuuleminen puuttuu"}, headers=adviser), 201)
    sms(client, intake, "Rakennuslupa Vantaalle", phone="+358401000002", language="fi")

    assert found(client, adviser, "rakennuslupa naapuri") == [both]
    assert sorted(found(client, adviser, "rakennuslupa")) == sorted([both, both + 1])


def test_swedish_and_english_cases_are_stemmed_in_their_language(client, intake, adviser):
    swedish = sms(client, intake, "Jag behöver hjälp med bostadsbidraget", phone="+358401000003", language="sv")
    english = sms(client, intake, "My residence permits were delayed", phone="+358401000004", language="en")

    assert found(client, adviser, "bostadsbidrag") == [swedish]
    assert found(client, adviser, "permit") == [english]


def test_search_filters_as_the_case_list_does(client, intake, adviser):
    sms_case = sms(client, intake, "Parkkisakko", phone="+358401000005")
    web = ok(client.post(CASES, json={"channel": "internal", "subject": "Parkkisakko oikaisu"}, headers=adviser), 201)
    ok(client.post(f"{CASES}/{sms_case}/close", headers=adviser))

    assert found(client, adviser, "parkkisakko", channel="sms") == [sms_case]
    assert found(client, adviser, "parkkisakko", status="closed") == [sms_case]
    assert web["status"] != "closed"
    assert found(client, adviser, "parkkisakko", status=web["status"]) == [web["id"]]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert found(client, adviser, "parkkisakko", created_from=future) == []


def test_the_case_list_q_uses_the_same_index(client, intake, adviser):
    wanted = sms(client, intake, "Ajokortin uusiminen", phone="+358401000006", language="fi")
    sms(client, intake, "Jotain muuta", phone="+358401000007")

    listed = ok(client.get(CASES, query_string={"q": "ajokortti"}, headers=adviser))

    assert [item["id"] for item in listed["items"]] == [wanted]


def test_the_case_list_q_pages_its_matches_in_the_lists_order_reading_the_text_index_once(app, client, intake,
                                                                                         adviser):
    from sqlalchemy import event

    from service.extensions import db

    wanted = [sms(client, intake, f"Oleskelulupa {n}", phone=f"+35840100002{n}", language="fi") for n in range(3)]
    sms(client, intake, "Jotain muuta", phone="+358401000029")
    with app.app_context():
        engine = db.engine
    index_reads = []

    def count(_conn, _cursor, statement, *_args):
        # Not the planner's estimates of the words (pg_class, EXPLAIN once the index has been
        # analysed), which read no text.
        if statement.startswith("EXPLAIN"):
            return
        if "FROM search_entry" in statement or "FROM search_fts" in statement:
            index_reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = ok(client.get(CASES, query_string={"q": "oleskelulupa", "page_size": 2}, headers=adviser))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    second = ok(client.get(CASES, query_string={"q": "oleskelulupa", "page_size": 2, "page": 2}, headers=adviser))
    oldest_first = ok(client.get(CASES, query_string={"q": "oleskelulupa", "sort": "created_at"}, headers=adviser))

    assert [item["id"] for item in first["items"]] == [wanted[2], wanted[1]]
    assert [item["id"] for item in second["items"]] == [wanted[0]]
    assert (first["total"], second["total"], first["total_exact"]) == (3, 3, True)
    assert [item["id"] for item in oldest_first["items"]] == wanted
    assert len(index_reads) == 1


def test_results_are_paginated_best_first(client, intake, adviser):
    weak = sms(client, intake, "Kalastuslupa ja paljon muuta tekstiä " + "sana " * 60, phone="+358401000008",
               language="fi")
    strong = sms(client, intake, "Kalastuslupa kalastuslupa kalastuslupa", phone="+358401000009", language="fi")

    first = search(client, adviser, "kalastuslupa", page_size=1)
    second = search(client, adviser, "kalastuslupa", page_size=1, page=2)

    assert first["total"] == 2
    assert [h["id"] for h in first["items"]] == [strong]
    assert [h["id"] for h in second["items"]] == [weak]
    assert first["items"][0]["rank"] > second["items"][0]["rank"]


def test_an_official_finds_only_cases_of_their_lines(client, api, intake, admin):
    line = ok(client.post("/api/v1/service-lines", headers=admin, json={"name": "Oleskeluluvat"}), 201)
    limited = api.headers_for("adviser", service_line_ids=[line["id"]])
    sms(client, intake, "Oleskelulupa vanhenee", phone="+358401000010")  # the default line

    assert search(client, limited, "oleskelulupa") == {"items": [], "total": 0, "total_exact": True, "page": 1,
                                                     "page_size": 25}
    assert found(client, admin, "oleskelulupa") != []


def test_the_search_terms_are_in_the_audit_log(client, intake, adviser, admin):
    sms(client, intake, "Matkustusasiakirja", phone="+358401000011")
    search(client, adviser, "matkustusasiakirja")

    entries = ok(client.get("/api/v1/audit", query_string={"action": "case.searched"}, headers=admin))["items"]
    assert [e["details"] for e in entries] == [{"q": "matkustusasiakirja", "count": 1, "page": 1}]


@pytest.mark.parametrize("q", ["x" * 201, ""])
def test_a_bad_search_is_a_422(client, adviser, q):
    assert_problem(client.get(SEARCH, query_string={"q": q}, headers=adviser), 422)


@pytest.mark.parametrize("q", ["\"'*:&|!()", "% _ \\", "NEAR(a b)", "ja", "a OR b", "'):* | !"])
def test_search_syntax_in_the_text_is_only_text(client, intake, adviser, q):
    sms(client, intake, "Tavallinen viesti", phone="+358401000012")
    assert search(client, adviser, q)["total"] == 0


def test_a_purged_word_finds_nothing_afterwards(app, client, runner, intake, adviser, admin):
    purged = sms(client, intake, "Salainen lumikuningatar-asia", phone="+358401000013",
                 attachments=[{"filename": "lumikuningatar.pdf", "content_type": "application/pdf",
                               "content_base64": base64.b64encode(PDF).decode()}])
    ok(client.post(f"{CASES}/{purged}/notes", json={"body": "Lumikuningatar soitti"}, headers=adviser), 201)
    ok(client.post(f"{CASES}/{purged}/close", headers=adviser))
    assert found(client, admin, "lumikuningatar") == [purged]

    a_year_later = (datetime.now(timezone.utc) + timedelta(days=366)).isoformat()
    result = runner.invoke(args=["retention", "purge", "--as-of", a_year_later])
    assert "deleted 1 cases" in result.output, result.output

    assert found(client, admin, "lumikuningatar") == []
    assert found(client, admin, "+358401000013") == []
    from sqlalchemy import func, select, text

    from service.cases.models import SearchEntry
    from service.extensions import db
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SearchEntry)) == 0
        if db.engine.dialect.name == "sqlite":
            # The FTS5 table's own index holds no token of the purged text either.
            assert db.session.scalar(text("SELECT count(*) FROM search_fts WHERE search_fts MATCH 'lumikuningatar'")) == 0


@pytest.mark.parametrize("through_the_index", [True, False], ids=["matches-through-the-index", "newest-texts-walked"])
def test_a_common_word_ranks_only_the_newest_texts_but_texts_with_every_word_still_count(client, intake, adviser,
                                                                                        monkeypatch, through_the_index):
    from service.cases import search as search_module

    monkeypatch.setattr(search_module, "CANDIDATES", 3)
    # PostgreSQL collects a word's matches one of two ways, chosen by the planner's estimate of
    # how many there are (on SQLite both runs are the same): either must keep the newest.
    monkeypatch.setattr(search_module, "through_the_index", lambda matches, total: through_the_index)
    both = sms(client, intake, "Verokortti ja muuttoilmoitus", phone="+358401000020", language="fi")
    newer = [sms(client, intake, f"Verokortti numero {n}", phone=f"+35840100003{n}", language="fi") for n in range(5)]

    assert sorted(found(client, adviser, "verokortti")) == sorted(newer[-3:])
    assert found(client, adviser, "verokortti muuttoilmoitus") == [both]


def test_a_corrected_name_is_found_and_the_old_one_no_longer(client, adviser):
    opened = ok(client.post(CASES, json={"subject": "Osoitteenmuutos", "customer": {"name": "Maija Meikäläinen"}},
                            headers=adviser), 201)
    customer_id = opened["customer"]["id"]

    ok(client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Maija Virtanen"}, headers=adviser))

    assert found(client, adviser, "Virtanen") == [opened["id"]]
    assert found(client, adviser, "Meikäläinen") == []


def message(client, intake, text, *, name, channel="sms", **sender) -> int:
    body = {"channel": channel, "external_id": f"M-{next(_ids)}", "from": {"name": name, **sender}, "body": text,
            "language": "fi"}
    return ok(client.post("/api/v1/inbound/messages", headers=intake, json=body), 201)["case_id"]


@pytest.fixture(params=[True, False], ids=["customers-cases-through-the-index", "newest-cases-walked"])
def customers_way(request, monkeypatch):
    from service.cases import search as search_module

    # PostgreSQL collects the cases of the customers a name matches one of two ways, chosen by
    # how many there are (on SQLite both runs are the same): either must find them.
    monkeypatch.setattr(search_module, "customers_through_the_index",
                        lambda found, break_even: true() if request.param else false())


def test_a_surname_and_a_word_of_the_customers_message_find_the_case_together(client, intake, adviser,
                                                                              customers_way):
    wanted = message(client, intake, "Rakennuslupa on kesken", name="Kaisa Lindholm", phone="+358401000051")
    namesake = message(client, intake, "Verokortti puuttuu", name="Erik Lindholm", phone="+358401000052")
    message(client, intake, "Rakennuslupa Vantaalle", name="Aino Saarinen", phone="+358401000053")
    # The name in a message too: found by the words themselves, so no similar-word fallback runs.
    mentioned = message(client, intake, "Lindholm soitti eilen", name="Pekka Laine", phone="+358401000057")

    assert found(client, adviser, "Lindholm rakennuslupa") == [wanted]
    hits = search(client, adviser, "Lindholm")["items"]
    assert sorted(hit["id"] for hit in hits) == sorted([wanted, namesake, mentioned])
    assert sorted((hit["snippet"]["source"], marked(hit)) for hit in hits) == [
        ("contact", ["Lindholm"]), ("customer", ["Lindholm"]), ("customer", ["Lindholm"])]


def test_a_surname_limited_to_a_channel_finds_that_channels_cases_of_the_name(client, intake, adviser,
                                                                              customers_way):
    by_sms = message(client, intake, "Soittakaa minulle", name="Ville Nyström", phone="+358401000054")
    by_email = message(client, intake, "Kiitos vastauksesta", name="Karin Nyström", channel="email",
                       email="karin@example.fi")
    mentioned = message(client, intake, "Nyström soitti", name="Timo Heinonen", phone="+358401000055")

    assert sorted(found(client, adviser, "Nyström", channel="sms")) == sorted([by_sms, mentioned])
    assert found(client, adviser, "Nyström", channel="email") == [by_email]
    assert found(client, adviser, "Heinonen", channel="email") == []


def test_a_name_many_customers_share_finds_their_newest_cases(client, intake, adviser, customers_way, monkeypatch):
    from service.cases import search as search_module

    monkeypatch.setattr(search_module, "CANDIDATES", 2)
    cases = [message(client, intake, "Hei", name="Anna Mäkelä", phone=f"+35840100006{n}") for n in range(4)]

    assert sorted(found(client, adviser, "Mäkelä")) == sorted(cases[-2:])


def test_a_corrected_name_finds_every_case_of_the_customer_by_the_new_name_only(client, intake, adviser,
                                                                               customers_way):
    first = message(client, intake, "Passi hukassa", name="Sanna Kinnunen", phone="+358401000056")
    ok(client.post(f"{CASES}/{first}/close", headers=adviser))
    second = message(client, intake, "Passi löytyi", name="Sanna Kinnunen", phone="+358401000056")
    assert second != first
    customer_id = ok(client.get(f"{CASES}/{first}", headers=adviser))["customer"]["id"]

    ok(client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Sanna Heikkilä"}, headers=adviser))

    assert sorted(found(client, adviser, "Heikkilä passi")) == sorted([first, second])
    # The case list's q has no similar-word fallback.
    listed = ok(client.get(CASES, query_string={"q": "Heikkilä"}, headers=adviser))["items"]
    assert sorted(item["id"] for item in listed) == sorted([first, second])
    assert found(client, adviser, "Kinnunen") == []


def test_the_customers_own_text_is_the_one_their_cases_entries_hold_on_postgresql(app, client, intake, adviser):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("customer.search_tsv is PostgreSQL's")
    from sqlalchemy import text

    from service.extensions import db

    message(client, intake, "Hei", name="Anna-Liisa Mäkelä", phone="+358401000070")
    message(client, intake, "Hei", name="Ingrid", channel="email", email="ingrid.n_2026@example.fi")
    sms(client, intake, "Hei", phone="+358401000071")
    opened = ok(client.post(CASES, json={"subject": "Kysymys", "customer": {"name": "Pekka Laine"}},
                            headers=adviser), 201)
    ok(client.patch(f"/api/v1/customers/{opened['customer']['id']}", json={"email": "pekka/laine@example.fi"},
                    headers=adviser))

    with app.app_context():
        compared = db.session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE e.tsv IS DISTINCT FROM k.search_tsv) FROM search_entry e"
            " JOIN \"case\" c ON c.id = e.case_id JOIN customer k ON k.id = c.customer_id"
            " WHERE e.kind = 'customer'")).one()
    assert compared == (4, 0)


def test_a_case_whose_language_changes_is_stemmed_in_the_new_one(client, intake, adviser):
    case_id = sms(client, intake, "Bostadsbidraget har inte kommit", phone="+358401000040")
    ok(client.patch(f"{CASES}/{case_id}", json={"language": "sv"}, headers=adviser))

    assert found(client, adviser, "bostadsbidrag") == [case_id]


def test_when_the_stems_find_nothing_the_end_of_a_compound_and_a_typo_are_found_on_postgresql(app, client, intake,
                                                                                              adviser):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the trigram fallback is PostgreSQL's (pg_trgm)")
    compound = sms(client, intake, "Henkilökorttihakemus hylättiin", phone="+358401000050", language="fi")
    typo = sms(client, intake, "Muuttoilmoitus tehty", phone="+358401000051", language="fi")
    sms(client, intake, "Verokortti", phone="+358401000052", language="fi")

    (hit,) = search(client, adviser, "hakemus")["items"]
    assert hit["id"] == compound and marked(hit) == ["Henkilökorttihakemus"]
    assert found(client, adviser, "muutoilmoitus") == [typo]
    # The stems found something: no fallback, so no near misses mixed in.
    assert found(client, adviser, "verokortti") == [compound + 2]


def test_a_case_found_by_a_similar_word_whose_first_text_has_no_words_shows_its_start_unmarked(app, client, intake,
                                                                                                adviser):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the trigram fallback is PostgreSQL's (pg_trgm)")
    thumbs = "\U0001F44D" * 300  # a subject of emoji only: no word to show a window around
    case_id = ok(client.post(CASES, headers=adviser, json={"channel": "internal", "subject": thumbs,
                                                           "language": "fi"}), 201)["id"]
    ok(client.post(f"{CASES}/{case_id}/notes", headers=adviser, json={"body": "Muuttoilmoitus tehty"}), 201)

    (hit,) = search(client, adviser, "muutoilmoitus")["items"]  # a typo: found by the similar word only

    assert hit["id"] == case_id
    assert hit["snippet"]["text"] == thumbs[:200] and hit["snippet"]["highlights"] == []


def test_the_similar_word_fallback_gives_up_at_its_budget_and_the_request_goes_on(make_app, caplog):
    from sqlalchemy import text

    from service.extensions import db
    from tests.conftest import Api

    app = make_app(SEARCH_SIMILAR_TIMEOUT_MS=1)
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the trigram fallback is PostgreSQL's (pg_trgm)")
    client = app.test_client()
    api = Api(app, client)
    intake, adviser, admin = api.api_key_headers(), api.headers_for("adviser"), api.headers_for("admin")
    typo = sms(client, intake, "Muuttoilmoitus tehty", phone="+358401000060", language="fi")
    with app.app_context():
        # Texts for the fallback to weigh, far more than a millisecond's worth.
        db.session.execute(text("INSERT INTO search_entry (case_id, kind, source_id, body) SELECT :case_id, "
                                "'note', n, 'Huomautus numero ' || n FROM generate_series(1, 30000) AS n"),
                           {"case_id": typo})
        db.session.commit()

    assert search(client, adviser, "muutoilmoitus")["items"] == []
    assert "stopped at its budget of 1 ms" in caplog.text
    # The request's transaction went on past the cancelled statement: its audit entry is there.
    logged = ok(client.get("/api/v1/audit", query_string={"action": "case.searched"}, headers=admin))["items"]
    assert logged[0]["details"]["q"] == "muutoilmoitus"
    # With time enough, the same search over the same texts finds the near miss.
    app.config["SEARCH_SIMILAR_TIMEOUT_MS"] = 60_000
    assert found(client, adviser, "muutoilmoitus") == [typo]


def test_another_lines_case_is_found_by_none_of_its_names_nor_counted(client, api, intake, admin):
    line = ok(client.post("/api/v1/service-lines", headers=admin, json={"name": "Oleskeluluvat"}), 201)
    limited = api.headers_for("adviser", service_line_ids=[line["id"]])
    # Two cases on the default line, a phone's and an email's, one merged into the other, and a note.
    survivor = sms(client, intake, "Ensimmäinen viesti", phone="+358401000020")
    merged = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<line-search@example.fi>", "from": {"email": "ville@example.fi"},
        "subject": "Asia", "body": "Toinen viesti"}), 201)["case_id"]
    ok(client.post(f"{CASES}/{survivor}/notes", json={"body": "Takaisinsoittopyyntö"}, headers=admin), 201)
    references = [ok(client.get(f"{CASES}/{case_id}", headers=admin))["reference"] for case_id in (survivor, merged)]
    ok(client.post(f"{CASES}/{merged}/merge", json={"into_case_id": survivor}, headers=admin))

    # By reference (the merged one too), by exact phone, by a word of the note: the
    # case itself is found by those who see its line, and nothing, not even a count, by others.
    for q in (*references, "+358401000020", "040 100 0020", "takaisinsoittopyyntö"):
        assert found(client, admin, q) == [survivor], q
        assert search(client, limited, q)["total"] == 0, q
        assert ok(client.get(CASES, query_string={"q": q}, headers=limited))["total"] == 0, q


def test_a_merged_cases_customer_is_found_by_their_phone_or_email_on_the_case_it_went_into(client, intake, admin):
    """The merged case's messages moved to the survivor with the merge; finding them by the
    sender's own number or address leads there too, as the merged reference does."""
    survivor = sms(client, intake, "Ensimmäinen viesti", phone="+358401000021")
    by_email = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<merged-search@example.fi>", "from": {"email": "aino@example.fi"},
        "subject": "Asia", "body": "Toinen viesti"}), 201)["case_id"]
    by_sms = sms(client, intake, "Kolmas viesti", phone="+358401000022")
    for merged in (by_email, by_sms):
        ok(client.post(f"{CASES}/{merged}/merge", json={"into_case_id": survivor}, headers=admin))

    for q in ("aino@example.fi", "+358401000022", "040 100 0022"):
        assert found(client, admin, q) == [survivor], q
        assert [case["id"] for case in ok(client.get(CASES, query_string={"q": q}, headers=admin))["items"]] == [
            survivor], q


def test_a_phone_number_or_email_with_no_case_finds_no_one_else_by_a_near_miss(app, client, intake, adviser):
    """A number or address names one person: the similar-word fallback, there for typos and the
    ends of compounds, must not offer the case of someone whose number differs by a digit."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the trigram fallback is PostgreSQL's (pg_trgm)")
    near = sms(client, intake, "Soittakaa numeroon 0401234599 tai osoitteeseen liisa.virtanen@example.fi",
               phone="+358401000030")
    assert found(client, adviser, "muutoilmoitus") == [] and found(client, adviser, "0401234599") == [near]

    for q in ("0401234598", "+358401234598", "liisa.virtanen@example.com"):
        assert found(client, adviser, q) == [], q
    # A word is still found by a near miss.
    assert found(client, adviser, "numeroonn") == [near]
