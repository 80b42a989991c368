"""The rules of referral partners, referrals, attribution and commissions.

Services add and flush; the request, CLI command or caller commits once.
"""

import logging
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, select

from crm.activity import kinds
from crm.activity import services as activity
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.partners import notify, tracking
from crm.partners.models import (
    COOKIE,
    EARNED,
    FIRST,
    FIXED,
    INACTIVE,
    LATEST,
    MANUAL,
    PERCENT,
    PERMANENT,
    REVERSED,
    STATUSES,
    Commission,
    CommissionRule,
    PartnerSettings,
    Referral,
    ReferralPartner,
    TrackingDestination,
)

log = logging.getLogger(__name__)

CODE_MIN = 4
CODE_MAX = 40
_CODE_CHARS = re.compile(r"^[A-Za-z0-9_.-]+$")
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


KIND_LABELS = {
    COOKIE: _l("Tracking link"),
    MANUAL: _l("Manual"),
    PERMANENT: _l("Permanent"),
}


def _describe_referral(event):
    how = KIND_LABELS.get((event.data or {}).get("how"))
    if how is None:
        return None
    return Markup("{}: {}").format(_("How"), how)


kinds.register("referral", _l("Referral"), "referral", _describe_referral)


# Partners.
def check_code(raw) -> str:
    """The partner code ``raw`` stands for, or a ServiceError saying what is wrong.

    A code starts with a letter, has no spaces, is 4 to 40 characters long
    and uses letters, digits, dots, dashes and underscores (it is a URL part).
    """
    code = (raw or "").strip() if isinstance(raw, str) else ""
    if not code:
        raise ServiceError(_("Enter a partner code."), field="code")
    if any(ch.isspace() for ch in code):
        raise ServiceError(_("A partner code cannot contain spaces."), field="code")
    if not ("a" <= code[0].lower() <= "z"):
        raise ServiceError(_("A partner code must start with a letter."), field="code")
    if len(code) < CODE_MIN:
        raise ServiceError(
            _("A partner code needs at least %(n)s characters.", n=CODE_MIN),
            field="code",
        )
    if len(code) > CODE_MAX:
        raise ServiceError(
            _("A partner code can have at most %(n)s characters.", n=CODE_MAX),
            field="code",
        )
    if not _CODE_CHARS.match(code):
        raise ServiceError(
            _(
                "A partner code may only use letters, digits, dots, dashes and "
                "underscores."
            ),
            field="code",
        )
    return code


def find_by_code(code) -> ReferralPartner | None:
    """The partner whose code is ``code``, ignoring case."""
    if not isinstance(code, str) or not code:
        return None
    return db.session.scalar(
        select(ReferralPartner).where(ReferralPartner.code_key == code.lower())
    )


def partner_of_contact(contact_id) -> ReferralPartner | None:
    """The partner record of a contact, when the contact is a partner."""
    return db.session.scalar(
        select(ReferralPartner).where(ReferralPartner.contact_id == contact_id)
    )


def check_partner(partner: ReferralPartner) -> None:
    """Check a new or changed partner before it is saved (raises ServiceError)."""
    with db.session.no_autoflush:
        partner.code = check_code(partner.code)
        partner.code_key = partner.code.lower()
        _check_unique(partner)
        if partner.status not in STATUSES:
            raise ServiceError(_("Choose a status."), field="status")
        if partner.track_days is not None and partner.track_days < 1:
            raise ServiceError(
                _("The tracking window is a number of days, 1 or more."),
                field="track_days",
            )
        _check_parent(partner)


def _check_unique(partner) -> None:
    if partner.contact is None and partner.contact_id is None:
        raise ServiceError(_("Choose the contact who is the partner."), "contact")
    contact_id = partner.contact.id if partner.contact else partner.contact_id
    taken = db.session.scalar(
        select(ReferralPartner.id).where(
            ReferralPartner.code_key == partner.code_key,
            ReferralPartner.id != (partner.id or 0),
        )
    )
    if taken is not None:
        raise ServiceError(
            _("The partner code %(code)s is already taken.", code=partner.code),
            field="code",
        )
    other = db.session.scalar(
        select(ReferralPartner.id).where(
            ReferralPartner.contact_id == contact_id,
            ReferralPartner.id != (partner.id or 0),
        )
    )
    if other is not None:
        raise ServiceError(_("That contact is already a partner."), field="contact")


