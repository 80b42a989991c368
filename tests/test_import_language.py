"""Which language an import writes in: problems in English, whoever runs the dry
run or the steps, read back in each reader's language; the words it adds to a
contact ("PO Box", "Birthday:") in the language of the user who imports."""

import html
import re

import pytest
from flask_babel import refresh
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.core.text import stored_message
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.imports import engine, jobs
from crm.imports.models import ImportJob
from tests.record_helpers import flashes
from tests.test_import_screen import _form, _job_url, _run_steps, _upload

BROKEN_VCARD = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\n"
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;Bob;;;\r\nFN:Bob Roe\r\nEND:VCARD\r\n"
)
CARD_PROBLEM = {
    "en": "The card has no END:VCARD before the next card begins (line 5); it was "
    "read up to there.",
    "es": "La tarjeta no tiene END:VCARD antes de que empiece la siguiente (línea "
    "5); se leyó hasta ahí.",
}


def user_reading(db, login_as, locale):
    user = login_as("user")
    user.locale = locale
    db.session.commit()
    return user


def problems_panel(web, url):
    """The stored problems as the job page lists them (not the live preview)."""
    response = web.get(url)
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert 'id="problems"' in page
    return page.split('id="problems"', 1)[1]


def check(web, url):
    form = _form(web.get(url).get_data(as_text=True))
    response = web.post(url, {**form, "action": "check"})
    assert response.status_code == 302
    return response


def run(web, url):
    form = _form(web.get(url).get_data(as_text=True))
    response = web.post(url, {**form, "action": "import"})
    assert response.status_code == 302
    _run_steps(web, url)


def stored_problems(db):
    db.session.expire_all()
    job = db.session.scalar(select(ImportJob))
    return [p["message"] for p in job.problems]


def test_a_spanish_dry_run_of_a_vcard_stores_its_card_problems_in_english(
    db, web, login_as
):
    user = user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.vcf", BROKEN_VCARD))

    check(web, url)

    assert stored_problems(db) == [CARD_PROBLEM["en"]]
    assert CARD_PROBLEM["es"] in problems_panel(web, url)
    user.locale = "en"
    db.session.commit()
    english = problems_panel(web, url)
    assert CARD_PROBLEM["en"] in english
    assert "La tarjeta" not in english


def test_a_dry_run_that_cannot_start_says_why_in_the_readers_language(
    db, web, login_as
):
    user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.vcf", BROKEN_VCARD))
    form = _form(web.get(url).get_data(as_text=True))
    jobs._path(db.session.scalar(select(ImportJob))).unlink()

    response = web.post(url, {**form, "action": "check"})

    assert response.status_code == 302
    assert flashes(web) == ["El archivo subido ya no está; vuelva a subirlo."]


def test_a_spanish_import_stores_its_problems_in_english(db, web, login_as):
    user = user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.csv", b"Last Name,Email\nDoe,jane@intranet\n"))

    run(web, url)

    assert stored_problems(db) == [
        "jane@intranet is not an e-mail address; the contact was imported without it."
    ]
    assert (
        "jane@intranet no es una dirección de correo electrónico; el contacto se "
        "importó sin ella." in problems_panel(web, url)
    )
    user.locale = "en"
    db.session.commit()
    assert "the contact was imported without it." in problems_panel(web, url)


def test_an_import_stopped_by_an_unexpected_error_says_so_in_each_language(
    db, web, login_as, monkeypatch
):
    user = user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.csv", b"Last Name\nDoe\n"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine.Importer, "run", broken)
    run(web, url)

    job = db.session.scalar(select(ImportJob))
    assert job.message == (
        "The import stopped because of an unexpected error, which was logged. The "
        "rows imported so far are kept."
    )
    page = html.unescape(web.get(url).get_data(as_text=True))
    assert "La importación se detuvo por un error inesperado" in page
    assert "disk on fire" not in page
    user.locale = "en"
    db.session.commit()
    assert "The import stopped because" in web.get(url).get_data(as_text=True)


@pytest.mark.parametrize(
    ("locale", "po_box", "note"),
    [
        ("es", "Apartado de correos 12", "Cumpleaños: circa 1800"),
        ("en", "PO Box 12", "Birthday: circa 1800"),
    ],
)
def test_the_words_an_import_adds_to_a_contact_are_in_the_importers_language(
    db, web, login_as, locale, po_box, note
):
    user_reading(db, login_as, locale)
    rows = (
        b"Last Name,Business Street,Business Address PO Box,E-mail Address\n"
        b"Doe,Main 1,12,\nPoe,,,jane@intranet\n"
    )
    card = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;Bob;;;\r\nFN:Bob Roe\r\n"
        b"BDAY:circa 1800\r\nEND:VCARD\r\n"
    )

    run(web, _job_url(_upload(web, "people.csv", rows)))
    # The problems after a PO box are still in English.
    assert stored_problems(db) == [
        "jane@intranet is not an e-mail address; the contact was imported without it."
    ]
    run(web, _job_url(_upload(web, "people.vcf", card)))

    db.session.expire_all()
    doe = db.session.scalar(select(Contact).where(Contact.family_name == "Doe"))
    roe = db.session.scalar(select(Contact).where(Contact.family_name == "Roe"))
    assert [(a.line1, a.line2) for a in doe.billing_addresses] == [("Main 1", po_box)]
    assert roe.person_notes == note


