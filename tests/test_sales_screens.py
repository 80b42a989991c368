"""The order screens over HTTP: create with lines, pay, refund, tab, delete."""

import io
import re
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from crm.sales.models import Order, Transaction
from tests.test_sales_support import amounts

pytest_plugins = ["tests.test_sales_support", "tests.access_helpers"]

D = Decimal


def _create(web, contact, product):
    return web.post(
        "/admin/order/new/",
        {
            "contact": str(contact.id),
            "title": "Spring order",
            "order_date": "2026-03-01",
            "currency": "USD",
            "status": "draft",
            "notes": "Leave at the door",
            "terms": "Net 30",
            "lines-0-kind": "product",
            "lines-0-product": str(product.id),
            "lines-0-description": "",
            "lines-0-quantity": "2",
            "lines-0-unit_price": "",
            "lines-1-kind": "shipping",
            "lines-1-product": "__None",
            "lines-1-description": "Courier",
            "lines-1-quantity": "1",
            "lines-1-unit_price": "5.50",
        },
    )


def _flashes(web):
    with web.client.session_transaction() as session:
        return [message for _category, message in session.pop("_flashes", [])]


def test_an_order_is_created_with_lines_and_paid_in_parts(
    db, web, login_as, make_contact, make_product
):
    user = login_as("user")
    jane = make_contact("Jane", "Buyer", owner=user)
    lamp = make_product("Desk lamp", "24.90", tax="10", sku="LAMP-1")

    response = _create(web, jane, lamp)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert _flashes(web) == ["Record was successfully created."]
    order = db.session.scalars(select(Order)).one()
    assert [(line.kind, line.description, line.unit_price) for line in order.lines] == [
        ("product", "Desk lamp", D("24.90")),
        ("shipping", "Courier", D("5.50")),
    ]
    # 2 x 24.90 = 49.80, tax 4.98, shipping 5.50
    assert amounts(order)["total"] == D("60.28")

    paid = web.post(
        f"/admin/order/{order.id}/payment", {"amount": "20.28", "method": "check"}
    )
    assert paid.status_code == 302
    assert _flashes(web) == ["Payment of $20.28 recorded."]
    too_much = web.post(
        f"/admin/order/{order.id}/payment", {"amount": "40.01", "method": "cash"}
    )
    assert too_much.status_code == 302
    assert _flashes(web) == ["$40.01 is more than the open balance of $40.00."]

    payment = db.session.scalars(select(Transaction)).one()
    refund = web.post(
        f"/admin/order/{order.id}/refund/{payment.id}",
        {"amount": "5.00", "reason": "Scratched"},
    )
    assert refund.status_code == 302
    assert _flashes(web) == ["Refund of $5.00 recorded."]
    db.session.expire_all()
    result = amounts(order)
    assert (result["paid"], result["refunded"], result["due"]) == (
        D("15.28"),
        D("5.00"),
        D("45.00"),
    )

    page = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert 'data-amount="due">$45.00<' in page
    assert "Scratched" in page


def test_the_orders_tab_shows_purchase_history_with_totals(
    db, web, login_as, make_contact, make_order
):
    user = login_as("user")
    jane = make_contact("Jane", "Buyer", owner=user)
    make_order([("service", "10.00", 1, None)], contact=jane, title="First")
    make_order([("service", "2.50", 3, None)], contact=jane, title="Second")

    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=orders").get_data(
        as_text=True
    )

    assert "First" in page and "Second" in page
    assert re.search(r'data-currency="USD">.*?\$17\.50', page, re.S)
    assert 'id="new-order"' in page


def test_deleting_an_order_with_transactions_is_refused_on_screen(
    db, web, login_as, make_contact, make_order, seller
):
    from crm.sales import services

    user = login_as("user")
    jane = make_contact("Jane", "Buyer", owner=user)
    order = make_order([("service", "10.00", 1, None)], contact=jane)
    services.record_payment(order, D("1.00"), "cash", seller)
    db.session.commit()

    response = web.post("/admin/order/delete/", {"id": str(order.id)})

    assert response.status_code == 302
    assert any("cannot be deleted" in m for m in _flashes(web))
    db.session.expire_all()
    assert db.session.get(Order, order.id) is not None


def test_the_invoice_downloads_as_a_pdf_attachment(
    db, web, login_as, make_contact, make_order, make_product
):
    user = login_as("user")
    jane = make_contact("Zoë", "Ångström", owner=user)
    chair = make_product("Oak chair", "120.00", tax="7.5")
    order = make_order(
        [("product", None, 2, chair), ("discount", "20.00", 1, None)],
        contact=jane,
        title="Dining set",
    )

    response = web.get(f"/admin/order/{order.id}/invoice.pdf")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="invoice-{order.invoice_number}.pdf"'
    )
    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages
    )
    assert f"Invoice {order.invoice_number}" in text
    assert "Zoë Ångström" in text
    assert "Oak chair" in text
    # 240.00 + 18.00 tax - 20.00 discount
    assert "$240.00" in text and "$18.00" in text and "$238.00" in text

    html = web.get(f"/admin/order/{order.id}/invoice").get_data(as_text=True)
    assert f"Invoice {order.invoice_number}" in html and "$238.00" in html


