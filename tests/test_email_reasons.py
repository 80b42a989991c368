"""Why an address is refused, in the reader's language, wherever the reason is
shown: the record form, import problems (stored in English), public web forms
and the user admin. English readers read email-validator's own words."""

import ast
import html
import re
from pathlib import Path

import email_validator
import pytest
from flask_babel import refresh

from crm.core.email_reasons import email_reason, known_email_reason
from crm.core.text import email_problem, stored_message
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.imports.models import ImportJob
from tests.access_helpers import quick_user
from tests.record_helpers import edit, reload
from tests.test_import_screen import _form, _job_url, _upload
from tests.webform_helpers import make_form, token_of

SPANISH = {
    "jane@intranet": "La parte posterior a la arroba no es válida: debería tener "
    "un punto.",
    "jane..doe@example.com": "Una dirección de correo electrónico no puede tener "
    "dos puntos seguidos.",
    "@example.com": "Debe haber algo antes de la arroba.",
    "jane(x)@example.com": "La dirección de correo electrónico contiene caracteres "
    "no válidos antes de la arroba: '(', ')'.",
    "plainaddress": "Una dirección de correo electrónico debe tener una arroba (@).",
    "jane@example.123": "La parte posterior a la arroba no es válida: no pertenece "
    "a un dominio de nivel superior válido.",
    "x@[127.0.0.1]": "Aquí no se admite una dirección IP entre corchetes después "
    "de la arroba.",
    "jane@" + "a" * 64 + ".com": "Después de la arroba no puede haber tantos "
    "caracteres entre dos puntos (sobra 1 carácter).",
    "a" * 250 + "@ex.com": "La dirección de correo electrónico es demasiado larga "
    "(sobran 3 caracteres).",
    # Characters of several bytes: the library gives a range.
    "é" * 130 + "@" + "b" * 60 + ".com": "La dirección de correo electrónico es "
    "demasiado larga (sobran de 35 a 71 caracteres).",
    "jane@xn--ls8h.com": "La parte posterior a la arroba no es IDNA válido "
    "(Codepoint U+1F4A9 at position 1 of '💩' not allowed).",
}


def library_reason(address):
    with pytest.raises(email_validator.EmailNotValidError) as refused:
        email_validator.validate_email(
            address, check_deliverability=False, globally_deliverable=True
        )
    return str(refused.value)


@pytest.fixture
def spanish(app):
    with app.test_request_context(headers={"Accept-Language": "es"}):
        refresh()
        yield
    refresh()


@pytest.fixture
def english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()
        yield


@pytest.mark.parametrize("address", SPANISH)
def test_a_spanish_reader_gets_our_reason(spanish, address):
    assert email_problem(address) == (
        f"{address!r} no es una dirección de correo electrónico: {SPANISH[address]}"
    )


@pytest.mark.parametrize("address", SPANISH)
def test_an_english_reader_gets_the_librarys_own_words(english, address):
    assert email_problem(address) == (
        f"{address!r} is not an e-mail address: {library_reason(address)}"
    )


def test_a_reason_the_table_does_not_know_is_shown_as_the_library_wrote_it(spanish):
    unknown = "The email address is not valid for a reason of a later release."

    assert known_email_reason(unknown) is None
    assert email_reason(unknown) == unknown
    # A known frame around an unknown reason is not known either.
    framed = f"After Unicode normalization: {unknown}"
    assert email_reason(framed) == framed
    assert (
        email_reason(
            "After Unicode normalization: There must be something before the @-sign."
        )
        == "Tras la normalización Unicode: Debe haber algo antes de la arroba."
    )


def _fixed_messages():
    """Every reason the installed email-validator writes as one constant string."""
    package = Path(email_validator.__file__).parent
    found = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "EmailSyntaxError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return sorted(found)


def test_every_fixed_reason_of_the_library_has_our_wording(spanish):
    fixed = _fixed_messages()

    assert len(fixed) > 20
    unknown = [text for text in fixed if known_email_reason(text) is None]
    assert unknown == []
    assert all(known_email_reason(text) != text for text in fixed)


# Where the reason is shown.


def spanish_user(db, login_as):
    user = login_as("user")
    user.locale = "es"
    db.session.commit()
    return user


