"""Web-form files under attack: reviews that cross, crafted requests, odd
names, and what a visitor or a careless administrator can leave behind."""

import io
import threading

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.extensions import db as database
from crm.files import services as filebox
from crm.files.models import ContactFile
from crm.webforms import services, uploads
from crm.webforms.models import Submission, SubmissionFile, WebForm
from tests.webform_helpers import make_form, submit, token_of

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JANE = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}
WITH_CV = (
    ("email", {"required": True}),
    ("given_name", {}),
    ("file:1", {"label": "Your CV", "required": True}),
)
WITH_PAPERS = (
    ("email", {"required": True}),
    ("file:1", {"label": "Papers", "multiple": True}),
)


def count(model, *where):
    return database.session.scalar(
        select(func.count()).select_from(model).where(*where)
    )


def files(*pairs):
    return [(io.BytesIO(data), name) for name, data in pairs]


def on_disk():
    folder = filebox.files_dir()
    return sorted(
        str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
    )


def rate_held(app, client, form, data):
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=0)
    response = submit(client, form, data)
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_ADDRESS=5)
    assert response.status_code == 200, response.get_data(as_text=True)
    return database.session.scalars(select(Submission)).one()


# Two reviewers at once ----------------------------------------------------------

REVIEWS = {
    "approve": lambda submission: services.approve(submission, None),
    "discard": lambda submission: services.discard(submission, None),
}


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("approve", "discard", "Only held submissions can be discarded."),
        ("approve", "approve", "Only held submissions can be approved."),
        ("discard", "approve", "Only held submissions can be approved."),
        ("discard", "discard", "Only held submissions can be discarded."),
    ],
)
def test_a_review_that_crossed_another_one_changes_nothing(
    app, client, db, first, second, message
):
    form = make_form(db, fields=WITH_CV)
    held = rate_held(app, client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    held_id = held.id
    # This reviewer opened the held submission (and its files) ...
    assert [f.state for f in held.files] == ["pending"]

    # ... while another reviewer's decision was committed.
    with app.app_context():
        REVIEWS[first](database.session.get(Submission, held_id))
        database.session.commit()
    after_first = (on_disk(), count(Contact), count(ContactFile))

    with pytest.raises(ServiceError, match=message):
        REVIEWS[second](database.session.get(Submission, held_id))
    database.session.rollback()

    submission = database.session.get(Submission, held_id)
    expected = "processed" if first == "approve" else "discarded"
    assert submission.state == expected
    sent = database.session.scalars(select(SubmissionFile)).one()
    if first == "approve":
        kept = database.session.scalars(select(ContactFile)).one()
        assert (sent.state, sent.contact_file_id) == ("filed", kept.id)
    else:
        assert (sent.state, sent.stored_name) == ("dropped", None)
    assert (on_disk(), count(Contact), count(ContactFile)) == after_first


# Crafted requests ---------------------------------------------------------------


def test_a_field_of_several_files_takes_the_number_it_shows_and_no_more(client, db):
    form = make_form(db, fields=WITH_PAPERS)
    page = client.get(f"/f/{form.slug}").get_data(as_text=True)
    many = [(f"p{i}.txt", b"paper %d" % i) for i in range(uploads.MAX_FILES + 1)]

    response = submit(client, form, {**JANE, "file:1": files(*many)})
    just_enough = submit(
        client, form, {**JANE, "file:1": files(*many[: uploads.MAX_FILES])}
    )

    assert f"Up to {uploads.MAX_FILES} files," in page
    assert response.status_code == 400
    assert (
        f"Papers takes up to {uploads.MAX_FILES} files; choose fewer."
        in response.get_data(as_text=True)
    )
    assert just_enough.status_code == 200
    assert count(ContactFile) == uploads.MAX_FILES == len(on_disk())
    assert count(Submission) == 1


@pytest.mark.parametrize("kind", ["text", "file"])
def test_a_request_of_hundreds_of_parts_is_refused_unread(client, db, kind):
    form = make_form(db, fields=WITH_CV)
    junk = (
        {f"x{i}": "x" for i in range(300)}
        if kind == "text"
        else {f"x{i}": files((f"x{i}.txt", b"x")) for i in range(300)}
    )

    response = submit(client, form, {**JANE, "file:1": files(("cv.pdf", PDF)), **junk})

    assert response.status_code == 413
    assert "larger than this form takes; nothing was kept." in response.get_data(
        as_text=True
    )
    assert (count(Contact), count(Submission), on_disk()) == (0, 0, [])


# A careless administrator -------------------------------------------------------


def _drop_field(form_id, key):
    form = database.session.get(WebForm, form_id)
    form.fields = [row for row in form.fields if row.key != key]
    services.check_form(form)
    database.session.commit()


@pytest.mark.parametrize("how", ["approved", "queued"])
def test_files_waiting_for_a_field_taken_off_the_form_still_reach_the_file_box(
    app, client, db, how
):
    form = make_form(db, fields=WITH_CV + (("file:2", {"label": "Photo"}),))
    data = {
        **JANE,
        "file:1": files(("cv.pdf", PDF)),
        "file:2": files(("me.pdf", PDF + b"%photo\n")),
    }
    if how == "approved":
        held = rate_held(app, client, form, data)
    else:
        app.config["WEBFORMS_PROCESS_LATER"] = True
        assert submit(client, form, data).status_code == 200
        held = database.session.scalars(select(Submission)).one()
    assert len(on_disk()) == 2
    held_id = held.id
    # Meanwhile the administrator takes the photo field off the form.
    _drop_field(form.id, "file:2")

    if how == "approved":
        services.approve(database.session.get(Submission, held_id), None)
        database.session.commit()
    else:
        assert services.process_queued() == 1

    database.session.expire_all()
    submission = database.session.get(Submission, held_id)
    kept = database.session.scalars(select(ContactFile).order_by(ContactFile.id))
    kept = kept.all()
    assert submission.state == "processed"
    assert sorted(f.name for f in kept) == ["cv.pdf", "me.pdf"]
    assert [(f.state, f.stored_name) for f in submission.files] == [
        ("filed", None),
        ("filed", None),
    ]
    assert on_disk() == sorted(f.stored_name for f in kept)


# Several submissions for one contact at once -------------------------------------


def test_submissions_crossing_for_one_contact_never_overfill_the_box(
    app, client, db, make_contact, monkeypatch
):
    app.config.update(FILE_MAX_BYTES=1000, FILEBOX_MAX_BYTES=1000)
    make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_CV)
    tokens = [token_of(client, form) for _ in range(2)]
    # Each submission waits for the other once it has read how full the box is
    # (or gives up waiting when the other is held back by the contact's lock).
    meeting = threading.Barrier(2)
    original = filebox.copy_limited

    def copy_after_meeting(stream, target, cap):
        try:
            meeting.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return original(stream, target, cap)

    monkeypatch.setattr(filebox, "copy_limited", copy_after_meeting)
    answers = []

    def send(token, name):
        response = app.test_client().post(
            f"/f/{form.slug}",
            data={
                "_token": token,
                "email": "jane@example.com",
                "file:1": files((name, b"c" * 600)),
            },
        )
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [
        threading.Thread(target=send, args=(token, f"cv{i}.txt"))
        for i, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    database.session.expire_all()
    # One is kept; the other waits for review (the room Jane's files take is
    # not for the visitor to read), or is told it crossed with the first.
    assert sorted(code for code, _page in answers)[0] == 200
    refused = [(code, page) for code, page in answers if code != 200]
    held = database.session.scalars(
        select(Submission).where(Submission.state == "held")
    ).all()
    if refused:
        assert len(refused) == 1 and refused[0][0] == 409 and not held
        assert "Your submission crossed with another one." in refused[0][1]
        assert len(on_disk()) == 1
    else:
        assert len(held) == 1 and "does not fit in this file box" in (
            held[0].hold_detail
        )
        assert all("does not fit" not in page for _code, page in answers)
        assert len(on_disk()) == 2  # the held one's file waits as pending
    assert count(ContactFile) == 1
    assert database.session.scalar(select(func.sum(ContactFile.size))) == 600


# Odd names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("   ", "file"),
        (" . ", "file"),
        ("..", "file"),
        ("../../app.cfg", "app.cfg"),
        ("..\\..\\x.txt", "x.txt"),
        ("cv\x00.pdf", "cv.pdf"),
        ("cv\u202efdp.exe", "cvfdp.exe"),
    ],
)
def test_a_file_with_an_odd_name_is_kept_under_a_safe_one_never_dropped(
    client, db, sent, shown
):
    form = make_form(db, fields=WITH_PAPERS)

    response = submit(client, form, {**JANE, "file:1": files((sent, PDF))})

    assert response.status_code == 200, response.get_data(as_text=True)
    kept = database.session.scalars(select(ContactFile)).one()
    assert (kept.name, kept.size) == (shown, len(PDF))
    assert on_disk() == [kept.stored_name]


