"""The help under task and appointment times names the zone they are in."""

import pytest

from tests.record_helpers import sign_in


@pytest.mark.parametrize("kind", ["task", "appointment"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam"])
def test_time_fields_say_which_zone_they_are_in(app, web, db, make_contact, kind, zone):
    app.config["DEFAULT_TIMEZONE"] = zone
    user = sign_in(web, db)
    jane = make_contact(owner=user)

    page = web.get(f"/admin/{kind}/new/?contact_id={jane.id}").get_data(as_text=True)

    assert (
        f"In {zone}, the time zone of the whole CRM (users have no time zone of "
        "their own)." in page
    )
    assert "In your time zone." not in page
