"""The Tasks tab's one dated history: notes, appointments, e-mails, web forms."""

from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import Markup
from sqlalchemy import event, insert

from tests.mailserver import smtp_server  # noqa: F401  (fixture)
from tests.record_helpers import record_url, sign_in

BASE = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
TOTAL = 10_000
PAGE = 25


def _rows(page):
    section = page.split('id="history"', 1)[1].split("</ol>", 1)[0]
    return section.count('class="history-item')


def _first_subject(page):
    section = page.split('id="history"', 1)[1]
    return section.split('class="history-subject">', 1)[1].split("<", 1)[0]


@pytest.fixture
def busy_contact(db, make_contact):
    """A contact with 10,000 history events, and others that must not show."""
    from crm.activity.models import ActivityEvent

    def make(owner):
        jane = make_contact(owner=owner)
        other = make_contact("John", "Roe", owner=owner)
        kinds = ("note_added", "appointment", "email_sent", "form_submitted")
        rows = [
            {
                "contact_id": jane.id,
                "kind": kinds[i % len(kinds)],
                "occurred_at": BASE + timedelta(minutes=i),
                "subject": f"Event {i:05d}",
            }
            for i in range(TOTAL)
        ]
        # Not history: task kinds, and another contact's events.
        rows.append(
            {
                "contact_id": jane.id,
                "kind": "task_created",
                "occurred_at": BASE + timedelta(days=400),
                "subject": "Task event",
            }
        )
        rows.append(
            {
                "contact_id": other.id,
                "kind": "note_added",
                "occurred_at": BASE + timedelta(days=400),
                "subject": "John's note",
            }
        )
        db.session.execute(insert(ActivityEvent), rows)
        db.session.commit()
        return jane

    return make


@pytest.mark.parametrize(
    ("page", "first"), [(1, TOTAL - 1), (2, TOTAL - 1 - PAGE), (400, PAGE - 1)]
)
def test_history_of_10000_items_reads_one_page(app, web, db, busy_contact, page, first):
    user = sign_in(web, db)
    jane = busy_contact(user)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "activity_events" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        response = web.get(record_url(jane.id, "tasks") + f"&page={page}")
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _rows(body) == PAGE
    assert _first_subject(body) == f"Event {first:05d}"
    assert "Task event" not in body and "John's note" not in body
    assert ('id="history-older"' in body) is (page < TOTAL // PAGE)
    assert ('id="history-newer"' in body) is (page > 1)
    # One bounded query of the feed, never a read of every row.
    feed = [s for s in statements if "FROM activity_events" in s]
    assert len(feed) == 1
    assert "LIMIT" in feed[0].upper()


def test_a_page_past_the_end_is_empty_not_an_error(web, db, make_contact):
    user = sign_in(web, db)
    jane = make_contact(owner=user)

    body = web.get(record_url(jane.id, "tasks") + "&page=999").get_data(as_text=True)

    assert 'id="no-history"' in body
    bad = web.get(record_url(jane.id, "tasks") + "&page=x")
    assert bad.status_code == 200
    assert 'id="no-history"' in bad.get_data(as_text=True)


def test_events_read_through_their_kinds_describe(web, db, make_contact, monkeypatch):
    """A mail domain's describe (opens, clicks) shows without this tab knowing it."""
    from crm.activity import kinds
    from crm.activity import services as activity

    def describe(evt):
        return Markup("<span class='opens'>Opened {} times</span>").format(
            evt.data["opens"]
        )

    if kinds.get("email_opened") is None:
        monkeypatch.setitem(
            kinds._kinds,
            "email_opened",
            kinds.Kind("email_opened", "E-mail opened", "email", describe),
        )
    else:  # the mail domain is installed: wrap its own kind
        real = kinds.get("email_opened")
        monkeypatch.setitem(
            kinds._kinds,
            "email_opened",
            kinds.Kind(real.key, real.label, real.group, describe),
        )
    user = sign_in(web, db)
    jane = make_contact(owner=user)
    activity.record(
        jane.id,
        "email_opened",
        subject="<b>Spring offer</b>",
        data={"opens": "<script>3</script>"},
    )
    db.session.commit()

    body = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)

    history = body.split('id="history"', 1)[1]
    assert "<span class='opens'>Opened &lt;script&gt;3&lt;/script&gt; times</span>" in (
        history
    )
    assert "&lt;b&gt;Spring offer&lt;/b&gt;" in history


def test_notes_and_appointments_show_in_one_history_newest_first(web, db, make_contact):
    from crm.tasks import services
    from crm.tasks.models import Appointment, Note

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    services.save_appointment(
        Appointment(
            contact_id=jane.id,
            title="Kick-off",
            starts_at=BASE,
            ends_at=BASE + timedelta(hours=1),
        ),
        user,
        is_new=True,
    )
    services.save_note(
        Note(contact_id=jane.id, title="Later note", body="<p>hi</p>"),
        user,
        is_new=True,
    )
    db.session.commit()

    body = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)

    history = body.split('id="history"', 1)[1]
    assert history.index("Later note") < history.index("Kick-off")
    assert _rows(body) == 2


def test_a_sent_and_opened_email_shows_its_opens_in_the_history(
    app,
    web,
    db,
    make_contact,
    smtp_server,  # noqa: F811
):
    from urllib.parse import urlsplit

    from crm.mail import services as mail
    from crm.mail import tracking

    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    user = sign_in(web, db)
    jane = make_contact(email="jane@example.com", owner=user)
    message = mail.send_message(
        contact_id=jane.id,
        address="jane@example.com",
        subject="Spring offer",
        html="<p>Hello Jane</p>",
        purpose="one_to_one",
        actor_id=user.id,
    )
    db.session.commit()
    smtp_server.wait_for(1)

    pixel = urlsplit(tracking.pixel_url(message.id)).path
    assert web.get(pixel).status_code == 200

    body = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    history = body.split('id="history"', 1)[1]
    sent = history.split('data-kind="email_sent"', 1)[1].split("</li>", 1)[0]
    assert "Spring offer" in sent
    assert "Opened once, on " in sent
