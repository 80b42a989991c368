"""Composing and sending from the record: SMTP, outbox, merge fields, files."""

import io

import pytest
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.mail.models import Message
from tests.mail_helpers import COMPOSE, compose, html_of, text_of


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def owner(login_as):
    return login_as(name="Olivia Owner")


@pytest.fixture
def jane(make_contact, owner):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=owner)


def test_compose_sends_through_smtp_and_records_the_message(
    db, web, jane, owner, smtp_server
):
    response = compose(web, jane, subject="Quote", body="<p>Your quote</p>")

    assert response.status_code == 302
    [received] = smtp_server.wait_for(1)
    assert received["To"] == "jane@example.com"
    assert received["From"] == "crm@example.com"
    assert received["Subject"] == "Quote"
    assert "Your quote" in text_of(received)
    message = db.session.scalar(select(Message))
    assert message.state == "sent" and message.contact_id == jane.id
    assert message.actor_id == owner.id
    assert received["X-CRM-Message"] == str(message.id)
    event = db.session.scalar(
        select(ActivityEvent).where(ActivityEvent.kind == "email_sent")
    )
    assert event.contact_id == jane.id and event.target == f"message:{message.id}"
    page = web.get(f"/admin/message/details/?id={message.id}")
    assert "Quote" in page.get_data(as_text=True)


def test_one_to_one_mail_has_no_unsubscribe_header(web, jane, smtp_server):
    compose(web, jane)
    [received] = smtp_server.wait_for(1)
    assert received["List-Unsubscribe"] is None


def test_the_compose_screen_offers_the_contacts_addresses_and_states_the_limits(
    db, web, jane
):
    from crm.contacts.models import ContactEmail

    jane.emails.append(
        ContactEmail(
            address="jane.work@example.com", normalized="jane.work@example.com", slot=2
        )
    )
    db.session.commit()
    page = web.get(COMPOSE, query_string={"contact_id": jane.id}).get_data(as_text=True)
    assert "jane@example.com" in page and "jane.work@example.com" in page
    assert "10 MB per file" in page and "20 MB per message" in page


def test_a_second_address_is_used_when_picked(db, web, jane, smtp_server):
    from crm.contacts.models import ContactEmail

    jane.emails.append(
        ContactEmail(
            address="jane.work@example.com", normalized="jane.work@example.com", slot=2
        )
    )
    db.session.commit()
    compose(web, jane, to=str(jane.emails[1].id))
    [received] = smtp_server.wait_for(1)
    assert received["To"] == "jane.work@example.com"


def test_an_address_of_another_contact_cannot_be_posted(
    db, web, jane, make_contact, owner, smtp_server
):
    other = make_contact("Other", "Person", email="other@example.com", owner=owner)
    response = compose(web, jane, to=str(other.emails[0].id))
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(Message)) is None
    assert smtp_server.messages == []


def test_view_only_users_cannot_open_or_post_the_compose_screen(
    db, web, make_user, make_contact, smtp_server
):
    from crm.access.models import ContactShare
    from tests.access_helpers import own_only

    someone = make_user()
    viewer = own_only(db, make_user("viewer@example.com"))
    jane = make_contact("Jane", "Doe", email="jane@example.com", owner=someone)
    db.session.add(ContactShare(contact_id=jane.id, user_id=viewer.id, level="view"))
    db.session.commit()
    web.login("viewer@example.com")

    assert web.get(COMPOSE, query_string={"contact_id": jane.id}).status_code == 404
    assert compose(web, jane).status_code == 404
    assert smtp_server.messages == []


def test_merge_fields_fill_contact_custom_owner_and_linked_values_escaped(
    db, web, jane, owner, make_contact, smtp_server
):
    from crm.customfields.models import (
        CustomField,
        CustomHeader,
        CustomTab,
        CustomValue,
    )
    from crm.links.models import ContactLink, LinkType

    tab = CustomTab(name="Extra")
    field = CustomField(
        header=CustomHeader(tab=tab, name="Facts"), label="Hobby", field_name="hobby"
    )
    db.session.add_all([tab, field])
    db.session.flush()
    db.session.add(CustomValue(contact_id=jane.id, field_id=field.id, value="chess"))
    jane.given_name = "<b>Jane</b>"
    spouse = make_contact("John", "Doe", email="john@example.com", owner=owner)
    db.session.add(
        ContactLink(
            contact1_id=jane.id,
            contact2_id=spouse.id,
            link_type=LinkType(name="Spouse", max_links=1),
        )
    )
    db.session.commit()

    compose(
        web,
        jane,
        subject="For ~Contact.FirstName~",
        body=(
            "<p>Dear {{ contact.given_name }}, ~Contact._hobby~ fan, "
            "from {{ owner.name }}; regards to {{ linked.given_name }}.</p>"
        ),
        cc=str(spouse.emails[0].id),
    )

    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "For <b>Jane</b>"
    html = html_of(received)
    assert "Dear &lt;b&gt;Jane&lt;/b&gt;, chess fan, from Olivia Owner" in html
    assert "regards to John." in html
    assert "<b>Jane</b>" not in html
    assert received["Cc"] == "john@example.com"
    assert "john@example.com" in smtp_server.envelopes[0].rcpt_tos


