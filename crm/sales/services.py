"""The rules of orders and money: totals, payments, refunds, voids, credits.

Derived amounts (never stored, always recomputed from lines and
transactions):

- total    = products and services + shipping + tax - discounts
- paid     = settled payments - settled refunds
- credits  = settled credits
- pending  = payments charged but not settled yet
- due      = total - paid - credits, never below zero

Every change of money first locks the order row (an UPDATE, which takes the
row lock on PostgreSQL and the write lock on SQLite, then SELECT ... FOR
UPDATE), so two payments at once cannot both see the old balance. Services
add and flush; the request or command that called them commits.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import selectinload

from crm.access import policy
from crm.activity import kinds
from crm.activity import services as activity
from crm.contacts.models import Contact
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.i18n import format_money
from crm.core.text import stored_message
from crm.extensions import db
from crm.sales import gateway as gateways
from crm.sales.models import (
    GATEWAY_METHOD,
    LINE_KINDS,
    MANUAL_METHODS,
    InvoiceCounter,
    Order,
    OrderLine,
    Product,
    Transaction,
)
from crm.sales.money import Money, check_currency, quantize

log = logging.getLogger(__name__)


def order_created_title(event) -> str:
    """ "Order #1001: Spring lamps", in the reader's language."""
    data = event.data or {}
    if "number" not in data:
        return stored_message(event.subject)
    return _(
        "Order #%(number)s: %(title)s", number=data["number"], title=data.get("title")
    )


def money_event_title(event) -> str:
    """ "Payment of $10.00", "Refund of 12,50 US$": worded from the amount stored."""
    data = event.data or {}
    try:
        amount = format_money(Decimal(data["amount"]), data["currency"])
    except (KeyError, TypeError, ArithmeticError):
        return stored_message(event.subject)
    if event.kind == "refund":
        return _("Refund of %(amount)s", amount=amount)
    by_card = data.get("method") == GATEWAY_METHOD or (
        "method" not in data and (event.subject or "").startswith("Card payment")
    )
    if by_card:
        return _("Card payment of %(amount)s", amount=amount)
    return _("Payment of %(amount)s", amount=amount)


kinds.register("order_created", _l("Order created"), "order", title=order_created_title)
kinds.register("payment", _l("Payment"), "order", title=money_event_title)
kinds.register("refund", _l("Refund"), "order", title=money_event_title)

INVOICE_COUNTER = "invoice"


@dataclass(frozen=True)
class Summary:
    """An order's amounts; every one in the order's currency."""

    subtotal: Money
    shipping: Money
    discount: Money
    tax: Money
    total: Money
    payments: Money
    refunded: Money
    paid: Money
    credits: Money
    pending: Money
    due: Money


# Reading.
def transactions_of(order: Order) -> list[Transaction]:
    """The order's transactions, read from the database (not a cached list)."""
    if order.id is None:
        return []
    return list(
        db.session.scalars(
            select(Transaction)
            .where(Transaction.order_id == order.id)
            .order_by(Transaction.id)
        )
    )


def _sum(rows, currency, kind, states=("settled",)) -> Money:
    amounts = [r.money for r in rows if r.kind == kind and r.state in states]
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result


def summarise(order: Order, transactions=None) -> Summary:
    """Totals, paid, refunded, credits and due of ``order``."""
    currency = order.currency
    zero = Money.zero(currency)
    subtotal = shipping = discount = tax = zero
    for line in order.lines:
        net = line.net(currency)
        if line.kind == "shipping":
            shipping += net
        elif line.kind == "discount":
            discount -= net
        elif line.kind == "tax":
            tax += net
        else:
            subtotal += net
            tax += line.tax(currency)
    total = subtotal + shipping + tax - discount

    rows = transactions_of(order) if transactions is None else transactions
    payments = _sum(rows, currency, "payment")
    refunded = _sum(rows, currency, "refund")
    credits = _sum(rows, currency, "credit")
    pending = _sum(rows, currency, "payment", ("pending",))
    paid = payments - refunded
    due = total - paid - credits
    return Summary(
        subtotal=subtotal,
        shipping=shipping,
        discount=discount,
        tax=tax,
        total=total,
        payments=payments,
        refunded=refunded,
        paid=paid,
        credits=credits,
        pending=pending,
        due=due,
    )


