"""Issue 6's done-when in real Chromium, in one flow: an opportunity won with
its required reason, then an order for the same contact paid in part, refunded
in part, and its invoice PDF downloaded and read back."""

import pytest
from sqlalchemy import select

from tests.access_helpers import quick_user
from tests.browser.test_orders_browser import (
    add_lamp,
    create_order_from_tab,
    invoice_pdf_text,
    pay_and_refund,
)
from tests.browser.test_pipeline_browser import (
    create_opportunity_from_tab,
    win_with_reason,
)
from tests.test_opportunities import make_pipeline

pytestmark = pytest.mark.browser


def test_win_an_opportunity_then_sell_pay_refund_and_download_the_invoice(
    app, db, make_contact, live_server, page, sign_in
):
    from crm.activity.models import ActivityEvent
    from crm.opportunities.models import Opportunity
    from crm.sales.models import Order

    stages = make_pipeline(db)
    add_lamp(db)
    user = quick_user(db, "rep@example.com", name="Rita Rep")
    jane = make_contact("Jane", "Buyer", email="jane@example.com", owner=user)
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    sign_in(page, live_server, user.email)

    opportunity = create_opportunity_from_tab(
        page, live_server, db, jane, stages, "Office fit-out"
    )
    page.goto(f"{live_server}/admin/pipeline/")
    win_with_reason(page, opportunity, stages, "Price")

    db.session.expire_all()
    won = db.session.get(Opportunity, opportunity.id)
    assert won.stage_id == stages["won"].id and won.close_reason == "Price"
    assert [(m.to_stage.name, m.reason, m.moved_by_id) for m in won.moves] == [
        ("Demo", None, user.id),
        ("Won", "Price", user.id),
    ]

    create_order_from_tab(page, live_server, jane, "Office order")
    pay_and_refund(page)
    download, text = invoice_pdf_text(page)

    order = db.session.scalars(select(Order)).one()
    assert order.contact_id == jane.id
    assert download.suggested_filename == f"invoice-{order.invoice_number}.pdf"
    assert f"Invoice {order.invoice_number}" in text
    assert "Bill to: Jane Buyer" in text
    assert "Total $60.28" in text and "Paid $20.00" in text
    assert "Refunded $10.00" in text and "Due $40.28" in text

    # The whole story is on Jane's record, in order.
    kinds = db.session.scalars(
        select(ActivityEvent.kind)
        .where(
            ActivityEvent.contact_id == jane.id,
            ActivityEvent.kind.in_(
                ("opportunity_stage", "order_created", "payment", "refund")
            ),
        )
        .order_by(ActivityEvent.id)
    ).all()
    assert kinds[-3:] == ["order_created", "payment", "refund"]
    assert "opportunity_stage" in kinds[:-3]
    assert blocked == []
