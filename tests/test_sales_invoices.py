"""Invoice numbers are unique and never reused; the PDF says what the order says."""

import io
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from crm.sales import invoices, services
from crm.sales.models import InvoiceCounter, Order

pytest_plugins = ["tests.test_sales_support"]

D = Decimal


def test_invoice_numbers_are_never_reused_after_a_delete(db, make_order, seller):
    first = make_order([("service", "1.00", 1, None)])
    second = make_order([("service", "1.00", 1, None)])
    deleted_number = second.invoice_number
    services.delete_order(second, seller)
    db.session.commit()

    third = make_order([("service", "1.00", 1, None)])

    assert second.invoice_number == first.invoice_number + 1
    assert third.invoice_number == deleted_number + 1
    numbers = db.session.scalars(select(Order.invoice_number)).all()
    assert len(numbers) == len(set(numbers)) == 2
    counter = db.session.get(InvoiceCounter, services.INVOICE_COUNTER)
    assert counter.last_value == third.invoice_number


def test_an_invoice_number_taken_by_a_rolled_back_order_is_not_handed_out(
    db, make_order, make_contact, seller
):
    first = make_order([("service", "1.00", 1, None)])
    # Numbers come from one UPDATE ... RETURNING: a second order in the
    # same unit of work gets the next one.
    one = services.next_invoice_number()
    two = services.next_invoice_number()
    db.session.commit()

    assert (one, two) == (first.invoice_number + 1, first.invoice_number + 2)
    assert make_order([]).invoice_number == two + 1


def test_the_pdf_lists_number_contact_lines_and_totals(
    db, make_order, make_contact, make_product, seller
):
    jane = make_contact("Jane", "Buyer")
    pen = make_product("Fountain pen", "19.99", tax="8.25", sku="PEN")
    order = make_order(
        [
            ("product", None, 3, pen),
            ("shipping", "4.00", 1, None),
            ("discount", "2.00", 1, None),
        ],
        contact=jane,
        title="Pens",
    )
    services.record_payment(order, D("30.00"), "cash", seller)
    order.notes = "Gift wrap"
    order.terms = "Due in 14 days"
    db.session.commit()

    text = "\n".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(invoices.invoice_pdf(order))).pages
    )

    assert f"Invoice {order.invoice_number}" in text
    assert "Bill to: Jane Buyer" in text
    assert "Fountain pen" in text and "$19.99" in text and "$59.97" in text
    # 59.97 + 4.95 tax + 4.00 shipping - 2.00 discount = 66.92; 30 paid
    for label, amount in (
        ("Subtotal", "$59.97"),
        ("Shipping", "$4.00"),
        ("Discount", "-$2.00"),
        ("Tax", "$4.95"),
        ("Total", "$66.92"),
        ("Paid", "$30.00"),
        ("Due", "$36.92"),
    ):
        assert f"{label} {amount}" in " ".join(text.split()), label
    assert "Gift wrap" in text and "Due in 14 days" in text


def _billed_contact(db, make_contact):
    from crm.contacts.models import ContactAddress

    jane = make_contact("Jane", "Buyer", email="jane@example.com")
    jane.billing_addresses.append(
        ContactAddress(
            kind="billing",
            line1="Calle Mayor 1",
            locality="Madrid",
            postal_code="28013",
            country_code="ESP",
        )
    )
    db.session.commit()
    return jane


def test_the_invoice_shows_the_billing_address_and_the_seller(
    app, db, web, login_as, make_contact, make_order, monkeypatch
):
    monkeypatch.setitem(app.config, "COMPANY_NAME", "Lumen Desk Supplies")
    monkeypatch.setitem(
        app.config, "COMPANY_ADDRESS", "12 Harbour Street\nPortsmouth PO1 2AB\n"
    )
    login_as("admin")
    order = make_order(
        [("service", "10.00", 1, None)], contact=_billed_contact(db, make_contact)
    )

    page = web.get(f"/admin/order/{order.id}/invoice").get_data(as_text=True)
    pdf = web.get(f"/admin/order/{order.id}/invoice.pdf").data
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)

    assert "Calle Mayor 1<br>Madrid 28013<br>Spain" in " ".join(page.split())
    assert "<strong>Lumen Desk Supplies</strong> <br>12 Harbour Street" in " ".join(
        page.split()
    )
    for line in (
        "Lumen Desk Supplies",
        "12 Harbour Street",
        "Portsmouth PO1 2AB",
        "Bill to: Jane Buyer",
        "Calle Mayor 1",
        "Madrid 28013",
        "Spain",
    ):
        assert line in text.splitlines(), line


def test_an_invoice_without_seller_settings_shows_no_seller_block(
    app, db, web, login_as, make_contact, make_order, monkeypatch
):
    monkeypatch.setitem(app.config, "COMPANY_NAME", None)
    monkeypatch.setitem(app.config, "COMPANY_ADDRESS", None)
    user = login_as("admin")
    user.locale = "es"
    db.session.commit()
    order = make_order(
        [("service", "10.00", 1, None)], contact=_billed_contact(db, make_contact)
    )

    page = web.get(f"/admin/order/{order.id}/invoice").get_data(as_text=True)

    assert 'id="invoice-seller"' not in page
    assert "Madrid 28013<br>España" in " ".join(page.split())