def refundable(payment: Transaction, transactions=None) -> Money:
    """What may still be refunded of a settled payment."""
    rows = transactions_of(payment.order) if transactions is None else transactions
    if payment.kind != "payment" or payment.state != "settled":
        return Money.zero(payment.currency)
    refunded = Money.zero(payment.currency)
    for row in rows:
        if row.kind == "refund" and row.parent_id == payment.id:
            if row.state in ("settled", "pending"):
                refunded += row.money
    return payment.money - refunded


def get_visible_order(order_id, user, action=policy.VIEW) -> Order | None:
    """The order, when it exists and ``user`` may act on it."""
    try:
        order_id = int(order_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(Order).where(Order.id == order_id, policy.scope(Order, user, action))
    )


def orders_of(contact, user, action=policy.VIEW) -> list[Order]:
    """The contact's orders that ``user`` may see (or edit), newest first."""
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.contact_id == contact.id, policy.scope(Order, user, action))
            .options(selectinload(Order.lines), selectinload(Order.transactions))
            .order_by(Order.order_date.desc(), Order.id.desc())
        )
    )


# The order's partners (columns added by crm.partners.sales).
def visible_partners(orders, user) -> dict:
    """The lead and sales partners of ``orders`` that ``user`` may see, by id."""
    ids = {
        pid
        for order in orders
        for pid in (order.lead_partner_id, order.sales_partner_id)
        if pid
    }
    from crm.partners.models import ReferralPartner

    if not ids:
        return {}
    rows = db.session.scalars(
        select(ReferralPartner).where(
            ReferralPartner.id.in_(ids), policy.scope(ReferralPartner, user)
        )
    )
    return {partner.id: partner for partner in rows}


def partner_label(partner_id, visible) -> str:
    """A partner as the user may see it: its code and name, or only that one is set."""
    if not partner_id:
        return ""
    partner = visible.get(partner_id)
    return str(partner) if partner is not None else _("(a partner you may not see)")


# Invoice numbers.
def next_invoice_number() -> int:
    """Take the next invoice number; numbers are never handed out twice.

    One UPDATE ... RETURNING on the counter row: atomic on both engines, and
    deleting an order never lowers the counter.
    """
    statement = (
        update(InvoiceCounter)
        .where(InvoiceCounter.name == INVOICE_COUNTER)
        .values(last_value=InvoiceCounter.last_value + 1)
        .returning(InvoiceCounter.last_value)
    )
    value = db.session.execute(statement).scalar_one_or_none()
    if value is None:
        db.session.execute(
            insert(InvoiceCounter).values(name=INVOICE_COUNTER, last_value=1)
        )
        value = 1
    return value


# Orders and lines.
def new_order(contact, actor, *, title, currency="USD", order_date=None, **fields):
    """A new draft order for ``contact`` (validated and flushed)."""
    order = Order(
        contact=contact,
        title=title,
        currency=currency,
        order_date=order_date or date.today(),
        status="draft",
        **fields,
    )
    db.session.add(order)
    return order


def add_line(order: Order, kind="product", *, product=None, quantity=1, **fields):
    """Append a line; a product line takes the product's price and tax."""
    line = OrderLine(kind=kind, product=product, quantity=quantity, **fields)
    order.lines.append(line)
    return line


def prepare_line(line: OrderLine, currency: str) -> None:
    """Fill a line's defaults from its product and check it."""
    kinds_known = {k for k, _label in LINE_KINDS}
    if line.kind not in kinds_known:
        raise ServiceError(_("Choose a kind for every line."), "lines")
    if line.kind == "product" and line.product is None:
        raise ServiceError(_("A product line needs a product."), "lines")
    if line.quantity is None or int(line.quantity) < 1:
        raise ServiceError(_("The quantity of a line must be 1 or more."), "lines")
    product = line.product
    if product is not None:
        if product.currency != currency:
            raise ServiceError(
                _(
                    "%(product)s is priced in %(a)s and cannot be sold on an order "
                    "in %(b)s.",
                    product=product.name,
                    a=product.currency,
                    b=currency,
                ),
                "lines",
            )
        if line.unit_price is None:
            line.unit_price = product.price
        if not line.description:
            line.description = product.name
        line.tax_rate = product.tax_rate if product.taxable else Decimal(0)
    else:
        line.tax_rate = Decimal(0)
    if line.unit_price is None:
        raise ServiceError(_("Every line needs a price."), "lines")
    price = Decimal(line.unit_price)
    if price < 0:
        raise ServiceError(
            _("Prices are never negative; use a discount line instead."), "lines"
        )
    if price != quantize(price, currency):
        raise ServiceError(
            _("A price has more decimals than %(currency)s has.", currency=currency),
            "lines",
        )


