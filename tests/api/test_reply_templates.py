"""Reply templates: administrators keep them per line and language; advisers get them filled in
from the case they answer."""

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.api.problems import assert_problem

BODY = "Hei {first_name}! Asiasi {reference} (avattu {opened_on}) on käsittelyssä. Terveisin {official_name}, {today}"


def _line(client, admin, name="Neuvonta", widget="neuvonta"):
    response = client.post("/api/v1/service-lines", json={"name": name, "chat_widget_ids": [widget],
                                                          "default_language": "fi"}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _template(client, admin, line_id, **fields):
    payload = {"service_line_id": line_id, "language": "fi", "title": "Käsittelyaika", "body": BODY}
    payload.update(fields)
    return client.post("/api/v1/reply-templates", json=payload, headers=admin)


def _chat_case(client, widget, **start):
    body = {"anonymous": False, "name": "Anna Maria Virtanen", "email": "anna@example.fi", "language": "fi",
            "widget_id": widget}
    body.update(start)
    response = client.post("/api/v1/chats", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_id"]


def test_an_adviser_gets_the_lines_templates_filled_in_from_the_case(client, admin, api):
    line = _line(client, admin)
    assert _template(client, admin, line["id"]).status_code == 201
    assert _template(client, admin, line["id"], language="sv", title="Handläggningstid",
                     body="Hej {first_name}! Ärende {reference}, {today}.").status_code == 201
    other = _line(client, admin, name="Toinen", widget="toinen")
    assert _template(client, admin, other["id"], title="Muu").status_code == 201
    case_id = _chat_case(client, "neuvonta")
    adviser = api.headers_for("adviser", name="Ville Neuvoja")

    listed = client.get(f"/api/v1/cases/{case_id}/reply-templates", headers=adviser)
    assert listed.status_code == 200, listed.get_json()
    (filled,) = listed.get_json()["items"]
    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    today = datetime.now(ZoneInfo("Europe/Helsinki"))  # the service's days are Helsinki days
    assert filled["title"] == "Käsittelyaika" and filled["missing"] == []
    assert filled["body"].startswith(f"Hei Anna! Asiasi {case['reference']} (avattu ")
    assert "Terveisin Ville Neuvoja, " in filled["body"]
    assert f"{today.day}.{today.month}.{today.year}" in filled["body"]

    swedish = client.get(f"/api/v1/cases/{case_id}/reply-templates?language=sv", headers=adviser).get_json()
    assert [t["body"] for t in swedish["items"]] == [
        f"Hej Anna! Ärende {case['reference']}, {today.day}.{today.month}.{today.year}."]


def test_english_dates_are_written_out_and_an_anonymous_customer_leaves_the_name_empty(client, admin, adviser):
    line = _line(client, admin)
    assert _template(client, admin, line["id"], language="en", title="Thanks",
                     body="Dear {first_name}, thank you. {{Ref}} {reference} of {today}").status_code == 201
    case_id = _chat_case(client, "neuvonta", anonymous=True, name=None, email=None, language="en")

    (filled,) = client.get(f"/api/v1/cases/{case_id}/reply-templates", headers=adviser).get_json()["items"]
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")
    assert filled["missing"] == ["first_name"]
    assert filled["body"].startswith("Dear , thank you. {Ref} ")
    assert any(month in filled["body"] for month in months)


def test_inactive_and_deleted_templates_are_not_offered(client, admin, adviser):
    line = _line(client, admin)
    kept = _template(client, admin, line["id"], title="A").get_json()
    paused = _template(client, admin, line["id"], title="B").get_json()
    gone = _template(client, admin, line["id"], title="C").get_json()
    assert client.patch(f"/api/v1/reply-templates/{paused['id']}", json={"active": False},
                        headers=admin).status_code == 200
    assert client.delete(f"/api/v1/reply-templates/{gone['id']}", headers=admin).status_code == 204
    assert_problem(client.get(f"/api/v1/reply-templates/{gone['id']}", headers=admin), 404)
    case_id = _chat_case(client, "neuvonta")

    items = client.get(f"/api/v1/cases/{case_id}/reply-templates", headers=adviser).get_json()["items"]
    assert [t["id"] for t in items] == [kept["id"]]
    listed = client.get("/api/v1/reply-templates", query_string={"service_line_id": line["id"]}, headers=admin)
    assert [t["title"] for t in listed.get_json()["items"]] == ["A", "B"]
    # The administrators' list filters by activity and language too.
    _template(client, admin, line["id"], title="D", language="sv")
    active = client.get("/api/v1/reply-templates", query_string={"active": "true"}, headers=admin).get_json()
    assert [t["title"] for t in active["items"]] == ["A", "D"]
    swedish = client.get("/api/v1/reply-templates", query_string={"language": "sv"}, headers=admin).get_json()
    assert [t["title"] for t in swedish["items"]] == ["D"]


def test_a_template_naming_an_unknown_variable_is_refused(client, admin):
    line = _line(client, admin)
    assert_problem(_template(client, admin, line["id"], body="Hei {etunimi}!"), 422, fields=["body"])
    assert_problem(_template(client, admin, line["id"], body="Hei {first_name!r}"), 422, fields=["body"])
    assert_problem(_template(client, admin, line["id"], body="Hei {"), 422, fields=["body"])
    made = _template(client, admin, line["id"]).get_json()
    assert_problem(client.patch(f"/api/v1/reply-templates/{made['id']}", json={"body": "{x.y}"}, headers=admin),
                   422, fields=["body"])


def test_the_same_title_twice_in_a_line_and_language_conflicts(client, admin):
    line = _line(client, admin)
    assert _template(client, admin, line["id"]).status_code == 201
    assert_problem(_template(client, admin, line["id"]), 409)
    assert _template(client, admin, line["id"], language="sv").status_code == 201


def test_an_unknown_line_is_refused(client, admin):
    assert_problem(_template(client, admin, 999999), 422, fields=["service_line_id"])


def test_advisers_cannot_manage_templates_and_see_only_cases_they_may(client, admin, api):
    line = _line(client, admin)
    other = _line(client, admin, name="Toinen", widget="toinen")
    adviser = api.headers_for("adviser", service_line_ids=[line["id"]])
    assert_problem(_template(client, adviser, line["id"]), 403)
    assert_problem(client.get("/api/v1/reply-templates", headers=adviser), 403)
    case_elsewhere = _chat_case(client, "toinen")
    assert other["id"] != line["id"]
    assert_problem(client.get(f"/api/v1/cases/{case_elsewhere}/reply-templates", headers=adviser), 404)


def test_saving_and_deleting_a_template_is_audited(client, admin):
    line = _line(client, admin)
    made = _template(client, admin, line["id"]).get_json()
    client.delete(f"/api/v1/reply-templates/{made['id']}", headers=admin)
    entries = client.get("/api/v1/audit", query_string={"object_type": "reply_template"}, headers=admin).get_json()
    assert {e["action"] for e in entries["items"]} == {"reply_template.saved", "reply_template.deleted"}
