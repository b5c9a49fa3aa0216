"""The command line: creating officials (password from standard input) and the demo admin."""

from __future__ import annotations

from sqlalchemy import func, select

from service.auth.models import Official
from service.extensions import db

PASSWORD = "a long enough passphrase"


def _count_officials(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Official))


def _login(client, username, password):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_officials_create__reads_the_password_from_stdin_and_the_official_can_sign_in(runner, client):
    result = runner.invoke(args=["officials", "create", "paivi", "--role", "admin", "--name", "Päivi Pääkäyttäjä"],
                           input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert "Created admin paivi" in result.output
    assert PASSWORD not in result.output
    response = _login(client, "paivi", PASSWORD)
    assert response.status_code == 201
    me = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer " + response.get_json()["access_token"]})
    assert me.get_json()["role"] == "admin"
    assert me.get_json()["name"] == "Päivi Pääkäyttäjä"


def test_officials_create__keeps_the_profile_and_normalises_contact_details(app, runner):
    result = runner.invoke(args=["officials", "create", "olli", "--role", "adviser", "--name", "Olli Ojala",
                                 "--title", "Adviser", "--organisation", "City of Vantaa",
                                 "--organisation-email", "Info@Vantaa.FI", "--organisation-phone", "09 310 1691"],
                           input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    with app.app_context():
        official = db.session.scalar(select(Official).where(Official.username == "olli"))
        assert (official.title, official.organisation) == ("Adviser", "City of Vantaa")
        assert official.organisation_email == "info@vantaa.fi"
        assert official.organisation_phone == "+35893101691"


def test_officials_create__windows_line_ending_is_not_part_of_the_password(runner, client):
    runner.invoke(args=["officials", "create", "wendy", "--role", "adviser", "--name", "Wendy W"],
                  input=PASSWORD + "\r\n")

    assert _login(client, "wendy", PASSWORD).status_code == 201


def test_officials_create__short_password_fails_with_a_clear_message(app, runner):
    result = runner.invoke(args=["officials", "create", "shorty", "--role", "admin", "--name", "Short Y"],
                           input="short\n")

    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert "12" in result.output
    assert "Traceback" not in result.output
    assert _count_officials(app) == 0


def test_officials_create__empty_stdin_fails(app, runner):
    result = runner.invoke(args=["officials", "create", "nobody", "--role", "admin", "--name", "No Body"], input="")

    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert _count_officials(app) == 0


def test_officials_create__taken_username_fails(runner):
    args = ["officials", "create", "twin", "--role", "adviser", "--name", "Twin One"]
    assert runner.invoke(args=args, input=PASSWORD + "\n").exit_code == 0

    result = runner.invoke(args=args, input=PASSWORD + "\n")

    assert result.exit_code != 0
    assert "taken" in result.output


def test_officials_create__unknown_role_fails_listing_the_roles(app, runner):
    result = runner.invoke(args=["officials", "create", "root", "--role", "root", "--name", "Root"],
                           input=PASSWORD + "\n")

    assert result.exit_code != 0
    assert "privacy_officer" in result.output
    assert _count_officials(app) == 0


def test_officials_create__invalid_organisation_phone_fails(app, runner):
    result = runner.invoke(args=["officials", "create", "pia", "--role", "adviser", "--name", "Pia",
                                 "--organisation-phone", "12"], input=PASSWORD + "\n")

    assert result.exit_code != 0
    assert "organisation" in result.output
    assert _count_officials(app) == 0


def test_demo__creates_an_admin_when_no_official_exists(runner, client):
    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    response = _login(client, "admin", "admin-demo-password")
    assert response.status_code == 201
    me = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer " + response.get_json()["access_token"]})
    assert me.get_json()["role"] == "admin"


def test_demo__creates_nobody_when_an_official_exists(app, runner, client):
    assert runner.invoke(args=["officials", "create", "first", "--role", "adviser", "--name", "First"],
                         input=PASSWORD + "\n").exit_code == 0

    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0
    assert "exist" in result.output
    assert _count_officials(app) == 1
    assert _login(client, "admin", "admin-demo-password").status_code == 401


def test_demo__run_twice_creates_one_admin(app, runner):
    runner.invoke(args=["demo"])
    runner.invoke(args=["demo"])

    assert _count_officials(app) == 1


def test_stats_rebuild__from_after_to_fails_naming_from(runner):
    result = runner.invoke(args=["stats", "rebuild", "--from", "2026-03-31", "--to", "2026-03-01"])

    assert result.exit_code != 0
    assert "--from is after --to" in result.output and "--from" in result.output


def test_stats_rebuild__with_nothing_to_count_says_so(runner):
    result = runner.invoke(args=["stats", "rebuild"])

    assert result.exit_code == 0, result.output
    assert "no contacts to count" in result.output
    assert "Statistics rebuilt: 0 days recounted" in result.output
