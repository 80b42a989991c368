"""Ids past the database's integer range in the custom screens' query
strings name no row: never an error page."""

import pytest

HUGE = "2147483648"  # one past PostgreSQL's integer keys
HUGER = "99999999999999999999"  # past SQLite's 64-bit integers too


@pytest.mark.parametrize("number", [HUGE, HUGER])
@pytest.mark.parametrize(
    "url",
    [
        "/admin/my-tasks/?user_id={n}",
        "/admin/pipeline/?owner={n}",
        "/admin/forecast/?owner={n}",
        "/admin/mail/compose/?template_id={n}",
    ],
)
def test_a_huge_id_in_a_custom_screen_is_no_error(web, login_as, url, number):
    login_as("admin")
    response = web.get(url.format(n=number))
    assert response.status_code in (200, 302, 404), response.status_code
