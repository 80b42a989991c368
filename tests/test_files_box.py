"""The file box: uploads, limits, safe downloads, public links and deletion."""

import io

import pytest
from sqlalchemy import select

from crm.files import services
from crm.files.models import ContactFile
from tests.mail_helpers import compose

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def owner(login_as):
    return login_as(name="Olivia Owner")


@pytest.fixture
def jane(make_contact, owner):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=owner)


def upload(web, contact, *files, as_json=True):
    headers = {"Accept": "application/json"} if as_json else {}
    return web.post(
        f"/admin/filebox/{contact.id}/upload",
        data={"files": [(io.BytesIO(data), name) for name, data in files]},
        content_type="multipart/form-data",
        headers=headers,
    )


def stored_files(app):
    return sorted(p.name for p in services.files_dir().iterdir())


def rows(db):
    db.session.expire_all()
    return db.session.scalars(select(ContactFile).order_by(ContactFile.id)).all()


def test_several_files_upload_at_once_typed_from_their_bytes(app, db, web, jane):
    response = upload(
        web, jane, ("photo.txt", PNG), ("offer.pdf", PDF), ("notes.txt", b"hello")
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "kept": ["photo.txt", "offer.pdf", "notes.txt"],
        "refused": [],
    }
    kept = rows(db)
    assert [(f.name, f.content_type, f.size, f.source) for f in kept] == [
        ("photo.txt", "image/png", len(PNG), "upload"),
        ("offer.pdf", "application/pdf", len(PDF), "upload"),
        ("notes.txt", "text/plain", 5, "upload"),
    ]
    assert all(f.uploaded_by.email == web_user(db).email for f in kept)
    # Generated names only: the uploaded names never reach the disk.
    assert stored_files(app) == sorted(f.stored_name for f in kept)
    assert all(len(f.stored_name) == 32 for f in kept)
    assert (services.files_dir() / kept[0].stored_name).read_bytes() == PNG


def web_user(db):
    from crm.auth.models import User

    return db.session.scalar(select(User).where(User.name == "Olivia Owner"))


