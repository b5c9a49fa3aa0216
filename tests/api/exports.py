"""A person's access export as the privacy officer downloads it, shared by the API tests."""

from __future__ import annotations

import io
import json
import zipfile


def access_export(client, privacy_officer, phone: str) -> tuple[dict, list[str]]:
    """Record an access request for the person with ``phone`` and download its archive:
    the archive's ``export.json`` and the names of every file in it."""
    request = client.post("/api/v1/privacy/requests", headers=privacy_officer, json={
        "type": "access", "subject": {"phone": phone}, "received_at": "2026-11-27T10:00:00+02:00"})
    assert request.status_code == 201, request.get_json()
    archive = client.get(f"/api/v1/privacy/requests/{request.get_json()['id']}/export?format=zip",
                         headers=privacy_officer)
    assert archive.status_code == 200, archive.get_data(as_text=True)
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        return json.loads(zipped.read("export.json")), zipped.namelist()
