"""The interface in English and Spanish: locale choice, our catalog, Flask-Admin's."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "crm" / "translations" / "es" / "LC_MESSAGES"


def _spanish_catalog():
    with open(CATALOG / "messages.po", "rb") as handle:
        return read_po(handle, locale="es")


def _page(web, url, language):
    response = web.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        ("es", "Iniciar sesión", "Sign in"),
        ("es-ES,es;q=0.9,en;q=0.5", "Iniciar sesión", "Sign in"),
        ("en-US,en;q=0.9", "Sign in", "Iniciar sesión"),
        ("fr-FR,de;q=0.8", "Sign in", "Iniciar sesión"),
    ],
)
def test_login_page_follows_the_browser_language(web, language, expected, absent):
    page = _page(web, "/login", language)

    assert expected in page
    spoken = "es" if expected == "Iniciar sesión" else "en"
    assert f'<html lang="{spoken}">' in page
    assert absent not in page


def test_contact_list_is_spanish_for_a_spanish_browser(web, login_as, make_contact):
    user = login_as("user")
    make_contact("Jane", "Doe", email="jane@example.com", owner=user)

    page = _page(web, "/admin/contact/", "es")

    assert '<html lang="es">' in page

    # Our own strings, from our catalog.
    assert re.search(r"\b1 contacto\b", page)
    assert "Cerrar sesión" in page
    assert "Sign out" not in page
    # Flask-Admin's own strings, from its "admin" domain.
    assert "Listado" in page
    assert "Crear" in page
    assert ">List<" not in page
    assert ">Create<" not in page


def test_contact_list_is_english_for_an_english_browser(web, login_as, make_contact):
    user = login_as("user")
    make_contact("Jane", "Doe", email="jane@example.com", owner=user)

    page = _page(web, "/admin/contact/", "en")

    assert "Sign out" in page
    assert ">List<" in page
    assert "Cerrar sesión" not in page
    assert "Listado" not in page


def test_user_locale_wins_over_an_english_browser(web, db, make_user):
    user = make_user("ana@example.com")
    user.locale = "es"
    db.session.commit()
    web.login(user.email)

    page = _page(web, "/admin/contact/", "en-US,en;q=0.9")

    assert "Cerrar sesión" in page
    assert "Listado" in page


@pytest.mark.parametrize("locale", ["en", "xx"])
def test_user_locale_english_or_unknown_gives_english(web, db, make_user, locale):
    user = make_user("ana@example.com")
    user.locale = locale
    db.session.commit()
    web.login(user.email)

    page = _page(web, "/admin/contact/", "en")

    assert "Sign out" in page
    assert "Cerrar sesión" not in page


def test_service_error_is_shown_in_spanish(web):
    response = web.post(
        "/login",
        {"email": "nobody@example.com", "password": "wrong"},
        headers={"Accept-Language": "es"},
    )

    assert "Correo electrónico o contraseña incorrectos." in response.get_data(
        as_text=True
    )


def test_committed_mo_matches_the_po(tmp_path):
    source = _spanish_catalog()
    compiled = tmp_path / "messages.mo"
    with open(compiled, "wb") as handle:
        write_mo(handle, source)

    with open(compiled, "rb") as handle:
        fresh = read_mo(handle)
    with open(CATALOG / "messages.mo", "rb") as handle:
        committed = read_mo(handle)

    def messages(catalog):
        # plural entries have tuples of ids and strings
        def key(value):
            return value if isinstance(value, str) else tuple(value)

        return {(m.context, key(m.id)): key(m.string) for m in catalog if m.id}

    assert len(messages(fresh)) == len([m for m in source if m.id])
    assert messages(committed) == messages(fresh)


def test_the_po_has_no_errors_in_its_placeholders():
    source = _spanish_catalog()

    problems = [
        (message.id, error) for message, errors in source.check() for error in errors
    ]

    assert problems == []


def test_every_extracted_msgid_has_a_spanish_translation():
    with open(ROOT / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)

    def key(context, value):
        # "Other" as a phone type and as an address kind are two entries.
        return (context, value if isinstance(value, str) else tuple(value))

    extracted = {
        key(context, message)
        for _path, _line, message, _comments, context in extract_from_dir(
            str(ROOT),
            method_map,
            options_map,
            keywords=DEFAULT_KEYWORDS,
        )
    }
    translated = {
        key(m.context, m.id): m.string if isinstance(m.string, str) else all(m.string)
        for m in _spanish_catalog()
        if m.id
    }

    assert len(extracted) > 100
    assert any(context for context, _msgid in extracted)
    missing = sorted(str(found) for found in extracted if not translated.get(found))
    assert missing == []


def test_system_written_history_and_step_details_read_in_spanish(
    web, db, login_as, make_contact
):
    from crm.automation.models import DONE
    from crm.mail import services as mail
    from tests.automation_helpers import make_sequence, tag

    user = login_as("user")
    jane = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    # Written in a worker or a request in English...
    mail.opt_in("jane@example.com", "Asked at the counter")
    first = tag(db, "Welcomed")
    sequence = make_sequence(
        db, "Welcome", steps=[("none", None, "apply_tag", {"tag_id": first.id})]
    )
    from crm.automation import engine, services

    services.start(jane, sequence)
    db.session.commit()
    assert engine.drain("w1") == {DONE: 1}

    # ...and read by someone whose browser asks for Spanish.
    history = _page(web, f"/admin/contact/details/?id={jane.id}&tab=tasks", "es")
    status = history.split('data-kind="email_status_changed"', 1)[1]
    status = status.split("</li>", 1)[0]
    assert (
        "jane@example.com: No comercializable → Sin confirmar (alta simple)" in status
    )
    steps = _page(web, f"/admin/contact/details/?id={jane.id}&tab=sequences", "es")
    assert "Etiqueta Welcomed aplicada." in steps
    assert "Tag Welcomed applied." not in steps


def test_stored_messages_translate_with_their_values_or_stay_as_written(app):
    from flask_babel import refresh

    from crm.core.text import stored_message

    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert stored_message("E-mail sent.") == "Correo electrónico enviado."
        assert (
            stored_message("Tag VIP: 2026 applied.") == "Etiqueta VIP: 2026 aplicada."
        )
        assert stored_message("Call me tomorrow") == "Call me tomorrow"
        assert stored_message("") == ""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()  # the app context the fixture holds keeps the last catalog
        assert stored_message("Tag VIP applied.") == "Tag VIP applied."


def test_a_long_text_is_not_matched_against_the_catalog(app):
    from crm.core.text import stored_message

    long_text = "Tag " + "x " * 2000 + "applied."
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert stored_message(long_text) == long_text
        assert stored_message("Tag VIP applied.") == "Etiqueta VIP aplicada."
