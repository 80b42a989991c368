import pytest

from crm.auth.models import User


def test_login_and_logout(web, make_user):
    user = make_user("jane@example.com")
    response = web.login("JANE@example.com ")
    assert response.status_code == 302
    assert web.get("/admin/contact/").status_code == 200
    web.logout()
    assert web.get("/admin/contact/").status_code == 302
    assert user.email == "jane@example.com"


def test_wrong_password_gives_generic_message(web, make_user):
    make_user("jane@example.com")
    response = web.login("jane@example.com", "not the password at all")
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Wrong e-mail or password." in page
    unknown = web.login("nobody@example.com", "not the password at all")
    assert "Wrong e-mail or password." in unknown.get_data(as_text=True)


def test_passwords_are_hashed_with_argon2(db, make_user):
    user = make_user("jane@example.com")
    stored = db.session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")


def test_the_default_hash_parameters_are_rfc_9106_low_memory(app_config):
    from argon2 import extract_parameters, profiles

    from crm import create_app
    from crm.auth.passwords import hash_password

    app_config.pop("PASSWORD_HASH_PROFILE")
    with create_app(app_config).app_context():
        stored = hash_password("a long enough passphrase")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY


def test_the_cheapest_hash_parameters_are_refused_outside_tests(app_config):
    from crm import create_app
    from crm.config import ConfigError

    app_config["TESTING"] = False
    with pytest.raises(ConfigError, match="test suites only"):
        create_app(app_config)
    app_config["PASSWORD_HASH_PROFILE"] = "md5"
    with pytest.raises(ConfigError, match="rfc9106-low-memory"):
        create_app(app_config)


def test_signing_in_upgrades_a_hash_made_with_other_parameters(app, db, web):
    from argon2 import PasswordHasher, extract_parameters, profiles

    from crm.auth.services import create_user

    user = create_user(
        "jane@example.com", "correct horse battery", check_password=False
    )
    weak = PasswordHasher.from_parameters(profiles.PRE_21_2)
    user.password_hash = weak.hash("correct horse battery")
    db.session.commit()
    app.config["PASSWORD_HASH_PROFILE"] = "cheapest"

    assert web.login("jane@example.com", "correct horse battery").status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, user.id).password_hash
    assert extract_parameters(stored) == profiles.CHEAPEST


def test_inactive_user_cannot_log_in(db, web, make_user):
    user = make_user("jane@example.com")
    user.active = False
    db.session.commit()
    assert web.login("jane@example.com").status_code == 401


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("jane@example.com")
    response = client.post(
        "/login", data={"email": "jane@example.com", "password": "x" * 20}
    )
    assert response.status_code in (400, 401)
    assert client.get("/admin/contact/").status_code == 302