# The public POST's own rules ------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged", "other form"])
def test_a_post_without_a_good_token_keeps_no_file_and_opens_no_session(
    client, db, token
):
    form = make_form(db, fields=WITH_CV)
    other = make_form(db, name="Other", fields=WITH_CV)
    body = {**JANE, "file:1": files(("cv.pdf", PDF))}
    if token == "forged":
        body["_token"] = "eyJmIjoxLCJ0IjoxfQ.forged"
    elif token == "other form":
        body["_token"] = token_of(client, other)

    response = client.post(f"/f/{form.slug}", data=body)

    assert response.status_code == 400
    assert "This form has expired." in response.get_data(as_text=True)
    assert response.headers.getlist("Set-Cookie") == []
    assert (count(Contact), count(Submission), on_disk()) == (0, 0, [])


# A pending file gone from the disk ------------------------------------------------


def test_a_pending_file_gone_from_the_disk_is_a_logged_404_and_a_refused_approval(
    app, web, db, admin_user, caplog
):
    form = make_form(db, fields=WITH_CV)
    held = rate_held(app, web.client, form, {**JANE, "file:1": files(("cv.pdf", PDF))})
    waiting = held.files[0]
    uploads.path_of(waiting).unlink()
    web.login(admin_user.email)

    download = web.get(f"/admin/webform_submission/file/{waiting.id}")
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    approval = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert download.status_code == 404
    assert len(logged) == 1
    assert f"pending file {waiting.id}" in logged[0]
    assert waiting.stored_name in logged[0]
    assert "cv.pdf that came with this submission is missing" in approval.get_data(
        as_text=True
    )
    database.session.expire_all()
    held = database.session.get(Submission, held.id)
    assert held.state == "held" and "is missing" in held.hold_detail
    assert (count(Contact), count(ContactFile), on_disk()) == (0, 0, [])


