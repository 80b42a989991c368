"""The Orders tab of the contact record: purchase history with totals."""

from flask import render_template, url_for
from flask_login import current_user
from markupsafe import Markup

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.sales import services
from crm.sales.models import ORDER_STATUSES, Order
from crm.sales.money import Money


@tabs.renderer("orders")
def render_orders_tab(contact, tab_key):
    """The contact's visible orders with total, paid and due, and per-currency sums."""
    rows = []
    sums: dict[str, dict[str, Money]] = {}
    editable = {
        order.id for order in services.orders_of(contact, current_user, policy.EDIT)
    }
    orders = services.orders_of(contact, current_user)
    for order in orders:
        summary = services.summarise(order, order.transactions)
        rows.append((order, summary, order.id in editable))
        currency = sums.setdefault(
            order.currency,
            {k: Money.zero(order.currency) for k in ("total", "paid", "due")},
        )
        currency["total"] += summary.total
        currency["paid"] += summary.paid
        currency["due"] += summary.due
    can_create = (
        policy.allowed(current_user, Order, "create")
        and contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    )
    return_url = url_for("contact.details_view", id=contact.id, tab="orders")
    return Markup(
        render_template(
            "sales/tab.html",
            contact=contact,
            rows=rows,
            sums=sums,
            statuses=dict(ORDER_STATUSES),
            partners=services.visible_partners(orders, current_user),
            partner_label=services.partner_label,
            new_url=(
                url_for("order.create_view", contact_id=contact.id, url=return_url)
                if can_create
                else None
            ),
        )
    )
