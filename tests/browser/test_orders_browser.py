"""In real Chromium: an order with two lines, a partial payment, a partial
refund, and the invoice PDF downloaded and read back."""

import io
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.access_helpers import quick_user

pytestmark = pytest.mark.browser


def add_lamp(db):
    """The product the order steps sell: a taxed desk lamp at $24.90."""
    from crm.sales.models import Product

    db.session.add(
        Product(
            name="Desk lamp",
            sku="LAMP",
            price=Decimal("24.90"),
            currency="USD",
            taxable=True,
            tax_rate=Decimal("10"),
        )
    )
    db.session.commit()


def create_order_from_tab(page, live_server, contact, title):
    """From the record's Orders tab: two lamps and $5.50 shipping ($60.28)."""
    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}&tab=orders")
    page.click("#new-order")
    page.wait_for_selector("#lines-button[data-wired]")
    page.fill("#title", title)
    page.click("#lines-button")
    page.select_option("#lines-0-kind", "product")
    page.select_option("#lines-0-product", label="Desk lamp (LAMP)", force=True)
    page.fill("#lines-0-quantity", "2")
    page.click("#lines-button")
    page.select_option("#lines-1-kind", "shipping")
    page.fill("#lines-1-description", "Courier")
    page.fill("#lines-1-quantity", "1")
    page.fill("#lines-1-unit_price", "5.50")
    page.click("input[type=submit][value=Save]")
    page.wait_for_selector("#contact-orders")

    page.click("#contact-orders a")
    page.wait_for_selector("#order-page")
    assert page.inner_text("[data-amount=total]") == "$60.28"


def pay_and_refund(page):
    """On the order page: pay $30.00 by check, then refund $10.00 of it."""
    page.fill("#payment-form #amount", "30.00")
    page.select_option("#payment-form #method", "check")
    page.click("#payment-form button[type=submit]")
    page.wait_for_selector("#order-transactions")
    assert "Payment of $30.00 recorded." in page.content()
    assert page.inner_text("[data-amount=due]") == "$30.28"

    page.fill(".refund-form input[name=amount]", "10.00")
    page.fill(".refund-form input[name=reason]", "One lamp returned")
    page.click(".refund-form button[type=submit]")
    page.wait_for_selector("[data-kind=refund]")
    assert page.inner_text("[data-amount=refunded]") == "$10.00"
    assert page.inner_text("[data-amount=due]") == "$40.28"


def invoice_pdf_text(page):
    """Download the order's invoice PDF; the download and its text in one line."""
    with page.expect_download() as download_info:
        page.click("#invoice-pdf")
    download = download_info.value
    data = Path(download.path()).read_bytes()
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split()
    )
    return download, text


def test_order_payment_refund_and_invoice_pdf(
    app, db, make_contact, live_server, page, sign_in
):
    from crm.sales.models import Order

    user = quick_user(db, "seller@example.com", name="Sam")
    jane = make_contact("Jane", "Buyer", email="jane@example.com", owner=user)
    add_lamp(db)
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    sign_in(page, live_server, user.email)

    create_order_from_tab(page, live_server, jane, "Office order")
    pay_and_refund(page)
    download, text = invoice_pdf_text(page)

    order = db.session.query(Order).one()
    assert download.suggested_filename == f"invoice-{order.invoice_number}.pdf"
    assert f"Invoice {order.invoice_number}" in text
    assert "Bill to: Jane Buyer" in text
    assert "Desk lamp" in text and "Courier" in text
    assert "Total $60.28" in text and "Paid $20.00" in text
    assert "Refunded $10.00" in text and "Due $40.28" in text
    assert blocked == []