def _check_parent(partner) -> None:
    parent = partner.parent
    if parent is None:
        return
    if partner.id is not None and parent.id == partner.id:
        raise ServiceError(_("A partner cannot be its own parent."), field="parent")
    seen = set()
    node = parent
    while node is not None and node.id not in seen:
        if partner.id is not None and node.id == partner.id:
            raise ServiceError(
                _(
                    "%(parent)s is below this partner already; choosing it as the "
                    "parent would make a loop.",
                    parent=parent.code,
                ),
                field="parent",
            )
        seen.add(node.id)
        node = node.parent


def create_partner(contact, code, *, actor=None, **fields) -> ReferralPartner:
    """Make ``contact`` a referral partner with ``code``; the caller commits."""
    partner = ReferralPartner(contact=contact, code=code, **fields)
    partner.status = partner.status or INACTIVE
    partner.notify_on_lead = bool(partner.notify_on_lead)
    partner.notify_on_sale = bool(partner.notify_on_sale)
    check_partner(partner)
    db.session.add(partner)
    db.session.flush()
    log.info(
        "partner %s created for contact %s by %s",
        partner.code,
        contact.id,
        getattr(actor, "id", None),
    )
    return partner


# Settings and destinations.
def get_settings() -> PartnerSettings:
    """The attribution settings (the defaults when no row was stored)."""
    settings = db.session.get(PartnerSettings, 1)
    if settings is None:
        settings = PartnerSettings(id=1, credit=LATEST, use_history=True)
    return settings


def check_settings(settings: PartnerSettings) -> None:
    """Check settings before they are saved (raises ServiceError)."""
    if settings.credit not in (FIRST, LATEST):
        raise ServiceError(_("Choose which partner gets the credit."), "credit")
    url = (settings.landing_url or "").strip() or None
    settings.landing_url = url
    if url is not None and tracking.parse_url(url) is None:
        raise ServiceError(
            _("The default landing page must be a full http or https address."),
            field="landing_url",
        )


def check_destination(destination: TrackingDestination) -> None:
    """Check an allowed destination prefix (raises ServiceError)."""
    prefix = (destination.prefix or "").strip()
    parsed = tracking.parse_url(prefix)
    if parsed is None or parsed.query or parsed.fragment:
        raise ServiceError(
            _(
                "Enter a full http or https address such as "
                "https://www.example.com/shop, without a query."
            ),
            field="prefix",
        )
    destination.prefix = prefix


def allowed_prefixes() -> list[str]:
    """Every destination prefix the administrator allowed."""
    return list(db.session.scalars(select(TrackingDestination.prefix)))


def landing_for(raw_destination) -> str | None:
    """Where a tracking link sends its visitor: the destination when allowed,
    else the default landing page when that is allowed, else None."""
    prefixes = allowed_prefixes()
    target = tracking.allowed_destination(raw_destination, prefixes)
    if target is not None:
        return target
    landing = get_settings().landing_url
    return tracking.allowed_destination(landing, prefixes) if landing else None


# The cookie and attribution.
def expiry_of(partner, clicked_at):
    """When a click on the partner's link stops counting (None: never)."""
    if not partner.track_days:
        return None
    return clicked_at + timedelta(days=partner.track_days)


def partner_from_cookie(value, now=None):
    """(partner, click time) for a genuine, unexpired cookie of an active partner."""
    read = tracking.read_cookie_value(value)
    if read is None:
        return None
    partner_id, clicked_at = read
    partner = db.session.get(ReferralPartner, partner_id)
    if partner is None or not partner.is_active:
        return None
    now = now or utcnow()
    expires = expiry_of(partner, clicked_at)
    if clicked_at > now + timedelta(minutes=5) or (expires and now >= expires):
        return None
    return partner, clicked_at


def keeps_existing_cookie(value, now=None) -> bool:
    """Whether a new click must leave the visitor's cookie alone.

    With "first referring partner" credit, a genuine unexpired cookie keeps
    the first partner, so a later click on another link does not replace it.
    """
    return (
        get_settings().credit == FIRST and partner_from_cookie(value, now) is not None
    )


def referrals_of(contact_id) -> list[Referral]:
    """The contact's referrals, oldest first."""
    return list(
        db.session.scalars(
            select(Referral)
            .where(Referral.contact_id == contact_id)
            .order_by(Referral.referred_at, Referral.id)
        )
    )


