"""In real Chromium, the main path: sign in, import, search, open, edit, save."""

import re

import pytest

pytestmark = pytest.mark.browser

ERROR_TITLE = re.compile(r"^\d{3} · CRM$")


class Walk:
    """Watches a page for error answers, console errors and CSP violations."""

    def __init__(self, page):
        self.page = page
        self.problems = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append((page.url, str(error))))
        page.on("response", self._response)

    def _console(self, message):
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append((self.page.url, message.text))

    def _response(self, response):
        if response.request.resource_type == "document" and response.status >= 400:
            self.problems.append((response.url, f"answered {response.status}"))

    def unexpected(self):
        return list(self.problems)

    def settled(self, selector):
        """Wait for ``selector``, then fail if the page is an error page."""
        self.page.wait_for_selector(selector)
        title = self.page.title()
        assert not ERROR_TITLE.match(title), title
        assert "Traceback" not in self.page.content()


def test_admin_imports_finds_opens_edits_and_saves_a_contact(
    db, make_user, corpus, live_server, page, sign_in
):
    from crm.contacts.models import Contact

    admin = make_user("ana@example.com", is_admin=True, name="Ana Admin")
    walk = Walk(page)
    sign_in(page, live_server, admin.email)
    walk.settled("body")

    # Import contacts: upload, preview, import, summary.
    page.goto(f"{live_server}/admin/imports/")
    walk.settled("#upload-form")
    page.set_input_files(
        "#import-file", str(corpus / "crafted" / "keap-style-export.csv")
    )
    page.click("#upload-form button[type=submit]")
    walk.settled("#job-form")
    assert "Keap / Infusionsoft" in page.inner_text("#detected-preset")
    page.click("#import-button")
    walk.settled("#summary-line")
    summary = page.inner_text("#summary-line")
    assert summary == "created 12, updated 0, skipped 0, failed 0"

    # The list, searched by a fragment of one imported e-mail.
    page.click("#to-list")
    walk.settled("input[name=search]")
    page.fill("input[name=search]", "tanaka2@")
    page.press("input[name=search]", "Enter")
    page.wait_for_url(re.compile(r"search=tanaka2"))
    walk.settled("text=Lucía Tanaka")

    # Open the record, edit General, save.
    page.click("text=Lucía Tanaka")
    walk.settled("#record-name")
    assert page.inner_text("#record-name") == "Lucía Tanaka"
    page.click("#edit-tab")
    walk.settled("#save")
    page.fill("#job_title", "Head of Buying")
    page.fill("#phones-0-number", "+34 91 999 00 00")
    page.click("#save")
    walk.settled("#general-fields")

    assert "Contact saved." in page.content()
    general = page.inner_text("#general-fields")
    assert "Head of Buying" in general
    assert "+34 91 999 00 00" in general
    assert walk.unexpected() == []

    db.session.expire_all()
    lucia = db.session.scalar(
        db.select(Contact).where(Contact.primary_email == "lucia.tanaka2@example.com")
    )
    assert lucia.job_title == "Head of Buying"
    assert lucia.phones[0].number == "+34 91 999 00 00"


def test_contact_list_menus_run_under_the_csp(
    make_user, make_contact, live_server, page, sign_in
):
    admin = make_user("ana@example.com", is_admin=True)
    make_contact(email="jane@example.com")
    sign_in(page, live_server, admin.email)
    walk = Walk(page)

    page.goto(f"{live_server}/admin/contact/")
    walk.settled("#contact-count")
    page.click("text=Add Filter")
    page.click(".field-filters a.filter >> text=Country")
    assert (
        page.locator(".filter-op").count() >= 1
        or page.locator("#filter_form select, #filter_form input").count() >= 1
    )

    page.check("input.action-checkbox")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("text=With selected")
    page.click("[data-crm-action=delete]")
    page.wait_for_load_state()
    assert "jane@example.com" not in page.inner_text("table.model-list")
    assert walk.problems == []
