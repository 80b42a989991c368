"""Files sent with web forms: the file field, the file box at once, pending
files for queued and held submissions, the limits, and nothing left behind
(no row, no bytes on disk) when a submission is refused."""

import io
import re

import pytest
from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.extensions import db as database
from crm.files import services as filebox
from crm.files.models import ContactFile
from crm.webforms import services, spam, uploads
from crm.webforms.models import Submission, SubmissionFile, WebForm, WebFormField
from tests.record_helpers import record_url
from tests.webform_helpers import SITE, make_form, submit, token_of

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
JANE = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}
WITH_CV = (
    ("email", {"required": True}),
    ("given_name", {}),
    ("family_name", {}),
    ("file:1", {"label": "Your CV", "required": True}),
)
WITH_PAPERS = (
    ("email", {"required": True}),
    ("given_name", {}),
    ("file:1", {"label": "Papers", "multiple": True}),
)


def count(model, *where):
    return database.session.scalar(
        select(func.count()).select_from(model).where(*where)
    )


def files(*pairs):
    """Upload parts for the test client: (name, bytes) pairs."""
    return [(io.BytesIO(data), name) for name, data in pairs]


def on_disk():
    """Every stored byte file: the file box's and the pending ones."""
    folder = filebox.files_dir()
    return sorted(
        str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
    )


def nothing_written():
    return (count(Contact), count(Submission), count(ContactFile), on_disk()) == (
        0,
        0,
        0,
        [],
    )


# Defining file fields --------------------------------------------------------


def test_a_form_takes_file_fields_one_or_several_files(db):
    form = make_form(db, fields=WITH_PAPERS + (("file:2", {}),))

    assert [(f.key, f.label, f.multiple) for f in form.fields[2:]] == [
        ("file:1", "Papers", True),
        ("file:2", "File 2", False),
    ]
    assert services.has_files(form)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            ("file:1", {"hidden": True, "fixed_value": "x"}),
            "cannot be hidden or have a fixed value",
        ),
        (("file:1", {"fixed_value": "cv.pdf"}), "cannot be hidden or have a fixed"),
        (("file:1", {"overwrite": True}), "never overwrite anything"),
        (("given_name", {"multiple": True}), "applies to file fields only"),
        (("file:0", {}), "Choose the contact field of every row."),
        (("file:6", {}), "Choose the contact field of every row."),
        (("file:x", {}), "Choose the contact field of every row."),
    ],
)
def test_nonsense_on_a_file_field_is_refused_with_a_reason(db, field, message):
    with pytest.raises(ServiceError, match=message):
        make_form(db, fields=(("email", {"required": True}), field))


def test_the_admin_screen_adds_a_file_field(web, db, admin_user):
    web.login(admin_user.email)
    blank = web.get("/admin/webform/new/").get_data(as_text=True)
    assert "value=&#34;file:1&#34;" in blank and "Several files" in blank

    web.post(
        "/admin/webform/new/",
        {
            "name": "Applications",
            "active": "y",
            "duplicate_rule": "email",
            "min_fill_seconds": "3",
            "exit": "message",
            "allowed_urls": SITE + "/",
            "fields-0-key": "email",
            "fields-0-position": "1",
            "fields-0-required": "y",
            "fields-1-key": "file:1",
            "fields-1-position": "2",
            "fields-1-label": "Portfolio",
            "fields-1-multiple": "y",
        },
    )
    refused = web.post(
        "/admin/webform/new/",
        {
            "name": "Odd",
            "active": "y",
            "duplicate_rule": "email",
            "min_fill_seconds": "3",
            "exit": "message",
            "fields-0-key": "email",
            "fields-0-position": "1",
            "fields-1-key": "file:1",
            "fields-1-position": "2",
            "fields-1-hidden": "y",
            "fields-1-fixed_value": "x",
        },
        follow_redirects=True,
    )

    form = db.session.scalars(select(WebForm)).one()
    assert [(f.key, f.label, f.multiple) for f in form.fields] == [
        ("email", "E-mail", False),
        ("file:1", "Portfolio", True),
    ]
    assert "cannot be hidden or have a fixed value" in refused.get_data(as_text=True)


# The public page -------------------------------------------------------------


