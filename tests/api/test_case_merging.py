"""Merging cases, splitting them, and undoing a merge, as officials do it through the API."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from service.jobs import roll_up_statistics
from tests.api.problems import assert_problem

CASES = "/api/v1/cases"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def sms(api, intake, phone: str, body: str, **extra) -> dict:
    return ok(api.inbound(intake, channel="sms", **{"from": {"phone": phone}}, body=body, **extra), 201)


def email(client, intake, sender: str, subject: str, n: str, **extra) -> dict:
    return ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": f"<{n}@example.fi>", "from": {"email": sender},
        "subject": subject, "body": "Viesti", **extra}), 201)


def detail(client, headers, case_id: int) -> dict:
    return ok(client.get(f"{CASES}/{case_id}", headers=headers))


def merge(client, headers, case_id: int, into: int, **extra):
    return client.post(f"{CASES}/{case_id}/merge", json={"into_case_id": into, **extra}, headers=headers)


@pytest.fixture
def two_cases(api, client, intake, adviser):
    """Two SMS cases of two numbers on the default line; the second with a note and a file."""
    first = sms(api, intake, "040 111 1111", "Ensimmäinen")
    second = sms(api, intake, "040 222 2222", "Toinen")
    ok(client.post(f"{CASES}/{second['case_id']}/notes", json={"body": "Soittaa takaisin"}, headers=adviser), 201)
    ok(client.post(f"{CASES}/{second['case_id']}/attachments", headers=adviser, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(PDF), "liite.pdf", "application/pdf")}), 201)
    return first["case_id"], second["case_id"]


def test_a_merge_moves_contacts_notes_and_files_with_their_own_timestamps(client, adviser, two_cases):
    survivor_id, merged_id = two_cases
    before = detail(client, adviser, merged_id)

    body = ok(merge(client, adviser, merged_id, survivor_id))

    assert body["dry_run"] is False and body["moves"]["contact"] == 1 and body["moves"]["note"] == 1
    survivor = detail(client, adviser, survivor_id)
    moved = {c["id"]: c for c in survivor["contacts"]}
    for contact in before["contacts"]:
        assert moved[contact["id"]] == contact  # same id, body and timestamps
    assert [n["id"] for n in survivor["notes"]] == [n["id"] for n in before["notes"]]
    assert survivor["notes"][0]["created_at"] == before["notes"][0]["created_at"]
    assert [a["id"] for a in survivor["attachments"]] == [a["id"] for a in before["attachments"]]
    download = client.get(f"{CASES}/{survivor_id}/attachments/{before['attachments'][0]['id']}", headers=adviser)
    assert download.status_code == 200 and download.get_data() == PDF
    download.close()
    # The merged case is gone from view; its reference finds the survivor.
    assert_problem(client.get(f"{CASES}/{merged_id}", headers=adviser), 404)
    listed = ok(client.get(CASES, headers=adviser))
    assert [c["id"] for c in listed["items"]] == [survivor_id]
    found = ok(client.get(CASES, query_string={"q": before["reference"]}, headers=adviser))
    assert [c["id"] for c in found["items"]] == [survivor_id]


def test_a_dry_run_says_what_would_move_and_moves_nothing(client, adviser, two_cases):
    survivor_id, merged_id = two_cases

    body = ok(merge(client, adviser, merged_id, survivor_id, dry_run=True))

    assert body["dry_run"] is True and body["merge"] is None
    assert body["moves"]["contact"] == 1 and body["moves"]["attachment"] == 1 and body["moves"]["note"] == 1
    assert body["customers_differ"] is True and body["lines_differ"] is False
    assert body["source"]["id"] == merged_id and body["target"]["id"] == survivor_id
    assert len(detail(client, adviser, merged_id)["contacts"]) == 1
    assert len(detail(client, adviser, survivor_id)["contacts"]) == 1


def test_the_merged_reference_threads_to_the_survivor(api, client, intake, adviser):
    first = email(client, intake, "matti@example.fi", "Passi", "m1")
    second = email(client, intake, "maija@example.fi", "Passi uudestaan", "m2")
    merged_reference = detail(client, adviser, second["case_id"])["reference"]
    ok(merge(client, adviser, second["case_id"], first["case_id"]))

    tagged = email(client, intake, "matti@example.fi", f"Re: Passi uudestaan [#{merged_reference}]", "m3")

    assert tagged["case_id"] == first["case_id"] and tagged["created_case"] is False
    assert len(detail(client, adviser, first["case_id"])["contacts"]) == 3


def test_the_merged_cases_customer_may_still_write_to_the_old_reference(client, intake, adviser):
    survivor = email(client, intake, "anna@example.fi", "Muutto", "a1")
    other = email(client, intake, "bertta@example.fi", "Muutto", "b1")
    reference = detail(client, adviser, other["case_id"])["reference"]
    ok(merge(client, adviser, other["case_id"], survivor["case_id"]))

    again = email(client, intake, "bertta@example.fi", f"Re: [#{reference}]", "b2")
    stranger = email(client, intake, "vieras@example.com", f"Re: [#{reference}]", "x1")

    assert again["case_id"] == survivor["case_id"]
    assert stranger["case_id"] not in (survivor["case_id"], other["case_id"])
    assert detail(client, adviser, stranger["case_id"])["linked_case_id"] == survivor["case_id"]


def test_new_sms_never_thread_into_a_merged_case(api, client, intake, adviser):
    survivor = sms(api, intake, "040 333 3333", "Hei")
    merged = sms(api, intake, "040 444 4444", "Moi")
    ok(merge(client, adviser, merged["case_id"], survivor["case_id"]))

    later = sms(api, intake, "040 444 4444", "Vielä")

    assert later["case_id"] not in (merged["case_id"],)
    assert ok(client.get(f"{CASES}/{later['case_id']}", headers=adviser))["id"] == later["case_id"]


def test_new_email_never_threads_into_a_merged_case(client, intake, adviser):
    # Email finds its open case on a path of its own (one message at a time), and a merged case
    # keeps the status it had.
    survivor = email(client, intake, "eka@example.fi", "Hakemus", "merge-m1")
    merged = email(client, intake, "toka@example.fi", "Kysymys", "merge-m2")
    ok(merge(client, adviser, merged["case_id"], survivor["case_id"]))

    later = email(client, intake, "toka@example.fi", "Vielä yksi asia", "merge-m3")

    assert later["case_id"] not in (merged["case_id"], survivor["case_id"])
    assert later["created_case"] is True
    assert [c["body"] for c in detail(client, adviser, later["case_id"])["contacts"]] == ["Viesti"]


def test_retention_takes_the_later_clock_and_a_hold_on_either_holds_the_result(api, client, intake, adviser):
    privacy = api.headers_for("privacy_officer")
    survivor = sms(api, intake, "040 555 5555", "Vanha",
                   received_at=(datetime.now(timezone.utc) - timedelta(days=200)).isoformat())
    merged = sms(api, intake, "040 666 6666", "Uusi")
    closed = ok(client.post(f"{CASES}/{merged['case_id']}/close", headers=adviser))
    ok(client.post(f"{CASES}/{merged['case_id']}/hold", json={"reason": "Valitus vireillä"}, headers=privacy))

    body = ok(merge(client, adviser, merged["case_id"], survivor["case_id"]))

    assert body["legal_hold"] is True
    assert datetime.fromisoformat(body["keep_until"]) >= datetime.fromisoformat(closed["retention_until"])
    # Both clocks have run out a year on: the hold, now the survivor's, keeps everything.
    a_year_on = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()
    result = api.app.test_cli_runner().invoke(args=["retention", "purge", "--as-of", a_year_on])
    assert result.exit_code == 0 and "deleted 0 cases" in result.output, result.output
    assert len(detail(client, adviser, survivor["case_id"])["contacts"]) == 2


def test_an_open_survivor_is_kept_as_long_as_the_closed_case_merged_into_it(api, client, intake, adviser, runner):
    old = (datetime.now(timezone.utc) - timedelta(days=300)).isoformat()
    survivor = sms(api, intake, "040 777 7777", "Vanha", received_at=old)
    merged = sms(api, intake, "040 888 8888", "Uusi")
    closed = ok(client.post(f"{CASES}/{merged['case_id']}/close", headers=adviser))
    ok(merge(client, adviser, merged["case_id"], survivor["case_id"]))

    just_before = (datetime.fromisoformat(closed["retention_until"]) - timedelta(days=1)).isoformat()
    result = runner.invoke(args=["retention", "purge", "--as-of", just_before])

    assert result.exit_code == 0 and "deleted 0 cases" in result.output, result.output
    assert len(detail(client, adviser, survivor["case_id"])["contacts"]) == 2
    after = (datetime.fromisoformat(closed["retention_until"]) + timedelta(days=2)).isoformat()
    result = runner.invoke(args=["retention", "purge", "--as-of", after])
    # The survivor and the merged case's row behind its alias go together, as one case.
    assert "deleted 1 cases" in result.output, result.output
    assert_problem(client.get(f"{CASES}/{survivor['case_id']}", headers=adviser), 404)


def test_statistics_do_not_change_when_cases_are_merged_split_and_unmerged(api, app, client, intake, adviser):
    supervisor = api.headers_for("supervisor")
    first = sms(api, intake, "040 121 2121", "Yksi")
    sms(api, intake, "040 121 2121", "Kaksi")
    second = sms(api, intake, "040 343 4343", "Kolme")
    # The statistics' day is the one of STATS_TIME_ZONE: from 22:00 UTC it is tomorrow's there.
    today = datetime.now(ZoneInfo(app.config["STATS_TIME_ZONE"])).date().isoformat()

    def figures():
        with app.app_context():
            roll_up_statistics()
        return [ok(client.get(f"/api/v1/stats/{report}", headers=supervisor,
                              query_string={"from": today, "to": today, "group_by": "channel"}))["totals"]
                for report in ("contacts", "cases")]

    before = figures()
    assert before[0]
    done = ok(merge(client, adviser, second["case_id"], first["case_id"]))
    assert figures() == before
    ok(client.post(f"{CASES}/merges/{done['merge']['id']}/undo", headers=adviser))
    assert figures() == before


def test_an_undo_splits_the_merged_case_back_and_keeps_what_came_later(api, client, intake, adviser, admin):
    survivor = sms(api, intake, "040 919 1919", "Hei")
    merged = sms(api, intake, "040 929 2929", "Moi")
    merged_contacts = [c["id"] for c in detail(client, adviser, merged["case_id"])["contacts"]]
    done = ok(merge(client, adviser, merged["case_id"], survivor["case_id"]))
    ok(client.post(f"{CASES}/{survivor['case_id']}/notes", json={"body": "Yhdistämisen jälkeen"}, headers=adviser),
       201)

    undone = ok(client.post(f"{CASES}/merges/{done['merge']['id']}/undo", headers=adviser))

    assert undone["undone_at"] is not None
    back = detail(client, adviser, merged["case_id"])
    assert [c["id"] for c in back["contacts"]] == merged_contacts
    kept = detail(client, adviser, survivor["case_id"])
    assert len(kept["contacts"]) == 1 and [n["body"] for n in kept["notes"]] == ["Yhdistämisen jälkeen"]
    assert_problem(client.post(f"{CASES}/merges/{done['merge']['id']}/undo", headers=adviser), 409,
                   "merge-already-undone")
    history = ok(client.get(f"{CASES}/{survivor['case_id']}/merges", headers=adviser))["items"]
    assert [(m["kind"], m["source_case_id"]) for m in history] == [("merge", merged["case_id"])]
    audit = ok(client.get("/api/v1/audit", query_string={"object_type": "case",
                                                          "object_id": survivor["case_id"]}, headers=admin))
    actions = [e["action"] for e in audit["items"]]
    assert "case.merged" in actions and "case.merge_undone" in actions
    merged_entry = next(e for e in audit["items"] if e["action"] == "case.merged")
    assert merged_entry["details"]["merged_case_id"] == merged["case_id"]
    assert merged_entry["actor_id"] == adviser.id


def test_an_older_merge_is_undone_only_after_the_later_one(api, client, intake, adviser):
    a = sms(api, intake, "040 101 0101", "A")["case_id"]
    b = sms(api, intake, "040 202 0202", "B")["case_id"]
    c = sms(api, intake, "040 303 0303", "C")["case_id"]
    first = ok(merge(client, adviser, a, b))["merge"]["id"]
    second = ok(merge(client, adviser, b, c))["merge"]["id"]
    # A's reference now leads straight to C.
    reference_a = next(m for m in ok(client.get(f"{CASES}/{c}/merges", headers=adviser))["items"])
    assert reference_a["id"] == second

    assert_problem(client.post(f"{CASES}/merges/{first}/undo", headers=adviser), 409, "merge-not-last")
    ok(client.post(f"{CASES}/merges/{second}/undo", headers=adviser))
    ok(client.post(f"{CASES}/merges/{first}/undo", headers=adviser))
    assert [len(detail(client, adviser, x)["contacts"]) for x in (a, b, c)] == [1, 1, 1]


def test_a_case_is_not_merged_into_itself_or_an_unknown_or_merged_case(api, client, intake, adviser, two_cases):
    survivor_id, merged_id = two_cases
    assert_problem(merge(client, adviser, survivor_id, survivor_id), 422, fields=["into_case_id"])
    assert_problem(merge(client, adviser, survivor_id, 999999), 404)
    assert_problem(client.post(f"{CASES}/{survivor_id}/merge", json={"into_case_id": "x"}, headers=adviser), 422)
    assert_problem(client.post(f"{CASES}/{survivor_id}/merge", json={"into_case_id": merged_id, "also": 1},
                               headers=adviser), 422)
    ok(merge(client, adviser, merged_id, survivor_id))
    assert_problem(merge(client, adviser, survivor_id, merged_id), 404)
    assert_problem(client.post(f"{CASES}/{merged_id}/notes", json={"body": "x"}, headers=adviser), 404)


# Every endpoint that names a case, with a valid request: a merged case's id must fail as the id
# of no case does, not on its input.
CASE_ENDPOINTS = {
    ("GET", "/api/v1/cases/<int:case_id>"): {},
    ("PATCH", "/api/v1/cases/<int:case_id>"): {"json": {"topic": "passi"}},
    ("POST", "/api/v1/cases/<int:case_id>/notes"): {"json": {"body": "Soitettu"}},
    ("POST", "/api/v1/cases/<int:case_id>/contacts"): {"json": {"channel": "phone", "direction": "outbound",
                                                                "body": "Soitto"}},
    ("POST", "/api/v1/cases/<int:case_id>/attachments"): {
        "content_type": "multipart/form-data", "data": lambda: {"file": (io.BytesIO(PDF), "a.pdf", "application/pdf")}},
    ("GET", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>"): {},
    ("POST", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>/release"): {"json": {"reason": "Tuttu"}},
    ("POST", "/api/v1/cases/<int:case_id>/calls"): {},
    ("POST", "/api/v1/cases/<int:case_id>/close"): {},
    ("POST", "/api/v1/cases/<int:case_id>/reopen"): {},
    ("POST", "/api/v1/cases/<int:case_id>/replies"): {"json": {"channel": "sms", "body": "Hei"}},
    ("GET", "/api/v1/cases/<int:case_id>/reply-templates"): {},
    ("POST", "/api/v1/cases/<int:case_id>/forward"): {"json": {"authority_id": 1, "disclose": ["phone"],
                                                               "legal_basis": "HL 21 §"}},
    ("POST", "/api/v1/cases/<int:case_id>/disclosures"): {"json": {"recipient": "Poliisi", "fields": ["phone"],
                                                                   "legal_basis": "Poliisilaki 4:3"}},
    ("GET", "/api/v1/cases/<int:case_id>/disclosures"): {},
    ("POST", "/api/v1/cases/<int:case_id>/hold"): {"json": {"reason": "Oikeudenkäynti"}},
    ("DELETE", "/api/v1/cases/<int:case_id>/hold"): {},
    ("POST", "/api/v1/cases/<int:case_id>/merge"): {"json": {"into_case_id": 1}},
    ("POST", "/api/v1/cases/<int:case_id>/split"): {"json": {"contact_ids": [1]}},
    ("GET", "/api/v1/cases/<int:case_id>/merges"): {},
}


def test_a_merged_cases_id_answers_every_endpoint_as_an_id_of_no_case_does(app, api, client, two_cases):
    survivor_id, merged_id = two_cases
    admin = api.headers_for("admin")  # every line, and every permission: only the merge can stop it
    attachment_id = detail(client, admin, merged_id)["attachments"][0]["id"]
    ok(merge(client, admin, merged_id, survivor_id))
    named = {(method, rule.rule) for rule in app.url_map.iter_rules() if "<int:case_id>" in rule.rule
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert named == set(CASE_ENDPOINTS), "a new endpoint names a case: add it here"

    def call(method, rule, case_id, request):
        path = rule.replace("<int:case_id>", str(case_id)).replace("<int:attachment_id>", str(attachment_id))
        request = {key: value() if callable(value) else value for key, value in request.items()}
        return client.open(path, method=method, headers=admin, **request)

    for (method, rule), request in CASE_ENDPOINTS.items():
        unknown = call(method, rule, 999999, request)
        answer = call(method, rule, merged_id, request)
        assert (answer.status_code, answer.get_json()["type"]) == (unknown.status_code, unknown.get_json()["type"]), \
            (method, rule, answer.get_json())
        # No phone system here: a call is refused (409) before any case is looked up, for any id alike.
        assert answer.status_code == (409 if rule.endswith("/calls") else 404), (method, rule)


# --- across service lines ------------------------------------------------------------------------

@pytest.fixture
def two_lines(api, client, admin, intake):
    lines = [ok(client.post("/api/v1/service-lines", headers=admin, json={
        "name": name, "phone_numbers": [number]}), 201) for name, number in
        (("Neuvonta", "+358295000001"), ("Verotus", "+358295000002"))]
    cases = [sms(api, intake, phone, "Hei", to=line["phone_numbers"][0])["case_id"]
             for phone, line in (("040 515 1515", lines[0]), ("040 525 2525", lines[1]))]
    return lines, cases


def test_cases_of_two_lines_are_merged_only_by_a_supervisor_where_both_lines_allow_it(api, client, admin,
                                                                                     adviser, two_lines):
    lines, (first, second) = two_lines
    supervisor = api.headers_for("supervisor")

    assert_problem(merge(client, adviser, second, first), 403, "merge-across-lines-forbidden")
    assert_problem(merge(client, supervisor, second, first), 409, "lines-do-not-allow-merge")
    ok(client.patch(f"/api/v1/service-lines/{lines[0]['id']}", json={"merge_across_lines": True}, headers=admin))
    assert_problem(merge(client, supervisor, second, first), 409, "lines-do-not-allow-merge")
    line = ok(client.patch(f"/api/v1/service-lines/{lines[1]['id']}", json={"merge_across_lines": True},
                           headers=admin))
    assert line["merge_across_lines"] is True

    body = ok(merge(client, supervisor, second, first))

    assert body["lines_differ"] is True
    assert len(detail(client, supervisor, first)["contacts"]) == 2


def _days_from_now(timestamp: str) -> float:
    return (datetime.fromisoformat(timestamp) - datetime.now(timezone.utc)) / timedelta(days=1)


def test_a_retention_policy_change_keeps_the_clock_a_merge_took_over(api, client, admin, two_lines):
    lines, (survivor_id, merged_id) = two_lines
    supervisor = api.headers_for("supervisor")
    for line, days in ((lines[0], 100), (lines[1], 400)):
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True,
                                                                     "case_retention_days": days}, headers=admin))
    ok(client.post(f"{CASES}/{merged_id}/close", headers=supervisor))
    ok(merge(client, supervisor, merged_id, survivor_id))
    # Closing the survivor counts its own 100 days, and keeps the 400 of the case merged into it.
    closed = ok(client.post(f"{CASES}/{survivor_id}/close", headers=supervisor))
    assert 399 < _days_from_now(closed["retention_until"]) < 401

    def kept_for() -> float:
        return _days_from_now(detail(client, supervisor, survivor_id)["retention_until"])

    # A shorter period on the survivor's line recounts it: never below the merged case's clock.
    ok(client.patch(f"/api/v1/retention/policies/{lines[0]['id']}", json={"case_retention_days": 50}, headers=admin))
    assert 399 < kept_for() < 401
    # A change on the merged case's line recounts the survivor on the other line too: longer...
    ok(client.patch(f"/api/v1/retention/policies/{lines[1]['id']}", json={"case_retention_days": 500}, headers=admin))
    assert 499 < kept_for() < 501
    # ...or shorter, as the merged case alone would have been, never below the survivor's own.
    ok(client.patch(f"/api/v1/retention/policies/{lines[1]['id']}", json={"case_retention_days": 20}, headers=admin))
    assert 49 < kept_for() < 51


def test_a_policy_change_recounts_a_survivor_by_the_default_period_of_a_merged_case_whose_line_has_none(
        api, client, admin, two_lines):
    lines, (survivor_id, merged_id) = two_lines
    supervisor = api.headers_for("supervisor")
    for line in lines:
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True}, headers=admin))
    ok(client.post(f"{CASES}/{merged_id}/close", headers=supervisor))
    ok(merge(client, supervisor, merged_id, survivor_id))
    ok(client.post(f"{CASES}/{survivor_id}/close", headers=supervisor))

    ok(client.patch(f"/api/v1/retention/policies/{lines[0]['id']}", json={"case_retention_days": 50}, headers=admin))

    # The merged case's line keeps the default 365 days: the survivor keeps them too.
    assert 364 < _days_from_now(detail(client, supervisor, survivor_id)["retention_until"]) < 366


def test_a_closed_survivor_is_purged_by_its_date_not_by_its_own_lines_period_since_its_last_activity(
        api, client, admin, runner, two_lines):
    lines, (survivor_id, merged_id) = two_lines
    supervisor = api.headers_for("supervisor")
    for line, days in ((lines[0], 100), (lines[1], 400)):
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True,
                                                                     "case_retention_days": days}, headers=admin))
    for case_id in (survivor_id, merged_id):
        ok(client.post(f"{CASES}/{case_id}/close", headers=supervisor))
    # Merged into a closed case, which stays closed: the merged case's 400 days become its date.
    merged = ok(merge(client, supervisor, merged_id, survivor_id))
    assert merged["target"]["status"] == "closed"
    keep_until = datetime.fromisoformat(detail(client, supervisor, survivor_id)["retention_until"])
    assert 399 < _days_from_now(keep_until.isoformat()) < 401

    # 200 days after its last activity (the merge): past its own line's 100, which counts only for a case
    # left open; closed, it keeps the 400 days it took over from the merged case.
    result = runner.invoke(args=["retention", "purge", "--as-of", (keep_until - timedelta(days=200)).isoformat()])

    assert result.exit_code == 0 and "deleted 0 cases" in result.output, result.output
    assert len(detail(client, supervisor, survivor_id)["contacts"]) == 2
    result = runner.invoke(args=["retention", "purge", "--as-of", (keep_until + timedelta(days=1)).isoformat()])
    assert "deleted 1 cases" in result.output, result.output
    assert_problem(client.get(f"{CASES}/{survivor_id}", headers=supervisor), 404)


def test_a_retention_policy_change_keeps_the_clock_of_a_survivor_a_merge_was_undone_from(api, client, admin,
                                                                                        two_lines):
    lines, (survivor_id, merged_id) = two_lines
    supervisor = api.headers_for("supervisor")
    for line, days in ((lines[0], 300), (lines[1], 30)):
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True,
                                                                     "case_retention_days": days}, headers=admin))
    body = ok(merge(client, supervisor, merged_id, survivor_id))
    ok(client.post(f"{CASES}/merges/{body['merge']['id']}/undo", headers=supervisor))
    closed = ok(client.post(f"{CASES}/{merged_id}/close", headers=supervisor))
    # What came back was kept as long as the survivor while merged (300 days, not its own 30).
    assert 299 < _days_from_now(closed["retention_until"]) < 301

    ok(client.patch(f"/api/v1/retention/policies/{lines[1]['id']}", json={"case_retention_days": 10}, headers=admin))

    assert 299 < _days_from_now(detail(client, supervisor, merged_id)["retention_until"]) < 301


def test_a_merge_needs_both_cases_in_the_officials_own_lines(api, client, admin, intake, two_lines):
    lines, (first, second) = two_lines
    member = api.official("adviser", service_line_ids=[lines[0]["id"]])
    headers = api.login(member["username"]).get_json()["access_token"]
    headers = {"Authorization": "Bearer " + headers}
    visible = ok(client.get(CASES, headers=headers))["items"]
    if {c["id"] for c in visible} == {first, second}:
        pytest.skip("advisers see every line on this configuration")
    assert_problem(merge(client, headers, first, second), 404)


def test_a_merge_across_lines_is_undone_only_by_an_official_of_both_lines(api, client, admin, two_lines):
    lines, (first, second) = two_lines
    supervisor = api.headers_for("supervisor")
    for line in lines:
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True}, headers=admin))
    merge_id = ok(merge(client, supervisor, second, first))["merge"]["id"]
    member = api.official("adviser", service_line_ids=[lines[0]["id"]])
    headers = {"Authorization": "Bearer " + api.login(member["username"]).get_json()["access_token"]}
    if second in {c["id"] for c in ok(client.get(CASES, headers=headers))["items"]}:
        pytest.skip("advisers see every line on this configuration")

    assert_problem(client.post(f"{CASES}/merges/{merge_id}/undo", headers=headers), 404)

    assert len(detail(client, supervisor, first)["contacts"]) == 2  # still merged
    ok(client.post(f"{CASES}/merges/{merge_id}/undo", headers=supervisor))
    assert len(detail(client, supervisor, first)["contacts"]) == 1


def test_another_lines_merge_answers_404_to_an_adviser_whatever_state_it_is_in(api, client, admin, intake,
                                                                              two_lines):
    lines, (_, on_b) = two_lines
    other_on_b = sms(api, intake, "040 535 3535", "Hei taas", to=lines[1]["phone_numbers"][0])["case_id"]
    merge_id = ok(merge(client, admin, other_on_b, on_b))["merge"]["id"]
    ok(client.post(f"{CASES}/merges/{merge_id}/undo", headers=admin))
    member_of_a = api.headers_for("adviser", service_line_ids=[lines[0]["id"]])

    # An undone merge of line B is as unknown to line A as a merge id that never existed: a 409
    # would tell them it exists, and (with the ids in sequence) how B's case work goes.
    assert_problem(client.post(f"{CASES}/merges/{merge_id}/undo", headers=member_of_a), 404)
    assert_problem(client.post(f"{CASES}/merges/999999/undo", headers=member_of_a), 404)
    assert_problem(client.get(f"{CASES}/{on_b}/merges", headers=member_of_a), 404)
    assert_problem(client.post(f"{CASES}/merges/{merge_id}/undo", headers=admin), 409, "merge-already-undone")


def test_a_customer_merged_over_to_another_line_is_seen_on_that_line_and_no_longer_on_their_old_one(
        api, client, admin, intake, two_lines):
    lines, (on_a, on_b) = two_lines
    for line in lines:
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True}, headers=admin))
    customer = detail(client, admin, on_a)["customer"]["id"]
    ok(merge(client, api.headers_for("supervisor"), on_a, on_b))
    member_of_a = api.headers_for("adviser", service_line_ids=[lines[0]["id"]])
    member_of_b = api.headers_for("adviser", service_line_ids=[lines[1]["id"]])

    # Every contact of theirs is on line B now: line A keeps only the merged case's row, which
    # is no case of line A's any more, so neither is the person (as for a case never on A).
    assert_problem(client.get(f"/api/v1/customers/{customer}", headers=member_of_a), 404)
    assert ok(client.get("/api/v1/customers", query_string={"phone": "040 515 1515"}, headers=member_of_a))[
        "items"] == []
    # Line B sees them, with their case list leading to the survivor their contacts are on.
    assert [c["id"] for c in ok(client.get(f"/api/v1/customers/{customer}", headers=member_of_b))["cases"]] == [
        on_b]


# --- splitting ------------------------------------------------------------------------------------

def test_a_split_moves_the_chosen_contacts_with_their_files_to_a_new_case(api, client, intake, adviser):
    first = email(client, intake, "kalle@example.fi", "Kaksi asiaa", "k1")
    second = ok(client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<k2@example.fi>", "from": {"email": "kalle@example.fi"},
        "subject": "Re: Kaksi asiaa", "body": "Toinen asia",
        "attachments": [{"filename": "kuva.pdf", "content_type": "application/pdf",
                         "content_base64": "JVBERi0xLjcKJSVFT0YK"}]}), 201)
    assert second["case_id"] == first["case_id"]
    preview = ok(client.post(f"{CASES}/{first['case_id']}/split",
                             json={"contact_ids": [second["contact_id"]], "dry_run": True}, headers=adviser))
    assert preview["moves"] == {"contact": 1, "attachment": 1, "recording": 0, "chat": 0, "outbox_message": 0}
    assert preview["target"] is None

    body = ok(client.post(f"{CASES}/{first['case_id']}/split", json={"contact_ids": [second["contact_id"]]},
                          headers=adviser))

    new = detail(client, adviser, body["target"]["id"])
    assert [c["id"] for c in new["contacts"]] == [second["contact_id"]]
    assert [a["filename"] for a in new["attachments"]] == ["kuva.pdf"]
    assert new["customer"]["id"] == detail(client, adviser, first["case_id"])["customer"]["id"]
    assert [c["id"] for c in detail(client, adviser, first["case_id"])["contacts"]] == [first["contact_id"]]
    history = ok(client.get(f"{CASES}/{first['case_id']}/merges", headers=adviser))["items"]
    assert history[0]["kind"] == "split" and history[0]["target_case_id"] == new["id"]
    assert_problem(client.post(f"{CASES}/merges/{history[0]['id']}/undo", headers=adviser), 404)


def test_a_split_needs_contacts_of_the_case_and_leaves_one(api, client, intake, adviser, two_cases):
    first, second = two_cases
    only = detail(client, adviser, first)["contacts"][0]["id"]
    other = detail(client, adviser, second)["contacts"][0]["id"]
    url = f"{CASES}/{first}/split"
    assert_problem(client.post(url, json={"contact_ids": [only]}, headers=adviser), 422, fields=["contact_ids"])
    assert_problem(client.post(url, json={"contact_ids": [other]}, headers=adviser), 422, fields=["contact_ids"])
    assert_problem(client.post(url, json={"contact_ids": []}, headers=adviser), 422, fields=["contact_ids"])


# --- the schema ----------------------------------------------------------------------------------

def test_every_reference_to_a_case_or_a_contact_is_known_to_merging(app):  # app: every model loaded
    from service.cases import merging
    from service.extensions import db

    into_cases, into_contacts = set(), set()
    for table in db.metadata.tables.values():
        for key in table.foreign_keys:
            if key.column.table.name == "case":
                into_cases.add((table.name, key.parent.name))
            elif key.column.table.name == "contact":
                into_contacts.add((table.name, key.parent.name))
    assert into_cases == set(merging.CASE_REFERENCES), \
        "a new table refers to a case: say in service/cases/merging.py whether a merge moves it"
    assert into_contacts == set(merging.CONTACT_REFERENCES), \
        "a new table refers to a contact: a split must move its rows with the contact"
    # A row that follows its contact on a split also names the case, or it would be left behind.
    for table, _column in merging.CONTACT_REFERENCES:
        assert (table, "case_id") in merging.CASE_REFERENCES, table
        assert merging.CASE_REFERENCES[(table, "case_id")] == merging.MOVES, table


def _found(client, headers, words: str) -> list[int]:
    return [hit["id"] for hit in ok(client.get(f"{CASES}/search", query_string={"q": words},
                                               headers=headers))["items"]]


def test_search_finds_moved_messages_notes_and_files_on_the_case_they_are_on_now(api, client, intake, adviser,
                                                                                two_cases):
    first, second = two_cases
    assert _found(client, adviser, "Soittaa") == [second] and _found(client, adviser, "liite") == [second]

    ok(merge(client, adviser, second, first))
    assert _found(client, adviser, "Toinen") == [first]
    assert _found(client, adviser, "Soittaa") == [first] and _found(client, adviser, "liite") == [first]

    moved = next(c["id"] for c in detail(client, adviser, first)["contacts"] if c["body"] == "Toinen")
    split = ok(client.post(f"{CASES}/{first}/split", json={"contact_ids": [moved]}, headers=adviser))
    assert _found(client, adviser, "Toinen") == [split["target"]["id"]]
