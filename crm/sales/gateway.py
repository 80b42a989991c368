"""The payment gateway interface, and a deterministic test gateway.

A gateway charges a card, refunds or voids a charge by its reference. The
built-in test gateway needs no merchant account; its answer depends on the
card number alone, so the flows can be tried and tested:

==================  ==========================================
card                result
==================  ==========================================
4242424242424242    approved and settled
4000000000000077    approved but left pending (can be voided)
4000000000000002    declined
4000000000000119    processing error
anything else       declined ("card not accepted") or invalid
==================  ==========================================

Card numbers never leave this module: callers keep the brand and last four.
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

SETTLED = "settled"
PENDING = "pending"
DECLINED = "declined"
FAILED = "failed"
VOIDED = "voided"


@dataclass(frozen=True)
class Result:
    state: str  # settled, pending, declined, failed (or voided for a void)
    reference: str | None
    message: str  # in the catalog's source language; shown via stored_message


def _said(message) -> str:
    """A gateway message as it is stored: in English, whoever's request it is.

    The screens show it in the reader's language with ``stored_message``.
    """
    with force_locale("en"):
        return str(message)


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str


def luhn_ok(number: str) -> bool:
    """Whether ``number`` passes the Luhn check every card number carries."""
    digits = [int(d) for d in number]
    checksum = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return checksum % 10 == 0


def clean_number(number: str) -> str | None:
    """The digits of a typed card number, or None when it cannot be one."""
    digits = "".join(ch for ch in (number or "") if ch not in " -")
    plain = digits.isascii() and digits.isdigit()  # "²" and "٤" are digits too
    if not plain or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        return None
    return digits


def describe_card(digits: str) -> Card:
    """Brand and last four digits: all that is ever kept of a card."""
    if digits.startswith("4"):
        brand = "Visa"
    elif digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        brand = "Mastercard"
    elif digits[:2] in {"34", "37"}:
        brand = "Amex"
    else:
        brand = "Card"
    return Card(brand, digits[-4:])


class Gateway:
    """What every payment gateway offers."""

    name = "gateway"

    def charge(self, amount: Decimal, currency: str, card: str, idempotency_key: str):
        raise NotImplementedError

    def refund(self, reference: str, amount: Decimal, currency: str) -> Result:
        raise NotImplementedError

    def void(self, reference: str) -> Result:
        raise NotImplementedError


class TestGateway(Gateway):
    """Answers from the card number alone; references derive from the key."""

    name = "test"
    __test__ = False  # not a test case, whatever its name says

    APPROVE = "4242424242424242"
    PENDING = "4000000000000077"
    DECLINE = "4000000000000002"
    ERROR = "4000000000000119"

    def _reference(self, prefix: str, *parts) -> str:
        digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
        return f"{prefix}_{digest[:20]}"

    def charge(self, amount, currency, card, idempotency_key) -> Result:
        reference = self._reference("ch", idempotency_key)
        if card == self.APPROVE:
            return Result(SETTLED, reference, _said(_l("Approved.")))
        if card == self.PENDING:
            return Result(PENDING, reference, _said(_l("Approved; settles later.")))
        if card == self.ERROR:
            return Result(
                FAILED, None, _said(_l("The payment processor had an error."))
            )
        if card == self.DECLINE:
            return Result(DECLINED, None, _said(_l("The card was declined.")))
        return Result(
            DECLINED, None, _said(_l("The test gateway does not accept this card."))
        )

    def refund(self, reference, amount, currency) -> Result:
        if not (reference or "").startswith("ch_"):
            return Result(
                FAILED, None, _said(_l("The gateway does not know this charge."))
            )
        return Result(
            SETTLED, self._reference("re", reference, amount), _said(_l("Refunded."))
        )

    def void(self, reference) -> Result:
        if not (reference or "").startswith("ch_"):
            return Result(
                FAILED, None, _said(_l("The gateway does not know this charge."))
            )
        return Result(VOIDED, self._reference("vo", reference), _said(_l("Voided.")))


GATEWAYS = {"test": TestGateway}


def get_gateway() -> Gateway:
    """The configured gateway (``SALES_GATEWAY``, the test gateway by default)."""
    name = current_app.config.get("SALES_GATEWAY", "test")
    try:
        return GATEWAYS[name]()
    except KeyError:
        raise RuntimeError(
            f"SALES_GATEWAY={name!r} is unknown; set it to one of {sorted(GATEWAYS)}"
        ) from None
