"""The e-mail status model: who gets which mail, opt-in, double opt-in, S6."""

import re

import pytest
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.mail import services, statuses
from crm.mail.models import EmailAddressStatus, Message
from tests.mail_helpers import COMPOSE, compose, html_of, paths


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def jane(make_contact):
    return make_contact("Jane", "Doe", email="jane@example.com")


def _force(db, address, status):
    row = services.status_for(address)
    row.status = status
    db.session.commit()


def _send(jane, purpose):
    return services.send_message(
        contact_id=jane.id,
        address="jane@example.com",
        subject="Hi",
        html="<p>Hi</p>",
        purpose=purpose,
    )


ONE_TO_ONE_REFUSED = {"HARD_BOUNCE", "INVALID", "LOCKDOWN", "DEACTIVATED"}
MARKETING_ALLOWED = {"SINGLE_OPT_IN", "DOUBLE_OPT_IN", "UNENGAGED_MARKETABLE"}


@pytest.mark.parametrize("status", statuses.ALL)
@pytest.mark.parametrize("purpose", statuses.PURPOSES)
def test_each_status_receives_exactly_the_mail_the_model_allows(
    db, jane, smtp_server, status, purpose
):
    _force(db, "jane@example.com", status)
    allowed = (
        status in MARKETING_ALLOWED
        if purpose == "marketing"
        else status not in ONE_TO_ONE_REFUSED
    )
    if allowed:
        message = _send(jane, purpose)
        db.session.commit()
        assert message.state == "sent"
        smtp_server.wait_for(1)
    else:
        with pytest.raises(services.MailRefused, match="Not sent: jane@example.com"):
            _send(jane, purpose)
        db.session.rollback()
        assert smtp_server.messages == []
        assert db.session.scalar(select(Message)) is None


def test_a_new_address_is_non_marketable_until_opted_in(db, jane):
    with pytest.raises(services.MailRefused):
        _send(jane, "marketing")
    db.session.rollback()
    assert services.status_for("jane@example.com").status == "NON_MARKETABLE"


def test_status_belongs_to_the_address_shared_by_two_contacts(db, jane, make_contact):
    other = make_contact("Jim", "Doe", email="JANE@example.com ")
    services.opt_out("jane@example.com", None, "asked by phone")
    db.session.commit()
    assert db.session.scalars(select(EmailAddressStatus)).all() == [
        services.find_status("Jane@Example.com")
    ]
    from crm.activity.models import ActivityEvent

    contacts = set(
        db.session.scalars(
            select(ActivityEvent.contact_id).where(
                ActivityEvent.kind == "email_status_changed"
            )
        )
    )
    assert contacts == {jane.id, other.id}


@pytest.mark.parametrize("reason", ["", "   "])
def test_opting_in_needs_a_reason(db, jane, reason):
    with pytest.raises(ServiceError, match="needs a reason"):
        services.opt_in("jane@example.com", reason)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("NON_MARKETABLE", "SINGLE_OPT_IN"),
        ("UNENGAGED_MARKETABLE", "SINGLE_OPT_IN"),
        ("UNENGAGED_NON_MARKETABLE", "SINGLE_OPT_IN"),
        ("MANUAL", "SINGLE_OPT_IN"),
        ("HARD_BOUNCE", None),
        ("LIST_UNSUBSCRIBE", None),
        ("SPAM", None),
        ("DOUBLE_OPT_IN", None),
    ],
)
def test_a_manual_opt_in_moves_only_the_statuses_keap_allows(db, jane, before, after):
    _force(db, "jane@example.com", before)
    if after is None:
        with pytest.raises(ServiceError, match="cannot be opted in by hand"):
            services.opt_in("jane@example.com", "Asked at the fair")
        assert services.find_status("jane@example.com").status == before
        return
    services.opt_in("jane@example.com", "Asked at the fair", None)
    db.session.commit()
    row = services.find_status("jane@example.com")
    assert row.status == after
    change = row.changes[0]
    assert (change.old_status, change.new_status, change.reason, change.source) == (
        before,
        after,
        "Asked at the fair",
        "manual",
    )


def test_the_opt_in_screen_refuses_without_a_reason_and_records_with_one(
    db, web, login_as, make_contact
):
    user = login_as()
    make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    row = services.status_for("jane@example.com")
    db.session.commit()

    web.post(
        "/admin/email_status/change/",
        {"id": row.id, "operation": "opt_in", "reason": ""},
    )
    db.session.expire_all()
    assert services.find_status("jane@example.com").status == "NON_MARKETABLE"
    page = web.get(f"/admin/email_status/details/?id={row.id}")
    assert "needs a reason" in page.get_data(as_text=True)

    web.post(
        "/admin/email_status/change/",
        {"id": row.id, "operation": "opt_in", "reason": "Web form, 3 May"},
    )
    db.session.expire_all()
    row = services.find_status("jane@example.com")
    assert row.status == "SINGLE_OPT_IN" and row.changes[0].actor_id == user.id


def test_double_opt_in_by_the_confirmation_link(db, client, jane, smtp_server):
    services.send_confirmation(jane.id, "jane@example.com")
    db.session.commit()
    [received] = smtp_server.wait_for(1)
    [link] = paths(html_of(received), "confirm/")

    # Fetching the link (as a mail scanner would) changes nothing.
    page = client.get(link)
    assert page.status_code == 200
    assert services.find_status("jane@example.com").status == "NON_MARKETABLE"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(True))
    done = client.post(link, data={"csrf_token": token.group(1)})

    assert "subscription is confirmed" in done.get_data(as_text=True)
    db.session.expire_all()
    row = services.find_status("jane@example.com")
    assert row.status == "DOUBLE_OPT_IN"
    assert row.changes[0].source == "confirmation"


def test_a_confirmation_link_cannot_resubscribe_a_hard_bounce(db, client, jane):
    from crm.mail import tracking

    _force(db, "jane@example.com", "HARD_BOUNCE")
    with client.application.test_request_context():
        link = tracking.confirm_url("jane@example.com").split("localhost", 1)[1]
    page = client.get(link).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post(link, data={"csrf_token": token})
    assert "Nothing to confirm" in done.get_data(as_text=True)
    db.session.expire_all()
    assert services.find_status("jane@example.com").status == "HARD_BOUNCE"


def test_a_status_changed_between_compose_and_send_is_checked_at_send_time(
    db, web, login_as, make_contact, smtp_server
):
    user = login_as()
    jane = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    services.opt_in("jane@example.com", "Signed up", None)
    db.session.commit()
    page = web.get(COMPOSE, query_string={"contact_id": jane.id})
    assert "Unconfirmed (single opt-in)" in page.get_data(as_text=True)

    # She unsubscribes (another request) while the form is open.
    services.set_status(
        services.find_status("jane@example.com"), "MANUAL", source="unsubscribe_link"
    )
    db.session.commit()
    response = compose(web, jane, purpose="marketing", subject="Sale")

    assert "may not receive marketing e-mail" in response.get_data(as_text=True)
    assert smtp_server.messages == []
    assert db.session.scalar(select(Message)) is None


def test_the_status_screen_sends_the_confirmation_link(
    db, web, login_as, make_contact, smtp_server
):
    user = login_as()
    make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    row = services.status_for("jane@example.com")
    db.session.commit()

    web.post("/admin/email_status/change/", {"id": row.id, "operation": "confirm"})

    [received] = smtp_server.wait_for(1)
    assert received["To"] == "jane@example.com"
    assert paths(html_of(received), "confirm/")
