"""Online purchase: a public order page per product, paid by card.

A purchase is one transaction: the contact is created or updated (duplicate
check by e-mail), the order is created with its line through the sales
services, the referral partner is set, and the card is charged. A declined
or failed charge rolls all of it back, so there is no order, no contact and
no charge left; the visitor sees the gateway's reason and may try another
card on a fresh page. Every rendered page carries a one-time key: the
purchase row holds it under a unique constraint, so a double click or a
retried request finds the first purchase instead of making a second.
"""

import logging
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from crm.contacts import services as contacts
from crm.contacts.models import Contact, ContactAddress
from crm.core.errors import ServiceError
from crm.core.signals import visitor_identified
from crm.core.text import stored_message
from crm.extensions import db
from crm.partners import sales as partner_sales
from crm.partners import services as partners
from crm.sales import gateway as gateways
from crm.sales import services as sales
from crm.sales.models import Order
from crm.webforms import fields as catalogue
from crm.webforms.models import ProductCheckout, Purchase, new_slug

log = logging.getLogger(__name__)

KEY = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CONTACT_KEYS = (
    ("given_name", True),
    ("family_name", True),
    ("email", True),
    ("phone", False),
    ("company", False),
)
ADDRESS_PARTS = (
    ("line1", True),
    ("line2", False),
    ("locality", True),
    ("region", False),
    ("postal_code", True),
    ("country_code", True),
)


def new_key() -> str:
    """A one-time key for one rendered order page."""
    return secrets.token_urlsafe(24)


def clean_key(raw) -> str | None:
    return raw if isinstance(raw, str) and KEY.match(raw) else None


def active_checkout(slug) -> ProductCheckout | None:
    """The active checkout at this address whose product is still sold."""
    if not isinstance(slug, str) or not re.match(r"^[a-z0-9-]{6,64}$", slug):
        return None
    checkout = db.session.scalar(
        select(ProductCheckout).where(ProductCheckout.slug == slug)
    )
    if checkout is None or not checkout.active or not checkout.product.active:
        return None
    return checkout


def find_purchase(key) -> Purchase | None:
    key = clean_key(key)
    if key is None:
        return None
    return db.session.scalar(select(Purchase).where(Purchase.key == key))


def check_checkout(checkout: ProductCheckout) -> None:
    """Refuse a checkout that could not take money; raises ServiceError."""
    checkout.slug = (checkout.slug or "").strip().lower() or new_slug()
    if not re.match(r"^[a-z0-9][a-z0-9-]{5,63}$", checkout.slug):
        raise ServiceError(
            _(
                "The public address may use lower-case letters, digits and dashes, "
                "6 to 64 of them."
            ),
            "slug",
        )
    if checkout.max_quantity is None:
        checkout.max_quantity = 10
    if checkout.product is None:
        raise ServiceError(_("Choose the product sold on this page."), "product")
    if Decimal(checkout.product.price or 0) <= 0:
        raise ServiceError(
            _("Only a product with a price above zero can be bought online."),
            "product",
        )
    if not 1 <= (checkout.max_quantity or 0) <= 1000:
        raise ServiceError(_("The largest quantity is 1 to 1000."), "max_quantity")


def _label(key: str) -> str:
    if key in catalogue.CONTACT_FIELDS:
        return str(catalogue.CONTACT_FIELDS[key].label)
    return key


@dataclass
class Checked:
    contact: dict = field(default_factory=dict)
    billing: dict = field(default_factory=dict)
    shipping: dict | None = None
    quantity: int = 1
    card: str = ""


def check_values(checkout: ProductCheckout, form) -> tuple[Checked, dict]:
    """The checked purchase and the errors by field name (nothing is written)."""
    checked, errors = Checked(), {}
    for key, required in CONTACT_KEYS:
        try:
            checked.contact[key] = catalogue.check(
                key, form.get(key), required=required, label=_label(key)
            )
        except ServiceError as exc:
            errors[key] = exc.message
    checked.billing = _address(form, "billing", errors)
    if checkout.ask_shipping and not form.get("same_address"):
        checked.shipping = _address(form, "shipping", errors)

    raw_quantity = (form.get("quantity") or "1").strip()
    # ASCII digits only, and few of them: int() refuses "²" and 5000 digits.
    plain = raw_quantity.isascii() and raw_quantity.isdigit() and len(raw_quantity) < 8
    if not plain or not (1 <= int(raw_quantity) <= checkout.max_quantity):
        errors["quantity"] = _(
            "Choose a quantity from 1 to %(n)s.", n=checkout.max_quantity
        )
    else:
        checked.quantity = int(raw_quantity)
    digits = gateways.clean_number(form.get("card_number") or "")
    if digits is None:
        errors["card_number"] = _("That is not a valid card number.")
    else:
        checked.card = digits
    return checked, errors