def validate_order(order: Order, actor=None) -> Summary:
    """Check an order before it is saved; returns its amounts.

    Raises ServiceError when a line is wrong, the discounts exceed the rest,
    or the new total would fall below what was already paid or credited.
    """
    order.currency = check_currency(order.currency)
    if not (order.title or "").strip():
        raise ServiceError(_("Give the order a title."), "title")
    if order.contact is None and order.contact_id is None:
        raise ServiceError(_("Choose the contact the order is for."), "contact")
    for line in order.lines:
        prepare_line(line, order.currency)

    rows = transactions_of(order)
    if rows and any(row.currency != order.currency for row in rows):
        raise ServiceError(
            _("The currency cannot change once money has been recorded."), "currency"
        )
    summary = summarise(order, rows)
    if summary.total.amount < 0:
        raise ServiceError(_("The discounts exceed the rest of the order."), "lines")
    committed = summary.paid + summary.credits + summary.pending
    if summary.total < committed:
        raise ServiceError(
            _(
                "The total cannot fall below the %(amount)s already paid or credited.",
                amount=committed.format(),
            ),
            "lines",
        )
    return summary


def save_order(order: Order, actor, *, is_new: bool) -> Order:
    """Validate and flush an order; a new one gets its invoice number and event."""
    with db.session.no_autoflush:
        order.currency = check_currency(order.currency)
        for line in order.lines:
            prepare_line(line, order.currency)
        if is_new:
            order.invoice_number = next_invoice_number()
            order.created_by_id = getattr(actor, "id", None)
    if not is_new:
        # The edit is flushed first, then the row is locked and re-checked.
        lock_order(order.id)
    summary = validate_order(order, actor)
    db.session.flush()
    _follow_status(order, summary)
    if is_new:
        activity.record(
            order.contact_id,
            "order_created",
            subject=_(
                "Order #%(number)s: %(title)s",
                number=order.invoice_number,
                title=order.title,
            ),
            actor_id=getattr(actor, "id", None),
            ref=("order", order.id),
            target=f"order:{order.id}",
            data={
                "total": str(summary.total.amount),
                "currency": order.currency,
                "number": order.invoice_number,
                "title": order.title,
            },
        )
        log.info(
            "order %s (#%s) created for contact %s by %s",
            order.id,
            order.invoice_number,
            order.contact_id,
            getattr(actor, "email", None),
        )
    else:
        log.info("order %s changed by %s", order.id, getattr(actor, "email", None))
    return order


@event.listens_for(Contact, "before_delete")
def _keep_contacts_with_orders(mapper, connection, contact) -> None:
    """A contact with orders stays: its orders and money records need it."""
    count = connection.scalar(
        select(func.count()).select_from(Order).where(Order.contact_id == contact.id)
    )
    if count:
        raise ServiceError(
            _(
                "%(name)s has orders, so the contact cannot be deleted.",
                name=contact.display_name,
            )
        )


def check_deletable(order: Order) -> None:
    """Refuse to delete an order that has any transaction."""
    count = db.session.scalar(
        select(func.count()).where(Transaction.order_id == order.id)
    )
    if count:
        raise ServiceError(
            _(
                "Order #%(number)s has payments or other transactions recorded, "
                "so it cannot be deleted.",
                number=order.invoice_number,
            )
        )


def delete_order(order: Order, actor) -> None:
    """Delete an order without transactions; its invoice number is not reused."""
    lock_order(order.id)
    check_deletable(order)
    log.info(
        "order %s (#%s) deleted by %s",
        order.id,
        order.invoice_number,
        getattr(actor, "email", None),
    )
    db.session.delete(order)
    db.session.flush()