@pytest.mark.parametrize("query", [{}, {"embed": "1"}])
def test_the_page_posts_multipart_with_the_limits_next_to_the_file_field(
    app, client, db, query
):
    app.config.update(FILE_MAX_BYTES=2 << 20, FILEBOX_MAX_BYTES=50 << 20)
    form = make_form(db, fields=WITH_PAPERS + (("file:2", {"label": "Photo"}),))
    plain = make_form(db, name="Plain")

    page = client.get(f"/f/{form.slug}", query_string=query).get_data(as_text=True)
    other = client.get(f"/f/{plain.slug}").get_data(as_text=True)

    assert 'enctype="multipart/form-data"' in page
    papers = re.search(r'<input type="file"[^>]*name="file:1"[^>]*>', page).group(0)
    photo = re.search(r'<input type="file"[^>]*name="file:2"[^>]*>', page).group(0)
    assert " multiple" in papers and " multiple" not in photo
    limits = re.search(r'id="f-file-1-limits">([^<]*)<', page).group(1)
    assert limits.strip() == "Up to 10 files, 2 MB per file, 50 MB in all."
    one = re.search(r'id="f-file-2-limits">([^<]*)<', page).group(1)
    assert one.strip() == "Up to 2 MB per file, 50 MB in all."
    assert "multipart" not in other and 'type="file"' not in other


def test_the_embed_script_frames_the_page_that_carries_the_file_field(client, db):
    form = make_form(db, fields=WITH_CV)

    script = client.get(f"/f/{form.slug}/embed.js").get_data(as_text=True)
    frame_url = re.search(r'frame.src = "([^"]+)"', script).group(1)
    framed = client.get(frame_url, query_string={"embed": "1"}).get_data(as_text=True)

    assert f"/f/{form.slug}" in frame_url
    assert 'enctype="multipart/form-data"' in framed and 'name="file:1"' in framed
    assert 'name="_embed" value="1"' in framed


# Processing at once ------------------------------------------------------------


def test_a_sent_file_goes_to_the_new_contacts_file_box_private_from_the_form(
    client, db
):
    form = make_form(db, fields=WITH_CV)

    response = submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})

    assert response.status_code == 200, response.get_data(as_text=True)
    contact = db.session.scalars(select(Contact)).one()
    kept = db.session.scalars(select(ContactFile)).one()
    assert (kept.contact_id, kept.name, kept.size, kept.content_type) == (
        contact.id,
        "cv.pdf",
        len(PDF),
        "application/pdf",
    )
    assert (kept.source, kept.source_name, kept.uploaded_by_id) == (
        "form",
        "Newsletter",
        None,
    )
    assert kept.is_public is False and kept.public_token is None
    assert filebox.path_of(kept).read_bytes() == PDF
    assert on_disk() == [kept.stored_name]
    sent = db.session.scalars(select(SubmissionFile)).one()
    assert (sent.state, sent.contact_file_id, sent.stored_name) == (
        "filed",
        kept.id,
        None,
    )
    event = db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == "form_submitted")
    ).one()
    assert event.data["files"] == ["cv.pdf"]


def test_the_history_and_the_file_box_say_the_file_came_with_the_form(
    web, db, admin_user
):
    form = make_form(db, fields=WITH_CV)
    submit(web.client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    contact = db.session.scalars(select(Contact)).one()
    web.login(admin_user.email)

    history = web.get(record_url(contact.id, "activity")).get_data(as_text=True)
    box = web.get(record_url(contact.id, "files")).get_data(as_text=True)

    assert "Web form: Newsletter" in history and "Files: cv.pdf" in history
    source = re.search(r'<td class="file-source">([^<]*)</td>', box).group(1)
    assert source == "Web form: Newsletter"
    uploader = re.search(r'<td class="file-uploader">([^<]*)</td>', box).group(1)
    assert uploader == ""


def test_several_files_in_one_field_and_a_matched_contact(client, db, make_contact):
    jane = make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_PAPERS)

    response = submit(
        client,
        form,
        {
            "email": "jane@example.com",
            "file:1": files(("a.pdf", PDF), ("b.png", PNG), ("c.txt", b"notes")),
        },
    )

    assert response.status_code == 200
    kept = db.session.scalars(select(ContactFile).order_by(ContactFile.id)).all()
    assert [(f.contact_id, f.name, f.content_type) for f in kept] == [
        (jane.id, "a.pdf", "application/pdf"),
        (jane.id, "b.png", "image/png"),
        (jane.id, "c.txt", "text/plain"),
    ]
    assert sorted(on_disk()) == sorted(f.stored_name for f in kept)