@pytest.mark.parametrize(
    ("name", "data"),
    [("evil.svg", SVG), ("note.html", HTML), ("offer.pdf", PDF), ("x.xml", b"<a/>")],
)
def test_active_content_is_served_as_an_inert_attachment(db, web, jane, name, data):
    upload(web, jane, (name, data))
    row = rows(db)[0]
    response = web.get(f"/admin/filebox/file/{row.id}/download")
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert name in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_an_image_keeps_its_type_but_is_still_an_attachment(db, web, jane):
    upload(web, jane, ("pixel.png", PNG))
    response = web.get(f"/admin/filebox/file/{rows(db)[0].id}/download")
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../app.cfg", "app.cfg"),
        ("..\\..\\x.txt", "x.txt"),
        ("/etc/passwd", "passwd"),
        ("re\x1bport\t.txt", "report .txt"),
        ("..", "file"),
        ("Jose\u0301 \u202eexe.txt", "José exe.txt"),
    ],
)
def test_path_parts_and_control_characters_leave_the_name(
    app, db, web, jane, uploaded, shown
):
    upload(web, jane, (uploaded, b"data"))
    row = rows(db)[0]
    assert row.name == shown
    assert stored_files(app) == [row.stored_name]
    response = web.get(f"/admin/filebox/file/{row.id}/download")
    disposition = response.headers["Content-Disposition"]
    assert (
        "\r" not in disposition and "\n" not in disposition and "/" not in disposition
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("re\x00port\x1b.txt\r\n", "report.txt"),
        ("a\r\nX-Evil: 1", "a X-Evil: 1"),
        ("", "file"),
        (None, "file"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_display_names_are_single_safe_lines(raw, shown):
    assert services.display_name(raw) == shown


def test_a_download_url_with_a_path_trick_is_not_found(db, web, jane):
    upload(web, jane, ("a.txt", b"data"))
    for path in (
        "/admin/filebox/file/..%2f..%2fcrm.sqlite/download",
        "/admin/filebox/file/1%2f..%2f2/download",
        "/files/..%2f..%2fcrm.sqlite",
    ):
        assert web.get(path).status_code == 404, path


def test_files_over_the_limits_are_refused_and_nothing_is_kept(app, db, web, jane):
    app.config["FILE_MAX_BYTES"] = 1000
    app.config["FILEBOX_MAX_BYTES"] = 1500

    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=files").get_data(
        as_text=True
    )
    assert "Up to 1000 B per file; this file box holds up to 1 KB (0 B used)." in page
    assert 'data-max-file="1000"' in page

    response = upload(web, jane, ("big.bin", b"x" * 1001))
    assert response.status_code == 422
    assert response.get_json()["refused"] == [
        "big.bin is too large (limit 1000 B per file); it was not kept."
    ]
    assert rows(db) == [] and stored_files(app) == []

    response = upload(web, jane, ("a.bin", b"x" * 900), ("b.bin", b"y" * 900))
    answer = response.get_json()
    assert answer["kept"] == ["a.bin"]
    assert answer["refused"] == [
        "b.bin does not fit in this file box (900 B of 1 KB used); it was not kept."
    ]
    assert [f.name for f in rows(db)] == ["a.bin"]
    assert stored_files(app) == [rows(db)[0].stored_name]


def test_an_empty_file_is_refused(app, db, web, jane):
    response = upload(web, jane, ("empty.txt", b""))
    assert response.get_json()["refused"] == ["empty.txt is empty; it was not kept."]
    assert rows(db) == [] and stored_files(app) == []


def test_an_upload_larger_than_the_whole_box_is_refused_without_a_broken_page(
    app, db, web, jane
):
    app.config["FILEBOX_MAX_BYTES"] = 1000
    response = upload(web, jane, ("huge.bin", b"x" * 200_000), as_json=False)
    assert response.status_code == 302
    with web.client.session_transaction() as session:
        flashes = [m for _c, m in session.get("_flashes", [])]
    assert flashes == [
        "huge.bin does not fit in this file box (0 B of 1000 B used); it was not kept."
    ]
    assert rows(db) == [] and stored_files(app) == []


def test_a_request_larger_than_any_limit_is_refused_before_it_is_read(
    app, db, web, jane
):
    from crm import create_app

    derived = create_app(
        {**app.config, "MAX_CONTENT_LENGTH": None, "FILEBOX_MAX_BYTES": 50 << 20}
    ).config["MAX_CONTENT_LENGTH"]
    assert derived == (50 << 20) + (1 << 20)

    app.config["MAX_CONTENT_LENGTH"] = 20_000
    response = upload(web, jane, ("huge.bin", b"x" * 50_000), as_json=False)
    assert response.status_code == 413
    assert "That upload is larger than the limit of 20 KB." in response.get_data(
        as_text=True
    )
    assert rows(db) == [] and stored_files(app) == []


def test_a_plain_form_post_flashes_what_was_kept(db, web, jane):
    response = upload(web, jane, ("a.txt", b"data"), as_json=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"id={jane.id}&tab=files")
    with web.client.session_transaction() as session:
        flashes = [m for _c, m in session.get("_flashes", [])]
    assert flashes == ["1 file added: a.txt."]


def flashed(web):
    with web.client.session_transaction() as session:
        return [(c, m) for c, m in session.get("_flashes", [])]


def test_an_upload_from_the_page_says_how_many_files_were_added(db, web, jane):
    response = upload(web, jane, ("a.txt", b"one"), ("b.txt", b"two"))
    assert response.status_code == 200
    assert flashed(web) == [("success", "2 files added: a.txt, b.txt.")]

    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=files")
    assert "2 files added: a.txt, b.txt." in page.get_data(as_text=True)


def test_an_upload_with_nothing_kept_leaves_its_messages_to_the_page(db, web, jane):
    response = upload(web, jane, ("empty.txt", b""))
    assert response.status_code == 422
    assert flashed(web) == []


def test_a_public_link_is_a_link_with_a_copy_button(db, web, jane):
    upload(web, jane, ("brochure.pdf", PDF))
    row = rows(db)[0]
    web.post(f"/admin/filebox/{jane.id}/public/{row.id}", data={"public": "1"})
    row = rows(db)[0]
    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=files").get_data(
        as_text=True
    )
    link = f"http://localhost/files/{row.public_token}"
    assert f'<a class="file-public-link" href="{link}"' in page
    assert f'data-copy="{link}"' in page
    assert "onclick" not in page


def test_a_file_written_in_a_rolled_back_transaction_leaves_no_bytes(app, db, jane):
    services.add_file(jane, name="draft.txt", stream=io.BytesIO(b"draft"))
    assert len(stored_files(app)) == 1
    db.session.rollback()
    assert stored_files(app) == []
    assert rows(db) == []


def test_a_private_file_of_a_hidden_contact_answers_like_a_missing_one(
    app, db, web, make_contact, make_user, owner
):
    other = make_user("u2@example.com")
    hidden = make_contact("Hidden", "Person", owner=other)
    row = services.add_file(hidden, name="secret.txt", stream=io.BytesIO(b"s3cret"))
    db.session.commit()

    from tests.access_helpers import own_only

    own_only(db, owner)
    hidden_answer = web.get(f"/admin/filebox/file/{row.id}/download")
    missing_answer = web.get(f"/admin/filebox/file/{row.id + 1000}/download")
    assert hidden_answer.status_code == missing_answer.status_code == 404
    assert b"s3cret" not in hidden_answer.data
    assert upload(web, hidden, ("x.txt", b"x")).status_code == 404
    assert web.post(f"/admin/filebox/{hidden.id}/delete/{row.id}").status_code == 404
    assert len(rows(db)) == 1


