"""The order page, receipt and activity feed speak the reader's language: method
and state labels, the gateway's stored messages, and the subjects of sales and
opportunity events worded from their data."""

import re
from decimal import Decimal

from flask_babel import force_locale
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.sales.models import Transaction
from tests.record_helpers import record_url
from tests.test_opportunities import make_opportunity, make_pipeline

pytest_plugins = ["tests.test_sales_support"]

D = Decimal
SPANISH = {"Accept-Language": "es"}
ROW = re.compile(r'<tr data-transaction-id="\d+"[^>]*>(.*?)</tr>', re.S)


def _cells(html):
    return [
        re.sub(r"<[^>]+>|[ \t\n]+", " ", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    ]


def _spanish_user(db, login_as, role="admin"):
    user = login_as(role)
    user.locale = "es"
    db.session.commit()
    return user


def test_gateway_messages_are_stored_in_english_and_shown_in_spanish(
    app, db, web, login_as, make_order
):
    _spanish_user(db, login_as)
    order = make_order([("service", "50.00", 1, None)])
    base = f"/admin/order/{order.id}"

    web.post(f"{base}/charge", {"amount": "10.00", "card_number": "4000000000000002"})
    web.post(f"{base}/charge", {"amount": "20.00", "card_number": "4242424242424242"})
    payment = db.session.scalars(
        select(Transaction).where(Transaction.state == "settled")
    ).one()
    web.post(f"{base}/refund/{payment.id}", {"amount": "12.50", "reason": "Roto"})

    stored = db.session.scalars(select(Transaction.message)).all()
    assert "The card was declined." in stored and "Approved." in stored
    page = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    rows = [_cells(row) for row in ROW.findall(page)]
    by_kind = {(row[1], row[2]): row for row in rows}
    declined = by_kind[("Pago", "Rechazado")]
    assert declined[5] == "La tarjeta fue rechazada."
    settled = by_kind[("Pago", "Liquidado")]
    assert settled[5] == "Aprobado."
    refund = by_kind[("Reembolso", "Liquidado")]
    assert refund[3] == "Tarjeta, por la pasarela de pago"
    assert refund[4] == "12,50\xa0US$"
    shown = " ".join(" ".join(row) for row in rows)
    assert "gateway" not in shown and "declined" not in shown


def test_sales_events_read_in_the_readers_language(
    db, web, login_as, make_order, make_contact, seller
):
    from crm.sales import services

    user = _spanish_user(db, login_as)
    contact = make_contact("Jane", "Buyer", owner=user)
    order = make_order(
        [("service", "30.00", 1, None)], contact=contact, title="Lámparas"
    )
    payment = services.record_payment(order, D("10"), "cash", seller)
    services.charge(order, D("15"), "4242424242424242", seller, "k-1")
    services.refund(order, payment.id, D("2.5"), "Roto", seller)
    db.session.commit()

    feed = web.get(record_url(contact.id, "activity")).get_data(as_text=True)

    assert f"Pedido n.º {order.invoice_number}: Lámparas" in feed
    assert "Pago de 10,00\xa0US$" in feed
    assert "Pago con tarjeta de 15,00\xa0US$" in feed
    assert "Reembolso de 2,50\xa0US$" in feed
    assert "10.00 USD" not in feed and "Payment of" not in feed


def test_an_event_without_the_data_reads_its_stored_subject_translated(app):
    from crm.activity import kinds

    old = ActivityEvent(kind="order_created", subject="Order #7: Lamps", data={})
    with force_locale("es"):
        assert kinds.subject_of(old) == "Pedido n.º 7: Lamps"


def test_a_stage_move_is_written_once_and_creation_reads_as_opened(
    db, web, login_as, make_contact
):
    from crm.opportunities import services

    user = _spanish_user(db, login_as)
    stages = make_pipeline(db)
    contact = make_contact(owner=user)
    deal = make_opportunity(db, contact, user, stages["demo"], title="20 lámparas")
    services.move(deal, stages["won"], user, reason="Price")
    db.session.commit()

    feed = web.get(record_url(contact.id, "activity")).get_data(as_text=True)
    lines = [
        " ".join(line.split()) for line in re.findall(r"<td>(.*?)</td>", feed, re.S)
    ]
    lines = [re.sub(r"<[^>]+>", "", line) for line in lines if "20 lámparas" in line]

    assert "20 lámparas: Demo → Won (Price)" in lines
    assert "20 lámparas: abierta en Demo" in lines
    assert all(line.count("→") <= 1 for line in lines)
    assert not any("nueva" in line or "new" in line for line in lines)


def test_the_spanish_receipt_shows_the_gateway_answer_and_money_in_spanish(client, db):
    from crm.sales.models import Product
    from tests.webform_helpers import BUYER, key_of, make_checkout

    product = Product(name="Lámpara", price=D("24.50"), currency="USD")
    db.session.add(product)
    db.session.commit()
    checkout = make_checkout(db, product)
    data = {**BUYER, "key": key_of(client, checkout), "quantity": "2"}

    placed = client.post(f"/buy/{checkout.slug}", data=data, headers=SPANISH)
    receipt = client.get(placed.headers["Location"], headers=SPANISH)

    page = receipt.get_data(as_text=True)
    assert "Visa •••• 4242 · Aprobado." in page
    assert "49,00\xa0US$" in page
    assert db.session.scalars(select(Transaction.message)).one() == "Approved."
