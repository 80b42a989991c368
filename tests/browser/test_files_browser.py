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
