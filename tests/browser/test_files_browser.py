"""In real Chromium: several files uploaded at once from the File box tab,
with the progress bar, under the page's strict CSP; removal asks first."""

import pytest
from sqlalchemy import select

from crm.files.models import ContactFile
from tests.access_helpers import quick_user

pytestmark = pytest.mark.browser


def test_files_upload_with_progress_and_removal_asks_first(
    app, db, make_contact, live_server, page, sign_in
):
    app.config["FILE_MAX_BYTES"] = 1000
    user = quick_user(db, "f@example.com", name="Fay")
    jane = make_contact("Jane", "Doe", owner=user)
    sign_in(page, live_server, user.email)
    blocked = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(f"{live_server}/admin/contact/details/?id={jane.id}&tab=files")
    assert "Up to 1000 B per file" in page.inner_text("#file-limits")

    # A file over the limit is refused in the page, before anything is sent.
    page.set_input_files(
        "#files",
        [
            {
                "name": "big.bin",
                "mimeType": "application/octet-stream",
                "buffer": b"x" * 1001,
            },
        ],
    )
    page.click("#upload-button")
    page.wait_for_selector("#upload-messages .alert-danger")
    assert "big.bin is too large" in page.inner_text("#upload-messages")

    page.set_input_files(
        "#files",
        [
            {"name": "a.txt", "mimeType": "text/plain", "buffer": b"first"},
            {"name": "b.html", "mimeType": "text/html", "buffer": b"<b>x</b>"},
        ],
    )
    with page.expect_navigation():
        page.click("#upload-button")
    page.wait_for_selector("#file-list tbody tr")
    names = page.locator("#file-list .file-name").all_inner_texts()
    assert sorted(names) == ["a.txt", "b.html"]
    db.session.expire_all()
    assert len(db.session.scalars(select(ContactFile)).all()) == 2

    # Removing asks; dismissing keeps the file.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#file-list .file-delete").first.click()
    assert page.locator("#file-list tbody tr").count() == 2
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("#file-list .file-delete").first.click()
    assert page.locator("#file-list tbody tr").count() == 1
    assert blocked == []


def test_upload_says_what_was_added_and_a_public_link_copies(
    app, db, make_contact, live_server, page, sign_in
):
    user = quick_user(db, "g@example.com", name="Gus")
    jane = make_contact("Jane", "Doe", owner=user)
    page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server
    )
    sign_in(page, live_server, user.email)
    blocked = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(f"{live_server}/admin/contact/details/?id={jane.id}&tab=files")
    page.set_input_files(
        "#files",
        [
            {"name": "a.txt", "mimeType": "text/plain", "buffer": b"first"},
            {"name": "b.txt", "mimeType": "text/plain", "buffer": b"second"},
        ],
    )
    with page.expect_navigation():
        page.click("#upload-button")
    page.wait_for_selector("#file-list tbody tr")
    assert "2 files added: a.txt, b.txt." in page.inner_text("body")

    with page.expect_navigation():
        page.locator("#file-list button", has_text="Make public").first.click()
    link = page.locator("#file-list a.file-public-link").first
    href = link.get_attribute("href")
    assert "/files/" in href and link.inner_text() == href

    page.locator("#file-list .file-copy-link").first.click()
    page.wait_for_selector(".file-copy-note")
    assert page.inner_text(".file-copy-note") == "Link copied."
    assert page.evaluate("navigator.clipboard.readText()") == href
    assert blocked == []