def test_an_optional_file_field_left_empty_stores_nothing(client, db):
    form = make_form(db, fields=WITH_PAPERS)

    # A browser sends an empty part for a file input left empty.
    response = submit(client, form, {**JANE, "file:1": files(("", b""))})

    assert response.status_code == 200
    assert count(Contact) == 1 and count(ContactFile) == 0 and on_disk() == []


def _page_with_error(response, field_id):
    page = response.get_data(as_text=True)
    error = re.search(rf'id="{field_id}-error">([^<]*)<', page)
    return page, error.group(1) if error else None


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ((), "Your CV is required."),
        ((("", b""),), "Your CV is required."),
        ((("cv.pdf", b""),), "cv.pdf is empty; it was not kept."),
        (
            (("cv.pdf", PDF * 30),),
            "cv.pdf is too large (limit 1000 B per file); it was not kept.",
        ),
        (
            (("a.pdf", PDF), ("b.pdf", PDF)),
            "Your CV takes one file; choose only one.",
        ),
    ],
)
def test_a_refused_file_is_a_field_error_keeping_the_answers_writing_nothing(
    app, client, db, sent, message
):
    app.config["FILE_MAX_BYTES"] = 1000
    form = make_form(db, fields=WITH_CV)

    response = submit(client, form, {**JANE, "file:1": files(*sent)})

    assert response.status_code == 400
    page, error = _page_with_error(response, "f-file-1")
    assert error == message
    assert 'value="jane@example.com"' in page and 'value="Jane"' in page
    assert nothing_written()


def test_files_that_together_pass_one_file_box_are_refused(app, client, db):
    app.config.update(FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=1500)
    form = make_form(db, fields=WITH_PAPERS)

    response = submit(
        client,
        form,
        {**JANE, "file:1": files(("a.txt", b"a" * 800), ("b.txt", b"b" * 800))},
    )

    assert response.status_code == 400
    _page, error = _page_with_error(response, "f-file-1")
    assert error.startswith("The files come to 2 KB, more than the 1 KB")
    assert nothing_written()


def test_a_full_box_holds_the_submission_with_its_files_and_shows_none_of_it(
    app, client, db, make_contact
):
    app.config.update(FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=1500)
    jane = make_contact("Jane", "Doe", email="jane@example.com")
    filebox.add_file(jane, name="old.txt", stream=io.BytesIO(b"o" * 700))
    db.session.commit()
    before = on_disk()
    fields = WITH_PAPERS + (("file:2", {"label": "Photo"}),)
    form = make_form(db, fields=fields)

    # The first file fits (and is written); the second does not.
    response = submit(
        client,
        form,
        {
            "email": "jane@example.com",
            "given_name": "Janet",
            "file:1": files(("a.txt", b"a" * 600)),
            "file:2": files(("b.txt", b"b" * 600)),
        },
    )

    # The room Jane's files take is hers: the visitor is thanked, no more.
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "does not fit" not in page and "700 B" not in page
    db.session.expire_all()
    held = db.session.scalars(select(Submission)).one()
    assert (held.state, held.hold_reason) == ("held", "failed")
    assert held.hold_detail.startswith("b.txt does not fit in this file box")
    assert sorted(f.name for f in held.files) == ["a.txt", "b.txt"]
    assert {f.state for f in held.files} == {uploads.PENDING}
    assert count(ContactFile) == 1
    assert len(on_disk()) == len(before) + 2
    assert db.session.get(Contact, jane.id).given_name == "Jane"


def test_a_request_larger_than_the_form_takes_is_refused_unread(app, client, db):
    app.config.update(FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=5000)
    form = make_form(db, fields=WITH_CV)
    token = token_of(client, form)

    response = client.post(
        f"/f/{form.slug}",
        data={"_token": token, **JANE, "file:1": files(("big.bin", b"x" * 1_100_000))},
    )

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "The files sent are larger than this form takes" in page
    assert "1000 B per file" in page
    assert nothing_written()


