"""E-mailing the invoice from the order page through the one send function."""

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.mail.models import Message

pytest_plugins = ["tests.test_sales_support"]

D = Decimal


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


def _flashes(web):
    with web.client.session_transaction() as session:
        return [message for _category, message in session.pop("_flashes", [])]


def test_the_invoice_is_e_mailed_with_its_pdf(
    db, web, login_as, make_contact, make_order, smtp_server
):
    user = login_as("user")
    jane = make_contact("Jane", "Buyer", email="jane@example.com", owner=user)
    order = make_order([("service", "80.00", 1, None)], contact=jane, title="Repair")

    response = web.post(f"/admin/order/{order.id}/invoice/email")

    assert response.status_code == 302
    assert _flashes(web) == ["Invoice e-mailed to jane@example.com."]
    [received] = smtp_server.wait_for(1)
    assert received["To"] == "jane@example.com"
    assert received["Subject"] == f"Invoice {order.invoice_number}: Repair"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == f"invoice-{order.invoice_number}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert f"Invoice {order.invoice_number}" in text and "Total $80.00" in text

    message = db.session.scalar(select(Message))
    assert (message.state, message.purpose, message.contact_id) == (
        "sent",
        "one_to_one",
        jane.id,
    )
    assert [a.filename for a in message.attachments] == [
        f"invoice-{order.invoice_number}.pdf"
    ]
    assert db.session.scalar(
        select(ActivityEvent).where(ActivityEvent.kind == "email_sent")
    )
    db.session.expire_all()
    assert db.session.get(type(order), order.id).status == "sent"


def test_an_address_that_may_not_receive_mail_is_refused(
    db, web, login_as, make_contact, make_order, smtp_server
):
    from crm.mail import services as mail

    user = login_as("user")
    jane = make_contact("Jane", "Buyer", email="jane@example.com", owner=user)
    order = make_order([("service", "10.00", 1, None)], contact=jane)
    mail.set_status(mail.status_for("jane@example.com"), "HARD_BOUNCE", source="test")
    db.session.commit()

    web.post(f"/admin/order/{order.id}/invoice/email")

    [message] = _flashes(web)
    assert "jane@example.com" in message
    assert db.session.scalars(select(Message)).all() == []
    assert smtp_server.messages == []
    db.session.expire_all()
    assert db.session.get(type(order), order.id).status == "draft"


def test_a_contact_without_an_address_gets_a_sentence(
    db, web, login_as, make_contact, make_order
):
    user = login_as("user")
    order = make_order(
        [("service", "10.00", 1, None)], contact=make_contact("No", "Mail", owner=user)
    )

    web.post(f"/admin/order/{order.id}/invoice/email")

    assert _flashes(web) == ["No Mail has no e-mail address to send the invoice to."]


def test_the_invoice_is_e_mailed_from_the_record_tab(
    db, web, login_as, make_contact, make_order, smtp_server
):
    user = login_as("user")
    jane = make_contact("Jane", "Buyer", email="jane@example.com", owner=user)
    order = make_order([("service", "5.00", 1, None)], contact=jane, title="Tab")

    tab = web.get(f"/admin/contact/details/?id={jane.id}&tab=orders")
    action = f'action="/admin/order/{order.id}/invoice/email"'
    assert action in tab.get_data(as_text=True)
    web.post(f"/admin/order/{order.id}/invoice/email")

    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == f"Invoice {order.invoice_number}: Tab"
