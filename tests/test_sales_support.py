"""Fixtures and helpers the sales tests share (no tests of its own)."""

from decimal import Decimal

import pytest

D = Decimal


@pytest.fixture
def seller(db):
    """An administrator acting in the services."""
    from tests.access_helpers import quick_user

    return quick_user(db, "seller@example.com", is_admin=True, name="Sam Seller")


@pytest.fixture
def make_product(db):
    from crm.sales.models import Product

    def make(name="Widget", price="10.00", *, currency="USD", tax=None, sku=None):
        product = Product(
            name=name,
            sku=sku,
            price=D(price),
            currency=currency,
            taxable=tax is not None,
            tax_rate=D(tax or 0),
        )
        db.session.add(product)
        db.session.commit()
        return product

    return make


@pytest.fixture
def make_order(db, make_contact, seller):
    """``make_order([(kind, price, qty, product_or_None), ...])``, committed."""
    from crm.sales import services

    def make(lines=(), *, contact=None, currency="USD", title="Order"):
        contact = contact or make_contact("Jane", "Buyer", email="jane@example.com")
        order = services.new_order(contact, seller, title=title, currency=currency)
        for kind, price, quantity, product in lines:
            services.add_line(
                order,
                kind,
                product=product,
                quantity=quantity,
                unit_price=None if price is None else D(price),
                description="" if product else f"{kind} line",
            )
        services.save_order(order, seller, is_new=True)
        db.session.commit()
        return order

    return make


def amounts(order):
    """The order's derived amounts as plain Decimals, keyed by name."""
    from crm.sales import services

    summary = services.summarise(order)
    return {
        name: getattr(summary, name).amount
        for name in (
            "subtotal",
            "shipping",
            "discount",
            "tax",
            "total",
            "paid",
            "refunded",
            "credits",
            "pending",
            "due",
        )
    }
