"""No admin page carries inline event handlers: the CSP would refuse to run them.

Flask-Admin's stock templates drive some controls with ``onclick=`` and
``javascript:`` links; the site's Content-Security-Policy allows scripts from
this site only, so such a control does nothing in a browser. Every list and
create screen of every model view is rendered and searched for them.
"""

import re

from flask_admin.contrib.sqla import ModelView

# A javascript: link is refused too; "javascript:void(0)" does nothing
# either way (the active tab, the menu's dropdown toggles).
HANDLER = re.compile(r"""\son[a-z]+\s*=|javascript:(?!void\(0\))""", re.IGNORECASE)


def _pages(app):
    for view in app.extensions["admin"][0]._views:
        if not isinstance(view, ModelView):
            continue
        # Who may create is decided per request; a view that refuses redirects.
        yield f"{view.endpoint}.index_view"
        yield f"{view.endpoint}.create_view"


def test_no_admin_screen_has_an_inline_handler(app, web, login_as):
    from flask import url_for

    login_as("admin")
    with app.test_request_context():
        urls = [url_for(endpoint) for endpoint in _pages(app)]
    assert len(urls) > 40
    checked = 0
    for url in urls:
        response = web.get(url)
        if response.status_code != 200:
            assert response.status_code in (302, 403, 404), url
            continue
        page = response.get_data(as_text=True)
        found = HANDLER.search(page)
        assert found is None, (
            url,
            page[max(found.start() - 120, 0) : found.end() + 80],
        )
        checked += 1
    assert checked > 30


def test_inline_add_buttons_say_what_they_add(app, web, login_as):
    login_as("admin")
    page = web.get("/admin/sequence/new/").get_data(as_text=True)
    assert 'data-crm-add-inline="steps"' in page


def _segment(page, start, end):
    begin = page.index(start)
    return page[begin : page.index(end, begin)]


def test_the_menus_of_a_list_have_no_javascript_links(web, login_as, make_contact):
    """The main menu's dropdown toggles and the contact list's menus (filter,
    export, actions) are plain "#" links: a javascript: link is a CSP
    violation on every click. (The stock lists' active "List" tab keeps
    Flask-Admin's link; it is the page already open.)"""
    make_contact("Menu", "Holder")
    login_as("admin")
    for url in ("/admin/contact/", "/admin/tag/"):
        page = web.get(url).get_data(as_text=True)
        menu = _segment(page, 'class="nav navbar-nav mr-auto"', "</ul>\n")
        assert 'data-toggle="dropdown"' in menu, url
        assert "javascript:" not in menu, url
    page = web.get("/admin/contact/").get_data(as_text=True)
    tabs = _segment(page, 'class="nav nav-tabs"', "</ul>\n")
    assert "javascript:" not in tabs
    assert ">Export CSV</a>" in tabs and ">Export vCard</a>" in tabs
