"""In real Chromium: a form embedded on another local site that carries a
visitor id is filled in its frame; then the visitor buys on the order page."""

from decimal import Decimal

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Partner shop</title></head>
<body><h1>Our newsletter</h1>
<script>window.crmVisitorId = "v_browser1";</script>
<script src="{app}/f/{slug}/embed.js"></script>
</body></html>"""


def test_an_embedded_form_and_a_purchase_make_one_contact(
    db, page, live_server, other_site
):
    from crm.contacts.models import Contact
    from crm.sales.models import Order, Product
    from crm.webforms.models import Submission
    from tests.webform_helpers import make_checkout, make_form

    site, state = other_site
    form = make_form(db, allowed_urls=site + "/", title="Join the newsletter")
    state["html"] = HOST_PAGE.format(app=live_server, slug=form.slug)
    lamp = Product(name="Desk lamp", price=Decimal("24.50"), currency="USD")
    db.session.add(lamp)
    db.session.commit()
    checkout = make_checkout(db, lamp)

    page.goto(f"{site}/?utm_source=partner-shop")
    frame = page.frame_locator("iframe.crm-webform")
    frame.locator("#f-email").fill("bea@example.com")
    frame.locator("#f-given_name").fill("Bea")
    frame.locator("#f-family_name").fill("Buyer")
    frame.locator("#webform-submit").click()
    frame.locator("#webform-thanks").wait_for()

    submission = db.session.scalars(select(Submission)).one()
    assert submission.state == "processed"
    assert submission.visitor_id == "v_browser1"
    assert submission.utm == {"utm_source": "partner-shop"}
    assert submission.page_url.startswith(site)

    page.goto(f"{live_server}/buy/{checkout.slug}")
    for field, value in {
        "#b-given_name": "Bea",
        "#b-family_name": "Buyer",
        "#b-email": "bea@example.com",
        "#b-billing-line1": "1 Market St",
        "#b-billing-locality": "San Francisco",
        "#b-billing-postal_code": "94105",
        "#b-billing-country_code": "USA",
        "#b-card_number": "4242 4242 4242 4242",
    }.items():
        page.fill(field, value)
    page.click("#buy-submit")
    page.wait_for_selector("#invoice-number")

    db.session.expire_all()
    contact = db.session.scalars(select(Contact)).one()
    order = db.session.scalars(select(Order)).one()
    assert (order.contact_id, order.status) == (contact.id, "paid")
    assert page.text_content("#invoice-number") == str(order.invoice_number)
