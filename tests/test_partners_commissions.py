"""Commissions: rules by percentage or fixed amount in exact decimals, earned
once per order, reversed in proportion to refunds, summed on the summary screen."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.partners import services
from crm.partners.models import Commission, CommissionRule


@dataclass
class Order:
    """The attributes the order services hand to the commission API."""

    id: int
    total: Decimal
    currency: str = "USD"
    sales_partner_id: int | None = None
    lead_partner_id: int | None = None


@pytest.fixture
def partner(db, make_contact):
    partner = services.create_partner(
        make_contact("Paula", "Partner"), "Paula1", status="active"
    )
    db.session.commit()
    return partner


def add_rule(
    db, *, partner=None, kind="percent", percent=None, amount=None, currency=None
):
    rule = CommissionRule(
        partner=partner, kind=kind, percent=percent, amount=amount, currency=currency
    )
    services.check_rule(rule)
    db.session.add(rule)
    db.session.commit()
    return rule


@pytest.mark.parametrize(
    ("percent", "total", "expected"),
    [
        ("10", "100.00", "10.00"),
        ("12.5", "19.99", "2.50"),  # 2.49875 rounds half up to 2.50
        ("7.25", "33.33", "2.42"),  # 2.4164...
        ("15", "0.05", "0.01"),  # 0.0075
        ("33.3333", "300.00", "100.00"),  # 99.9999
        ("0", "500.00", "0.00"),
        ("100", "42.42", "42.42"),
    ],
)
def test_a_percentage_rule_pays_exact_cents(db, partner, percent, total, expected):
    add_rule(db, percent=Decimal(percent))
    order = Order(id=1, total=Decimal(total), sales_partner_id=partner.id)
    commission = services.earn_for_order(order)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Commission, commission.id)
    assert stored.amount == Decimal(expected)
    assert str(stored.amount) == expected
    assert (stored.state, stored.basis) == ("earned", Decimal(total))


def test_a_fixed_rule_pays_its_amount_per_sale(db, partner):
    add_rule(db, kind="fixed", amount=Decimal("25.50"), currency="usd")
    first = services.earn_for_order(
        Order(1, Decimal("10.00"), sales_partner_id=partner.id)
    )
    second = services.earn_for_order(
        Order(2, Decimal("999.99"), sales_partner_id=partner.id)
    )
    db.session.commit()
    assert (first.amount, second.amount) == (Decimal("25.50"), Decimal("25.50"))


def test_a_fixed_rule_in_another_currency_pays_nothing(db, partner):
    add_rule(db, kind="fixed", amount=Decimal("5.00"), currency="EUR")
    order = Order(1, Decimal("10.00"), currency="USD", sales_partner_id=partner.id)
    assert services.earn_for_order(order) is None


def test_the_partner_rule_wins_over_the_default(db, partner, make_contact):
    add_rule(db, percent=Decimal("5"))
    add_rule(db, partner=partner, percent=Decimal("20"))
    other = services.create_partner(make_contact("Otto", "O"), "Otto1", status="active")
    db.session.commit()
    mine = services.earn_for_order(
        Order(1, Decimal("50.00"), sales_partner_id=partner.id)
    )
    theirs = services.earn_for_order(
        Order(2, Decimal("50.00"), sales_partner_id=other.id)
    )
    assert (mine.amount, theirs.amount) == (Decimal("10.00"), Decimal("2.50"))


def test_no_rule_and_no_partner_pay_nothing(db, partner):
    assert (
        services.earn_for_order(Order(1, Decimal("50.00"), sales_partner_id=partner.id))
        is None
    )
    add_rule(db, percent=Decimal("5"))
    assert services.earn_for_order(Order(2, Decimal("50.00"))) is None


def test_the_lead_partner_earns_when_no_sales_partner_is_set(db, partner):
    add_rule(db, percent=Decimal("10"))
    commission = services.earn_for_order(
        Order(1, Decimal("50.00"), lead_partner_id=partner.id)
    )
    assert commission.partner_id == partner.id


def test_an_order_pays_a_partner_once(db, partner):
    add_rule(db, percent=Decimal("10"))
    order = Order(1, Decimal("80.00"), sales_partner_id=partner.id)
    first = services.earn_for_order(order)
    db.session.commit()
    again = services.earn_for_order(order)
    db.session.commit()
    assert first.id == again.id
    assert len(db.session.scalars(select(Commission)).all()) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "percent"}, "Enter the percentage"),
        ({"kind": "percent", "percent": Decimal("100.01")}, "between 0 and 100"),
        ({"kind": "percent", "percent": Decimal("-1")}, "between 0 and 100"),
        ({"kind": "fixed", "currency": "USD"}, "Enter the amount"),
        ({"kind": "fixed", "amount": Decimal("-1"), "currency": "USD"}, "0 or more"),
        (
            {"kind": "fixed", "amount": Decimal("1.005"), "currency": "USD"},
            "two decimals",
        ),
        (
            {"kind": "fixed", "amount": Decimal("1"), "currency": "dollars"},
            "three-letter",
        ),
        ({"kind": "fixed", "amount": Decimal("1")}, "three-letter"),
        ({"kind": "bonus"}, "percentage or a fixed amount"),
    ],
)
def test_rules_are_checked(db, fields, message):
    with pytest.raises(ServiceError, match=message):
        services.check_rule(CommissionRule(**fields))


def test_one_default_rule_and_one_rule_per_partner(db, partner):
    add_rule(db, percent=Decimal("5"))
    add_rule(db, partner=partner, percent=Decimal("6"))
    with pytest.raises(ServiceError, match="already a default rule"):
        services.check_rule(CommissionRule(kind="percent", percent=Decimal("1")))
    with pytest.raises(ServiceError, match="already has a rule"):
        services.check_rule(
            CommissionRule(partner=partner, kind="percent", percent=Decimal("1"))
        )


def reversals(db, commission):
    return [
        row.amount
        for row in db.session.scalars(
            select(Commission)
            .where(Commission.reverses_id == commission.id)
            .order_by(Commission.id)
        )
    ]


def test_a_full_refund_reverses_the_whole_commission(db, partner):
    add_rule(db, percent=Decimal("10"))
    order = Order(1, Decimal("99.99"), sales_partner_id=partner.id)
    commission = services.earn_for_order(order)
    made = services.reverse_for_refund(order, Decimal("99.99"))
    db.session.commit()
    assert [row.state for row in made] == ["reversed"]
    assert reversals(db, commission) == [Decimal("-10.00")]


def test_a_partial_refund_reverses_in_proportion(db, partner):
    add_rule(db, percent=Decimal("10"))
    order = Order(1, Decimal("200.00"), sales_partner_id=partner.id)
    commission = services.earn_for_order(order)
    services.reverse_for_refund(order, Decimal("50.00"))
    db.session.commit()
    assert reversals(db, commission) == [Decimal("-5.00")]


def test_partial_refunds_add_up_to_the_whole_commission_without_drift(db, partner):
    add_rule(db, percent=Decimal("10"))
    order = Order(1, Decimal("100.00"), sales_partner_id=partner.id)
    commission = services.earn_for_order(order)
    assert commission.amount == Decimal("10.00")
    for _ in range(3):
        services.reverse_for_refund(order, Decimal("33.33"))
    services.reverse_for_refund(order, Decimal("0.01"))
    db.session.commit()
    # 3.333 -> 3.33, 6.666 -> 6.67 (3.34 more), 9.999 -> 10.00 (3.33 more), then 0.
    assert reversals(db, commission) == [
        Decimal("-3.33"),
        Decimal("-3.34"),
        Decimal("-3.33"),
    ]
    assert sum(reversals(db, commission)) == -commission.amount


def test_refunds_beyond_the_total_reverse_no_more_than_was_earned(db, partner):
    add_rule(db, kind="fixed", amount=Decimal("7.00"), currency="USD")
    order = Order(1, Decimal("20.00"), sales_partner_id=partner.id)
    commission = services.earn_for_order(order)
    services.reverse_for_refund(order, Decimal("15.00"))
    services.reverse_for_refund(order, Decimal("15.00"))
    services.reverse_for_refund(order, Decimal("15.00"))
    db.session.commit()
    assert reversals(db, commission) == [Decimal("-5.25"), Decimal("-1.75")]


@pytest.mark.parametrize("refund", [Decimal("0"), Decimal("-5.00")])
def test_an_empty_or_negative_refund_reverses_nothing(db, partner, refund):
    add_rule(db, percent=Decimal("10"))
    order = Order(1, Decimal("20.00"), sales_partner_id=partner.id)
    services.earn_for_order(order)
    assert services.reverse_for_refund(order, refund) == []


def test_a_refund_of_an_order_without_commission_changes_nothing(db, partner):
    assert (
        services.reverse_for_refund(Order(5, Decimal("20.00")), Decimal("20.00")) == []
    )


# The summary screen.
def test_the_summary_shows_referrals_orders_and_net_commission(
    db, web, login_as, partner, make_contact
):
    add_rule(db, percent=Decimal("10"))
    services.add_manual_referral(make_contact("Ref", "One"), partner)
    services.add_manual_referral(make_contact("Ref", "Two"), partner)
    first = Order(1, Decimal("100.00"), sales_partner_id=partner.id)
    second = Order(2, Decimal("55.55"), sales_partner_id=partner.id)
    services.earn_for_order(first)
    services.earn_for_order(second)
    services.reverse_for_refund(first, Decimal("40.00"))
    db.session.commit()

    login_as("admin")
    page = web.get("/admin/partner-summary/").get_data(as_text=True)
    row = page.split(f'data-partner-id="{partner.id}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="text-right summary-referrals">2</td>' in row
    assert '<td class="text-right summary-orders">2</td>' in row
    assert '<td class="text-right summary-earned">$15.56</td>' in row
    assert '<td class="text-right summary-reversed">$4.00</td>' in row
    assert '<td class="text-right summary-net">$11.56</td>' in row


def test_the_summary_and_commission_list_follow_the_partner_contact(
    db, web, partner, make_contact
):
    from tests.access_helpers import own_only, quick_user

    owner = quick_user(db, "owner@example.com")
    partner.contact.owner = owner
    mine = services.create_partner(
        make_contact("Mine", "Partner", owner=quick_user(db, "me@example.com")),
        "Mine1",
        status="active",
    )
    add_rule(db, percent=Decimal("10"))
    services.earn_for_order(Order(1, Decimal("123.00"), sales_partner_id=partner.id))
    services.earn_for_order(Order(2, Decimal("10.00"), sales_partner_id=mine.id))
    db.session.commit()
    own_only(db, db.session.get(type(owner), mine.contact.owner_id))

    web.login("me@example.com")
    summary = web.get("/admin/partner-summary/").get_data(as_text=True)
    assert "Mine1" in summary and "Paula1" not in summary
    assert "12.30" not in summary and "1.00" in summary
    listing = web.get("/admin/commissions/").get_data(as_text=True)
    assert "12.30" not in listing and "1.00" in listing


def test_a_partner_with_commissions_cannot_be_deleted(db, web, login_as, partner):
    from crm.partners.models import ReferralPartner

    add_rule(db, percent=Decimal("10"))
    services.earn_for_order(Order(1, Decimal("10.00"), sales_partner_id=partner.id))
    db.session.commit()
    login_as("admin")
    page = web.post(
        "/admin/referral-partners/delete/",
        {"id": str(partner.id)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "set the partner inactive instead" in page
    db.session.expire_all()
    assert db.session.get(ReferralPartner, partner.id) is not None


def test_the_sale_amount_can_be_given_for_an_order_without_a_total(db, partner):
    @dataclass
    class BareOrder:
        id: int
        currency: str
        sales_partner_id: int

    add_rule(db, percent=Decimal("10"))
    order = BareOrder(7, "USD", partner.id)
    commission = services.earn_for_order(order, Decimal("30.00"))
    services.reverse_for_refund(order, Decimal("15.00"), Decimal("30.00"))
    assert commission.amount == Decimal("3.00")
    assert reversals(db, commission) == [Decimal("-1.50")]
