"""Every path that applies or removes a tag records the event and scores it."""

import pytest
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.contacts.bulk import ContactData, insert_contacts
from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, run
from crm.scoring import services
from crm.scoring.models import ScoreEntry, ScoreRule
from crm.tags import services as tag_services
from crm.tags.models import Tag
from tests.record_helpers import edit_url, open_form, save, sign_in


@pytest.fixture
def user(web, db):
    return sign_in(web, db, "uma@example.com")


@pytest.fixture
def jane(make_contact, user):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=user)


@pytest.fixture
def vip(db):
    tag = Tag(name="VIP")
    db.session.add(tag)
    db.session.commit()
    return tag


@pytest.fixture
def vip_rules(db, vip):
    rules = [
        ScoreRule(name="VIP", trigger="tag_applied", target=f"tag:{vip.id}", points=4),
        ScoreRule(
            name="Not VIP", trigger="tag_removed", target=f"tag:{vip.id}", points=-1
        ),
    ]
    db.session.add_all(rules)
    db.session.commit()
    return rules


def tag_events(db, contact_id):
    db.session.expire_all()
    query = (
        select(ActivityEvent.kind, ActivityEvent.target, ActivityEvent.subject)
        .where(ActivityEvent.contact_id == contact_id)
        .order_by(ActivityEvent.id)
    )
    return [tuple(row) for row in db.session.execute(query)]


def test_the_tab_buttons_record_and_score_with_the_actor(
    web, db, jane, user, vip, vip_rules
):
    web.post(f"/admin/tags-of/{jane.id}/apply", {"tag_id": str(vip.id)})
    web.post(f"/admin/tags-of/{jane.id}/remove/{vip.id}")

    assert tag_events(db, jane.id) == [
        ("tag_applied", f"tag:{vip.id}", "VIP"),
        ("tag_removed", f"tag:{vip.id}", "VIP"),
    ]
    actors = db.session.scalars(select(ActivityEvent.actor_id)).all()
    assert actors == [user.id, user.id]
    assert services.score_of(jane.id) == 3


def test_the_inline_tag_editor_records_both_changes(web, db, jane, user, vip):
    other = Tag(name="Webinar")
    db.session.add(other)
    db.session.commit()
    tag_services.apply_tag(jane, other, user)
    db.session.commit()

    url = edit_url("tags", jane.id)
    fields = open_form(web, url)
    response = save(
        web, url, fields, **{"del-tag_links-0": "y", "tag_links-1-tag": str(vip.id)}
    )

    assert "Tags saved." in response.get_data(as_text=True)
    assert tag_events(db, jane.id) == [
        ("tag_applied", f"tag:{other.id}", "Webinar"),
        ("tag_removed", f"tag:{other.id}", "Webinar"),
        ("tag_applied", f"tag:{vip.id}", "VIP"),
    ]


def test_the_bulk_path_records_and_scores_in_one_batch(db, vip, vip_rules):
    ids = insert_contacts(
        [
            ContactData(fields={"given_name": "A"}, tags=["VIP", "Fresh"]),
            ContactData(fields={"given_name": "B"}, tags=["vip"]),
            ContactData(fields={"given_name": "C"}),
        ]
    )
    db.session.commit()

    fresh = db.session.scalar(select(Tag.id).where(Tag.name == "Fresh"))
    assert tag_events(db, ids[0]) == [
        ("tag_applied", f"tag:{vip.id}", "VIP"),
        ("tag_applied", f"tag:{fresh}", "Fresh"),
    ]
    assert tag_events(db, ids[1]) == [("tag_applied", f"tag:{vip.id}", "VIP")]
    assert tag_events(db, ids[2]) == []
    leads = services.leads_for(ids)
    assert {k: v.score for k, v in leads.items()} == {ids[0]: 4, ids[1]: 4}


def test_an_import_updating_a_contact_records_the_tag(db, jane, vip, vip_rules):
    data = b"email,tags\njane@example.com,VIP\n"
    run(data, actor=None, owner=None, options=ImportOptions(on_duplicate="update"))
    db.session.commit()

    assert tag_events(db, jane.id) == [("tag_applied", f"tag:{vip.id}", "VIP")]
    assert services.score_of(jane.id) == 4


def test_an_import_creating_contacts_records_their_tags(db, vip, vip_rules):
    data = b"email,first_name,tags\nnew@example.com,New,VIP\n"
    run(data, actor=None, owner=None, options=ImportOptions())
    db.session.commit()

    contact_id = db.session.scalar(
        select(Contact.id).where(Contact.given_name == "New")
    )
    assert tag_events(db, contact_id) == [("tag_applied", f"tag:{vip.id}", "VIP")]


def test_deleting_a_tagged_contact_records_nothing_and_keeps_no_points(
    db, jane, vip, vip_rules
):
    tag_services.apply_tag(jane, vip)
    db.session.commit()

    db.session.delete(jane)
    db.session.commit()

    assert db.session.query(ActivityEvent).count() == 0
    assert db.session.query(ScoreEntry).count() == 0


def test_the_bulk_path_records_events_when_no_rule_scores_them(db, vip):
    [contact_id] = insert_contacts(
        [ContactData(fields={"given_name": "A"}, tags=["VIP"])], actor_id=None
    )
    db.session.commit()

    assert tag_events(db, contact_id) == [("tag_applied", f"tag:{vip.id}", "VIP")]
    event = db.session.scalars(select(ActivityEvent)).one()
    assert (event.ref_type, event.ref_id, event.data) == ("tag", vip.id, None)
    assert db.session.query(ScoreEntry).count() == 0
