"""Processing later: with WEBFORMS_PROCESS_LATER the public form only checks
and queues; ``flask webforms process`` makes the contacts, once each."""

from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.contacts.models import Contact
from crm.webforms import services
from crm.webforms.models import Submission
from tests.webform_helpers import make_form, submit

JANE = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_queued_submission_becomes_a_contact_when_processed(app, client, db, runner):
    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db)

    response = submit(client, form, JANE)
    bad = submit(client, form, {"email": "not an address"})

    assert response.status_code == 200 and bad.status_code == 400
    assert db.session.scalars(select(Submission.state)).all() == ["queued"]
    assert count(db, Contact) == 0

    result = runner.invoke(args=["webforms", "process"])

    assert result.exit_code == 0, result.output
    assert "1 submission(s) processed." in result.output
    db.session.expire_all()
    submission = db.session.scalars(select(Submission)).one()
    contact = db.session.scalars(select(Contact)).one()
    assert (submission.state, submission.contact_id) == ("processed", contact.id)
    assert count(db, ActivityEvent, ActivityEvent.kind == "form_submitted") == 1
    # Processing again finds nothing left to do.
    assert services.process_queued() == 0
    assert count(db, Contact) == 1


def test_a_queued_submission_that_no_longer_passes_is_held(app, client, db):
    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db)
    submit(client, form, JANE)
    # The form changed meanwhile: the first name became required.
    next(f for f in form.fields if f.key == "given_name").required = True
    db.session.commit()
    submission = db.session.scalars(select(Submission)).one()
    submission.data = {"email": "jane@example.com"}
    db.session.commit()

    assert services.process_queued() == 1

    db.session.expire_all()
    held = db.session.scalars(select(Submission)).one()
    assert (held.state, held.hold_reason, held.contact_id) == ("held", "invalid", None)
    assert count(db, Contact) == 0


def test_the_scheduler_beat_processes_the_queue_too(app, client, db):
    from datetime import timedelta

    from crm.automation import scheduler

    app.config["WEBFORMS_PROCESS_LATER"] = True
    form = make_form(db)
    assert submit(client, form, JANE).status_code == 200
    assert count(db, Contact) == 0

    scheduler.tick(app, timedelta(minutes=5))

    db.session.expire_all()
    assert db.session.scalars(select(Submission.state)).all() == ["processed"]
    assert count(db, Contact) == 1