def test_a_user_cannot_reach_another_users_orders(
    db, web, login_as, make_contact, make_order, fast_user
):
    from tests.access_helpers import own_only

    user = login_as("user")
    own_only(db, user)
    other = fast_user("other@example.com")
    hidden = make_order(
        [("service", "10.00", 1, None)],
        contact=make_contact("Hidden", "Person", owner=other),
        title="Secret deal",
    )

    assert "Secret deal" not in web.get("/admin/order/").get_data(as_text=True)
    for url in (
        f"/admin/order/details/?id={hidden.id}",
        f"/admin/order/{hidden.id}/invoice",
        f"/admin/order/{hidden.id}/invoice.pdf",
    ):
        response = web.get(url)
        assert response.status_code in (302, 404), url
        assert "Secret deal" not in response.get_data(as_text=True)
    response = web.post(
        f"/admin/order/{hidden.id}/payment", {"amount": "1.00", "method": "cash"}
    )
    assert response.status_code == 404
    assert db.session.scalars(select(Transaction)).all() == []


def test_orders_area_own_scope_hides_orders_of_shared_contacts(
    db, web, login_as, make_contact, make_order, fast_user, grant
):
    from crm.access import services as access

    user = login_as("user")
    other = fast_user("other@example.com")
    shared = make_contact("Shared", "Person", owner=other)
    grant(shared, user=user, level="edit")
    make_order([("service", "10.00", 1, None)], contact=shared, title="Shared deal")
    mine = make_contact("Mine", "Person", owner=user)
    make_order([("service", "10.00", 1, None)], contact=mine, title="My deal")
    access.set_user_permissions(
        user, {"orders": {"view_scope": "own", "edit_scope": "own"}}
    )
    db.session.commit()

    page = web.get("/admin/order/").get_data(as_text=True)

    assert "My deal" in page
    assert "Shared deal" not in page


def test_a_contact_with_orders_is_not_deleted(
    db, web, login_as, make_contact, make_order
):
    from crm.contacts.models import Contact

    user = login_as("user")
    jane = make_contact("Jane", "Buyer", owner=user)
    make_order([("service", "10.00", 1, None)], contact=jane)

    response = web.post("/admin/contact/delete/", {"id": str(jane.id)})

    assert response.status_code == 302
    assert _flashes(web) == ["Jane Buyer has orders, so the contact cannot be deleted."]
    db.session.expire_all()
    assert db.session.get(Contact, jane.id) is not None


def test_card_charges_voids_and_credits_from_the_order_page(
    db, web, login_as, make_contact, make_order
):
    user = login_as("user")
    order = make_order(
        [("service", "100.00", 1, None)], contact=make_contact("Jane", "B", owner=user)
    )
    base = f"/admin/order/{order.id}"

    web.post(f"{base}/charge", {"amount": "10.00", "card_number": "4000000000000002"})
    assert _flashes(web) == ["The charge did not go through: The card was declined."]
    web.post(
        f"{base}/charge", {"amount": "10.00", "card_number": "4242 4242 4242 4241"}
    )
    assert _flashes(web) == ["That is not a valid card number."]
    web.post(f"{base}/charge", {"card_number": "4242424242424242"})
    assert _flashes(web) == ["Amount: This field is required."]

    form = {
        "amount": "25.00",
        "card_number": "4000 0000 0000 0077",
        "idempotency_key": "k1",
    }
    web.post(f"{base}/charge", form)
    assert _flashes(web) == ["Card charged: $25.00 (pending)."]
    web.post(f"{base}/charge", form)  # the same form submitted twice
    _flashes(web)
    pending = [
        t for t in db.session.scalars(select(Transaction)) if t.state == "pending"
    ]
    assert len(pending) == 1 and pending[0].card_last4 == "0077"

    web.post(f"{base}/void/{pending[0].id}", {"reason": "Wrong amount"})
    assert _flashes(web) == ["The pending charge was voided."]
    web.post(f"{base}/credit", {"amount": "100.01", "reason": "Goodwill"})
    assert _flashes(web) == ["$100.01 is more than the open balance of $100.00."]
    web.post(f"{base}/credit", {"amount": "100.00", "reason": "Goodwill"})
    assert _flashes(web) == ["Credit of $100.00 applied."]

    db.session.expire_all()
    assert amounts(order)["due"] == D("0.00")
    assert db.session.get(Order, order.id).status == "paid"