def test_spam_rules_run_before_any_byte_is_stored(client, db, monkeypatch):
    form = make_form(db, fields=WITH_CV, min_fill_seconds=60)

    fast = submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    monkeypatch.setattr(spam, "now", lambda: 4_000_000_000.0)  # long after
    trap = submit(
        client,
        form,
        {
            **JANE,
            spam.HONEYPOT: "http://spam.test",
            "file:1": files(("cv.pdf", PDF)),
        },
    )

    assert fast.status_code == trap.status_code == 200
    held = db.session.scalars(select(Submission).order_by(Submission.id)).all()
    assert [s.hold_reason for s in held] == ["too_fast", "honeypot"]
    assert [
        (f.name, f.size, f.state, f.stored_name) for s in held for f in s.files
    ] == [
        ("cv.pdf", len(PDF), "dropped", None),
        ("cv.pdf", len(PDF), "dropped", None),
    ]
    assert on_disk() == [] and count(ContactFile) == 0


# Queued and held submissions --------------------------------------------------


def _pending():
    return database.session.scalars(
        select(SubmissionFile).where(SubmissionFile.state == "pending")
    ).all()


def test_a_queued_submission_keeps_its_files_until_processed(app, client, db, runner):
    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db, fields=WITH_PAPERS)

    response = submit(
        client, form, {**JANE, "file:1": files(("a.pdf", PDF), ("b.png", PNG))}
    )

    assert response.status_code == 200
    waiting = _pending()
    assert [(f.name, f.size, f.content_type) for f in waiting] == [
        ("a.pdf", len(PDF), "application/pdf"),
        ("b.png", len(PNG), "image/png"),
    ]
    assert on_disk() == sorted(f"pending/{f.stored_name}" for f in waiting)
    assert uploads.path_of(waiting[1]).read_bytes() == PNG
    assert count(Contact) == 0 and count(ContactFile) == 0

    result = runner.invoke(args=["webforms", "process"])

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    contact = db.session.scalars(select(Contact)).one()
    kept = db.session.scalars(select(ContactFile).order_by(ContactFile.id)).all()
    assert [(f.contact_id, f.name, f.source, f.source_name) for f in kept] == [
        (contact.id, "a.pdf", "form", "Newsletter"),
        (contact.id, "b.png", "form", "Newsletter"),
    ]
    assert on_disk() == sorted(f.stored_name for f in kept)
    sent = db.session.scalars(select(SubmissionFile).order_by(SubmissionFile.id))
    assert [(f.state, f.contact_file_id) for f in sent] == [
        ("filed", kept[0].id),
        ("filed", kept[1].id),
    ]


def test_the_scheduler_beat_moves_queued_files_into_the_file_box(app, client, db):
    from datetime import timedelta

    from crm.automation import scheduler

    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db, fields=WITH_CV)
    submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    assert len(_pending()) == 1

    scheduler.tick(app, timedelta(minutes=5))

    db.session.expire_all()
    kept = db.session.scalars(select(ContactFile)).one()
    assert (kept.name, kept.source) == ("cv.pdf", "form")
    assert on_disk() == [kept.stored_name] and _pending() == []


def test_a_queued_submission_whose_files_no_longer_fit_fails_whole_and_keeps_them(
    app, client, db, make_contact
):
    app.config.update(
        WEBFORMS_PROCESS_LATER=True, FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=1500
    )
    jane = make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_PAPERS)
    submit(
        client,
        form,
        {
            "email": "jane@example.com",
            "given_name": "Janet",
            "file:1": files(("a.txt", b"a" * 600), ("b.txt", b"b" * 600)),
        },
    )
    # Meanwhile the box filled up: the first file still fits, the second not.
    filebox.add_file(jane, name="old.txt", stream=io.BytesIO(b"o" * 700))
    db.session.commit()
    before = on_disk()

    assert services.process_queued() == 1

    db.session.expire_all()
    submission = db.session.scalars(select(Submission)).one()
    assert (submission.state, submission.hold_reason) == ("held", "failed")
    assert "b.txt does not fit in this file box" in submission.hold_detail
    assert on_disk() == before
    assert [f.name for f in _pending()] == ["a.txt", "b.txt"]
    assert count(ContactFile) == 1
    assert db.session.get(Contact, jane.id).given_name == "Jane"
    assert count(ActivityEvent, ActivityEvent.kind == "form_submitted") == 0


def _rate_held(app, client, form, data):
    """A submission held for the rate limit (its files are kept)."""
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=0)
    response = submit(client, form, data)
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=5)
    assert response.status_code == 200
    return database.session.scalars(select(Submission)).one()


