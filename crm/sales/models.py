"""Products, orders with their lines, money transactions and invoice numbers."""

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db
from crm.sales.money import Money, line_tax

# Amounts keep three decimals so currencies with three minor units fit;
# every value is quantized to its currency's units before it is stored.
AMOUNT = Numeric(15, 3)
RATE = Numeric(7, 4)

ORDER_STATUSES = (
    ("draft", _l("Draft")),
    ("sent", _l("Sent")),
    ("paid", _l("Paid")),
)

LINE_KINDS = (
    ("product", _l("Product")),
    ("service", _l("Service")),
    ("shipping", _l("Shipping")),
    ("tax", _l("Tax")),
    ("discount", _l("Discount")),
)

TRANSACTION_KINDS = ("payment", "refund", "void", "credit")
TRANSACTION_STATES = ("pending", "settled", "declined", "failed", "voided")
#: A transaction's state inside a sentence ("Card charged: $5.00 (pending).").
STATE_WORDS = {
    "pending": _l("pending"),
    "settled": _l("settled"),
    "declined": _l("declined"),
    "failed": _l("failed"),
    "voided": _l("voided"),
}
#: A transaction's state as a column of the order page shows it.
STATE_LABELS = {
    "pending": lazy_pgettext("transaction state", "Pending"),
    "settled": lazy_pgettext("transaction state", "Settled"),
    "declined": lazy_pgettext("transaction state", "Declined"),
    "failed": lazy_pgettext("transaction state", "Failed"),
    "voided": lazy_pgettext("transaction state", "Voided"),
}
KIND_LABELS = {
    "payment": _l("Payment"),
    "refund": _l("Refund"),
    "void": _l("Void"),
    "credit": _l("Credit"),
}

# The manual payment types an account records without charging anything.
MANUAL_METHODS = (
    ("cash", _l("Cash")),
    ("check", _l("Check")),
    ("card_manual", _l("Credit card (recorded manually)")),
    ("money_order", _l("Money order")),
    ("adjustment", _l("Adjustment")),
)
GATEWAY_METHOD = "gateway"
#: How money moved, as the order page names it.
METHOD_LABELS = {
    **dict(MANUAL_METHODS),
    GATEWAY_METHOD: _l("Card, through the payment gateway"),
    "credit": _l("Credit"),
}


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Product(db.Model):
    """Something sold: a price in one currency and how it is taxed."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    taxable: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})" if self.sku else self.name


class Order(db.Model):
    """An order of one contact, in one currency, with its own invoice number."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", [s for s, _ in ORDER_STATUSES]), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    order_date: Mapped[date] = mapped_column(Date, default=date.today)
    notes: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[str] = mapped_column(Text, default="")
    invoice_number: Mapped[int] = mapped_column(Integer, unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    contact = relationship("Contact")
    created_by = relationship("User")
    lines = relationship(
        "OrderLine",
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="OrderLine.id",
    )
    transactions = relationship(
        "Transaction",
        back_populates="order",
        order_by="Transaction.id",
        passive_deletes="all",
    )

    def __str__(self) -> str:
        return f"#{self.invoice_number} {self.title}"


class OrderLine(db.Model):
    """One line: a product, a service, shipping, a tax amount or a discount."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(_in("kind", [k for k, _ in LINE_KINDS]), name="kind"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10), default="product")
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL")
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))

    order = relationship("Order", back_populates="lines")
    product = relationship("Product")

    @property
    def currency(self) -> str:
        return self.order.currency

    def net(self, currency: str) -> Money:
        """Quantity times unit price; negative for a discount line."""
        amount = Money(Decimal(self.unit_price or 0), currency) * (self.quantity or 0)
        return -amount if self.kind == "discount" else amount

    def tax(self, currency: str) -> Money:
        """This line's tax, rounded on the line; tax lines are tax themselves."""
        if self.kind in ("tax", "discount", "shipping"):
            return Money.zero(currency)
        return line_tax(self.net(currency), Decimal(self.tax_rate or 0))

    def __str__(self) -> str:
        return self.description or (str(self.product) if self.product else self.kind)


class Transaction(db.Model):
    """A movement of money on an order: payment, refund, void or credit."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(_in("kind", TRANSACTION_KINDS), name="kind"),
        CheckConstraint(_in("state", TRANSACTION_STATES), name="state"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # RESTRICT: an order that has transactions cannot disappear underneath them.
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20), default="")
    gateway_reference: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    message: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="RESTRICT")
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    order = relationship("Order", back_populates="transactions")
    parent = relationship("Transaction", remote_side=[id])
    actor = relationship("User")

    @property
    def money(self) -> Money:
        return Money(Decimal(self.amount), self.currency)

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.state})"


class InvoiceCounter(db.Model):
    """The last invoice number handed out; it only ever goes up."""

    __tablename__ = "invoice_counters"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_value}"
