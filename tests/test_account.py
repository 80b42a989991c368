"""My account: each user's own interface language and password."""

import html
import re

import pytest

from crm.auth.models import User
from crm.auth.passwords import verify_password
from tests.conftest import PASSWORD, Web
from tests.record_helpers import read_form, reload

ACCOUNT = "/admin/account/"
LANGUAGE = "/admin/account/language"
PASSWORD_URL = "/admin/account/password"
NEW_PASSWORD = "a brand new passphrase 77"


def _options(page: str, name: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select[1])


def _get(web, url, language="en"):
    response = web.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _choose(web, value, language="en"):
    return web.post(
        LANGUAGE,
        {"locale": value},
        headers={"Accept-Language": language},
        follow_redirects=True,
    )


def test_the_user_name_in_the_top_bar_opens_my_account(web, login_as):
    login_as("user", name="Uma User")

    page = _get(web, "/admin/contact/")

    assert re.search(
        r'<a [^>]*id="my-account" href="/admin/account/"[^>]*>Uma User<', page
    )
    # Reached from the name, not listed in the main menu.
    assert ">My account</a>" not in page


def test_my_account_has_one_heading(web, login_as):
    login_as("user")

    page = _get(web, ACCOUNT)

    assert re.findall(r"<h\d[^>]*>\s*My account\s*</h\d>", page) == [
        '<h1 class="h3">My account</h1>'
    ]


@pytest.mark.parametrize(
    ("language", "browser"),
    [("en", "Browser&#39;s language"), ("es", "Idioma del navegador")],
)
def test_the_languages_are_offered_by_their_own_names(web, login_as, language, browser):
    login_as("user")

    page = _get(web, ACCOUNT, language)

    assert _options(page, "locale") == [
        ("", browser),
        ("en", "English"),
        ("es", "Español"),
    ]


def test_an_ordinary_user_switches_to_spanish_and_back_to_the_browser(
    db, web, login_as
):
    user = login_as("user")

    saved = _choose(web, "es", language="en")
    page = saved.get_data(as_text=True)
    assert saved.request.path == ACCOUNT
    assert '<html lang="es">' in page
    assert "Idioma guardado." in page
    assert reload(db, User, user.id).locale == "es"
    # The chosen language wins over an English browser on every page.
    page = _get(web, "/admin/contact/", "en-US,en;q=0.9")
    assert "Cerrar sesión" in page

    page = _choose(web, "", language="es").get_data(as_text=True)
    assert "Idioma guardado." in page
    assert reload(db, User, user.id).locale is None
    assert "Cerrar sesión" in _get(web, "/admin/contact/", "es")
    english = _get(web, "/admin/contact/", "en-US,en;q=0.9")
    assert "Sign out" in english and "Cerrar sesión" not in english


def test_the_page_shows_the_language_chosen(db, web, login_as):
    user = login_as("user")
    user.locale = "es_MX"  # Typed on the Users screen before it had a drop-down.
    db.session.commit()

    fields = read_form(_get(web, ACCOUNT), "language-form")

    assert fields["locale"] == "es"


@pytest.mark.parametrize("value", ["fr", "xx", "es-MX", "Español", "<b>es</b>"])
def test_a_language_outside_the_choices_is_refused_and_nothing_stored(
    db, web, login_as, value
):
    user = login_as("user")
    user.locale = "en"
    db.session.commit()

    response = _choose(web, value)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "is not a language of the interface; choose one from the list." in page
    assert "<b>es</b>" not in page
    assert "Language saved." not in page
    assert reload(db, User, user.id).locale == "en"


def test_a_long_refused_language_is_quoted_shortened(db, web, login_as):
    login_as("user")
    value = "q" * 300

    page = html.unescape(_choose(web, value).get_data(as_text=True))

    assert f"“{'q' * 40}…” is not a language of the interface" in page
    assert "q" * 41 not in page


