"""Faults found reviewing the changes of 4 December, each with its case."""

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact, ContactEmail
from crm.mail import services as mail
from crm.mail import statuses
from crm.webforms.models import Submission
from tests.webform_helpers import make_form, submit


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


def _store_old_address(db, contact, address):
    """A second address written before the stricter e-mail rule existed."""
    db.session.add(
        ContactEmail(contact_id=contact.id, slot=2, address=address, normalized=address)
    )
    db.session.commit()
    db.session.expire_all()


def test_a_web_form_updates_a_contact_whose_other_address_predates_the_rule(
    client, db, make_contact
):
    contact = make_contact(email="jane@example.com")
    _store_old_address(db, contact, "jane@intranet")
    form = make_form(
        db, fields=(("email", {"required": True}), ("family_name", {"overwrite": True}))
    )

    response = submit(client, form, {"email": "jane@example.com", "family_name": "Roe"})

    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(Contact, contact.id)
    assert saved.family_name == "Roe"
    assert [e.address for e in saved.emails] == ["jane@example.com", "jane@intranet"]
    submission = db.session.scalar(select(Submission))
    assert submission.state == "processed"


def test_the_record_saves_other_changes_beside_an_address_that_predates_the_rule(
    db, make_contact
):
    from crm.contacts import services

    contact = make_contact(email="jane@example.com")
    _store_old_address(db, contact, "jane@intranet")
    contact = db.session.get(Contact, contact.id)

    contact.given_name = "Janet"
    services.prepare(contact)
    db.session.commit()

    assert db.session.get(Contact, contact.id).given_name == "Janet"


def test_a_batch_e_mail_with_a_long_non_ascii_subject_has_no_bare_line_feed(
    db, make_contact, smtp_server
):
    contact = make_contact("Lucía", email="lucia@example.com")
    subject = "Confirmación de su suscripción al boletín de noticias de la primavera"

    results = mail.send_many(
        [
            mail.Outgoing(
                contact_id=contact.id,
                address="lucia@example.com",
                subject=subject,
                html="<p>Gracias</p>",
                purpose=statuses.ONE_TO_ONE,
            )
        ]
    )
    db.session.commit()

    assert [r.state for r in results] == ["sent"]
    (received,) = smtp_server.wait_for(1)
    assert received["Subject"] == subject
    raw = smtp_server.envelopes[-1].content
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_reasons_written_for_a_spanish_user_are_stored_in_english(
    db, web, login_as, make_contact
):
    from flask_babel import force_locale

    from crm.automation import services as automation
    from crm.automation.models import SCHEDULED, StepRun
    from crm.core.text import stored_message
    from tests.automation_helpers import delay, make_sequence, tag

    user = login_as("user")
    user.locale = "es"
    jane = make_contact(owner=user)
    label = tag(db, "Followed up")
    sequence = make_sequence(
        db,
        "Nurture",
        steps=[
            ("delay", delay(1), "apply_tag", {"tag_id": label.id}),
            ("delay", delay(2), "apply_tag", {"tag_id": label.id}),
        ],
    )
    enrollment = automation.start(jane, sequence)
    db.session.commit()
    run = db.session.scalar(select(StepRun).where(StepRun.status == SCHEDULED))
    base = f"/admin/automation-of/{jane.id}"

    web.post(f"{base}/run/{run.id}/cancel")
    db.session.refresh(run)
    cancelled = run.reason
    web.post(f"{base}/run/{run.id}/resend")
    db.session.refresh(run)
    resent = run.reason
    web.post(f"{base}/enrollment/{enrollment.id}/remove")
    db.session.refresh(enrollment)

    assert cancelled == f"Cancelled by {user.email}"
    assert resent == f"Resend requested by {user.email}"
    assert enrollment.reason == "Removed by hand"
    with force_locale("es"):
        assert stored_message(cancelled) == f"Cancelado por {user.email}"
        assert stored_message(enrollment.reason) == "Retirado a mano"


def test_a_stored_unknown_merge_field_keeps_the_name_the_user_wrote(app):
    from flask_babel import force_locale

    from crm.core.text import stored_message
    from crm.mail import merge

    with pytest.raises(merge.MergeError) as refused:
        merge.render("{{ contact.Phone }}", merge.sample_context(), html=False)
    stored = refused.value.message

    assert stored == "Unknown merge field: Phone"
    with force_locale("es"):
        assert stored_message(stored) == "Campo de combinación desconocido: Phone"


def test_a_user_whose_address_predates_the_rule_can_still_be_edited(db, web):
    from crm.access.forms import field_name
    from crm.access.models import AREAS, PERMISSION_COLUMNS
    from crm.auth.models import User
    from tests.access_helpers import quick_user

    admin = quick_user(db, "admin@example.com", is_admin=True)
    web.login(admin.email)
    ops = quick_user(db, "ops@intranet")
    data = {"email": "ops@intranet", "name": "Operations", "active": "y"}
    for area in AREAS:
        for key, _label, kind in PERMISSION_COLUMNS:
            data[field_name(area.key, key)] = "all" if kind == "scope" else "y"

    response = web.post(f"/admin/user/edit/?id={ops.id}", data)

    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, ops.id).name == "Operations"

    changed = web.post(
        f"/admin/user/edit/?id={ops.id}", {**data, "email": "ops@elsewhere"}
    )
    assert "is not an e-mail address" in changed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, ops.id).email == "ops@intranet"