def test_a_held_submission_shows_its_files_and_approval_moves_them(
    app, web, db, admin_user
):
    form = make_form(db, fields=WITH_CV)
    held = _rate_held(app, web.client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    assert (held.state, held.hold_reason) == ("held", "rate_limit")
    waiting = _pending()
    assert len(waiting) == 1 and on_disk() == [f"pending/{waiting[0].stored_name}"]
    web.login(admin_user.email)

    listing = web.get(
        "/admin/webform_submission/", query_string={"flt0_state_equals": "held"}
    ).get_data(as_text=True)
    details = web.get(f"/admin/webform_submission/details/?id={held.id}")
    shown = details.get_data(as_text=True)
    assert "cv.pdf" in listing and "waiting for processing" in listing
    assert "cv.pdf" in shown and f"{len(PDF)} B" in shown
    assert f"/admin/webform_submission/file/{waiting[0].id}" in shown

    response = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert "1 submission(s) approved." in response.get_data(as_text=True)
    db.session.expire_all()
    contact = db.session.scalars(select(Contact)).one()
    kept = db.session.scalars(select(ContactFile)).one()
    assert (kept.contact_id, kept.name, kept.source) == (contact.id, "cv.pdf", "form")
    assert on_disk() == [kept.stored_name]
    after = web.get(f"/admin/webform_submission/details/?id={held.id}")
    assert f"/admin/filebox/file/{kept.id}/download" in after.get_data(as_text=True)


def test_an_approval_that_does_not_fit_says_why_and_keeps_the_files(
    app, web, db, admin_user, make_contact
):
    app.config.update(FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=1500)
    jane = make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_CV)
    held = _rate_held(
        app,
        web.client,
        form,
        {"email": "jane@example.com", "file:1": files(("cv.txt", b"c" * 900))},
    )
    filebox.add_file(jane, name="old.txt", stream=io.BytesIO(b"o" * 700))
    db.session.commit()
    before = on_disk()
    web.login(admin_user.email)

    response = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert "cv.txt does not fit in this file box" in response.get_data(as_text=True)
    db.session.expire_all()
    held = db.session.get(Submission, held.id)
    assert held.state == "held" and "does not fit" in held.hold_detail
    assert on_disk() == before and len(_pending()) == 1 and count(ContactFile) == 1


def test_held_files_past_the_overall_cap_keep_only_their_names(app, client, db):
    app.config.update(WEBFORMS_HELD_FILES_MAX_BYTES=len(PDF) + 10)
    form = make_form(db, fields=WITH_CV)
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=0)
    first = submit(client, form, {**JANE, "file:1": files(("a.pdf", PDF))})
    second = submit(
        client,
        form,
        {**JANE, "email": "joe@example.com", "file:1": files(("b.pdf", PDF))},
    )
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=5)
    assert (first.status_code, second.status_code) == (200, 200)

    kept = db.session.scalars(select(SubmissionFile).order_by(SubmissionFile.id)).all()
    assert [(f.name, f.state) for f in kept] == [
        ("a.pdf", "pending"),
        ("b.pdf", "dropped"),
    ]
    assert on_disk() == [f"pending/{kept[0].stored_name}"]
    held = db.session.scalars(select(Submission).where(Submission.state == "held"))
    assert len(held.all()) == 2


def test_discarding_a_held_submission_deletes_its_files(app, web, db, admin_user):
    form = make_form(db, fields=WITH_PAPERS)
    held = _rate_held(
        app, web.client, form, {**JANE, "file:1": files(("a.pdf", PDF), ("b.png", PNG))}
    )
    assert len(on_disk()) == 2
    web.login(admin_user.email)

    web.post(
        "/admin/webform_submission/action/",
        {"action": "discard", "rowid": str(held.id)},
    )

    db.session.expire_all()
    assert db.session.get(Submission, held.id).state == "discarded"
    sent = db.session.scalars(select(SubmissionFile)).all()
    assert [(f.state, f.stored_name) for f in sent] == [
        ("dropped", None),
        ("dropped", None),
    ]
    assert on_disk() == [] and count(Contact) == 0


def test_approving_a_honeypot_held_submission_adds_no_files_and_says_so(
    web, db, admin_user
):
    form = make_form(db, fields=WITH_CV)
    submit(
        web.client,
        form,
        {**JANE, spam.HONEYPOT: "x", "file:1": files(("cv.pdf", PDF))},
    )
    held = db.session.scalars(select(Submission)).one()
    web.login(admin_user.email)

    response = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert "1 submission(s) approved." in response.get_data(as_text=True)
    contact = db.session.scalars(select(Contact)).one()
    assert count(ContactFile) == 0 and on_disk() == []
    history = web.get(record_url(contact.id, "activity")).get_data(as_text=True)
    assert "Files not kept: cv.pdf" in history