def _address(form, kind, errors) -> dict:
    values = {}
    for part, required in ADDRESS_PARTS:
        name = f"{kind}.{part}"
        try:
            values[part] = catalogue.check(
                f"billing.{part}",
                form.get(name),
                required=required,
                label=_label(f"billing.{part}"),
            )
        except ServiceError as exc:
            errors[name] = exc.message
    return values


@dataclass
class Placed:
    purchase: Purchase | None = None
    declined: str = ""  # the gateway's reason when the charge did not go through
    after_commit: list = field(default_factory=list)


def place(
    checkout: ProductCheckout, key: str, checked: Checked, visitor_id: str = ""
) -> Placed:
    """Create or update the contact, create the order and charge the card.

    The caller commits on success and rolls back when ``declined`` is set.
    A second request with the same key fails on the purchase's unique key
    (the caller then shows the first purchase).
    """
    product = checkout.product
    contact = _contact(checked)

    purchase = Purchase(key=key, checkout_id=checkout.id, contact_id=contact.id)
    db.session.add(purchase)
    db.session.flush()

    order = sales.new_order(
        contact, None, title=product.name, currency=product.currency
    )
    sales.add_line(order, product=product, quantity=checked.quantity)
    sales.save_order(order, None, is_new=True)
    referral = partners.attribute_from_request(contact.id, "online purchase")
    partner_sales.set_partners_from_referral(order, referral)

    total = sales.summarise(order).total
    payment = sales.charge(
        order, total.amount, checked.card, None, idempotency_key=f"buy:{key}"
    )
    if payment.state not in ("settled", "pending"):
        log.info("checkout %s: charge %s", checkout.id, payment.state)
        return Placed(
            declined=stored_message(payment.message) or _("The card was declined.")
        )

    purchase.order_id = order.id
    db.session.flush()
    if visitor_id:
        visitor_identified.send(
            current_app._get_current_object(), contact=contact, visitor_id=visitor_id
        )
    log.info(
        "checkout %s: order %s (#%s) paid by contact %s",
        checkout.id,
        order.id,
        order.invoice_number,
        contact.id,
    )
    return Placed(purchase=purchase, after_commit=[_invoice_mailer(order.id)])


def _contact(checked: Checked) -> Contact:
    values = checked.contact
    contact = contacts.find_duplicate("email", values["email"])
    is_new = contact is None
    if is_new:
        contact = Contact(source_type="WEBFORM", lead_source="Online purchase")
        db.session.add(contact)
    with db.session.no_autoflush:
        for key, value in values.items():
            catalogue.write(contact, key, value, overwrite=is_new)
        # The addresses just typed for this order are the current ones.
        for part, value in checked.billing.items():
            catalogue.write(contact, f"billing.{part}", value, overwrite=True)
        if checked.shipping is not None:
            shipping = next(
                (a for a in contact.extra_addresses if a.kind == "shipping"), None
            )
            if shipping is None:
                shipping = ContactAddress(kind="shipping")
                contact.extra_addresses.append(shipping)
            for part, _required in ADDRESS_PARTS:
                setattr(shipping, part, checked.shipping.get(part))
        try:
            contacts.prepare(contact, None, is_new=is_new)
        except ServiceError as exc:
            if is_new:
                raise
            # The message may quote what the contact holds: for the log only.
            log.warning("checkout: contact %s not updated: %s", contact.id, exc)
            raise ServiceError(
                _(
                    "We could not take this order as sent. Nothing was charged; "
                    "please get in touch with us to place it."
                )
            ) from None
    db.session.flush()
    return contact


def _invoice_mailer(order_id):
    def send():
        from crm.sales import invoices

        order = db.session.get(Order, order_id)
        if order is not None:
            invoices.email_invoice(order, None)

    return send
