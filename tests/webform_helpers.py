"""Building web forms and order pages, and posting them like a browser."""

import re

from crm.extensions import db as database
from crm.webforms import services
from crm.webforms.models import ProductCheckout, WebForm, WebFormField

TOKEN = re.compile(r'name="_token" value="([^"]+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')
SITE = "https://www.example.com"

DEFAULT_FIELDS = (
    ("email", {"required": True}),
    ("given_name", {}),
    ("family_name", {}),
)


def make_form(db, name="Newsletter", fields=DEFAULT_FIELDS, **settings):
    """A checked, saved form; fields are (key, options) pairs in order."""
    settings.setdefault("min_fill_seconds", 0)
    settings.setdefault("allowed_urls", SITE + "/")
    form = WebForm(name=name, **settings)
    for position, (key, options) in enumerate(fields, start=1):
        form.fields.append(WebFormField(key=key, position=position, **options))
    services.check_form(form)
    db.session.add(form)
    db.session.commit()
    return form


def token_of(client, form, **query):
    page = client.get(f"/f/{form.slug}", query_string=query)
    assert page.status_code == 200, page.get_data(as_text=True)
    return TOKEN.search(page.get_data(as_text=True)).group(1)


def submit(client, form, data, **query):
    """Open the form page (as a visitor would) and post ``data`` with its token."""
    body = {"_token": token_of(client, form, **query), **data}
    for key, value in query.items():
        body.setdefault("_vid" if key == "vid" else key, value)
    return client.post(f"/f/{form.slug}", data=body)


def make_checkout(db, product, **settings):
    checkout = ProductCheckout(product=product, **settings)
    from crm.webforms import checkout as checkouts

    checkouts.check_checkout(checkout)
    database.session.add(checkout)
    database.session.commit()
    return checkout


def key_of(client, checkout):
    page = client.get(f"/buy/{checkout.slug}")
    assert page.status_code == 200, page.get_data(as_text=True)
    return KEY.search(page.get_data(as_text=True)).group(1)


BUYER = {
    "given_name": "Bea",
    "family_name": "Buyer",
    "email": "bea@example.com",
    "phone": "+1 415 555 0100",
    "billing.line1": "1 Market St",
    "billing.locality": "San Francisco",
    "billing.region": "CA",
    "billing.postal_code": "94105",
    "billing.country_code": "USA",
    "same_address": "1",
    "quantity": "2",
    "card_number": "4242 4242 4242 4242",
}
