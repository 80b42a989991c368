"""The batch form of the one send function: the same rules, written in bulk."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from crm.activity.models import ActivityEvent
from crm.mail import services, statuses
from crm.mail.models import EmailAddressStatus, Message, MessageLink
from tests.mail_helpers import html_of, paths, text_of

KEY = "X-CRM-Idempotency-Key"


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def people(db, make_contact):
    """Three contacts; Ann and Cat opted in, Bob (in the middle) never was."""
    found = {}
    for name in ("ann", "bob", "cat"):
        found[name] = make_contact(name.title(), email=f"{name}@example.com")
    db.session.commit()
    services.opt_in("ann@example.com", "Signed up at the fair")
    services.opt_in("cat@example.com", "Signed up at the fair")
    db.session.commit()
    return found


def _item(contact, n=1, **fields):
    values = {
        "contact_id": contact.id,
        "address": contact.primary_email,
        "subject": f"News {n}",
        "html": f'<p>Read <a href="https://shop.example.com/{n}">this</a></p>',
        "purpose": statuses.MARKETING,
        "headers": {KEY: f"key-{contact.id}-{n}"},
    }
    return services.Outgoing(**{**values, **fields})


def _events(db, kind="email_sent"):
    return db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == kind)
    ).all()


def test_a_refusal_in_the_middle_of_a_batch_leaves_the_others_sent(
    db, people, smtp_server
):
    results = services.send_many([_item(people[n]) for n in ("ann", "bob", "cat")])
    db.session.commit()

    assert [r.state for r in results] == ["sent", "refused", "sent"]
    with pytest.raises(services.MailRefused) as single:
        services.send_message(
            contact_id=people["bob"].id,
            address="bob@example.com",
            subject="News",
            html="<p>x</p>",
            purpose=statuses.MARKETING,
        )
    assert results[1].error == str(single.value)
    db.session.rollback()

    received = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in received) == ["ann@example.com", "cat@example.com"]
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert [(m.address, m.state) for m in messages] == [
        ("ann@example.com", "sent"),
        ("cat@example.com", "sent"),
    ]
    assert all(m.sent_at is not None for m in messages)
    events = _events(db)
    assert sorted(e.contact_id for e in events) == [people["ann"].id, people["cat"].id]
    assert {e.target for e in events} == {f"message:{m.id}" for m in messages}
    sent_at = dict(
        db.session.execute(
            select(EmailAddressStatus.address, EmailAddressStatus.last_sent_at)
        ).all()
    )
    assert sent_at["ann@example.com"] and sent_at["cat@example.com"]
    assert sent_at["bob@example.com"] is None


def test_a_transport_failure_in_the_middle_fails_only_that_message(
    db, people, smtp_server
):
    services.opt_in("bob@example.com", "Asked at the desk")
    db.session.commit()
    smtp_server.refuse_for["bob@example.com"] = "554 5.7.1 Not from you"

    results = services.send_many([_item(people[n]) for n in ("ann", "bob", "cat")])
    db.session.commit()

    assert [r.state for r in results] == ["sent", "failed", "sent"]
    assert "554" in results[1].error and "Not from you" in results[1].error
    received = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in received) == ["ann@example.com", "cat@example.com"]
    failed = db.session.get(Message, results[1].id)
    assert failed.state == "failed" and "Not from you" in failed.error
    assert failed.sent_at is None
    assert sorted(e.contact_id for e in _events(db)) == sorted(
        [people["ann"].id, people["cat"].id]
    )


def test_batch_messages_carry_links_pixel_unsubscribe_and_one_click_header(
    db, people, smtp_server
):
    html = (
        '<p><a href="https://shop.example.com/a?x=1&amp;y=2">A</a> and '
        '<a href="https://blog.example.com/b">B</a></p>'
    )
    [result] = services.send_many(
        [_item(people["ann"], subject="Ofertas de año nuevo", html=html)]
    )
    db.session.commit()

    [received] = smtp_server.wait_for(1)
    assert received.defects == []
    assert received["Subject"] == "Ofertas de año nuevo"
    message = db.session.get(Message, result.id)
    assert received["Message-ID"] == message.message_id_header
    assert received[KEY] == f"key-{people['ann'].id}-1"
    assert received["X-CRM-Message"] == str(message.id)
    assert received["Date"] is not None
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Unsubscribe"].startswith("<http://localhost/m/u/")

    links = db.session.scalars(
        select(MessageLink)
        .where(MessageLink.message_id == message.id)
        .order_by(MessageLink.position)
    ).all()
    assert [(link.position, link.url) for link in links] == [
        (1, "https://shop.example.com/a?x=1&y=2"),
        (2, "https://blog.example.com/b"),
    ]
    body = html_of(received)
    assert len(paths(body, "c/")) == 2 and len(paths(body, "o/")) == 1
    assert "shop.example.com" not in body
    assert "Unsubscribe" in body and "Unsubscribe: http://localhost/m/u/" in text_of(
        received
    )
    assert message.html == body.rstrip("\n")


def test_a_reused_message_keeps_its_message_id_and_is_not_made_twice(
    db, people, smtp_server
):
    [prepared] = services.prepare_many([_item(people["ann"])])
    db.session.commit()

    [again] = services.send_many([_item(people["ann"], reuse_id=prepared.id)])
    db.session.commit()
    [received] = smtp_server.wait_for(1)
    assert again.id == prepared.id
    assert received["Message-ID"] == prepared.message_id_header
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1

    # Once it went out, reusing it sends nothing more.
    [third] = services.send_many([_item(people["ann"], reuse_id=prepared.id)])
    db.session.commit()
    assert third.state == "sent" and len(smtp_server.messages) == 1
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_consent_withdrawn_after_preparing_is_seen_when_sending(
    db, people, smtp_server
):
    prepared = services.prepare_many([_item(people["ann"]), _item(people["cat"])])
    db.session.commit()
    services.opt_out("cat@example.com", reason="asked by phone")
    db.session.commit()

    services.deliver_many(prepared, durable=True)
    db.session.commit()

    assert [p.state for p in prepared] == ["sent", "refused"]
    assert "cat@example.com" in prepared[1].error
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["ann@example.com"]
    assert db.session.get(Message, prepared[1].id) is None
    assert len(smtp_server.messages) == 1


def test_durable_marks_are_committed_as_each_message_is_accepted(
    db, people, smtp_server
):
    prepared = services.prepare_many([_item(people["ann"]), _item(people["cat"])])
    db.session.commit()

    services.deliver_many(prepared, durable=True)
    # The batch's own transaction is lost, as when its worker is killed.
    db.session.rollback()

    states = db.session.execute(select(Message.state, Message.sent_at)).all()
    assert [state for state, _at in states] == ["sent", "sent"]
    assert all(at is not None for _state, at in states)
    assert _events(db) == []


def test_an_opt_out_waits_while_the_batch_sends_on_postgresql(
    app, db, people, smtp_server, monkeypatch
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite holds one writer")
    from crm.mail import transport

    prepared = services.prepare_many([_item(people["ann"]), _item(people["cat"])])
    db.session.commit()
    opt_out = text(
        "UPDATE email_address_statuses SET status = 'MANUAL' "
        "WHERE address = 'cat@example.com'"
    )
    tried = []
    deliver_bytes = transport.deliver_bytes

    def opt_out_meanwhile(sender, recipients, data):
        # While Ann's message is being sent, Cat tries to opt out.
        if recipients == ["ann@example.com"]:
            with db.engine.connect() as other:
                other.execute(text("SET lock_timeout = '300ms'"))
                try:
                    other.execute(opt_out)
                    tried.append("changed")
                except OperationalError as exc:
                    tried.append(str(exc.orig).splitlines()[0])
                other.rollback()
        deliver_bytes(sender, recipients, data)

    monkeypatch.setattr(transport, "deliver_bytes", opt_out_meanwhile)
    services.deliver_many(prepared, durable=True)
    db.session.commit()

    assert tried == ["canceling statement due to lock timeout"]
    assert [p.state for p in prepared] == ["sent", "sent"]
    assert len(smtp_server.wait_for(2)) == 2
    with db.engine.connect() as other:
        other.execute(opt_out)
        other.commit()


def test_a_header_the_direct_builder_cannot_write_goes_through_email_message(
    db, people, smtp_server
):
    headers = {KEY: "key-café", "X-Campaign": "Año nuevo"}
    [result] = services.send_many([_item(people["ann"], headers=headers)])
    db.session.commit()

    [received] = smtp_server.wait_for(1)
    assert result.state == "sent" and received.defects == []
    assert received[KEY] == "key-café" and received["X-Campaign"] == "Año nuevo"
    assert received["Message-ID"] == result.message_id_header
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


class _BusyCursor:
    """A driver cursor whose sent marks fail as a busy or lost database does."""

    def __init__(self, cursor, error):
        self.cursor, self.error = cursor, error

    def execute(self, statement, *args, **kwargs):
        if statement.startswith("UPDATE mail_messages"):
            raise self.error
        return self.cursor.execute(statement, *args, **kwargs)

    def close(self):
        self.cursor.close()


def test_a_failing_sent_mark_raises_sqlalchemys_error_and_frees_its_connection(
    db, people, smtp_server, monkeypatch
):
    prepared = services.prepare_many([_item(people["ann"])])
    db.session.commit()
    driver = db.engine.dialect.loaded_dbapi
    real_init = services._SentMarker.__init__
    connections = []

    def busy(marker, durable):
        real_init(marker, durable)
        marker.cursor = _BusyCursor(marker.cursor, driver.OperationalError("busy"))
        if marker.connection is not None:
            connections.append(marker.connection.driver_connection)

    monkeypatch.setattr(services._SentMarker, "__init__", busy)
    with pytest.raises(OperationalError):
        services.deliver_many(prepared, durable=True)
    db.session.rollback()

    # The message went out and stays queued: the run's next attempt sends it.
    assert len(smtp_server.wait_for(1)) == 1
    assert db.session.get(Message, prepared[0].id).state == "queued"
    if db.engine.dialect.name == "postgresql":
        # Its own connection went back to the pool, open and out of autocommit.
        [connection] = connections
        assert not connection.closed and connection.autocommit is False


def test_a_sent_mark_whose_connection_is_lost_raises_sqlalchemys_error(
    db, people, smtp_server, monkeypatch
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the marks have a connection of their own on PostgreSQL only")
    prepared = services.prepare_many([_item(people["ann"]), _item(people["cat"])])
    db.session.commit()
    real_init = services._SentMarker.__init__
    connections = []

    def lost(marker, durable):
        real_init(marker, durable)
        connections.append(marker.connection)
        pid = marker.connection.driver_connection.info.backend_pid
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    monkeypatch.setattr(services._SentMarker, "__init__", lost)
    # The server ended the marks' connection: the worker sees SQLAlchemy's
    # OperationalError (its chunk goes back to the queue), not the driver's.
    with pytest.raises(OperationalError):
        services.deliver_many(prepared, durable=True)
    db.session.rollback()

    assert len(smtp_server.wait_for(1)) == 1
    assert db.session.get(Message, prepared[0].id).state == "queued"
    # The dead connection was dropped from the pool, not handed out again.
    [connection] = connections
    assert connection.dbapi_connection is None
