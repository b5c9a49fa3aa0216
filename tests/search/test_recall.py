"""Recall of the search on a set of Finnish and Swedish messages (tests/search/recall_set.py).

Each message is its own case, posted through intake in its language; each search is typed as
an adviser would. Recall is the share of searches that find their message's case. The misses
are written to test-artifacts/search-recall-<database>.txt and listed in docs/search.md; the
floors below are what was measured, so a change that loses recall fails here.
"""

from __future__ import annotations

from pathlib import Path

from tests.search.recall_set import RECALL_SET

FLOOR = {"postgresql": 0.83, "sqlite": 0.72}


def test_recall_on_finnish_and_swedish_messages(app, client, intake, adviser):
    cases = {}
    for n, (language, message, _, _) in enumerate(dict.fromkeys((l, m, None, None) for l, m, _, _ in RECALL_SET)):
        posted = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "sms", "external_id": f"SM-recall-{n}", "from": {"phone": f"+35840{n:07d}"},
            "body": message, "language": language})
        assert posted.status_code == 201, posted.get_json()
        cases[message] = posted.get_json()["case_id"]

    misses, noise = [], 0
    for language, message, q, kind in RECALL_SET:
        page = client.get("/api/v1/cases/search", query_string={"q": q, "page_size": 100}, headers=adviser)
        assert page.status_code == 200, page.get_json()
        found = [hit["id"] for hit in page.get_json()["items"]]
        if cases[message] not in found:
            misses.append(f"{language}  {kind:<14} {q!r:<22} in {message!r}")
        noise += len([case for case in found if case != cases[message]])

    dialect = "postgresql" if app.config["DATABASE_URL"].startswith("postgresql") else "sqlite"
    recall = 1 - len(misses) / len(RECALL_SET)
    report = (f"{dialect}: recall {recall:.2f} ({len(RECALL_SET) - len(misses)}/{len(RECALL_SET)}), "
              f"{noise} other cases found in all\nmisses:\n" + "\n".join(misses) + "\n")
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / f"search-recall-{dialect}.txt").write_text(report, encoding="utf-8")
    print(report)
    assert recall >= FLOOR[dialect], report
