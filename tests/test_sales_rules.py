"""Every money rule of orders, table-driven with exact amounts."""

from decimal import Decimal

import pytest

from crm.core.errors import ServiceError
from crm.sales import services
from crm.sales.gateway import TestGateway
from tests.test_sales_support import amounts

pytest_plugins = ["tests.test_sales_support"]

D = Decimal


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # one taxable product: 3 x 19.99 = 59.97, tax 8.25 % = 4.947525 -> 4.95
        (
            [("product", None, 3, ("Pen", "19.99", "8.25"))],
            {"subtotal": "59.97", "tax": "4.95", "total": "64.92"},
        ),
        # tax rounds half up on each line: 0.125 -> 0.13 twice, not 0.25
        (
            [
                ("product", None, 1, ("A", "2.50", "5")),
                ("product", None, 1, ("B", "2.50", "5")),
            ],
            {"subtotal": "5.00", "tax": "0.26", "total": "5.26"},
        ),
        # shipping and tax lines are not taxed again; a discount subtracts
        (
            [
                ("product", None, 2, ("Mug", "12.00", None)),
                ("shipping", "4.99", 1, None),
                ("tax", "1.10", 1, None),
                ("discount", "5.00", 1, None),
            ],
            {
                "subtotal": "24.00",
                "shipping": "4.99",
                "tax": "1.10",
                "discount": "5.00",
                "total": "25.09",
            },
        ),
        # a service line without a product carries no tax
        ([("service", "100.00", 2, None)], {"subtotal": "200.00", "total": "200.00"}),
    ],
)
def test_totals_add_up_to_the_cent(make_order, make_product, lines, expected):
    built = []
    for kind, price, quantity, product in lines:
        if product is not None:
            name, product_price, tax = product
            product = make_product(name, product_price, tax=tax)
        built.append((kind, price, quantity, product))

    order = make_order(built)

    result = amounts(order)
    for name, value in expected.items():
        assert result[name] == D(value), name
    assert result["due"] == result["total"]
    assert (
        result["subtotal"] + result["shipping"] + result["tax"] - result["discount"]
        == result["total"]
    )


@pytest.mark.parametrize(
    ("payments", "refused_at", "due", "status"),
    [
        (["40.00", "60.00"], None, "0.00", "paid"),
        (["40.00"], None, "60.00", "draft"),
        (["100.01"], 0, "100.00", "draft"),
        (["99.99", "0.02"], 1, "0.01", "draft"),
        (["100.00", "0.01"], 1, "0.00", "paid"),
        (["0"], 0, "100.00", "draft"),
        (["-5.00"], 0, "100.00", "draft"),
    ],
)
def test_manual_payments_never_exceed_the_balance(
    db, make_order, seller, payments, refused_at, due, status
):
    order = make_order([("service", "100.00", 1, None)])

    for index, amount in enumerate(payments):
        if index == refused_at:
            with pytest.raises(ServiceError):
                services.record_payment(order, D(amount), "cash", seller)
            db.session.rollback()
        else:
            services.record_payment(order, D(amount), "cash", seller)
            db.session.commit()

    db.session.refresh(order)
    assert amounts(order)["due"] == D(due)
    assert order.status == status


def test_a_payment_type_must_be_one_of_the_configured_ones(db, make_order, seller):
    order = make_order([("service", "10.00", 1, None)])

    with pytest.raises(ServiceError, match="payment types"):
        services.record_payment(order, D("5.00"), "bitcoin", seller)


def test_more_decimals_than_the_currency_has_are_refused(make_order, seller):
    from crm.sales.money import MoneyError, parse_amount

    with pytest.raises(MoneyError, match="at most 2 decimals"):
        parse_amount("10.005", "USD")
    with pytest.raises(MoneyError, match="at most 0 decimals"):
        parse_amount("10.5", "JPY")