def test_a_queued_file_gone_from_the_disk_fails_the_submission_with_the_reason(
    app, client, db
):
    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db, fields=WITH_CV)
    submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    uploads.path_of(_pending()[0]).unlink()

    assert services.process_queued() == 1

    db.session.expire_all()
    submission = db.session.scalars(select(Submission)).one()
    assert (submission.state, submission.hold_reason) == ("held", "failed")
    assert "cv.pdf that came with this submission is missing" in (
        submission.hold_detail
    )
    assert count(Contact) == 0 and count(ContactFile) == 0


def test_deleting_a_held_submission_deletes_its_files(app, client, db):
    form = make_form(db, fields=WITH_CV)
    held = _rate_held(app, client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    assert len(on_disk()) == 1

    db.session.delete(held)
    db.session.commit()

    assert on_disk() == [] and count(SubmissionFile) == 0


def test_deleting_a_form_deletes_the_files_its_submissions_were_keeping(
    app, client, db
):
    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db, fields=WITH_CV)
    submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    assert len(on_disk()) == 1

    db.session.delete(db.session.get(WebForm, form.id))
    db.session.commit()

    assert on_disk() == [] and count(Submission) == 0


def test_a_waiting_file_downloads_as_an_inert_attachment_for_reviewers_only(
    app, web, db, admin_user, make_user
):
    form = make_form(db, fields=WITH_CV)
    _rate_held(app, web.client, form, {**JANE, "file:1": files(("page.html", HTML))})
    waiting = _pending()[0]
    url = f"/admin/webform_submission/file/{waiting.id}"
    user = make_user("user@example.com")

    web.login(user.email)
    assert web.get(url).status_code == 403
    web.logout()
    web.login(admin_user.email)
    response = web.get(url)
    missing = web.get(f"/admin/webform_submission/file/{waiting.id + 100}")

    assert response.status_code == 200 and response.data == HTML
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "page.html" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == filebox.FILE_CSP
    assert missing.status_code == 404


# The disk follows the transaction -----------------------------------------------


def test_files_written_in_a_savepoint_go_when_it_or_the_transaction_rolls_back(
    db, make_contact
):
    jane = make_contact("Jane", "Doe")

    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            filebox.add_file(jane, name="a.txt", stream=io.BytesIO(b"a"))
            raise RuntimeError("undo the savepoint")
    assert on_disk() == []

    with db.session.begin_nested():
        filebox.add_file(jane, name="b.txt", stream=io.BytesIO(b"b"))
    assert len(on_disk()) == 1
    db.session.rollback()
    assert on_disk() == []

    with db.session.begin_nested():
        kept = filebox.add_file(jane, name="c.txt", stream=io.BytesIO(b"c"))
    db.session.commit()
    assert on_disk() == [kept.stored_name]


def test_files_of_a_session_closed_without_commit_go(db, make_contact):
    jane = make_contact("Jane", "Doe")
    filebox.add_file(jane, name="a.txt", stream=io.BytesIO(b"a"))
    assert len(on_disk()) == 1

    db.session.close()

    assert on_disk() == []


def test_an_unexpected_error_after_the_files_were_written_leaves_none(
    client, db, monkeypatch
):
    from crm.partners import services as partners

    def broken(*args, **kwargs):
        raise RuntimeError("the referral check broke")

    monkeypatch.setattr(partners, "attribute", broken)
    form = make_form(db, fields=WITH_CV)

    with pytest.raises(RuntimeError):
        submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})

    assert nothing_written()


def test_a_removal_undone_with_its_savepoint_keeps_the_bytes(db, make_contact):
    jane = make_contact("Jane", "Doe")
    kept = filebox.add_file(jane, name="a.txt", stream=io.BytesIO(b"a"))
    db.session.commit()

    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            filebox.delete_file(kept)
            raise RuntimeError("undo the savepoint")
    db.session.commit()

    assert on_disk() == [kept.stored_name]
    assert db.session.get(ContactFile, kept.id) is not None


def test_a_field_row_model_keeps_its_multiple_flag(db):
    row = WebFormField(key="file:3", multiple=True)
    form = make_form(db, fields=WITH_CV)
    form.fields.append(row)
    services.check_form(form)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(WebFormField, row.id).multiple is True
    assert row.label == "File 3"
