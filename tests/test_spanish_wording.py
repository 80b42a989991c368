"""Spanish words that depend on what they name, and on how many."""

from datetime import timedelta

from crm.automation import engine
from crm.core.db import utcnow
from crm.tasks.models import Task
from tests.test_record_automation_tabs import live_campaign  # noqa: F401  (fixture)


def record_url(contact, tab):
    return f"/admin/contact/details/?id={contact.id}&tab={tab}"


def spanish_user(db, login_as):
    user = login_as("user")
    user.locale = "es"
    db.session.commit()
    return user


def test_a_persons_title_is_tratamiento_a_tasks_title_is_titulo(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = make_contact(owner=user)
    db.session.add(
        Task(contact_id=jane.id, title="Llamar", due_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()

    general = web.get(f"/admin/contact_general/edit/?id={jane.id}").get_data(
        as_text=True
    )
    tasks = web.get(record_url(jane, "tasks")).get_data(as_text=True)

    assert "Tratamiento" in general
    assert "<th>Título</th>" in tasks and "Tratamiento" not in tasks
    assert ">Vencida</span>" in tasks
    assert "Completadas</h3>" in tasks


def test_my_tasks_headings_fit_any_count(db, web, login_as, make_contact):
    user = spanish_user(db, login_as)
    jane = make_contact(owner=user)
    db.session.add(
        Task(
            contact_id=jane.id,
            title="Llamar",
            due_at=utcnow() - timedelta(days=1),
            assigned_to_id=user.id,
        )
    )
    db.session.commit()

    page = web.get("/admin/my-tasks/").get_data(as_text=True)

    assert "Fuera de plazo" in page and "Vencidas" not in page


def test_a_campaign_item_is_elemento(db, web, login_as, make_contact, live_campaign):  # noqa: F811
    user = spanish_user(db, login_as)
    jane = make_contact(owner=user)
    goal = live_campaign.goals[0]
    web.post(f"/admin/automation-of/{jane.id}/achieve", {"goal_id": goal.id})
    engine.drain("w1")

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)

    assert "<th>Elemento</th>" in page and "Artículo" not in page
