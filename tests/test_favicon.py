"""The site icon: served at /favicon.ico and linked from every page's head."""

import pytest

from tests.webform_helpers import make_form

ICONS = (
    '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">',
    '<link rel="icon" href="/favicon.ico" sizes="48x48">',
)


def test_favicon_ico_is_an_icon_under_the_site_policy(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO header
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_svg_icon_is_served(client):
    response = client.get("/static/favicon.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert b"<script" not in response.data


@pytest.mark.parametrize("where", ["login", "admin", "webform"])
def test_every_page_links_the_icon(client, db, login_as, where):
    if where == "login":
        url = "/login"
    elif where == "webform":
        url = f"/f/{make_form(db).slug}"
    else:
        login_as("user")
        url = "/admin/contact/"

    page = client.get(url).get_data(as_text=True)

    head = page.split("</head>")[0]
    for link in ICONS:
        assert link in head
