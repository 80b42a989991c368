"""Orders and commissions: the partners an order records, and the commission
that follows its money.

Orders carry a lead partner (who referred the buyer) and a sales partner
(who gets the sale's commission). The orders domain records a "payment" or
"refund" event on every money movement; a listener here earns the sales
partner's commission once the order is paid in full and reverses it in
proportion on each refund, in the same transaction.
"""

import logging
from decimal import Decimal, InvalidOperation

from sqlalchemy import ForeignKey
from sqlalchemy.orm import mapped_column, relationship

from crm.activity import services as activity
from crm.core.text import as_id
from crm.extensions import db
from crm.partners import services
from crm.sales import services as sales
from crm.sales.models import Order

log = logging.getLogger(__name__)

# The two partner columns of an order (added to the orders table by 0011).
Order.lead_partner_id = mapped_column(
    ForeignKey("referral_partners.id", ondelete="SET NULL"), nullable=True
)
Order.sales_partner_id = mapped_column(
    ForeignKey("referral_partners.id", ondelete="SET NULL"), nullable=True
)
Order.lead_partner = relationship(
    "ReferralPartner", foreign_keys=[Order.lead_partner_id]
)
Order.sales_partner = relationship(
    "ReferralPartner", foreign_keys=[Order.sales_partner_id]
)


def set_partners_from_referral(order: Order, referral) -> None:
    """Record the credited referral's partner as the order's lead and sales partner."""
    if referral is None:
        return
    order.lead_partner_id = order.lead_partner_id or referral.partner_id
    order.sales_partner_id = order.sales_partner_id or referral.partner_id
    db.session.flush()


def _order_of(event) -> Order | None:
    kind, _sep, raw = (event.target or "").partition(":")
    if kind != "order":
        return None
    order_id = as_id(raw)
    return db.session.get(Order, order_id) if order_id is not None else None


@activity.listen
def follow_order_money(event) -> None:
    """Earn on full payment, reverse on refund (called for every event)."""
    if event.kind not in ("payment", "refund"):
        return
    order = _order_of(event)
    if order is None or not (order.sales_partner_id or order.lead_partner_id):
        return
    summary = sales.summarise(order)
    total = summary.total.amount
    if event.kind == "payment":
        if (event.data or {}).get("state") == "settled" and summary.due.amount <= 0:
            services.earn_for_order(order, total)
        return
    try:
        refund = Decimal((event.data or {}).get("amount", ""))
    except InvalidOperation:
        log.warning("refund event %s has no readable amount", event.id)
        return
    services.reverse_for_refund(order, refund, total)
