"""In real Chromium: a contact shared with a team appears, then disappears."""

import pytest

from tests.access_helpers import *  # noqa: F403  (fixtures)

pytestmark = pytest.mark.browser


def test_sharing_with_a_team_shows_and_hides_the_contact(
    db, restricted, make_team, make_contact, live_server, new_page, sign_in
):
    u1, u2 = restricted("u1@example.com"), restricted("u2@example.com")
    make_team("Sales", members=[u1])
    jane = make_contact("Jane", "Sharedoe", email="jane@example.com", owner=u2)
    record = f"{live_server}/admin/contact/details/?id={jane.id}"

    first, second = new_page(), new_page()
    sign_in(first, live_server, "u1@example.com")
    sign_in(second, live_server, "u2@example.com")

    # U1 searches for U2's contact and finds nothing.
    first.goto(f"{live_server}/admin/contact/?search=Sharedoe")
    assert "Jane Sharedoe" not in first.content()

    # U2 shares it with U1's team on the Access privileges tab.
    second.goto(f"{record}&tab=access")
    second.select_option("#share-principal", label="Team: Sales")
    second.select_option("#share-level", "view")
    second.click("#share-form button[type=submit]")
    second.wait_for_selector("#grant-list")
    assert "Team: Sales" in second.inner_text("#grant-list")

    # U1 finds it and opens it.
    first.goto(f"{live_server}/admin/contact/?search=Sharedoe")
    first.click("text=Jane Sharedoe")
    first.wait_for_selector("#record-name")
    assert "Jane Sharedoe" in first.inner_text("#record-name")

    # U2 removes the grant; U1 reloading the record gets "record not found".
    second.click("#grant-list button[type=submit]")
    second.wait_for_selector("#no-grants")
    response = first.reload()
    assert response.status == 404
    assert "record not found" in first.content().lower()