def test_next_parameter_cannot_leave_the_site(web, make_user):
    make_user("jane@example.com")
    web._token = None
    response = web.post(
        "/login?next=//evil.example/x",
        {"email": "jane@example.com", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_password_change_ends_other_sessions(app, db, make_user):
    from crm.auth import services

    user = make_user("jane@example.com")
    from tests.conftest import Web

    first, second = Web(app.test_client()), Web(app.test_client())
    first.login("jane@example.com")
    second.login("jane@example.com")
    services.set_password(user, "another long passphrase 42")
    db.session.commit()
    assert first.get("/admin/contact/").status_code == 302
    assert second.get("/admin/contact/").status_code == 302


def test_deactivation_ends_sessions_for_good(app, db, web, make_user):
    from tests.conftest import Web
    from tests.test_access_screens import permission_form

    admin = make_user("admin@example.com", is_admin=True)
    jane = make_user("jane@example.com")
    assert web.login(admin.email).status_code == 302
    janes = Web(app.test_client())
    assert janes.login(jane.email).status_code == 302
    assert janes.get("/admin/contact/").status_code == 200

    url = f"/admin/user/edit/?id={jane.id}"
    data = {"email": jane.email, **permission_form()}
    assert web.post(url, data).status_code == 302  # "active" left unticked
    assert janes.get("/admin/contact/").status_code == 302

    assert web.post(url, {**data, "active": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, jane.id).active
    # Active again: the session from before stays signed out; a new one works.
    assert janes.get("/admin/contact/").status_code == 302
    assert janes.login(jane.email).status_code == 302
    assert janes.get("/admin/contact/").status_code == 200


def test_saving_an_active_user_keeps_their_sessions(app, db, web, make_user):
    from tests.conftest import Web
    from tests.test_access_screens import permission_form

    admin = make_user("admin@example.com", is_admin=True)
    jane = make_user("jane@example.com")
    assert web.login(admin.email).status_code == 302
    janes = Web(app.test_client())
    assert janes.login(jane.email).status_code == 302

    data = {"email": jane.email, "name": "Jane", "active": "y", **permission_form()}
    assert web.post(f"/admin/user/edit/?id={jane.id}", data).status_code == 302
    assert janes.get("/admin/contact/").status_code == 200


def test_cli_create_admin(runner, db):
    result = runner.invoke(
        args=[
            "users",
            "create-admin",
            "--email",
            "boss@example.com",
            "--password",
            "a long enough passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    assert db.session.query(User).filter_by(email="boss@example.com").one().is_admin


def test_cli_refuses_short_or_common_password(runner, db):
    short = runner.invoke(
        args=["users", "create", "--email", "a@example.com", "--password", "short"]
    )
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    common = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@example.com",
            "--password",
            "qwerty123456",
        ]
    )
    assert common.exit_code != 0
    assert "too common" in common.output
    assert db.session.query(User).count() == 0


def _fail_login(web, email, times):
    return [
        web.login(email, "not the password at all").status_code for _ in range(times)
    ]


def test_login_is_throttled_per_account_with_a_generic_message(app, web, make_user):
    make_user("jane@example.com")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    assert _fail_login(web, "jane@example.com", limit) == [401] * limit
    blocked = web.login("jane@example.com")
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    # The same answer for an address nobody uses: nothing tells accounts apart.
    _fail_login(web, "nobody@example.com", limit)
    assert web.login("nobody@example.com").status_code == 429


def test_throttling_per_address_covers_many_accounts(app, web, make_user):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 4
    make_user("jane@example.com")
    for n in range(4):
        _fail_login(web, f"guess{n}@example.com", 1)
    assert web.login("jane@example.com").status_code == 429


def test_throttling_forgets_failures_after_the_window(app, db, web, make_user):
    from datetime import timedelta

    from crm.auth.models import LoginFailure

    make_user("jane@example.com")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    _fail_login(web, "jane@example.com", limit)
    window = timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW"] + 1)
    for failure in db.session.query(LoginFailure):
        failure.at = failure.at - window
    db.session.commit()
    assert web.login("jane@example.com").status_code == 302


def test_session_cookie_is_httponly_and_samesite(web, make_user):
    make_user("jane@example.com")
    response = web.login("jane@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(app_config):
    from crm import create_app

    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    with app.test_request_context():
        from flask import session

        session["x"] = 1
        response = app.make_response("ok")
        app.session_interface.save_session(app, session, response)
    assert "Secure" in response.headers["Set-Cookie"]


def test_cli_create_user_in_a_team_who_sees_only_own(runner, db):
    from crm.access import services

    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "u1@example.com",
            "--password",
            "a long enough passphrase",
            "--team",
            "Sales",
            "--own-only",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "in team Sales" in result.output
    user = db.session.query(User).filter_by(email="u1@example.com").one()
    perms = services.user_permissions(user)["contacts"]
    assert (perms["view_scope"], perms["edit_scope"]) == ("own", "own")
    assert [t.name for t in services.teams_of(user)] == ["Sales"]


def test_cli_create_user_with_view_all(runner, db):
    from crm.access import services

    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "u1@example.com",
            "--password",
            "a long enough passphrase",
            "--view-all",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.query(User).filter_by(email="u1@example.com").one()
    assert services.user_permissions(user)["contacts"]["view_scope"] == "all"


def test_cli_create_team_with_manager_and_members(runner, db, make_user):
    from crm.access.models import Team

    make_user("boss@example.com")
    make_user("u1@example.com")
    make_user("u2@example.com")
    result = runner.invoke(
        args=[
            "teams",
            "create",
            "Sales",
            "--manager",
            "boss@example.com",
            "--member",
            "u1@example.com",
            "--member",
            "U2@example.com",
        ]
    )
    assert result.exit_code == 0, result.output
    team = db.session.query(Team).filter_by(name="Sales").one()
    roles = {m.user.email: m.is_manager for m in team.members}
    assert roles == {
        "boss@example.com": True,
        "u1@example.com": False,
        "u2@example.com": False,
    }


def test_cli_create_team_refuses_unknown_members_and_writes_nothing(runner, db):
    from crm.access.models import Team

    result = runner.invoke(
        args=["teams", "create", "Sales", "--member", "x@example.com"]
    )
    assert result.exit_code != 0
    assert "No user has the e-mail x@example.com" in result.output
    assert db.session.query(Team).count() == 0
    again = runner.invoke(args=["teams", "create", "Sales"])
    assert again.exit_code == 0
    duplicate = runner.invoke(args=["teams", "create", "sales"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_https_deployments_get_strict_transport_security(app_config):
    from crm import create_app

    plain = create_app(app_config).test_client().get("/login")
    assert "Strict-Transport-Security" not in plain.headers
    assert plain.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    secure = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    response = secure.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_credentials_are_never_shown_listed_exported_or_in_a_form(
    app, db, web, make_user
):
    from crm.core.admin import SECRET_COLUMN, SecuredModelView

    admin = make_user("admin@example.com", is_admin=True)
    web.login(admin.email)
    page = web.get(f"/admin/user/details/?id={admin.id}").get_data(as_text=True)
    assert admin.email in page
    assert admin.password_hash not in page and admin.session_token not in page

    for view in app.extensions["crm_admin"]._views:
        if not isinstance(view, SecuredModelView):
            continue
        columns = [
            name
            for getter in (
                view.get_list_columns,
                view.get_details_columns,
                view.get_export_columns,
            )
            for name, _label in getter()
        ]
        fields = [n for n in vars(view.scaffold_form()) if not n.startswith("_")]
        assert not [c for c in columns if SECRET_COLUMN.search(str(c))], view.endpoint
        assert not [
            f
            for f in fields
            if SECRET_COLUMN.search(f) and f not in ("new_password", "password")
        ], view.endpoint