# The queue when a contact changed under it -------------------------------------------


def test_a_queued_submission_whose_contact_changed_meanwhile_waits_for_the_next_run(
    app, client, db, make_contact, monkeypatch
):
    from crm.contacts import services as contacts

    app.config["WEBFORMS_PROCESS_LATER"] = True
    make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_CV)
    for email in ("jane@example.com", "john@example.com"):
        data = {"email": email, "given_name": "J", "file:1": files(("cv.pdf", PDF))}
        assert submit(client, form, data).status_code == 200
    original = contacts.prepare

    def someone_edits_jane_first(contact, actor=None, **options):
        # A user saved Jane's record after this run read it.
        if contact.id is not None:
            database.session.execute(
                Contact.__table__.update()
                .where(Contact.id == contact.id)
                .values(version=Contact.version + 1)
            )
        return original(contact, actor, **options)

    monkeypatch.setattr(contacts, "prepare", someone_edits_jane_first)

    assert services.process_queued() == 1

    database.session.expire_all()
    states = dict(
        database.session.execute(select(Submission.email, Submission.state)).all()
    )
    assert states == {"jane@example.com": "queued", "john@example.com": "processed"}
    # Jane's file still waits; John's moved into his box; nothing else written.
    waiting = database.session.scalars(
        select(SubmissionFile).where(SubmissionFile.state == "pending")
    ).one()
    assert waiting.submission.email == "jane@example.com"
    assert [f for f in on_disk() if f.startswith("pending/")] == [
        f"pending/{waiting.stored_name}"
    ]
    assert count(ContactFile) == 1 and len(on_disk()) == 2

    monkeypatch.setattr(contacts, "prepare", original)
    assert services.process_queued() == 1
    database.session.expire_all()
    assert {s.state for s in database.session.scalars(select(Submission))} == {
        "processed"
    }
    assert count(ContactFile) == 2 and len(on_disk()) == 2


def test_an_approval_that_crossed_an_edit_of_the_contact_says_so_and_keeps_the_files(
    app, web, db, admin_user, make_contact, monkeypatch
):
    from crm.contacts import services as contacts

    make_contact("Jane", "Doe", email="jane@example.com")
    form = make_form(db, fields=WITH_CV)
    held = rate_held(
        app,
        web.client,
        form,
        {"email": "jane@example.com", "file:1": files(("cv.pdf", PDF))},
    )
    before = on_disk()
    original = contacts.prepare

    def someone_edits_jane_first(contact, actor=None, **options):
        database.session.execute(
            Contact.__table__.update()
            .where(Contact.id == contact.id)
            .values(version=Contact.version + 1)
        )
        return original(contact, actor, **options)

    monkeypatch.setattr(contacts, "prepare", someone_edits_jane_first)
    web.login(admin_user.email)

    response = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert (
        f"Submission {held.id} crossed a change to its contact; nothing was done. "
        "Approve it again." in response.get_data(as_text=True)
    )
    database.session.expire_all()
    assert database.session.get(Submission, held.id).state == "held"
    assert (count(ContactFile), on_disk()) == (0, before)


def test_a_list_box_with_every_option_chosen_still_posts_with_the_files(client, db):
    from crm.customfields.models import CustomField, CustomHeader, CustomTab

    options = [f"Topic {n}" for n in range(40)]
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Facts")
    topics = CustomField(
        header=header,
        label="Topics",
        field_name="Topics",
        field_type="list_box",
        options="\n".join(options),
    )
    db.session.add_all([tab, header, topics])
    db.session.commit()
    form = make_form(db, fields=WITH_CV + ((f"custom:{topics.id}", {}),))

    response = submit(
        client,
        form,
        {**JANE, "file:1": files(("cv.pdf", PDF)), f"custom:{topics.id}": options},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert count(ContactFile) == 1
