"""Exact amounts of money: a Decimal with an ISO 4217 currency code.

Rounding: every amount is quantized to its currency's minor units (2 for EUR
and USD, 0 for JPY, 3 for KWD) with ROUND_HALF_UP, the rule people apply by
hand on a paper invoice, so an invoice can be checked with a calculator.
Tax is computed and rounded per line (see ``line_tax``); the order's tax is
the sum of the rounded line taxes, so the lines printed on an invoice always
add up to its total.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies
from flask_babel import gettext as _

from crm.core.errors import ServiceError
from crm.core.i18n import format_money

ROUNDING = ROUND_HALF_UP


class MoneyError(ServiceError):
    """An amount or currency that cannot be used."""


def check_currency(code: str) -> str:
    """The upper-case ISO 4217 code, or a MoneyError naming the bad value."""
    value = (code or "").strip().upper()
    if value not in _known_currencies():
        raise MoneyError(_("%(code)s is not a known currency code.", code=code or "?"))
    return value


_CURRENCIES: set[str] = set()


def _known_currencies() -> set[str]:
    if not _CURRENCIES:
        _CURRENCIES.update(list_currencies())
    return _CURRENCIES


def minor_units(currency: str) -> int:
    """How many decimals the currency has (2 for EUR, 0 for JPY)."""
    return get_currency_precision(currency)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's minor units."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exponent, rounding=ROUNDING)


def parse_amount(text, currency: str) -> Decimal:
    """A typed amount as an exact Decimal of the currency; refuses floats and junk.

    "12.5" and "12,50" both read as 12.50; more decimals than the currency
    has are refused rather than rounded silently.
    """
    if isinstance(text, float):
        raise TypeError("amounts are never floats")
    raw = str(text if text is not None else "").strip().replace(" ", "")
    if raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise MoneyError(_("%(text)s is not an amount.", text=raw or "?")) from None
    if not value.is_finite():
        raise MoneyError(_("%(text)s is not an amount.", text=raw))
    if value != quantize(value, currency):
        raise MoneyError(
            _(
                "%(currency)s amounts have at most %(n)s decimals.",
                currency=currency,
                n=minor_units(currency),
            )
        )
    return quantize(value, currency)


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency; arithmetic refuses mixed currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self):
        if isinstance(self.amount, float):
            raise TypeError("amounts are never floats")
        object.__setattr__(self, "currency", check_currency(self.currency))
        object.__setattr__(
            self, "amount", quantize(Decimal(self.amount), self.currency)
        )

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(Decimal(0), currency)

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(
                _(
                    "Amounts in %(a)s and %(b)s cannot be combined.",
                    a=self.currency,
                    b=other.currency,
                )
            )

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __mul__(self, factor) -> "Money":
        if isinstance(factor, float):
            raise TypeError("amounts are never multiplied by floats")
        return Money(self.amount * Decimal(factor), self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return self.amount != 0

    def format(self, locale: str | None = None) -> str:
        """The amount for display in ``locale`` ("€1,234.50", "1.234,50 €").

        Without a locale, the reader's (see ``crm.core.i18n.format_money``).
        """
        if locale is None:
            return format_money(self.amount, self.currency)
        return format_currency(self.amount, self.currency, locale=locale)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def total(amounts, currency: str) -> Money:
    """The sum of ``amounts`` (Money values of ``currency``)."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result


def line_tax(net: Money, rate_percent: Decimal) -> Money:
    """Tax of one line at ``rate_percent``, rounded half up on that line."""
    return Money(net.amount * Decimal(rate_percent) / 100, net.currency)
