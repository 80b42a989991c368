"""Web-form files under attack: reviews that cross, crafted requests, odd
names, and what a visitor or a careless administrator can leave behind."""

import io

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.extensions import db as database
from crm.files.models import ContactFile
from crm.webforms import services, uploads
from crm.webforms.models import Submission, SubmissionFile
from tests.webform_helpers import make_form, submit

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
    from crm.files import services as filebox

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
