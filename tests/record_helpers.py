"""Helpers for the record tab tests: read a rendered form as a browser would send it."""

from html.parser import HTMLParser

import pytest

from tests.access_helpers import quick_user


class _FormReader(HTMLParser):
    """Collects the successful controls of one <form> (by id)."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select = None
        self._select_value = None
        self._select_first = None
        self._textarea = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields[name] = attrs.get("value", "y")
            elif kind not in ("submit", "button", "file"):
                self.fields[name] = attrs.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_value, self._select_first = name, None, None
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self._select_value = value
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select:
            value = self._select_value
            self.fields[self._select] = (
                value if value is not None else (self._select_first or "")
            )
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields[self._textarea] = _drop_first_newline("".join(self._text))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def read_form(html: str, form_id: str = "tab-form") -> dict[str, str]:
    """The values a browser would post from the form, as rendered."""
    reader = _FormReader(form_id)
    reader.feed(html)
    if not reader.fields:
        pytest.fail(f"no form #{form_id} in the page")
    return reader.fields


def edit_url(tab: str, contact_id: int) -> str:
    return f"/admin/contact_{tab}/edit/?id={contact_id}"


def record_url(contact_id: int, tab: str = "general") -> str:
    return f"/admin/contact/details/?id={contact_id}&tab={tab}"


def flashes(web) -> list[str]:
    """The flashed messages waiting in the web client's session, taken out."""
    with web.client.session_transaction() as session:
        return [message for _category, message in session.pop("_flashes", [])]


def open_form(web, url: str) -> dict[str, str]:
    """GET an editor and return its current values."""
    response = web.get(url)
    assert response.status_code == 200, response.status_code
    return read_form(response.get_data(as_text=True))


def save(web, url: str, fields: dict, **changes):
    """POST the form with some values changed (None drops a value) and follow."""
    data = dict(fields)
    for name, value in changes.items():
        name = name.replace("__", "-")
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return web.post(url, data, follow_redirects=True)


def edit(web, tab: str, contact_id: int, **changes):
    """Open one tab's editor and save it with ``changes`` (``emails__0__address``)."""
    url = edit_url(tab, contact_id)
    return save(web, url, open_form(web, url), **changes)


def reload(db, model, pk):
    """A fresh copy of a row, as the database has it now."""
    db.session.expire_all()
    return db.session.get(model, pk)


def _drop_first_newline(text: str) -> str:
    # A browser drops the newline that starts a textarea's content.
    for start in ("\r\n", "\n"):
        if text.startswith(start):
            return text[len(start) :]
    return text


def sign_in(web, db, email="uma@example.com", **kwargs):
    """A new user (hashed password reused, for speed), signed in on ``web``."""
    user = quick_user(db, email, **kwargs)
    response = web.login(email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return user
