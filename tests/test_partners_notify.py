"""Partners who asked for it hear of a new referral and of a sale, by real SMTP;
a mail that cannot go out never undoes the referral or the commission."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.mail.models import Message
from crm.partners import services
from crm.partners.models import CommissionRule


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def paula(db, make_contact):
    partner = services.create_partner(
        make_contact("Paula", "Partner", email="paula@example.com"),
        "Paula1",
        status="active",
        notify_on_lead=True,
        notify_on_sale=True,
    )
    rule = CommissionRule(kind="percent", percent=Decimal("10"))
    services.check_rule(rule)
    db.session.add(rule)
    db.session.commit()
    return partner


def test_a_partner_hears_of_a_new_referral(db, make_contact, smtp_server, paula):
    services.add_manual_referral(make_contact("Vera", "Visitor"), paula)
    db.session.commit()
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "paula@example.com"
    assert message["Subject"] == "New referral for Paula1"
    sent = db.session.scalar(select(Message))
    assert (sent.contact_id, sent.state) == (paula.contact_id, "sent")


def test_a_partner_hears_of_a_sale_with_the_commission(db, smtp_server, paula):
    services.earn(1, paula.id, Decimal("45.00"), "USD")
    db.session.commit()
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "New sale for Paula1"
    assert "commission of $4.50." in message.get_body(("plain",)).get_content()


def test_no_notice_when_the_partner_did_not_ask(db, make_contact, smtp_server, paula):
    paula.notify_on_lead = paula.notify_on_sale = False
    db.session.commit()
    services.add_manual_referral(make_contact(), paula)
    services.earn(1, paula.id, Decimal("45.00"), "USD")
    db.session.commit()
    assert db.session.scalars(select(Message)).all() == []
    assert smtp_server.messages == []


def test_a_refusing_server_keeps_the_referral(db, make_contact, smtp_server, paula):
    smtp_server.refuse_with = "554 5.7.1 Rejected"
    visitor = make_contact()
    referral = services.add_manual_referral(visitor, paula)
    db.session.commit()
    assert [r.id for r in services.referrals_of(visitor.id)] == [referral.id]
    assert db.session.scalar(select(Message.state)) == "failed"


def test_a_partner_without_an_address_gets_nothing_and_keeps_its_commission(
    db, make_contact, smtp_server
):
    partner = services.create_partner(
        make_contact("No", "Mail"), "NoMail1", status="active", notify_on_sale=True
    )
    rule = CommissionRule(kind="fixed", amount=Decimal("2.00"), currency="USD")
    services.check_rule(rule)
    db.session.add(rule)
    commission = services.earn(1, partner.id, Decimal("45.00"), "USD")
    db.session.commit()
    assert commission.amount == Decimal("2.00")
    assert db.session.scalars(select(Message)).all() == []