def test_choosing_a_language_without_the_csrf_token_is_refused(db, web, login_as):
    user = login_as("user")

    response = web.client.post(LANGUAGE, data={"locale": "es"})

    assert response.status_code == 400
    assert reload(db, User, user.id).locale is None


def test_my_account_needs_a_signed_in_user(db, web, make_user):
    make_user("jane@example.com")

    opened = web.get(ACCOUNT)
    posted = web.post(LANGUAGE, {"locale": "es"})

    for response in (opened, posted):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    assert db.session.query(User).filter(User.locale.is_not(None)).count() == 0


def test_the_stored_language_is_read_whatever_its_case(app, db, web, make_user):
    user = make_user("ana@example.com")
    user.locale = "ES"
    db.session.commit()
    web.login(user.email)

    assert "Cerrar sesión" in _get(web, "/admin/contact/", "en")


def _change(web, current, new, repeated=None, **kwargs):
    return web.post(
        PASSWORD_URL,
        {
            "current_password": current,
            "new_password": new,
            "repeated_password": new if repeated is None else repeated,
        },
        follow_redirects=True,
        **kwargs,
    )


def test_a_user_changes_their_password_and_signs_in_with_the_new_one(
    app, db, web, login_as
):
    user = login_as("user")
    other_device = Web(app.test_client())
    assert other_device.login(user.email).status_code == 302

    page = _change(web, PASSWORD, NEW_PASSWORD).get_data(as_text=True)

    assert "Password changed. Your other sessions are signed out." in page
    # This session carries on; the other one is signed out.
    assert web.get("/admin/contact/").status_code == 200
    assert other_device.get("/admin/contact/").status_code == 302
    stored = reload(db, User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, NEW_PASSWORD)

    web.logout()
    assert web.login(user.email, PASSWORD).status_code == 401
    assert web.login(user.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "repeated", "message"),
    [
        (
            "not my password at all",
            NEW_PASSWORD,
            None,
            "The current password is not right",
        ),
        (
            PASSWORD,
            NEW_PASSWORD,
            "a brand new passphrase 78",
            "The two new passwords differ",
        ),
        (PASSWORD, "short", None, "The password must have at least 12 characters."),
        (PASSWORD, "qwerty123456", None, "That password is too common"),
        ("", NEW_PASSWORD, None, "Current password: This field is required."),
    ],
)
def test_a_password_change_is_refused_with_a_reason_and_changes_nothing(
    db, web, login_as, current, new, repeated, message
):
    user = login_as("user")
    before = (user.password_hash, user.session_token)

    page = _change(web, current, new, repeated).get_data(as_text=True)

    assert message in page
    assert "Password changed." not in page
    fresh = reload(db, User, user.id)
    assert (fresh.password_hash, fresh.session_token) == before
    assert web.get("/admin/contact/").status_code == 200


def test_the_refusal_of_a_wrong_current_password_is_in_spanish(web, login_as):
    login_as("user")

    page = _change(
        web, "not my password at all", NEW_PASSWORD, headers={"Accept-Language": "es"}
    ).get_data(as_text=True)

    assert "La contraseña actual no es correcta" in page


def test_guessing_the_current_password_is_throttled(app, db, web, login_as):
    user = login_as("user")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        _change(web, "a wrong guess of the password", NEW_PASSWORD)

    response = web.post(
        PASSWORD_URL,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "repeated_password": NEW_PASSWORD,
        },
    )

    assert response.status_code == 429
    assert "Too many wrong passwords." in response.get_data(as_text=True)
    assert verify_password(reload(db, User, user.id).password_hash, PASSWORD)


def test_a_password_change_without_the_csrf_token_is_refused(db, web, login_as):
    user = login_as("user")

    response = web.client.post(
        PASSWORD_URL,
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "repeated_password": NEW_PASSWORD,
        },
    )

    assert response.status_code == 400
    assert verify_password(reload(db, User, user.id).password_hash, PASSWORD)
