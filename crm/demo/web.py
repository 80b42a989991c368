"""The demo's pipeline, web form and order page, so each can be tried at once.

The sign-up form applies the welcome campaign's tag, so a visitor who fills
it in gets the campaign's first e-mail in the outbox; the order page sells a
demo product through the test gateway.
"""

import logging
from decimal import Decimal

from sqlalchemy import select

from crm.demo import campaign as demo_campaign
from crm.extensions import db
from crm.opportunities import services as opportunities
from crm.sales.models import Product
from crm.tags import services as tags
from crm.webforms import checkout as checkouts
from crm.webforms import services as webforms
from crm.webforms.models import ProductCheckout, WebForm, WebFormField

log = logging.getLogger(__name__)

FORM = "Demo: Newsletter sign-up"
FORM_SLUG = "demo-newsletter"
PRODUCT_SKU = "DEMO-LAMP"
CHECKOUT_SLUG = "demo-desk-lamp"


def ensure_pipeline() -> None:
    """The example stages (New opportunity ... Won, Lost) when none exist."""
    opportunities.install_default_stages()


def ensure_form(notify=None) -> WebForm:
    """The sign-up form, tagging visitors for the welcome campaign.

    ``notify`` is told of each sign-up. Forms give their contacts no owner,
    so only users who see every contact find the people who signed up.
    """
    form = db.session.scalar(select(WebForm).where(WebForm.name == FORM))
    if form is not None:
        if form.notify_user_id is None and notify is not None:
            form.notify_user = notify
        return form
    form = WebForm(
        name=FORM,
        slug=FORM_SLUG,
        title="Get our newsletter",
        intro="One e-mail a month about lamps, light and tidy desks.",
        thank_you="Thank you for signing up to our newsletter.",
        min_fill_seconds=2,
        notify_user=notify,
    )
    for position, (key, required) in enumerate(
        (("email", True), ("given_name", False), ("family_name", False)), start=1
    ):
        form.fields.append(WebFormField(key=key, position=position, required=required))
    welcome = tags.get_or_create_tag(demo_campaign.TAG, demo_campaign.TAG_CATEGORY)
    form.tags.append(welcome)
    webforms.check_form(form)
    db.session.add(form)
    db.session.flush()
    log.info("demo web form %s at /f/%s", form.id, form.slug)
    return form


def ensure_order_page() -> ProductCheckout:
    """A demo product with its public order page (paid with the test gateway)."""
    product = db.session.scalar(select(Product).where(Product.sku == PRODUCT_SKU))
    if product is None:
        product = Product(
            name="Desk lamp",
            sku=PRODUCT_SKU,
            description="An adjustable LED desk lamp.",
            price=Decimal("24.50"),
            currency="USD",
        )
        db.session.add(product)
        db.session.flush()
    page = db.session.scalar(
        select(ProductCheckout).where(ProductCheckout.product_id == product.id)
    )
    if page is None:
        page = ProductCheckout(product=product, slug=CHECKOUT_SLUG)
        checkouts.check_checkout(page)
        db.session.add(page)
        db.session.flush()
    return page