def test_a_public_link_works_without_signing_in_until_the_file_is_private(
    app, db, web, jane
):
    upload(web, jane, ("brochure.html", HTML))
    row = rows(db)[0]
    web.post(f"/admin/filebox/{jane.id}/public/{row.id}", data={"public": "1"})
    row = rows(db)[0]
    assert row.is_public and len(row.public_token) >= 40
    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=files").get_data(
        as_text=True
    )
    assert f"/files/{row.public_token}" in page

    anonymous = app.test_client()
    response = anonymous.get(f"/files/{row.public_token}")
    assert response.status_code == 200 and response.data == HTML
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert anonymous.get(f"/files/{row.public_token[:-1]}x").status_code == 404
    assert anonymous.get(f"/files/{row.public_token[:-1]}%00").status_code == 404
    # The private download needs a signed-in user who sees the contact.
    assert anonymous.get(f"/admin/filebox/file/{row.id}/download").status_code == 302

    token = row.public_token
    web.post(f"/admin/filebox/{jane.id}/public/{row.id}", data={"public": "0"})
    assert rows(db)[0].public_token is None
    assert anonymous.get(f"/files/{token}").status_code == 404

    web.post(f"/admin/filebox/{jane.id}/public/{row.id}", data={"public": "1"})
    assert rows(db)[0].public_token not in (None, token)


def test_removing_a_file_asks_first_and_removes_its_bytes(app, db, web, jane):
    upload(web, jane, ("a.txt", b"data"), ("b.txt", b"more"))
    first, second = rows(db)
    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=files").get_data(
        as_text=True
    )
    assert 'data-crm-confirm="Remove a.txt from the file box?' in page
    assert "filebox.js" in page

    response = web.post(f"/admin/filebox/{jane.id}/delete/{first.id}")
    assert response.status_code == 302
    assert [f.name for f in rows(db)] == ["b.txt"]
    assert stored_files(app) == [second.stored_name]


def test_deleting_a_contact_deletes_its_files_and_their_bytes(
    app, db, web, jane, make_contact, owner
):
    from crm.access.models import UserPermission  # noqa: F401
    from tests.access_helpers import set_contacts

    set_contacts(db, owner, can_delete=True)
    john = make_contact("John", "Roe", owner=owner)
    upload(web, jane, ("a.txt", b"data"), ("b.txt", b"more"))
    upload(web, john, ("c.txt", b"john's"))
    kept = [f.stored_name for f in rows(db) if f.contact_id == john.id]

    response = web.post("/admin/contact/delete/", data={"id": str(jane.id)})
    assert response.status_code == 302
    assert [f.name for f in rows(db)] == ["c.txt"]
    assert stored_files(app) == kept


def test_add_file_keeps_form_uploads_and_public_files(app, db, jane):
    row = services.add_file(
        jane,
        name="questionnaire.pdf",
        stream=io.BytesIO(PDF),
        source="form",
        public=True,
    )
    db.session.commit()
    assert (row.source, row.content_type, row.is_public) == (
        "form",
        "application/pdf",
        True,
    )
    assert services.find_public(row.public_token).id == row.id
    with pytest.raises(ValueError):
        services.add_file(jane, name="x", stream=io.BytesIO(b"x"), source="fax")


@pytest.fixture
def mail_config(app, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")


def test_sent_attachments_are_kept_in_the_file_box(
    app, db, web, jane, mail_config, smtp_server
):
    response = compose(
        web,
        jane,
        attachments=[(io.BytesIO(PDF), "quote.pdf"), (io.BytesIO(PNG), "logo.png")],
    )
    assert response.status_code == 302
    assert len(smtp_server.messages) == 1
    kept = rows(db)
    assert [(f.name, f.source, f.contact_id) for f in kept] == [
        ("quote.pdf", "email", jane.id),
        ("logo.png", "email", jane.id),
    ]
    assert (services.files_dir() / kept[0].stored_name).read_bytes() == PDF


def test_a_full_file_box_does_not_stop_the_e_mail(
    app, db, web, jane, mail_config, smtp_server
):
    app.config["FILEBOX_MAX_BYTES"] = 10
    response = compose(web, jane, attachments=[(io.BytesIO(PDF), "quote.pdf")])
    assert response.status_code == 302
    assert len(smtp_server.messages) == 1
    assert rows(db) == []
    with web.client.session_transaction() as session:
        flashes = [m for _c, m in session.get("_flashes", [])]
    assert any(m.startswith("Not kept in the file box: quote.pdf") for m in flashes)
