"""Orders record their partners; commission follows the order's money."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.partners import services
from crm.partners.models import Commission, CommissionRule
from tests import test_sales_support as support

make_order = support.make_order
seller = support.seller

D = Decimal


@pytest.fixture
def paula(db, make_contact):
    partner = services.create_partner(
        make_contact("Paula", "Partner"), "Paula1", status="active"
    )
    rule = CommissionRule(kind="percent", percent=D("10"))
    services.check_rule(rule)
    db.session.add(rule)
    db.session.commit()
    return partner


def rows(db):
    return [
        (c.state, c.amount)
        for c in db.session.scalars(select(Commission).order_by(Commission.id))
    ]


def test_commission_is_earned_when_the_order_is_paid_in_full_and_reversed_on_refunds(
    db,
    make_order,
    seller,
    paula,
):
    from crm.sales import services as sales

    order = make_order([("service", "60.00", 1, None)])
    order.sales_partner_id = paula.id
    db.session.commit()

    first = sales.record_payment(order, D("20.00"), "cash", seller)
    db.session.commit()
    assert rows(db) == []
    sales.record_payment(order, D("40.00"), "cash", seller)
    db.session.commit()
    assert rows(db) == [("earned", D("6.00"))]

    sales.refund(order, first.id, D("15.00"), "damaged", seller)
    db.session.commit()
    assert rows(db) == [("earned", D("6.00")), ("reversed", D("-1.50"))]


def test_an_order_without_a_partner_earns_nothing(db, make_order, seller, paula):
    from crm.sales import services as sales

    order = make_order([("service", "60.00", 1, None)])
    sales.record_payment(order, D("60.00"), "cash", seller)
    db.session.commit()
    assert rows(db) == []


def test_a_purchase_after_a_tracking_link_pays_the_referring_partner(
    app, db, make_order, seller, paula
):
    from crm.partners import sales as partner_sales
    from crm.partners import tracking
    from crm.partners.models import TrackingDestination
    from crm.sales import services as sales

    db.session.add(TrackingDestination(prefix="https://shop.example.com"))
    db.session.commit()
    browser = app.test_client()
    browser.get("/r/Paula1", query_string={"to": "https://shop.example.com/buy"})
    cookie = browser.get_cookie(tracking.COOKIE_NAME).value

    order = make_order([("service", "25.00", 2, None)])
    referral = services.attribute(order.contact_id, cookie, "purchase")
    partner_sales.set_partners_from_referral(order, referral)
    db.session.commit()
    assert (order.lead_partner_id, order.sales_partner_id) == (paula.id, paula.id)

    sales.record_payment(order, D("50.00"), "cash", seller)
    db.session.commit()
    assert rows(db) == [("earned", D("5.00"))]
