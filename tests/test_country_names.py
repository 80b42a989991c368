"""Countries are read by their ISO codes and by their names in English, in the
reader's language and in the other languages the interface offers."""

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.sales.models import Product
from tests.webform_helpers import BUYER, key_of, make_checkout


@pytest.mark.parametrize(
    ("locale", "typed", "code"),
    [
        ("es", "España", "ESP"),
        ("es", "espana", "ESP"),
        ("es", "Alemania", "DEU"),
        ("es", "Estados Unidos", "USA"),
        ("es", "Germany", "DEU"),
        ("es", "DE", "DEU"),
        ("es", "deu", "DEU"),
        ("en", "España", "ESP"),
        ("en", "United Kingdom", "GBR"),
        ("en", "Narnia", None),
    ],
)
def test_country_code_reads_codes_and_names_in_the_offered_languages(
    app, locale, typed, code
):
    from crm.contacts.services import country_code

    with force_locale(locale):
        assert country_code(typed) == code


def test_the_web_form_country_field_takes_the_name_in_the_page_language(app):
    from crm.webforms import fields

    with force_locale("es"):
        assert (
            fields.check("billing.country_code", "España", required=True, label="País")
            == "ESP"
        )
        with pytest.raises(ServiceError, match="Narnia"):
            fields.check("billing.country_code", "Narnia", required=True, label="País")


def test_the_spanish_order_page_accepts_espana(client, db):
    product = Product(name="Lámpara", price="24.50", currency="USD")
    db.session.add(product)
    db.session.commit()
    checkout = make_checkout(db, product)
    data = {**BUYER, "key": key_of(client, checkout)}
    data["billing.country_code"] = "España"

    response = client.post(
        f"/buy/{checkout.slug}", data=data, headers={"Accept-Language": "es"}
    )

    assert response.status_code == 303, response.get_data(as_text=True)
    contact = db.session.scalars(select(Contact)).one()
    assert contact.billing_address.country_code == "ESP"


def test_the_country_picker_names_countries_in_the_readers_language(app):
    from crm.contacts.forms import countries, country_name

    with force_locale("es"):
        spanish = dict(countries())
        order = [code for code, _name in countries()]
        assert spanish["ESP"] == "España" and country_name("DEU") == "Alemania"
        assert order.index("DEU") < order.index("ESP") < order.index("FRA")
    with force_locale("en"):
        assert dict(countries())["ESP"] == "Spain"


@pytest.mark.parametrize("text", ["none", "x", "-", "a", "Madrid", "n/a", "Country"])
def test_a_country_is_never_guessed(app, text):
    from crm.contacts.services import country_code
    from crm.imports.rows import country

    with force_locale("en"):
        assert country_code(text) is None
        assert country(text) is None


def test_the_importer_reads_country_names_in_the_offered_languages(app):
    from crm.imports.rows import country

    with force_locale("en"):
        assert country("Alemania") == "DEU"
        assert country("Perú") == "PER"
        assert country("United States") == "USA"
