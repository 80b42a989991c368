"""Lead scoring: rules turn recorded events into points that sum, dedupe and expire."""

from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.activity import kinds
from crm.activity import services as activity
from crm.core.errors import ServiceError
from crm.scoring import services
from crm.scoring.models import ScoreEntry, ScoreRule
from crm.tags import services as tag_services
from crm.tags.models import Tag

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Kinds other domains register (mail, web forms); registered here when absent.
FOREIGN_KINDS = {
    "email_opened": "email",
    "email_clicked": "email",
    "email_unsubscribed": "email",
    "form_submitted": "form",
}


@pytest.fixture
def event_kinds():
    added = []
    for key, group in FOREIGN_KINDS.items():
        if kinds.get(key) is None:
            kinds.register(key, _l("Probe"), group)
            added.append(key)
    yield
    for key in added:
        kinds._kinds.pop(key)


@pytest.fixture
def jane(make_contact):
    return make_contact("Jane", "Doe", email="jane@example.com")


@pytest.fixture
def vip(db):
    tag = Tag(name="VIP")
    db.session.add(tag)
    db.session.commit()
    return tag


@pytest.fixture
def rule(db):
    def make(trigger, points, *, target=None, weeks=None, name=None):
        row = ScoreRule(
            name=name or f"{trigger} {points}",
            trigger=trigger,
            target=target,
            points=points,
            expires_weeks=weeks,
            enabled=True,
        )
        services.clean_rule(row)
        db.session.add(row)
        db.session.commit()
        return row

    return make


def record(db, contact, kind, target=None, when=T0):
    event = activity.record(contact.id, kind, target=target, occurred_at=when)
    db.session.commit()
    return event


@pytest.mark.parametrize(
    ("trigger", "target", "event_target"),
    [
        ("form_submitted", None, "form:3"),
        ("email_clicked", None, "message:7"),
        ("email_opened", None, "message:7"),
        ("email_unsubscribed", None, "message:7"),
    ],
)
def test_each_event_trigger_scores(
    db, jane, rule, event_kinds, trigger, target, event_target
):
    made = rule(trigger, 4, target=target)

    event = record(db, jane, trigger, event_target)

    entry = db.session.scalars(select(ScoreEntry)).one()
    assert (entry.rule_id, entry.event_id, entry.points) == (made.id, event.id, 4)
    assert entry.earned_at == T0
    assert services.score_of(jane.id, now=T0) == 4


def test_tag_applied_and_removed_score_through_the_tag_service(db, jane, vip, rule):
    rule("tag_applied", 5, target=f"tag:{vip.id}")
    rule("tag_removed", -2, target=f"tag:{vip.id}")

    tag_services.apply_tag(jane, vip)
    db.session.commit()
    assert services.score_of(jane.id) == 5

    tag_services.remove_tag(jane, vip)
    db.session.commit()
    assert services.score_of(jane.id) == 3


def test_a_tag_rule_ignores_other_tags(db, jane, vip, rule):
    other = Tag(name="Other")
    db.session.add(other)
    db.session.commit()
    rule("tag_applied", 5, target=f"tag:{vip.id}")

    tag_services.apply_tag(jane, other)
    db.session.commit()

    assert services.score_of(jane.id) == 0


def test_opening_the_same_email_twice_scores_once(db, jane, rule, event_kinds):
    rule("email_opened", 3)

    record(db, jane, "email_opened", "message:55")
    record(db, jane, "email_opened", "message:55", when=T0 + timedelta(hours=1))
    record(db, jane, "email_opened", "message:56")

    assert services.score_of(jane.id, now=T0) == 6
    targets = db.session.scalars(select(ScoreEntry.target)).all()
    assert sorted(targets) == ["message:55", "message:56"]


def test_a_form_rule_for_one_form_ignores_others(db, jane, rule, event_kinds):
    made = ScoreRule(name="Form 3", trigger="form_submitted", target="form:3", points=2)
    db.session.add(made)
    db.session.commit()

    record(db, jane, "form_submitted", "form:4")
    record(db, jane, "form_submitted", "form:3")
    record(db, jane, "form_submitted", "form:3")

    # A form rule scores every submission, not once per form.
    assert services.score_of(jane.id, now=T0) == 4


def test_points_expire_on_a_fixed_clock(db, jane, rule, event_kinds):
    rule("email_clicked", 6, weeks=2)
    rule("email_opened", 1)

    record(db, jane, "email_clicked", "message:1")
    record(db, jane, "email_opened", "message:1")

    expiry = T0 + timedelta(weeks=2)
    assert services.score_of(jane.id, now=expiry - timedelta(seconds=1)) == 7
    assert services.score_of(jane.id, now=expiry) == 1
    assert services.score_of(jane.id, now=expiry + timedelta(days=400)) == 1


