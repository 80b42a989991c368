"""Every model list answers odd page numbers with a page, never an error:
a negative page is the first, one past any list's end is empty."""

import pytest
from flask_admin.contrib.sqla import ModelView

from crm.core.admin import PAGE_BEYOND_ANY_LIST, page_number


def _lists(app):
    from flask import url_for

    with app.test_request_context():
        return [
            url_for(f"{view.endpoint}.index_view")
            for view in app.extensions["admin"][0]._views
            if isinstance(view, ModelView)
        ]


@pytest.mark.parametrize("page", ["-1", "-999", "99999999999999999999"])
def test_every_list_takes_an_odd_page_number(app, web, login_as, make_contact, page):
    make_contact("Page", "Holder")
    login_as("admin")
    urls = _lists(app)
    assert len(urls) > 40
    for url in urls:
        response = web.get(url, query_string={"page": page})
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        # The pager counts from the page read: no link to a negative page.
        for pager in response.get_data(as_text=True).split('class="pagination"')[1:]:
            assert "page=-" not in pager.split("</ul>", 1)[0], url


def test_a_negative_page_shows_the_first_rows(web, login_as, make_contact):
    contact = make_contact("First", "Page")
    login_as("admin")
    body = web.get("/admin/contact/", query_string={"page": "-3"}).get_data(
        as_text=True
    )
    assert f"/admin/contact/details/?id={contact.id}" in body


@pytest.mark.parametrize(
    "page, expected",
    [(None, 0), (0, 0), (-1, 0), (7, 7), (10**30, PAGE_BEYOND_ANY_LIST)],
)
def test_page_number(page, expected):
    assert page_number(page) == expected