def test_a_view_only_share_shows_the_order_but_moves_no_money(
    db, web, login_as, make_contact, make_order, fast_user, grant
):
    from tests.access_helpers import own_only

    user = login_as("user")
    own_only(db, user)
    other = fast_user("other@example.com")
    jane = make_contact("Jane", "Shared", owner=other)
    grant(jane, user=user, level="view")
    order = make_order([("service", "10.00", 1, None)], contact=jane, title="Viewed")

    page = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert "Viewed" in page
    assert 'id="payment-form"' not in page and 'id="edit-order"' not in page

    response = web.post(
        f"/admin/order/{order.id}/payment", {"amount": "1.00", "method": "cash"}
    )
    assert response.status_code == 404
    assert db.session.scalars(select(Transaction)).all() == []

    created = web.post(
        "/admin/order/new/",
        {
            "contact": str(jane.id),
            "title": "Sneaky",
            "currency": "USD",
            "order_date": "2026-03-01",
            "status": "draft",
        },
    )
    assert created.status_code == 200
    assert "You may not add orders for this contact." in created.get_data(as_text=True)
    assert db.session.scalars(select(Order.title)).all() == ["Viewed"]


def test_script_in_titles_notes_and_lines_renders_as_text(
    db, web, login_as, make_contact, make_order
):
    user = login_as("user")
    jane = make_contact("<b onmouseover=x>Jane", "Doe", owner=user)
    order = make_order(
        [("service", "1.00", 1, None)], contact=jane, title="<script>alert(1)</script>"
    )
    order.notes = '<img src=x onerror="alert(2)">'
    order.lines[0].description = "<svg onload=alert(3)>"
    db.session.commit()

    pages = [
        web.get(url).get_data(as_text=True)
        for url in (
            f"/admin/order/details/?id={order.id}",
            f"/admin/order/{order.id}/invoice",
            f"/admin/contact/details/?id={jane.id}&tab=orders",
            "/admin/order/",
        )
    ]

    for page in pages:
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page and "<svg onload" not in page
        assert "<b onmouseover" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;svg onload=alert(3)&gt;" in pages[1]


def _product_form(**fields):
    form = {
        "name": "Lamp",
        "sku": "LAMP",
        "description": "",
        "price": "24.90",
        "currency": "usd",
        "tax_rate": "0",
        "active": "y",
    }
    form.update(fields)
    return form


def test_products_are_kept_by_administrators_with_clear_messages(
    db, web, login_as, make_product
):
    from crm.sales.models import Product

    login_as("admin")
    make_product("Old lamp", "1.00", sku="LAMP")

    cases = [
        (_product_form(), "The SKU LAMP already belongs to Old lamp."),
        (_product_form(sku="L2", currency="XYZ"), "XYZ is not a known currency code."),
        (
            _product_form(sku="L3", price="1.005"),
            "USD amounts have at most 2 decimals.",
        ),
        (_product_form(sku="L4", price="-1"), "Prices are never negative."),
    ]
    for form, message in cases:
        page = web.post("/admin/product/new/", form).get_data(as_text=True)
        assert message in page, message

    response = web.post("/admin/product/new/", _product_form(sku=" L5 "))
    assert response.status_code == 302
    product = db.session.scalars(select(Product).where(Product.sku == "L5")).one()
    assert (product.price, product.currency) == (D("24.90"), "USD")
    listing = web.get("/admin/product/").get_data(as_text=True)
    assert "$24.90" in listing


def test_ordinary_users_read_the_catalogue_but_do_not_change_it(
    db, web, login_as, make_product
):
    login_as("user")
    make_product("Lamp", "1.00")

    assert web.get("/admin/product/").status_code == 200
    response = web.post("/admin/product/new/", _product_form(sku="NEW"))
    assert response.status_code in (302, 403)
    from crm.sales.models import Product

    assert db.session.scalars(select(Product.name)).all() == ["Lamp"]


def test_the_order_page_and_invoice_speak_spanish(
    db, web, login_as, make_contact, make_order
):
    user = login_as("user")
    order = make_order(
        [("service", "1234.50", 1, None)], contact=make_contact("Ana", "B", owner=user)
    )
    spanish = {"Accept-Language": "es"}

    page = web.get(f"/admin/order/details/?id={order.id}", headers=spanish)
    pdf = web.get(f"/admin/order/{order.id}/invoice.pdf", headers=spanish)

    body = page.get_data(as_text=True)
    assert "Registrar un pago" in body and "Pendiente de pago" in body
    assert "1234,50\xa0US$" in body or "1.234,50\xa0US$" in body
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert f"Factura {order.invoice_number}" in text and "Facturar a: Ana B" in text