def test_negative_points_lower_the_score_below_zero(db, jane, rule, event_kinds):
    rule("email_unsubscribed", -10)

    record(db, jane, "email_unsubscribed", "message:1")

    lead = services.lead_of(jane.id)
    assert (lead.score, lead.flames) == (-10, 0)


def test_changing_a_rule_rescores_its_existing_entries(db, jane, rule, event_kinds):
    made = rule("email_clicked", 2)
    record(db, jane, "email_clicked", "message:1")
    record(db, jane, "email_clicked", "message:2", when=T0 + timedelta(days=1))

    made.points = 9
    made.expires_weeks = 1
    services.clean_rule(made)
    services.rule_saved(made, criteria_changed=False)
    db.session.commit()

    entries = db.session.scalars(select(ScoreEntry).order_by(ScoreEntry.id)).all()
    assert [e.points for e in entries] == [9, 9]
    assert [e.expires_at for e in entries] == [
        T0 + timedelta(weeks=1),
        T0 + timedelta(days=1, weeks=1),
    ]
    assert services.score_of(jane.id, now=T0 + timedelta(days=7, hours=1)) == 9

    made.expires_weeks = None
    services.rule_saved(made, criteria_changed=False)
    db.session.commit()
    assert services.score_of(jane.id, now=T0 + timedelta(days=999)) == 18


def test_disabling_a_rule_zeroes_its_points_and_enabling_restores_them(
    db, jane, rule, event_kinds
):
    made = rule("email_opened", 4)
    record(db, jane, "email_opened", "message:1")

    made.enabled = False
    services.rule_saved(made, criteria_changed=False)
    db.session.commit()
    assert services.score_of(jane.id, now=T0) == 0
    record(db, jane, "email_opened", "message:2")
    assert db.session.query(ScoreEntry).count() == 1

    made.enabled = True
    services.rule_saved(made, criteria_changed=False)
    db.session.commit()
    assert services.score_of(jane.id, now=T0) == 4


def test_deleting_a_rule_removes_its_points(db, jane, rule, event_kinds):
    made = rule("email_opened", 4)
    kept = rule("email_clicked", 1)
    record(db, jane, "email_opened", "message:1")
    record(db, jane, "email_clicked", "message:1")

    services.rule_deleted(made)
    db.session.delete(made)
    db.session.commit()

    assert db.session.scalars(select(ScoreEntry.rule_id)).all() == [kept.id]
    assert services.score_of(jane.id, now=T0) == 1


def test_a_new_rule_does_not_score_past_events(db, jane, rule, event_kinds):
    record(db, jane, "email_opened", "message:1")

    rule("email_opened", 4)

    assert services.score_of(jane.id, now=T0) == 0


def test_a_rule_reacting_to_something_else_drops_its_old_points(db, jane, vip, rule):
    made = rule("tag_applied", 5, target=f"tag:{vip.id}")
    tag_services.apply_tag(jane, vip)
    db.session.commit()

    made.trigger = "tag_removed"
    services.rule_saved(made, criteria_changed=True)
    db.session.commit()

    assert services.score_of(jane.id) == 0


@pytest.mark.parametrize(
    ("score", "ideal", "expected"),
    [
        (-5, 10, 0),
        (0, 10, 0),
        (1, 10, 0),
        (2, 10, 1),
        (3, 10, 1),
        (4, 10, 2),
        (9, 10, 4),
        (10, 10, 5),
        (11, 10, 5),
        (500, 10, 5),
        (1, 3, 1),
        (2, 3, 3),
        (3, 3, 5),
        (5, 0, 0),
    ],
)
def test_flames_at_the_boundaries(score, ideal, expected):
    assert services.flames(score, ideal) == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "needs a name"),
        ({"trigger": "nope"}, "Choose what the rule reacts to"),
        ({"points": 11}, "from -10 to 10 points"),
        ({"points": -11}, "from -10 to 10 points"),
        ({"points": 0}, "0 points changes nothing"),
        ({"expires_weeks": 0}, "expire after 1 to 520 weeks"),
        ({"trigger": "tag_applied", "target": None}, "Choose the tag"),
        ({"trigger": "tag_applied", "target": "tag:999"}, "target does not exist"),
        ({"target": "form:1"}, "target does not exist"),
    ],
)
def test_a_bad_rule_is_refused_with_a_sentence(app, changes, message):
    values = {"name": "Opens", "trigger": "email_opened", "points": 2}
    values.update(changes)

    with pytest.raises(ServiceError, match=message):
        services.clean_rule(ScoreRule(**values))