@pytest.mark.parametrize(
    ("card", "state", "paid", "pending", "brand"),
    [
        (TestGateway.APPROVE, "settled", "30.00", "0.00", "Visa"),
        (TestGateway.PENDING, "pending", "0.00", "30.00", "Visa"),
        (TestGateway.DECLINE, "declined", "0.00", "0.00", "Visa"),
        (TestGateway.ERROR, "failed", "0.00", "0.00", "Visa"),
        ("5555555555554444", "declined", "0.00", "0.00", "Mastercard"),
    ],
)
def test_the_test_gateway_answers_by_card(
    db, make_order, seller, card, state, paid, pending, brand
):
    order = make_order([("service", "100.00", 1, None)])

    row = services.charge(order, D("30.00"), card, seller)
    db.session.commit()

    assert row.state == state
    assert (row.card_brand, row.card_last4) == (brand, card[-4:])
    assert amounts(order)["paid"] == D(paid)
    assert amounts(order)["pending"] == D(pending)
    assert amounts(order)["due"] == D("100.00") - D(paid)
    # Only the last four digits are kept anywhere in the row.
    assert card not in " ".join(str(v) for v in vars(row).values())


def test_an_invalid_card_number_is_refused_before_the_gateway(make_order, seller):
    order = make_order([("service", "100.00", 1, None)])

    with pytest.raises(ServiceError, match="not a valid card number"):
        services.charge(order, D("10.00"), "4242424242424241", seller)


def test_the_same_idempotency_key_charges_once(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])

    first = services.charge(order, D("10.00"), TestGateway.APPROVE, seller, "key-1")
    db.session.commit()
    again = services.charge(order, D("10.00"), TestGateway.APPROVE, seller, "key-1")
    db.session.commit()

    assert again.id == first.id
    assert amounts(order)["paid"] == D("10.00")


def test_a_pending_charge_holds_its_part_of_the_balance(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])
    services.charge(order, D("70.00"), TestGateway.PENDING, seller)
    db.session.commit()

    with pytest.raises(ServiceError, match=r"open balance of \$30\.00\."):
        services.record_payment(order, D("30.01"), "cash", seller)
    db.session.rollback()
    services.record_payment(order, D("30.00"), "cash", seller)
    db.session.commit()


@pytest.mark.parametrize(
    ("refunds", "refused_at", "paid", "refunded"),
    [
        ([None], None, "0.00", "60.00"),  # empty amount: the full payment
        (["20.00", "40.00"], None, "0.00", "60.00"),
        (["20.00", "40.01"], 1, "40.00", "20.00"),
        (["60.01"], 0, "60.00", "0.00"),
        (["0.00"], 0, "60.00", "0.00"),
    ],
)
def test_refunds_never_exceed_the_payment(
    db, make_order, seller, refunds, refused_at, paid, refunded
):
    order = make_order([("service", "100.00", 1, None)])
    payment = services.record_payment(order, D("60.00"), "check", seller)
    db.session.commit()

    for index, amount in enumerate(refunds):
        value = None if amount is None else D(amount)
        if index == refused_at:
            with pytest.raises(ServiceError):
                services.refund(order, payment.id, value, "Returned", seller)
            db.session.rollback()
        else:
            services.refund(order, payment.id, value, "Returned", seller)
            db.session.commit()

    result = amounts(order)
    assert (result["paid"], result["refunded"]) == (D(paid), D(refunded))
    assert result["due"] == D("100.00") - D(paid)


def test_a_refund_needs_a_reason_and_a_settled_payment(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])
    pending = services.charge(order, D("10.00"), TestGateway.PENDING, seller)
    declined = services.charge(order, D("10.00"), TestGateway.DECLINE, seller)
    settled = services.record_payment(order, D("10.00"), "cash", seller)
    db.session.commit()

    with pytest.raises(ServiceError, match="reason"):
        services.refund(order, settled.id, D("1.00"), "  ", seller)
    for row in (pending, declined):
        with pytest.raises(ServiceError, match="Only settled payments"):
            services.refund(order, row.id, D("1.00"), "Why", seller)
        db.session.rollback()


def test_a_refund_is_its_own_transaction_linked_to_the_payment(db, make_order, seller):
    order = make_order([("service", "50.00", 1, None)])
    payment = services.charge(order, D("50.00"), TestGateway.APPROVE, seller)
    db.session.commit()
    assert order.status == "paid"

    refund = services.refund(order, payment.id, D("12.50"), "Damaged", seller)
    db.session.commit()

    assert (refund.kind, refund.state, refund.parent_id) == (
        "refund",
        "settled",
        payment.id,
    )
    assert refund.gateway_reference.startswith("re_")
    assert payment.state == "settled" and payment.amount == D("50.00")
    assert amounts(order)["due"] == D("12.50")
    assert order.status == "sent"