def _credited(referrals, credit, now):
    active = [r for r in referrals if r.active_at(now) and r.partner.is_active]
    if not active:
        return None
    return active[0] if credit == FIRST else active[-1]


def attribute(contact_id, request_cookie_value, source, now=None) -> Referral | None:
    """Record the referral a visitor's cookie earns and return the credited one.

    Called when a visitor becomes or is identified as contact ``contact_id``
    (a form, a purchase). A genuine, unexpired cookie records a cookie
    referral (once per click). The referral returned carries the credit
    under the settings: the first or the latest active referral; without a
    cookie, the contact's referral history counts only when the settings say
    so. None when no partner gets the credit. The caller commits.
    """
    now = now or utcnow()
    settings = get_settings()
    found = partner_from_cookie(request_cookie_value, now)
    if found is None:
        if not settings.use_history:
            return None
        return _credited(referrals_of(contact_id), settings.credit, now)

    partner, clicked_at = found
    if partner.contact_id == contact_id:
        # A partner following its own link does not refer itself.
        if not settings.use_history:
            return None
        return _credited(referrals_of(contact_id), settings.credit, now)
    referral = _cookie_referral(contact_id, partner, clicked_at, source)
    if not settings.use_history:
        # Only the cookie counts; it already holds the right partner.
        return referral
    return _credited(referrals_of(contact_id), settings.credit, now) or referral


def attribute_from_request(contact_id, source, now=None) -> Referral | None:
    """``attribute`` with the referral cookie of the current request."""
    return attribute(contact_id, request.cookies.get(tracking.COOKIE_NAME), source, now)


def _cookie_referral(contact_id, partner, clicked_at, source) -> Referral:
    existing = db.session.scalar(
        select(Referral).where(
            Referral.contact_id == contact_id,
            Referral.partner_id == partner.id,
            Referral.kind == COOKIE,
            Referral.referred_at == clicked_at,
        )
    )
    if existing is not None:
        return existing
    referral = Referral(
        contact_id=contact_id,
        partner=partner,
        kind=COOKIE,
        referred_at=clicked_at,
        expires_at=expiry_of(partner, clicked_at),
        source=(source or "")[:100],
        description="",
    )
    return _add_referral(referral, actor=None)


def _add_referral(referral, actor) -> Referral:
    db.session.add(referral)
    db.session.flush()
    activity.record(
        referral.contact_id,
        "referral",
        subject=_("Referred by %(code)s", code=referral.partner.code),
        actor_id=getattr(actor, "id", None),
        ref=("referral", referral.id),
        target=f"partner:{referral.partner_id}",
        occurred_at=referral.referred_at,
        data={"how": referral.kind, "source": referral.source},
    )
    notify.lead(referral)
    log.info(
        "referral %s: contact %s by partner %s (%s) by %s",
        referral.id,
        referral.contact_id,
        referral.partner.code,
        referral.kind,
        getattr(actor, "id", None),
    )
    return referral


def add_manual_referral(
    contact, partner, *, actor=None, permanent=False, description="", now=None
) -> Referral:
    """Credit ``partner`` with ``contact`` by hand; the caller commits.

    A manual referral ends with the partner's tracking window; a permanent
    one never ends.
    """
    if partner is None:
        raise ServiceError(_("Choose a referral partner."), field="partner")
    if partner.contact_id == contact.id:
        raise ServiceError(_("A partner cannot refer itself."), field="partner")
    now = now or utcnow()
    referral = Referral(
        contact_id=contact.id,
        partner=partner,
        kind=PERMANENT if permanent else MANUAL,
        referred_at=now,
        expires_at=None if permanent else expiry_of(partner, now),
        source="manual",
        description=(description or "").strip()[:255],
        created_by_id=getattr(actor, "id", None),
    )
    return _add_referral(referral, actor)


def delete_partner_allowed(partner: ReferralPartner) -> None:
    """Refuse to delete a partner with commissions (they are payment history)."""
    paid = db.session.scalar(
        select(func.count(Commission.id)).where(Commission.partner_id == partner.id)
    )
    if paid:
        raise ServiceError(
            _(
                "%(code)s has commissions; set the partner inactive instead of "
                "deleting it.",
                code=partner.code,
            )
        )


