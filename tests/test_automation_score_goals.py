"""Lead-score goals hear every change of a contact's score, in its unit of work."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.automation import campaigns, engine
from crm.automation.models import ACTIVE, DONE, Enrollment, GoalAchievement
from crm.core.db import utcnow
from crm.scoring import services as scoring
from crm.scoring.models import ScoreRule
from crm.tags import services as tags
from tests.automation_helpers import add_goal, make_campaign, make_sequence, tag


@pytest.fixture
def hot_campaign(db):
    hot = tag(db, "Hot lead")
    campaign = make_campaign(db, "Hot leads")
    sequence = make_sequence(
        db,
        "Hand over",
        steps=[("none", None, "apply_tag", {"tag_id": hot.id})],
        campaign=campaign,
        position=2,
    )
    goal = add_goal(db, campaign, "lead_score", 1, sequence, score=15)
    campaigns.publish(campaign)
    db.session.commit()
    return goal


def score_rule(db, target_tag, points):
    rule = ScoreRule(
        name=f"{target_tag.name} {points}",
        trigger="tag_applied",
        target=f"tag:{target_tag.id}",
        points=points,
        enabled=True,
    )
    scoring.clean_rule(rule)
    db.session.add(rule)
    db.session.commit()
    return rule


def enrollment(db, contact, goal):
    return db.session.scalar(
        select(Enrollment).where(
            Enrollment.contact_id == contact.id,
            Enrollment.sequence_id == goal.sequence_id,
        )
    )


def tag_names(contact):
    return sorted(link.tag.name for link in contact.tag_links)


def test_a_rule_lifting_the_score_over_the_goal_starts_its_sequence(
    db, make_contact, hot_campaign
):
    webinar, pricing = tag(db, "Webinar"), tag(db, "Pricing page")
    score_rule(db, webinar, 10)
    score_rule(db, pricing, 10)
    jane, john = make_contact("Jane"), make_contact("John")

    tags.apply_tag(jane, webinar)
    tags.apply_tag(john, webinar)
    db.session.commit()
    assert scoring.score_of(jane.id) == 10
    assert enrollment(db, jane, hot_campaign) is None

    tags.apply_tag(jane, pricing)
    db.session.commit()

    assert scoring.score_of(jane.id) == 20
    assert enrollment(db, jane, hot_campaign).status == ACTIVE
    assert enrollment(db, john, hot_campaign) is None
    assert engine.drain("w1", now=utcnow() + timedelta(seconds=1)) == {DONE: 1}
    db.session.expire_all()
    assert tag_names(jane) == ["Hot lead", "Pricing page", "Webinar"]

    # Staying over the threshold is not a new achievement.
    tags.apply_tag(jane, tag(db, "Other"))
    score_rule(db, tag(db, "Demo booked"), 5)
    tags.apply_tag(jane, tag(db, "Demo booked"))
    db.session.commit()
    achievements = db.session.scalars(
        select(GoalAchievement).where(GoalAchievement.contact_id == jane.id)
    ).all()
    assert [a.source for a in achievements] == ["lead_score"]


def test_editing_a_rule_that_lifts_scores_achieves_the_goal(
    db, make_contact, hot_campaign
):
    webinar, pricing = tag(db, "Webinar"), tag(db, "Pricing page")
    rule = score_rule(db, webinar, 5)
    score_rule(db, pricing, 5)
    jane = make_contact("Jane")
    tags.apply_tag(jane, webinar)
    tags.apply_tag(jane, pricing)
    db.session.commit()
    assert scoring.score_of(jane.id) == 10
    assert enrollment(db, jane, hot_campaign) is None

    rule.points = 10
    scoring.rule_saved(rule, criteria_changed=False)
    db.session.commit()

    assert scoring.score_of(jane.id) == 15
    assert enrollment(db, jane, hot_campaign).status == ACTIVE