def test_only_a_pending_charge_can_be_voided(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])
    pending = services.charge(order, D("40.00"), TestGateway.PENDING, seller)
    settled = services.record_payment(order, D("10.00"), "cash", seller)
    db.session.commit()

    with pytest.raises(ServiceError, match="Only pending charges"):
        services.void(order, settled.id, "", seller)
    db.session.rollback()
    services.void(order, pending.id, "Customer changed mind", seller)
    db.session.commit()

    assert pending.state == "voided"
    result = amounts(order)
    assert (result["pending"], result["paid"], result["due"]) == (
        D("0.00"),
        D("10.00"),
        D("90.00"),
    )
    with pytest.raises(ServiceError, match="Only pending charges"):
        services.void(order, pending.id, "", seller)


def test_a_credit_reduces_only_an_unpaid_balance(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])
    services.record_payment(order, D("70.00"), "cash", seller)
    db.session.commit()

    with pytest.raises(ServiceError, match="more than the open balance"):
        services.credit(order, D("30.01"), "Goodwill", seller)
    db.session.rollback()
    with pytest.raises(ServiceError, match="reason"):
        services.credit(order, D("5.00"), "", seller)
    services.credit(order, D("30.00"), "Goodwill", seller)
    db.session.commit()

    assert amounts(order)["credits"] == D("30.00")
    assert amounts(order)["due"] == D("0.00")
    assert order.status == "paid"
    with pytest.raises(ServiceError, match="Nothing is unpaid"):
        services.credit(order, D("1.00"), "More", seller)


def test_an_order_with_transactions_cannot_be_deleted(db, make_order, seller):
    from crm.sales.models import Order

    kept = make_order([("service", "10.00", 1, None)])
    services.charge(kept, D("5.00"), TestGateway.DECLINE, seller)
    db.session.commit()
    draft = make_order([("service", "10.00", 1, None)])

    with pytest.raises(ServiceError, match="cannot be deleted"):
        services.delete_order(kept, seller)
    db.session.rollback()
    services.delete_order(draft, seller)
    db.session.commit()

    assert db.session.get(Order, kept.id) is not None
    assert db.session.get(Order, draft.id) is None


def test_the_total_cannot_fall_below_what_was_paid(db, make_order, seller):
    order = make_order([("service", "100.00", 1, None)])
    services.record_payment(order, D("80.00"), "cash", seller)
    db.session.commit()

    order.lines[0].unit_price = D("79.99")
    with pytest.raises(ServiceError, match="cannot fall below"):
        services.save_order(order, seller, is_new=False)
    db.session.rollback()
    order.lines[0].unit_price = D("80.00")
    services.save_order(order, seller, is_new=False)
    db.session.commit()
    assert order.status == "paid"


def test_discounts_cannot_exceed_the_order(make_order):
    with pytest.raises(ServiceError, match="discounts exceed"):
        make_order([("service", "10.00", 1, None), ("discount", "10.01", 1, None)])


def test_a_product_in_another_currency_cannot_be_sold(make_order, make_product):
    euro = make_product("Euro thing", "5.00", currency="EUR")

    with pytest.raises(ServiceError, match="priced in EUR"):
        make_order([("product", None, 1, euro)], currency="USD")


def test_money_events_are_recorded_on_the_contact(db, make_order, seller):
    from sqlalchemy import select

    from crm.activity.models import ActivityEvent

    order = make_order([("service", "20.00", 1, None)])
    payment = services.record_payment(order, D("20.00"), "cash", seller)
    services.refund(order, payment.id, D("5.00"), "Late", seller)
    db.session.commit()

    kinds = db.session.scalars(
        select(ActivityEvent.kind)
        .where(ActivityEvent.contact_id == order.contact_id)
        .order_by(ActivityEvent.id)
    ).all()
    assert kinds == ["order_created", "payment", "refund"]


def test_the_currency_cannot_change_once_money_is_recorded(db, make_order, seller):
    order = make_order([("service", "10.00", 1, None)])
    services.record_payment(order, D("1.00"), "cash", seller)
    db.session.commit()

    order.currency = "EUR"
    with pytest.raises(ServiceError, match="currency cannot change"):
        services.save_order(order, seller, is_new=False)