def remove_referral(referral: Referral, *, actor=None) -> None:
    """Remove a referral made by hand; cookie referrals are history and stay."""
    if referral.kind == COOKIE:
        raise ServiceError(_("Referrals from a tracking link cannot be removed."))
    log.info(
        "referral %s of contact %s removed by %s",
        referral.id,
        referral.contact_id,
        getattr(actor, "id", None),
    )
    db.session.delete(referral)
    db.session.flush()


# Commissions.
def _decimal(value, field, message) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError(message, field=field) from None
    if not number.is_finite():
        raise ServiceError(message, field=field)
    return number


def check_rule(rule: CommissionRule) -> None:
    """Check a commission rule before it is saved (raises ServiceError)."""
    partner_id = rule.partner.id if rule.partner is not None else rule.partner_id
    rule.rule_key = f"partner:{partner_id}" if partner_id else "default"
    if rule.kind == PERCENT:
        if rule.percent is None:
            raise ServiceError(_("Enter the percentage of each sale."), "percent")
        percent = _decimal(rule.percent, "percent", _("Enter a percentage."))
        if not Decimal(0) <= percent <= Decimal(100):
            raise ServiceError(_("A percentage is between 0 and 100."), "percent")
        rule.percent, rule.amount, rule.currency = percent, None, None
    elif rule.kind == FIXED:
        if rule.amount is None:
            raise ServiceError(_("Enter the amount paid per sale."), "amount")
        amount = _decimal(rule.amount, "amount", _("Enter an amount."))
        if amount < 0 or amount != amount.quantize(CENT):
            raise ServiceError(
                _("An amount is 0 or more, with at most two decimals."), "amount"
            )
        currency = (rule.currency or "").strip().upper()
        if not _CURRENCY.match(currency):
            raise ServiceError(
                _("Enter a three-letter currency code such as USD."), "currency"
            )
        rule.amount, rule.currency, rule.percent = amount, currency, None
    else:
        raise ServiceError(_("Choose a percentage or a fixed amount."), "kind")
    with db.session.no_autoflush:
        taken = db.session.scalar(
            select(CommissionRule.id).where(
                CommissionRule.rule_key == rule.rule_key,
                CommissionRule.id != (rule.id or 0),
            )
        )
    if taken is not None:
        raise ServiceError(
            _("That partner already has a rule.")
            if partner_id
            else _("There is already a default rule."),
            field="partner",
        )


def rule_for(partner) -> CommissionRule | None:
    """The partner's own rule, else the default rule, else None."""
    for key in (f"partner:{partner.id}", "default"):
        rule = db.session.scalar(
            select(CommissionRule).where(CommissionRule.rule_key == key)
        )
        if rule is not None:
            return rule
    return None


def commission_amount(rule, sale_amount: Decimal, currency: str) -> Decimal | None:
    """What ``rule`` pays on a sale; None when a fixed amount's currency differs."""
    if rule.kind == PERCENT:
        return (sale_amount * rule.percent / Decimal(100)).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
    if rule.currency != currency:
        return None
    return rule.amount


def earn(order_id, partner_id, sale_amount, currency) -> Commission | None:
    """Record the commission ``partner_id`` earns on a paid sale, once per order.

    Returns the commission (the existing one when the order already paid
    this partner), or None when no rule applies. The caller commits.
    """
    if partner_id is None:
        return None
    sale = _decimal(sale_amount, "amount", _("Enter an amount."))
    partner = db.session.get(ReferralPartner, partner_id)
    if partner is None:
        return None
    key = f"{order_id}:{partner.id}"
    existing = db.session.scalar(select(Commission).where(Commission.earn_key == key))
    if existing is not None:
        return existing
    rule = rule_for(partner)
    if rule is None:
        return None
    amount = commission_amount(rule, sale, currency)
    if amount is None:
        log.warning(
            "order %s: rule %s pays %s, the sale is in %s; no commission",
            order_id,
            rule.id,
            rule.currency,
            currency,
        )
        return None
    commission = Commission(
        partner_id=partner.id,
        order_id=order_id,
        state=EARNED,
        amount=amount,
        currency=currency,
        basis=sale,
        earn_key=key,
        rule_id=rule.id,
    )
    db.session.add(commission)
    db.session.flush()
    log.info(
        "order %s: partner %s earned %s %s", order_id, partner.code, amount, currency
    )
    notify.sale(commission)
    return commission


