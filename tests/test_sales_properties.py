"""Property tests: random orders and random sequences of money operations.

Each example builds an order through the services on the real database, then
applies payments, card charges, refunds, voids and credits in random order.
A plain reference ledger (written independently of the services) says which
operations must be accepted; after every step the services' amounts must
equal the ledger's to the cent, and the invariants must hold: paid never
exceeds the total, refunds never exceed what was paid, due is never negative.
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.errors import ServiceError
from crm.sales import services
from crm.sales.gateway import TestGateway
from crm.sales.money import Money, MoneyError

pytest_plugins = ["tests.test_sales_support"]

CENT = Decimal("0.01")
CARDS = {
    "approve": TestGateway.APPROVE,
    "pending": TestGateway.PENDING,
    "decline": TestGateway.DECLINE,
}
RATES = [Decimal(r) for r in ("0", "5", "7.25", "8.875", "19")]

cents = st.integers(min_value=0, max_value=30_000).map(lambda c: Decimal(c) / 100)
lines = st.lists(
    st.tuples(
        st.sampled_from(["service", "shipping", "tax", "discount"]),
        cents,
        st.integers(min_value=1, max_value=4),
    ),
    max_size=4,
)
taxed = st.none() | st.tuples(cents, st.integers(1, 3), st.sampled_from(RATES))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), cents),
        st.tuples(st.just("charge"), cents, st.sampled_from(sorted(CARDS))),
        st.tuples(st.just("refund"), st.integers(0, 5), st.none() | cents),
        st.tuples(st.just("void"), st.integers(0, 5)),
        st.tuples(st.just("credit"), cents),
    ),
    max_size=8,
)


class Ledger:
    """The rules of the issue, kept as plain Decimals."""

    def __init__(self, total):
        self.total = total
        self.payments = []  # dicts: amount, state, refunded
        self.credits = Decimal(0)

    @property
    def paid(self):
        return sum(
            (p["amount"] - p["refunded"] for p in self.payments if p["state"] == "s"),
            Decimal(0),
        )

    @property
    def pending(self):
        return sum(
            (p["amount"] for p in self.payments if p["state"] == "p"), Decimal(0)
        )

    @property
    def refunded(self):
        return sum((p["refunded"] for p in self.payments), Decimal(0))

    @property
    def due(self):
        return self.total - self.paid - self.credits

    def open(self):
        return self.due - self.pending


def _reference_total(plain, product):
    total = Decimal(0)
    for kind, price, quantity in plain:
        total += -price * quantity if kind == "discount" else price * quantity
    if product:
        price, quantity, rate = product
        net = price * quantity
        total += net + (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return total


def _check(order, ledger):
    summary = services.summarise(order)
    for name in ("total", "paid", "refunded", "credits", "pending", "due"):
        value = getattr(summary, name).amount
        assert value == getattr(ledger, name), name
        assert value == value.quantize(CENT), name
    assert summary.paid <= summary.total
    assert summary.refunded <= summary.payments
    assert summary.due.amount >= 0
    assert summary.due == summary.total - summary.paid - summary.credits
    assert (order.status == "paid") == (
        summary.total.amount > 0 and summary.due.amount == 0
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plain=lines, product=taxed, steps=operations)
def test_money_always_adds_up(
    db, make_order, make_product, seller, plain, product, steps
):
    built = [(kind, str(price), quantity, None) for kind, price, quantity in plain]
    if product:
        price, quantity, rate = product
        item = make_product("Taxed", str(price), tax=str(rate))
        built.append(("product", None, quantity, item))
    total = _reference_total(plain, product)
    if total < 0:
        with pytest.raises(ServiceError, match="discounts exceed"):
            make_order(built)
        db.session.rollback()
        return

    order = make_order(built)
    ledger = Ledger(total)
    rows = []
    _check(order, ledger)
    for step in steps:
        accepted = _apply(order, ledger, rows, step)
        if accepted:
            db.session.commit()
        else:
            db.session.rollback()
        _check(order, ledger)


def _apply(order, ledger, rows, step):
    """Apply one step to the services and the ledger; True when accepted."""
    kind = step[0]
    if kind in ("pay", "charge"):
        amount = step[1]
        allowed = Decimal(0) < amount <= ledger.open()
        card = CARDS[step[2]] if kind == "charge" else None
        try:
            if card:
                row = services.charge(order, amount, card, seller_of(order))
            else:
                row = services.record_payment(order, amount, "cash", seller_of(order))
        except ServiceError:
            assert not allowed, step
            return False
        assert allowed, step
        state = {"settled": "s", "pending": "p"}.get(row.state, "x")
        rows.append(row.id)
        ledger.payments.append({"amount": amount, "state": state, "refunded": 0})
        return True

    if kind == "credit":
        amount = step[1]
        allowed = ledger.due > 0 and Decimal(0) < amount <= ledger.open()
        try:
            services.credit(order, amount, "Adjustment", seller_of(order))
        except ServiceError:
            assert not allowed, step
            return False
        assert allowed, step
        ledger.credits += amount
        return True

    if step[1] >= len(rows):
        return False
    payment, row_id = ledger.payments[step[1]], rows[step[1]]
    if kind == "void":
        allowed = payment["state"] == "p"
        try:
            services.void(order, row_id, "", seller_of(order))
        except ServiceError:
            assert not allowed, step
            return False
        assert allowed, step
        payment["state"] = "v"
        return True

    amount = step[2]
    left = payment["amount"] - payment["refunded"]
    wanted = left if amount is None else amount
    allowed = payment["state"] == "s" and Decimal(0) < wanted <= left
    try:
        services.refund(order, row_id, amount, "Returned", seller_of(order))
    except ServiceError:
        assert not allowed, step
        return False
    assert allowed, step
    payment["refunded"] += wanted
    return True


def seller_of(order):
    return order.created_by


amounts_in = st.lists(
    st.integers(min_value=-(10**9), max_value=10**9).map(lambda c: Decimal(c) / 100),
    max_size=20,
)


@given(values=amounts_in, currency=st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
def test_money_sums_are_exact_and_quantized(values, currency):
    money = [Money(v, currency) for v in values]

    total = Money.zero(currency)
    for item in money:
        total = total + item
    backwards = Money.zero(currency)
    for item in reversed(money):
        backwards = backwards + item

    assert total == backwards
    assert total.amount == sum((m.amount for m in money), Decimal(0))
    assert Money(total.amount, currency) == total
    assert (total - total).amount == 0


@given(a=st.sampled_from(["USD", "EUR", "GBP"]), b=st.sampled_from(["JPY", "CHF"]))
def test_mixing_currencies_is_refused(a, b):
    with pytest.raises(MoneyError, match="cannot be combined"):
        Money(Decimal("1.00"), a) + Money(Decimal("1"), b)