def shown(response):
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "address", ["jane@intranet", "jane..doe@example.com", "jane(x)@example.com"]
)
def test_the_record_form_gives_a_spanish_reader_the_reason_in_spanish(
    db, web, login_as, make_contact, address
):
    from crm.contacts.models import Contact

    user = spanish_user(db, login_as)
    jane = make_contact("Jane", "Doe", owner=user, email="jane@example.com")

    page = shown(edit(web, "general", jane.id, emails__0__address=address))

    assert (
        f"{address!r} no es una dirección de correo electrónico: {SPANISH[address]}"
        in page
    )
    assert "@-sign" not in page
    assert reload(db, Contact, jane.id).emails[0].address == "jane@example.com"


def test_the_record_form_gives_an_english_reader_the_librarys_reason(
    db, web, login_as, make_contact
):
    user = login_as("user")
    jane = make_contact("Jane", "Doe", owner=user, email="jane@example.com")

    page = shown(edit(web, "general", jane.id, emails__0__address="jane@intranet"))

    assert (
        "'jane@intranet' is not an e-mail address: The part after the @-sign is "
        "not valid. It should have a period." in page
    )


IMPORTED = ("jane@intranet", "jane..doe@example.com", "@example.com")


def _dry_run_with_bad_backup_addresses(db, web):
    tab = CustomTab(name="Sales")
    header = CustomHeader(tab=tab, name="Profile")
    backup = CustomField(
        header=header, label="Backup", field_name="Backup", field_type="email"
    )
    db.session.add_all([tab, header, backup])
    db.session.commit()
    data = "Last Name,Email,Backup\n" + "".join(
        f"Doe{n},doe{n}@example.com,{address}\n" for n, address in enumerate(IMPORTED)
    )
    url = _job_url(_upload(web, "people.csv", data.encode()))
    form = _form(web.get(url).get_data(as_text=True))
    form["map-2"] = f"custom:{backup.id}"
    response = web.post(url, {**form, "action": "check"})
    assert response.status_code == 302
    return url


def test_an_import_dry_run_gives_a_spanish_reader_the_reasons_in_spanish(
    db, web, login_as
):
    user = spanish_user(db, login_as)
    url = _dry_run_with_bad_backup_addresses(db, web)

    page = shown(web.get(url))

    for address in IMPORTED:
        assert (
            f"{address!r} no es una dirección de correo electrónico: "
            f"{SPANISH[address]} Este valor se dejó fuera." in page
        )
    assert "@-sign" not in page and "left out" not in page

    # Stored in English, so an English reader of the same job reads English.
    job = db.session.scalar(db.select(ImportJob))
    assert [p["message"] for p in job.problems] == [
        f"{address!r} is not an e-mail address: {library_reason(address)} "
        "This value was left out."
        for address in IMPORTED
    ]
    user.locale = "en"
    db.session.commit()
    english = shown(web.get(url))
    assert (
        "'jane@intranet' is not an e-mail address: The part after the @-sign is "
        "not valid. It should have a period. This value was left out." in english
    )
    assert "no es una dirección" not in english


@pytest.mark.parametrize(
    "address",
    [
        "jane@intranet",
        "jane(x)@example.com",
        "jane@" + "a" * 64 + ".com",
        "a" * 250 + "@ex.com",
        "jane@xn--ls8h.com",
    ],
)
def test_problems_stored_in_english_read_back_whole_in_spanish(spanish, address):
    stored = (
        f"{address!r} is not an e-mail address: {library_reason(address)} "
        "This value was left out."
    )

    assert stored_message(stored) == (
        f"{address!r} no es una dirección de correo electrónico: {SPANISH[address]} "
        "Este valor se dejó fuera."
    )


def test_a_public_form_gives_a_spanish_visitor_the_reason_in_spanish(client, db):
    form = make_form(db)
    body = {"_token": token_of(client, form), "email": "jane..doe@example.com"}

    response = client.post(
        f"/f/{form.slug}", data=body, headers={"Accept-Language": "es"}
    )

    assert response.status_code == 400
    assert SPANISH["jane..doe@example.com"] in shown(response)


def test_the_user_admin_gives_a_spanish_admin_the_reason_in_spanish(db, web):
    admin = quick_user(db, "admin@example.com", is_admin=True)
    admin.locale = "es"
    db.session.commit()
    web.login(admin.email)

    response = web.post(
        "/admin/user/new/", {"email": "ops@elsewhere", "name": "Ops", "active": "y"}
    )

    page = shown(response)
    assert (
        "'ops@elsewhere' no es una dirección de correo electrónico: "
        "La parte posterior a la arroba no es válida: debería tener un punto." in page
    )
    assert re.search(r"@-sign", page) is None