# Money.
def lock_order(order_id: int) -> Order:
    """Lock the order row for the rest of the transaction and reload it."""
    db.session.execute(
        update(Order).where(Order.id == order_id).values(updated_at=utcnow())
    )
    order = db.session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise ServiceError(_("That order no longer exists."))
    return order


def _amount(order: Order, value) -> Money:
    if isinstance(value, Money):
        money = value
    else:
        money = Money(Decimal(value), order.currency)
    if money.currency != order.currency:
        raise ServiceError(
            _(
                "This order is in %(a)s; an amount in %(b)s cannot be applied.",
                a=order.currency,
                b=money.currency,
            ),
            "amount",
        )
    if money.amount <= 0:
        raise ServiceError(_("The amount must be more than zero."), "amount")
    return money


def _payable(order: Order, summary: Summary, money: Money) -> None:
    open_balance = summary.due - summary.pending
    if money > open_balance:
        raise ServiceError(
            _(
                "%(amount)s is more than the open balance of %(balance)s.",
                amount=money.format(),
                balance=open_balance.format(),
            ),
            "amount",
        )


def _follow_status(order: Order, summary: Summary) -> None:
    if summary.total.amount > 0 and summary.due.amount == 0:
        order.status = "paid"
    elif order.status == "paid":
        order.status = "sent"


