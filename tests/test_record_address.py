import pytest

from crm.contacts.models import Contact
from tests.record_helpers import (
    edit,
    edit_url,
    open_form,
    record_url,
    reload,
    save,
    sign_in,
)


@pytest.fixture
def user(web, db):
    return sign_in(web, db)


@pytest.fixture
def jane(make_contact, user):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=user)


def _kinds(db, contact_id):
    contact = reload(db, Contact, contact_id)
    return {a.kind: a for a in contact.addresses}


def test_billing_and_two_more_addresses_are_saved_and_shown(web, db, jane):
    response = edit(
        web,
        "address",
        jane.id,
        billing_addresses__0__line1="1 Main St",
        billing_addresses__0__locality="Springfield",
        billing_addresses__0__region="IL",
        billing_addresses__0__postal_code="62701",
        billing_addresses__0__zip_four="1234",
        billing_addresses__0__country_code="USA",
        extra_addresses__0__kind="shipping",
        extra_addresses__0__line1="Dock 4",
        extra_addresses__0__locality="Köln",
        extra_addresses__0__country_code="DEU",
        extra_addresses__1__kind="other",
        extra_addresses__1__locality="Madrid",
        extra_addresses__1__country_code="ESP",
    )
    assert "Contact saved." in response.get_data(as_text=True)
    assert response.request.args["tab"] == "address"

    kinds = _kinds(db, jane.id)
    assert sorted(kinds) == ["billing", "other", "shipping"]
    billing = kinds["billing"]
    assert (billing.line1, billing.postal_code, billing.zip_four) == (
        "1 Main St",
        "62701",
        "1234",
    )
    assert kinds["shipping"].locality == "Köln"
    assert reload(db, Contact, jane.id).country_code == "USA"

    page = web.get(record_url(jane.id, "address")).get_data(as_text=True)
    assert "62701-1234 Springfield" in page
    assert "Germany (DEU)" in page
    assert "Spain (ESP)" in page


def test_too_long_billing_city_is_refused_with_a_clear_message(web, db, jane):
    city = "C" * 60
    response = edit(
        web,
        "general",
        jane.id,
        given_name="Changed",
        billing_addresses__0__locality=city,
    )
    page = response.get_data(as_text=True)
    assert "City of the billing address is longer than 50 characters." in page
    # The form comes back with what was typed.
    assert f'value="{city}"' in page
    contact = reload(db, Contact, jane.id)
    assert contact.given_name == "Jane"
    assert contact.addresses == []


def test_the_same_city_fits_a_shipping_address(web, db, jane):
    city = "C" * 60
    edit(
        web,
        "address",
        jane.id,
        extra_addresses__0__kind="shipping",
        extra_addresses__0__locality=city,
    )
    assert _kinds(db, jane.id)["shipping"].locality == city


def test_an_invalid_country_gets_a_clear_message(web, db, jane):
    response = edit(
        web,
        "address",
        jane.id,
        billing_addresses__0__locality="Nowhere",
        billing_addresses__0__country_code="XYZ",
    )
    page = response.get_data(as_text=True)
    assert "&#39;XYZ&#39; is not a country; choose one from the list." in page
    assert _kinds(db, jane.id) == {}


def test_shipping_and_other_can_swap_in_one_save(web, db, jane):
    edit(
        web,
        "address",
        jane.id,
        extra_addresses__0__kind="shipping",
        extra_addresses__0__locality="Dock",
        extra_addresses__1__kind="other",
        extra_addresses__1__locality="Home",
    )
    url = edit_url("address", jane.id)
    fields = open_form(web, url)
    first, second = (fields[f"extra_addresses-{i}-kind"] for i in (0, 1))
    response = save(
        web,
        url,
        fields,
        **{"extra_addresses-0-kind": second, "extra_addresses-1-kind": first},
    )
    assert "Contact saved." in response.get_data(as_text=True)
    kinds = _kinds(db, jane.id)
    assert (kinds["shipping"].locality, kinds["other"].locality) == ("Home", "Dock")


def test_removing_an_address_and_adding_one_of_the_same_kind(web, db, jane):
    edit(
        web,
        "address",
        jane.id,
        extra_addresses__0__kind="shipping",
        extra_addresses__0__locality="Old dock",
    )
    url = edit_url("address", jane.id)
    response = save(
        web,
        url,
        open_form(web, url),
        **{
            "del-extra_addresses-0": "y",
            "extra_addresses-1-kind": "shipping",
            "extra_addresses-1-locality": "New dock",
        },
    )
    assert "Contact saved." in response.get_data(as_text=True)
    kinds = _kinds(db, jane.id)
    assert list(kinds) == ["shipping"]
    assert kinds["shipping"].locality == "New dock"


def test_each_address_kind_is_used_once(web, db, jane):
    response = edit(
        web,
        "address",
        jane.id,
        extra_addresses__0__kind="shipping",
        extra_addresses__0__locality="A",
        extra_addresses__1__kind="shipping",
        extra_addresses__1__locality="B",
    )
    assert "can be used once" in response.get_data(as_text=True)
    assert _kinds(db, jane.id) == {}


def test_the_extra_rows_cannot_hold_a_billing_address(web, db, jane):
    response = edit(
        web,
        "address",
        jane.id,
        extra_addresses__0__kind="billing",
        extra_addresses__0__locality="Sneaky",
    )
    assert "Choose a value from the list." in response.get_data(as_text=True)
    assert _kinds(db, jane.id) == {}


def test_a_too_long_city_names_its_address_in_spanish(web, db, jane, user):
    user.locale = "es"
    db.session.commit()
    page = edit(
        web, "general", jane.id, billing_addresses__0__locality="C" * 60
    ).get_data(as_text=True)
    assert "Ciudad de la dirección de facturación supera los 50 caracteres." in page
    assert "billing" not in page.split('id="tab-form"')[0]
