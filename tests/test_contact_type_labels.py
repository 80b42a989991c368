"""The default contact types read in the reader's language; the stored value stays."""

import html

from tests.record_helpers import edit_url, record_url
from tests.webform_helpers import make_form


def _page(web, url, language="es"):
    response = web.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_record_shows_the_contact_type_in_spanish(web, login_as, make_contact):
    user = login_as("user")
    jane = make_contact("Jane", "Doe", owner=user, contact_type="Customer")

    general = _page(web, record_url(jane.id)).split('id="general-fields"')[1]
    assert ">Cliente<" in general
    assert "Customer" not in general
    assert jane.contact_type == "Customer"

    english = _page(web, record_url(jane.id), "en").split('id="general-fields"')[1]
    assert ">Customer<" in english


def test_contact_type_picker_offers_spanish_labels_over_stored_values(
    web, login_as, make_contact
):
    user = login_as("user")
    jane = make_contact("Jane", "Doe", owner=user)

    form = _page(web, edit_url("general", jane.id))

    for value, label in (
        ("Lead", "Posible cliente"),
        ("Prospect", "Cliente potencial"),
        ("Customer", "Cliente"),
        ("Partner", "Socio"),
        ("Vendor", "Proveedor"),
        ("Other", "Otro"),
    ):
        assert f'<option value="{value}">{label}</option>' in form


def test_a_type_an_operator_adds_reads_as_written(app, web, login_as, make_contact):
    app.config["CONTACT_TYPES"] = ["Customer", "Distributor"]
    user = login_as("user")
    jane = make_contact("Jane", "Doe", owner=user, contact_type="Distributor")

    form = _page(web, edit_url("general", jane.id))
    assert '<option selected value="Distributor">Distributor</option>' in form
    general = _page(web, record_url(jane.id)).split('id="general-fields"')[1]
    assert ">Distributor<" in general


def test_contact_list_filter_names_the_types_in_spanish(web, login_as):
    login_as("user")

    page = _page(web, "/admin/contact/")

    assert "Posible cliente" in page and "Proveedor" in page


def test_public_form_offers_the_types_in_spanish(client, db):
    form = make_form(db, fields=(("email", {"required": True}), ("contact_type", {})))

    page = _page(client, f"/f/{form.slug}")

    assert '<option value="Vendor" >Proveedor</option>' in page
