"""SQL-injection and path-traversal strings in every text field and file name: stored and
returned as the text they are, or refused; never run, never a path outside the file store."""

import base64
import io

import pytest

from service.cases.models import Case
from service.extensions import db

HOSTILE = [
    "'; DROP TABLE \"case\"; --",
    "x' OR '1'='1",
    "1; DELETE FROM customer WHERE 1=1",
    "\\'; SELECT pg_sleep(5); --",
    "../../../../etc/passwd",
    "..\\..\\windows\\system32\\config",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "' UNION SELECT token_hash FROM auth_token --",
]


def _cases_table_is_intact(app) -> int:
    with app.app_context():
        return db.session.query(Case).count()


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_field_is_stored_as_text(app, client, intake, adviser, text):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": f"<{text}@x>", "from": {"email": "anna@example.fi", "name": text},
        "subject": text, "body": text})
    assert posted.status_code == 201, posted.get_json()
    case_id = posted.get_json()["case_id"]
    assert client.post(f"/api/v1/cases/{case_id}/notes", json={"body": text}, headers=adviser).status_code == 201
    patched = client.patch(f"/api/v1/cases/{case_id}", json={"question": text, "answer": text, "topic": text[:200]},
                           headers=adviser)
    assert patched.status_code == 200, patched.get_json()

    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    assert (case["subject"], case["question"], case["answer"]) == (text, text, text)
    assert case["customer"]["name"] == text
    assert [n["body"] for n in case["notes"]] == [text]
    assert _cases_table_is_intact(app) == 1

    # The same strings as search text and filters: no match, no error, nothing run.
    for params in ({"q": text}, {"q": text, "status": "open"}):
        listed = client.get("/api/v1/cases", query_string=params, headers=adviser)
        assert listed.status_code == 200
    found = client.get("/api/v1/customers", query_string={"q": text}, headers=adviser)
    assert found.status_code == 200
    assert [c["name"] for c in found.get_json()["items"]] == [text]  # the name matches itself, as text
    assert _cases_table_is_intact(app) == 1


@pytest.mark.parametrize("filename", [
    "../../../etc/passwd.txt", "..\\..\\boot.ini.txt", "/etc/shadow.txt", "C:\\Windows\\win.ini.txt",
    "....//....//x.txt", "%2e%2e%2fsecret.txt",
])
def test_hostile_file_names_never_leave_the_file_store(app, client, intake, adviser, tmp_path, filename):
    content = b"tiedoston sisalto"
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": f"<file-{abs(hash(filename))}@x>", "from": {"email": "anna@example.fi"},
        "body": "liite", "attachments": [{"filename": filename, "content_type": "text/plain",
                                          "content_base64": base64.b64encode(content).decode()}]})
    assert posted.status_code == 201, posted.get_json()
    case_id = posted.get_json()["case_id"]
    uploaded = client.post(f"/api/v1/cases/{case_id}/attachments", headers=adviser, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(content), filename, "text/plain")})
    assert uploaded.status_code == 201, uploaded.get_json()

    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    names = [a["filename"] for a in case["attachments"]]
    assert len(names) == 2
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    # The bytes are only under the store's root, under names the service chose.
    root = app.extensions["file_storage"].root
    stored = [p for p in root.rglob("*") if p.is_file()]
    assert len(stored) == 2 and all(p.read_bytes() == content for p in stored)
    assert not any(part in ("etc", "boot.ini.txt", "win.ini.txt") for p in stored for part in p.parts[-2:])
    with client.get(f"/api/v1/cases/{case_id}/attachments/{case['attachments'][0]['id']}", headers=adviser) as got:
        assert got.get_data() == content


@pytest.mark.parametrize("path", [
    "/api/v1/cases/..%2F..%2Fetc%2Fpasswd", "/api/v1/cases/1%20OR%201=1", "/api/v1/cases/1;DROP",
    "/api/v1/recordings/../../etc/passwd/audio",
])
def test_hostile_paths_are_not_found(client, adviser, path):
    response = client.get(path, headers=adviser)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