def test_date_problems_of_a_spanish_dry_run_read_in_spanish(db, web, login_as):
    user = user_reading(db, login_as, "es")
    tab = CustomTab(name="Sales")
    header = CustomHeader(tab=tab, name="Profile")
    since = CustomField(
        header=header, label="Since", field_name="Since", field_type="date"
    )
    db.session.add_all([tab, header, since])
    db.session.commit()
    data = b"Last Name,Birthday,Since\nDoe,1990-02-31,\nRoe,,soon\n"
    url = _job_url(_upload(web, "people.csv", data))
    form = _form(web.get(url).get_data(as_text=True))
    form["map-2"] = f"custom:{since.id}"
    assert web.post(url, {**form, "action": "check"}).status_code == 302

    assert stored_problems(db) == [
        "day 31 is not valid in 1990-02",
        "soon is not a date in the format YYYY-MM-DD. This value was left out.",
    ]
    spanish = problems_panel(web, url)
    assert "el día 31 no es válido en 1990-02" in spanish
    assert (
        "soon no es una fecha con el formato YYYY-MM-DD. Este valor se dejó fuera."
        in spanish
    )
    assert "is not" not in spanish and "left out" not in spanish
    user.locale = "en"
    db.session.commit()
    english = problems_panel(web, url)
    assert "day 31 is not valid in 1990-02" in english
    assert "soon is not a date in the format YYYY-MM-DD. This value was left out." in (
        english
    )


@pytest.fixture
def spanish(app):
    with app.test_request_context(headers={"Accept-Language": "es"}):
        refresh()
        yield
    refresh()


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("day 31 is not valid in 1990-02", "el día 31 no es válido en 1990-02"),
        (
            "'soon' is not a date in the format DD/MM/YYYY. This value was left out.",
            "'soon' no es una fecha con el formato DD/MM/YYYY. Este valor se dejó "
            "fuera.",
        ),
        (
            "day 31 is not valid in 1990-02 This value was left out.",
            "el día 31 no es válido en 1990-02 Este valor se dejó fuera.",
        ),
        # A message around one that no catalog knows is still read.
        (
            "The contact could not be saved: the database refused a value",
            "No se pudo guardar el contacto: the database refused a value",
        ),
        # A value that only looks like the end of another message stays a value.
        (
            "'x' is not a date in the format This value was left out.",
            "'x' no es una fecha con el formato This value was left out.",
        ),
    ],
)
def test_stored_import_problems_read_back_whole_in_spanish(spanish, stored, read):
    assert stored_message(stored) == read


def test_a_date_format_message_reads_back_with_single_percent_signs(spanish):
    # The message is written with "%%"; the stored text has one "%".
    stored = (
        "The date format %m/%Y needs a day, a month and a year, for example %d/%m/%Y."
    )
    assert stored_message(stored) == (
        "El formato de fecha %m/%Y necesita un día, un mes y un año, por ejemplo "
        "%d/%m/%Y."
    )


def recent_states(web):
    page = web.get("/admin/imports/").get_data(as_text=True)
    table = page.split('id="recent-imports"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"</a></td>\s*<td>([^<]*)</td>", table)


def test_the_recent_imports_name_their_state_in_the_readers_language(db, web, login_as):
    user = user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.csv", b"Last Name\nDoe\n"))
    assert recent_states(web) == ["Subido"]
    check(web, url)
    assert recent_states(web) == ["Comprobado"]
    run(web, url)
    assert recent_states(web) == ["Hecho"]
    user.locale = "en"
    db.session.commit()
    assert recent_states(web) == ["Done"]


def test_the_import_screen_names_delimiters_and_dry_runs_in_spanish(db, web, login_as):
    user_reading(db, login_as, "es")
    url = _job_url(_upload(web, "people.csv", b"Last Name;City\nDoe;K\xc3\xb6ln\n"))
    page = html.unescape(web.get(url).get_data(as_text=True))
    assert 'id="detected-delimiter">Punto y coma (;)<' in page
    assert "Detectado: Punto y coma (;)" in page
    choices = page.split('id="delimiter"', 1)[1].split("</select>", 1)[0]
    assert ">Tabulador<" in choices and ">Barra vertical (|)<" in choices
    for english in ("comma", "semicolon", "tab character", "vertical bar"):
        assert english not in choices.lower()
    check(web, url)
    page = html.unescape(web.get(url).get_data(as_text=True))
    assert "se crearían 1, se actualizarían 0, se omitirían 0; fallarían 0" in page


def test_the_preview_names_an_address_by_its_kind_in_spanish(db, web, login_as):
    user_reading(db, login_as, "es")
    data = ("email,city\njane@example.com," + "C" * 60 + "\n").encode()
    url = _job_url(_upload(web, "long.csv", data))
    page = html.unescape(web.get(url).get_data(as_text=True))
    sample = page.split('id="sample-table"', 1)[1].split("</table>", 1)[0]
    assert "(el límite de la dirección de facturación)" in sample
    assert "billing" not in sample
