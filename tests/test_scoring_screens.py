"""The scoring screens: rules and ideal score for admins, flames on list and record."""

from datetime import timedelta

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select

from crm.activity import kinds
from crm.activity import services as activity
from crm.core.db import utcnow
from crm.extensions import db as _db
from crm.scoring import services
from crm.scoring.models import ScoreEntry, ScoreRule, ScoreSetting
from crm.tags import services as tag_services
from crm.tags.models import Tag
from tests.access_helpers import quick_user


@pytest.fixture
def vip(db):
    tag = Tag(name="VIP")
    db.session.add(tag)
    db.session.commit()
    return tag


@pytest.fixture
def admin(web, db):
    user = quick_user(db, "ana@example.com", is_admin=True)
    assert web.login(user.email).status_code == 302
    return user


def rule_form(**changes):
    form = {
        "name": "Opened",
        "trigger": "email_opened",
        "target": "",
        "points": "3",
        "expires_weeks": "",
        "enabled": "y",
    }
    form.update(changes)
    return form


def text(response):
    return response.get_data(as_text=True)


def test_an_admin_creates_a_tag_rule_on_the_screen(web, db, admin, vip):
    page = text(web.get("/admin/score_rule/new/"))
    assert f'value="tag:{vip.id}"' in page and "E-mail opened" in page

    response = web.post(
        "/admin/score_rule/new/",
        rule_form(
            name="VIP tag",
            trigger="tag_applied",
            target=f"tag:{vip.id}",
            points="-4",
            expires_weeks="6",
        ),
        follow_redirects=True,
    )

    assert response.status_code == 200
    made = db.session.scalars(select(ScoreRule)).one()
    assert (made.trigger, made.target, made.points, made.expires_weeks) == (
        "tag_applied",
        f"tag:{vip.id}",
        -4,
        6,
    )
    listing = text(web.get("/admin/score_rule/"))
    assert "VIP tag" in listing and "After 6 weeks" in listing and "-4" in listing


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"points": "12"}, "A rule gives from -10 to 10 points."),
        ({"points": "0"}, "A rule worth 0 points changes nothing"),
        ({"trigger": "tag_applied"}, "Choose the tag this rule is about."),
        ({"expires_weeks": "0"}, "Points expire after 1 to 520 weeks"),
    ],
)
def test_a_bad_rule_on_the_screen_says_why_and_saves_nothing(
    web, db, admin, changes, message
):
    response = web.post(
        "/admin/score_rule/new/", rule_form(**changes), follow_redirects=True
    )

    assert message in text(response)
    assert db.session.query(ScoreRule).count() == 0


@pytest.fixture
def opened_kind():
    # The mail domain registers "email_opened"; without it, the test does.
    added = kinds.get("email_opened") is None
    if added:
        kinds.register("email_opened", _l("Probe"), "email")
    yield
    if added:
        kinds._kinds.pop("email_opened")


def test_editing_a_rule_on_the_screen_rescores_and_deleting_removes(
    web, db, admin, make_contact, opened_kind
):
    jane = make_contact("Jane", "Doe")
    made = ScoreRule(name="Opened", trigger="email_opened", points=2)
    db.session.add(made)
    db.session.commit()
    activity.record(jane.id, "email_opened", target="message:1")
    db.session.commit()
    assert services.score_of(jane.id) == 2

    web.post(
        f"/admin/score_rule/edit/?id={made.id}",
        rule_form(points="7", expires_weeks="1"),
    )
    db.session.expire_all()
    assert services.score_of(jane.id) == 7
    assert services.score_of(jane.id, now=utcnow() + timedelta(weeks=1, hours=1)) == 0

    web.post("/admin/score_rule/delete/", {"id": str(made.id)})
    db.session.expire_all()
    assert db.session.query(ScoreRule).count() == 0
    assert db.session.query(ScoreEntry).count() == 0


def test_the_ideal_score_is_edited_by_an_admin(web, db, admin):
    response = web.post(
        "/admin/score_setting/edit/?id=1", {"ideal_score": "0"}, follow_redirects=True
    )
    assert "The ideal score is a whole number from 1 to 100000." in text(response)

    web.post("/admin/score_setting/edit/?id=1", {"ideal_score": "40"})
    db.session.expire_all()
    assert db.session.get(ScoreSetting, 1).ideal_score == 40
    assert services.ideal_score() == 40


def test_ordinary_users_may_not_open_the_scoring_screens(web, db):
    user = quick_user(db, "uma@example.com")
    web.login(user.email)
    for url in (
        "/admin/score_rule/",
        "/admin/score_rule/new/",
        "/admin/score_setting/",
        "/admin/score_setting/edit/?id=1",
    ):
        assert web.get(url).status_code == 403, url
    response = web.post("/admin/score_rule/new/", rule_form())
    assert response.status_code == 403
    assert db.session.query(ScoreRule).count() == 0


def _tagged_contacts(db, make_contact, vip, count):
    contacts = [make_contact(f"C{i}", "Doe") for i in range(count)]
    for contact in contacts:
        tag_services.apply_tag(contact, vip)
    db.session.commit()
    return contacts


def _statements_for(app, web, url):
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = web.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return seen, text(response)


def test_the_list_shows_flames_without_a_query_per_row(
    app, web, db, admin, make_contact, vip
):
    db.session.add(
        ScoreRule(name="VIP", trigger="tag_applied", target=f"tag:{vip.id}", points=2)
    )
    db.session.get(ScoreSetting, 1).ideal_score = 10
    db.session.commit()
    _tagged_contacts(db, make_contact, vip, 2)
    few, page = _statements_for(app, web, "/admin/contact/")
    assert page.count('data-flames="1"') == 2
    assert 'title="Lead score 2: 1 of 5 flames"' in page

    _tagged_contacts(db, make_contact, vip, 20)
    many, page = _statements_for(app, web, "/admin/contact/")

    assert page.count('data-flames="1"') == 22
    assert len(many) == len(few)
    assert sum("score_entries" in s for s in many) == 1


def test_the_record_header_shows_the_flames(web, db, admin, make_contact, vip):
    db.session.add(
        ScoreRule(name="VIP", trigger="tag_applied", target=f"tag:{vip.id}", points=3)
    )
    db.session.commit()
    jane = make_contact("Jane", "Doe")
    page = text(web.get(f"/admin/contact/details/?id={jane.id}"))
    assert 'id="record-flames" data-flames="0"' in page

    tag_services.apply_tag(jane, vip)
    db.session.commit()
    page = text(web.get(f"/admin/contact/details/?id={jane.id}"))

    # The ideal score is 3 out of the box: 3 points are five flames.
    assert 'id="record-flames" data-flames="5"' in page
    assert "Lead score 3: 5 of 5 flames" in page
