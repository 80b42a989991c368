"""Two payments at once on PostgreSQL: the row lock lets only one through."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import event, text

from crm.core.errors import ServiceError

pytest_plugins = ["tests.test_sales_support"]

D = Decimal


def _blocked_on_a_lock(db, timeout=10.0) -> bool:
    """Wait until some session of this database waits for a row lock."""
    done = threading.Event()
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with db.engine.connect() as connection:
        for _ in range(int(timeout / 0.05)):
            if connection.execute(query).scalar():
                return True
            done.wait(0.05)
    return False


def test_two_concurrent_payments_cannot_overpay(app, db, make_order, seller):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL; SQLite has one writer")
    from crm.auth.models import User
    from crm.sales import services
    from crm.sales.models import Order

    order = make_order([("service", "100.00", 1, None)])
    order_id, seller_id = order.id, seller.id
    first_locked = threading.Event()
    second_waiting = threading.Event()
    results = {}

    def pay(name, hold):
        with app.app_context():
            actor = db.session.get(User, seller_id)
            target = db.session.get(Order, order_id)
            try:
                if hold:
                    services.lock_order(order_id)
                    first_locked.set()
                    assert second_waiting.wait(10)
                else:
                    assert first_locked.wait(10)
                row = services.record_payment(target, D("60.00"), "cash", actor)
                db.session.commit()
                results[name] = row.amount
            except ServiceError as exc:
                db.session.rollback()
                results[name] = exc.message
            finally:
                db.session.remove()

    first = threading.Thread(target=pay, args=("first", True))
    second = threading.Thread(target=pay, args=("second", False))
    first.start()
    second.start()
    assert first_locked.wait(10)
    # The second payment must be waiting for the first one's row lock.
    assert _blocked_on_a_lock(db)
    second_waiting.set()
    first.join(15)
    second.join(15)

    assert results["first"] == D("60.00")
    assert results["second"] == "$60.00 is more than the open balance of $40.00."
    db.session.expire_all()
    summary = services.summarise(db.session.get(Order, order_id))
    assert summary.paid.amount == D("60.00")
    assert summary.due.amount == D("40.00")


def test_a_busy_sqlite_database_gets_a_sentence_not_an_error_page(
    db, web, login_as, make_contact, make_order
):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL queues the second writer behind the row lock")
    import sqlite3

    user = login_as("user")
    order = make_order(
        [("service", "10.00", 1, None)], contact=make_contact("Jane", "B", owner=user)
    )
    order_id = order.id
    # The app waits 30 s for a busy database; this test's engine waits 0.2 s.
    event.listen(
        db.engine,
        "connect",
        lambda connection, record: connection.execute("PRAGMA busy_timeout = 200"),
    )
    db.session.remove()
    db.engine.dispose()
    other_writer = sqlite3.connect(db.engine.url.database, timeout=1)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        response = web.post(
            f"/admin/order/{order_id}/payment", {"amount": "5.00", "method": "cash"}
        )
    finally:
        other_writer.rollback()
        other_writer.close()

    assert response.status_code == 302
    with web.client.session_transaction() as session:
        flashes = [m for _c, m in session.pop("_flashes", [])]
    assert flashes == [
        "Someone else is changing this order right now; nothing was saved. "
        "Try again in a moment."
    ]
    from crm.sales.models import Transaction

    assert db.session.query(Transaction).count() == 0
