"""Reply templates in the console: the adviser picks one in the reply box, filled in from the case."""

from __future__ import annotations

from tests.twilio_fakes import inbound_sms, twilio_post

from .pages import Console


def test_an_adviser_answers_with_a_template_filled_in_from_the_case(make_app, admin_for, browser, serve, screenshot,
                                                                   accessible):
    app = make_app()
    server = serve(app)
    client = app.test_client()
    admin = admin_for(app, "admin")
    adviser = admin_for(app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7e" * 16, body="Milloin päätös tulee?"))
    case = client.get("/api/v1/cases", headers=admin).get_json()["items"][0]
    line_id = case["service_line"]["id"]
    for title, language, body in (("Käsittelyaika", "fi", "Asianne {reference} on käsittelyssä. T. {official_name}"),
                                  ("Handläggningstid", "sv", "Ärende {reference} behandlas.")):
        made = client.post("/api/v1/reply-templates", headers=admin, json={
            "service_line_id": line_id, "language": language, "title": title, "body": body})
        assert made.status_code == 201, made.get_json()

    console = Console(browser, server.url).open()
    console.sign_in(adviser.username)
    console.go(f"#/cases/{case['id']}")
    console.present("#reply-form .template-picker[data-state=loaded]")
    # Only the case's language (Finnish: the line's default) is offered.
    options = [o.text for o in console.all("#reply-template option")]
    assert options == ["Choose a template", "Käsittelyaika"]
    console.fill("#reply-body", "Hei! ")
    console.select("#reply-template", console.all("#reply-template option")[1].get_attribute("value"))
    console.click("#reply-use-template")
    body = console.element("#reply-body").get_property("value")
    assert body == f"Hei! Asianne {case['reference']} on käsittelyssä. T. {adviser.username.replace('adviser', 'Adviser ')}"
    assert console.focused().get_attribute("id") == "reply-body"
    screenshot("case-reply-template")
    accessible(browser, "the case with the template picker")
    console.click("#reply-form button[type=submit]")
    console.notice("The reply is queued for delivery.")
    console.wait_for_text("#timeline", "on käsittelyssä. T. Adviser")