def test_an_unknown_merge_field_keeps_the_draft_and_names_the_field(
    db, web, jane, smtp_server
):
    response = compose(web, jane, body="<p>Hi {{ contact.shoe_size }}</p>")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Unknown merge field: shoe_size" in page
    assert "contact.shoe_size" in page  # the draft is still in the form
    assert db.session.scalar(select(Message)) is None
    assert smtp_server.messages == []


def test_scripts_in_the_body_are_removed_before_sending(web, jane, smtp_server):
    compose(
        web,
        jane,
        body='<p onclick="x()">Hi</p><script>alert(1)</script>'
        '<a href="javascript:alert(1)">x</a>',
    )
    [received] = smtp_server.wait_for(1)
    html = html_of(received)
    assert "<script" not in html and "onclick" not in html
    assert "javascript:" not in html


def test_attachments_are_sent_and_stored_under_generated_names(
    app, db, web, jane, smtp_server
):
    from pathlib import Path

    compose(
        web,
        jane,
        attachments=[
            (io.BytesIO(b"%PDF-1.4 quote"), "../../quote.pdf"),
            (io.BytesIO(b"plain words"), "notes.txt"),
        ],
    )
    [received] = smtp_server.wait_for(1)
    parts = {p.get_filename(): p.get_content() for p in received.iter_attachments()}
    assert parts == {"quote.pdf": b"%PDF-1.4 quote", "notes.txt": "plain words\n"} or (
        parts["quote.pdf"] == b"%PDF-1.4 quote" and "plain words" in parts["notes.txt"]
    )
    message = db.session.scalar(select(Message))
    stored = {a.filename: a for a in message.attachments}
    assert set(stored) == {"quote.pdf", "notes.txt"}
    folder = Path(app.config["UPLOAD_DIR"]) / "mail"
    for row in stored.values():
        assert row.stored_name != row.filename
        assert (folder / row.stored_name).is_file()


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([1025], "larger than 1 KB, the limit per file"),
        ([800, 800], "together are larger than 1 KB, the limit per message"),
    ],
)
def test_attachments_over_the_limits_are_refused_with_the_limit(
    app, db, web, jane, smtp_server, sizes, expected
):
    app.config["MAIL_ATTACHMENT_MAX_BYTES"] = 1024
    app.config["MAIL_ATTACHMENTS_MAX_BYTES"] = 1024
    files = [(io.BytesIO(b"x" * n), f"f{i}.bin") for i, n in enumerate(sizes)]
    response = compose(web, jane, attachments=files)
    assert response.status_code == 200
    assert expected in response.get_data(as_text=True)
    assert db.session.scalar(select(Message)) is None
    assert smtp_server.messages == []


def test_a_refusing_server_keeps_the_draft_and_says_why(db, web, jane, smtp_server):
    smtp_server.refuse_with = "554 5.7.1 Message rejected as spam"
    response = compose(web, jane, subject="Draft subject")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "refused the message: 554 5.7.1 Message rejected as spam" in page
    assert "Draft subject" in page
    message = db.session.scalar(select(Message))
    assert message.state == "failed" and "554" in message.error


def test_an_unreachable_server_is_reported_without_a_traceback(
    app, db, web, jane, smtp_server
):
    from tests.mailserver import _free_port

    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{_free_port()}"
    response = compose(web, jane)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "could not be reached" in page and "Traceback" not in page
    assert db.session.scalar(select(Message)).state == "failed"


def test_a_line_break_in_the_subject_cannot_add_a_header(db, web, jane, smtp_server):
    compose(web, jane, subject="Hi\r\nBcc: victim@example.net")
    [received] = smtp_server.wait_for(1)
    assert received["Bcc"] is None
    assert received["Subject"] == "Hi Bcc: victim@example.net"
    assert smtp_server.envelopes[0].rcpt_tos == ["jane@example.com"]


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ contact.__class__ }}",
        "{% for x in range(10**9) %}{% endfor %}",
        "{{ 1 / 0 }}",
    ],
)
def test_merge_fields_cannot_reach_python_internals(db, web, jane, smtp_server, body):
    response = compose(web, jane, body=f"<p>{body}</p>")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "merge field" in page
    assert db.session.scalar(select(Message)) is None
    assert smtp_server.messages == []