def reverse(order_id, sale_amount, refund_amount) -> list[Commission]:
    """Reverse the order's commissions in proportion to a refund.

    ``sale_amount`` is the order's total and ``refund_amount`` this refund.
    Reversals add up over several refunds: once the refunds reach the total,
    every commission is reversed exactly, whatever was rounded before.
    Returns the reversal rows made. The caller commits.
    """
    sale = _decimal(sale_amount, "amount", _("Enter an amount."))
    refund = _decimal(refund_amount, "amount", _("Enter an amount."))
    if refund <= 0 or sale <= 0:
        return []
    made = []
    earned = db.session.scalars(
        select(Commission)
        .where(Commission.order_id == order_id, Commission.state == EARNED)
        .with_for_update()
    ).all()
    for commission in earned:
        reversals = db.session.scalars(
            select(Commission).where(Commission.reverses_id == commission.id)
        ).all()
        refunded = sum((r.basis for r in reversals), Decimal(0)) + refund
        reversed_before = -sum((r.amount for r in reversals), Decimal(0))
        if refunded >= sale:
            target = commission.amount
        else:
            target = (commission.amount * refunded / sale).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
        delta = min(target, commission.amount) - reversed_before
        if delta <= 0:
            continue
        row = Commission(
            partner_id=commission.partner_id,
            order_id=order_id,
            state=REVERSED,
            amount=-delta,
            currency=commission.currency,
            basis=refund,
            reverses_id=commission.id,
            rule_id=commission.rule_id,
        )
        db.session.add(row)
        made.append(row)
        log.info(
            "order %s: %s %s of commission %s reversed",
            order_id,
            delta,
            commission.currency,
            commission.id,
        )
    db.session.flush()
    return made


def earn_for_order(order, sale_amount=None) -> Commission | None:
    """The commission a paid order earns its sales partner (else lead partner).

    ``order`` needs ``id``, ``currency`` and ``sales_partner_id``
    (``lead_partner_id`` is used when no sales partner is set); the sale is
    ``sale_amount`` when given, else ``order.total``.
    """
    partner_id = getattr(order, "sales_partner_id", None) or getattr(
        order, "lead_partner_id", None
    )
    sale = order.total if sale_amount is None else sale_amount
    return earn(order.id, partner_id, sale, order.currency)


def reverse_for_refund(order, refund_amount, sale_amount=None) -> list[Commission]:
    """Reverse the order's commissions in proportion to ``refund_amount``.

    The sale is ``sale_amount`` when given, else ``order.total``.
    """
    sale = order.total if sale_amount is None else sale_amount
    return reverse(order.id, sale, refund_amount)


def summary_rows(partner_ids) -> list[dict]:
    """Per partner: referrals, orders, commission earned, reversed and net."""
    if not partner_ids:
        return []
    partners = db.session.scalars(
        select(ReferralPartner)
        .where(ReferralPartner.id.in_(partner_ids))
        .order_by(ReferralPartner.code_key)
    ).all()
    referrals = dict(
        db.session.execute(
            select(Referral.partner_id, func.count(Referral.id))
            .where(Referral.partner_id.in_(partner_ids))
            .group_by(Referral.partner_id)
        ).all()
    )
    money = {}
    rows = db.session.execute(
        select(
            Commission.partner_id,
            Commission.currency,
            Commission.state,
            func.sum(Commission.amount),
            func.count(func.distinct(Commission.order_id)),
        )
        .where(Commission.partner_id.in_(partner_ids))
        .group_by(Commission.partner_id, Commission.currency, Commission.state)
    )
    for partner_id, currency, state, total, orders in rows:
        entry = money.setdefault((partner_id, currency), {"orders": 0})
        entry[state] = Decimal(total or 0).quantize(CENT)
        if state == EARNED:
            entry["orders"] = orders
    result = []
    for partner in partners:
        currencies = sorted(c for (p, c) in money if p == partner.id)
        lines = []
        for currency in currencies:
            entry = money[(partner.id, currency)]
            earned = entry.get(EARNED, Decimal("0.00"))
            reversed_ = -entry.get(REVERSED, Decimal("0.00"))
            lines.append(
                {
                    "currency": currency,
                    "orders": entry["orders"],
                    "earned": earned,
                    "reversed": reversed_,
                    "net": earned - reversed_,
                }
            )
        result.append(
            {
                "partner": partner,
                "referrals": referrals.get(partner.id, 0),
                "money": lines,
            }
        )
    return result
