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


def test_inactive_user_cannot_log_in(db, web, make_user):
    user = make_user("jane@example.com")
    user.active = False
    db.session.commit()
    assert web.login("jane@example.com").status_code == 401


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("jane@example.com")
    response = client.post("/login", data={"email": "jane@example.com",
                                           "password": "x" * 20})
    assert response.status_code in (400, 401)
    assert client.get("/admin/contact/").status_code == 302


def test_next_parameter_cannot_leave_the_site(web, make_user):
    make_user("jane@example.com")
    web._token = None
    response = web.post("/login?next=//evil.example/x",
                        {"email": "jane@example.com",
                         "password": "correct horse battery staple"})
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


def test_cli_create_admin(runner, db):
    result = runner.invoke(args=["users", "create-admin", "--email", "boss@example.com",
                                 "--password", "a long enough passphrase"])
    assert result.exit_code == 0, result.output
    assert db.session.query(User).filter_by(email="boss@example.com").one().is_admin


def test_cli_refuses_short_or_common_password(runner, db):
    short = runner.invoke(args=["users", "create", "--email", "a@example.com",
                                "--password", "short"])
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    common = runner.invoke(args=["users", "create", "--email", "a@example.com",
                                 "--password", "qwerty123456"])
    assert common.exit_code != 0
    assert "too common" in common.output
    assert db.session.query(User).count() == 0
