"""In real Chromium: a task and a note added from the Tasks tab, the task completed."""

import pytest

from tests.access_helpers import quick_user

pytestmark = pytest.mark.browser


def test_add_task_and_note_then_complete_the_task(
    db, make_contact, live_server, page, sign_in
):
    user = quick_user(db, "b@example.com", name="Bee")
    contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    sign_in(page, live_server, user.email)
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )

    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}&tab=tasks")
    page.click("#add-task")
    page.wait_for_selector("form.admin-form")
    page.fill("#title", "Call about the renewal")
    page.select_option("#priority", "critical")
    page.fill("#due_at", "2030-04-01T10:15")
    page.click("form.admin-form input[type=submit]")
    page.wait_for_selector("#pending-tasks")
    assert "Call about the renewal" in page.inner_text("#pending-tasks")

    page.click("#add-note")
    page.wait_for_selector("form.admin-form")
    page.select_option("#note_type", "call")
    page.fill("#title", "Spoke to Jane")
    page.fill("#body", "<p>Wants the <b>annual</b> plan</p><script>x()</script>")
    page.click("form.admin-form input[type=submit]")
    page.wait_for_selector("#history")
    history = page.inner_text("#history")
    assert "Spoke to Jane" in history and "Wants the annual plan" in history
    assert "x()" not in page.inner_html("#history")

    page.click("#pending-tasks .complete-task")
    page.wait_for_selector("#completed-tasks")
    assert "Call about the renewal" in page.inner_text("#completed-tasks")
    assert page.query_selector("#pending-tasks") is None
    assert blocked == []