def _transaction(order, actor, **fields) -> Transaction:
    row = Transaction(
        order_id=order.id,
        currency=order.currency,
        actor_id=getattr(actor, "id", None),
        created_at=utcnow(),
        **fields,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _after_money(order: Order) -> Summary:
    summary = summarise(order)
    _follow_status(order, summary)
    db.session.flush()
    return summary


def _event(order, kind, row, actor, subject):
    activity.record(
        order.contact_id,
        kind,
        subject=subject,
        actor_id=getattr(actor, "id", None),
        ref=("transaction", row.id),
        target=f"order:{order.id}",
        data={
            "amount": str(row.amount),
            "currency": row.currency,
            "state": row.state,
            "method": row.method,
        },
    )


def record_payment(order: Order, amount, method: str, actor, note="") -> Transaction:
    """Record a manual payment (cash, check...): settled at once, within the balance."""
    if method not in {key for key, _label in MANUAL_METHODS}:
        raise ServiceError(_("Choose one of the payment types."), "method")
    order = lock_order(order.id)
    money = _amount(order, amount)
    _payable(order, summarise(order), money)

    row = _transaction(
        order,
        actor,
        kind="payment",
        state="settled",
        amount=money.amount,
        method=method,
        reason=note or "",
    )
    _after_money(order)
    _event(order, "payment", row, actor, _("Payment of %(amount)s", amount=str(money)))
    log.info(
        "payment %s of %s on order %s by %s",
        row.id,
        money,
        order.id,
        getattr(actor, "email", None),
    )
    return row


def charge(order: Order, amount, card_number: str, actor, idempotency_key=None):
    """Charge a card through the gateway; a declined or failed charge is recorded too.

    Returns the transaction. The same ``idempotency_key`` twice returns the
    first transaction instead of charging again. Only the brand and the
    last four digits of the card are kept.
    """
    key = idempotency_key or uuid.uuid4().hex
    digits = gateways.clean_number(card_number)
    if digits is None:
        raise ServiceError(_("That is not a valid card number."), "card_number")
    # Locked first, so the same form submitted twice at once waits here and
    # then finds the first charge.
    order = lock_order(order.id)
    existing = db.session.scalar(
        select(Transaction).where(Transaction.idempotency_key == key)
    )
    if existing is not None:
        if existing.order_id != order.id:
            raise ServiceError(_("That payment form was already used."))
        return existing
    money = _amount(order, amount)
    _payable(order, summarise(order), money)

    card = gateways.describe_card(digits)
    result = gateways.get_gateway().charge(money.amount, order.currency, digits, key)
    row = _transaction(
        order,
        actor,
        kind="payment",
        state=result.state,
        amount=money.amount,
        method=GATEWAY_METHOD,
        gateway_reference=result.reference,
        idempotency_key=key,
        card_brand=card.brand,
        card_last4=card.last4,
        message=result.message[:255],
    )
    _after_money(order)
    if result.state in ("settled", "pending"):
        _event(
            order,
            "payment",
            row,
            actor,
            _("Card payment of %(amount)s", amount=str(money)),
        )
    log.info("charge %s of %s on order %s: %s", row.id, money, order.id, result.state)
    return row


def _payment_of(order: Order, payment_id) -> Transaction:
    row = db.session.scalar(
        select(Transaction).where(
            Transaction.id == payment_id,
            Transaction.order_id == order.id,
            Transaction.kind == "payment",
        )
    )
    if row is None:
        raise ServiceError(_("That payment was not found on this order."))
    return row


def refund(order: Order, payment_id, amount, reason: str, actor) -> Transaction:
    """Refund all or part of a settled payment; never more than it brought in."""
    if not (reason or "").strip():
        raise ServiceError(_("Give a reason for the refund."), "reason")
    order = lock_order(order.id)
    payment = _payment_of(order, payment_id)
    if payment.state != "settled":
        raise ServiceError(
            _("Only settled payments can be refunded; void a pending charge instead.")
        )
    rows = transactions_of(order)
    left = refundable(payment, rows)
    money = left if amount in (None, "") else _amount(order, amount)
    if money.amount <= 0 or money > left:
        raise ServiceError(
            _(
                "At most %(left)s of this payment can still be refunded.",
                left=left.format(),
            ),
            "amount",
        )

    reference = None
    if payment.method == GATEWAY_METHOD:
        result = gateways.get_gateway().refund(
            payment.gateway_reference, money.amount, order.currency
        )
        if result.state != "settled":
            raise ServiceError(
                _(
                    "The gateway refused the refund: %(why)s",
                    why=stored_message(result.message),
                )
            )
        reference = result.reference
    row = _transaction(
        order,
        actor,
        kind="refund",
        state="settled",
        amount=money.amount,
        method=payment.method,
        gateway_reference=reference,
        parent_id=payment.id,
        reason=reason.strip(),
    )
    _after_money(order)
    _event(order, "refund", row, actor, _("Refund of %(amount)s", amount=str(money)))
    log.info(
        "refund %s of %s on payment %s by %s",
        row.id,
        money,
        payment.id,
        getattr(actor, "email", None),
    )
    return row


def void(order: Order, payment_id, reason: str, actor) -> Transaction:
    """Void a pending (unsettled) charge; settled payments are refunded instead."""
    order = lock_order(order.id)
    payment = _payment_of(order, payment_id)
    if payment.state != "pending":
        raise ServiceError(
            _("Only pending charges can be voided; refund a settled payment instead.")
        )
    result = gateways.get_gateway().void(payment.gateway_reference)
    if result.state != "voided":
        raise ServiceError(
            _(
                "The gateway refused the void: %(why)s",
                why=stored_message(result.message),
            )
        )
    payment.state = "voided"
    row = _transaction(
        order,
        actor,
        kind="void",
        state="settled",
        amount=payment.amount,
        method=payment.method,
        gateway_reference=result.reference,
        parent_id=payment.id,
        reason=(reason or "").strip(),
    )
    _after_money(order)
    log.info(
        "void %s of payment %s by %s", row.id, payment.id, getattr(actor, "email", None)
    )
    return row


def credit(order: Order, amount, reason: str, actor) -> Transaction:
    """Reduce the unpaid balance by a credit (price adjustment)."""
    if not (reason or "").strip():
        raise ServiceError(_("Give a reason for the credit."), "reason")
    order = lock_order(order.id)
    money = _amount(order, amount)
    summary = summarise(order)
    if summary.due.amount == 0:
        raise ServiceError(
            _("Nothing is unpaid on this order; refund a payment instead.")
        )
    _payable(order, summary, money)
    row = _transaction(
        order,
        actor,
        kind="credit",
        state="settled",
        amount=money.amount,
        method="credit",
        reason=reason.strip(),
    )
    _after_money(order)
    log.info(
        "credit %s of %s on order %s by %s",
        row.id,
        money,
        order.id,
        getattr(actor, "email", None),
    )
    return row


def product_choices():
    """Active products, by name, for the line pickers."""
    return list(
        db.session.scalars(
            select(Product).where(Product.active.is_(True)).order_by(Product.name)
        )
    )
