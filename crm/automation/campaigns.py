"""Campaigns: publishing, goals and what achieving one does to a contact.

Goals and sequences of a campaign are ordered by ``position``. Achieving a
goal starts the sequence the goal leads to and takes the contact out of the
campaign's earlier sequences, except those set to run until complete. Only
published campaigns react to goals.
"""

import logging

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from crm.automation import services
from crm.automation.models import (
    ACTIVE,
    DRAFT,
    PAUSED,
    PUBLISHED,
    Campaign,
    Enrollment,
    Goal,
    GoalAchievement,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db

logger = logging.getLogger(__name__)


def publish(campaign: Campaign, actor=None, now=None) -> None:
    """Make the campaign live; publishing a live one re-plans its contacts."""
    now = now or utcnow()
    if not campaign.goals:
        raise ServiceError(_("A campaign needs at least one goal to be published."))
    was_live = campaign.is_live
    campaign.status = PUBLISHED
    campaign.published_at = now
    db.session.flush()
    if was_live:
        recalculate(campaign, now)
    logger.info(
        "campaign %s published by %s", campaign.id, getattr(actor, "email", "system")
    )


def unpublish(campaign: Campaign, actor=None) -> None:
    """Back to draft: goals stop reacting; contacts already in sequences go on."""
    campaign.status = DRAFT
    db.session.flush()
    logger.info(
        "campaign %s unpublished by %s",
        campaign.id,
        getattr(actor, "email", "system"),
    )


def recalculate(campaign: Campaign, now=None) -> int:
    """Re-plan every active contact of every sequence of an edited campaign."""
    if not campaign.is_live:
        return 0
    return sum(services.recalculate(s, now) for s in campaign.sequences)


def achieve(goal: Goal, contact, source: str = "", now=None) -> bool:
    """``contact`` reached ``goal``: start its sequence, end the earlier ones.

    False when the campaign is not live.
    """
    now = now or utcnow()
    campaign = goal.campaign
    if not campaign.is_live:
        return False

    db.session.add(
        GoalAchievement(
            goal_id=goal.id, contact_id=contact.id, achieved_at=now, source=source
        )
    )
    earlier = [
        s.id
        for s in campaign.sequences
        if s.position < goal.position and not s.runs_until_complete
    ]
    if earlier:
        memberships = db.session.scalars(
            select(Enrollment).where(
                Enrollment.contact_id == contact.id,
                Enrollment.sequence_id.in_(earlier),
                Enrollment.status.in_((ACTIVE, PAUSED)),
            )
        )
        # Stored in English whoever's request it is (a visitor's, a user's).
        with force_locale("en"):
            reason = _("Goal %(goal)s achieved", goal=goal.name or goal.kind)
        for enrollment in memberships:
            services.remove(enrollment, reason=reason, now=now)
    if goal.sequence is not None:
        services.start(contact, goal.sequence, now=now)
    db.session.flush()
    logger.info(
        "contact %s achieved goal %s of campaign %s (%s)",
        contact.id,
        goal.id,
        campaign.id,
        source or "no source",
    )
    return True


def live_goals(kind: str) -> list[Goal]:
    """The goals of ``kind`` in published campaigns."""
    return list(
        db.session.scalars(
            select(Goal)
            .join(Campaign, Campaign.id == Goal.campaign_id)
            .where(Goal.kind == kind, Campaign.status == PUBLISHED)
            .order_by(Goal.id)
        )
    )


def _setting(goal: Goal, key: str, default=None):
    return (goal.config or {}).get(key, default)


def achieve_matching(kind: str, contact, matches, source: str, now=None) -> int:
    """Achieve every live goal of ``kind`` whose settings ``matches`` accepts."""
    achieved = 0
    for goal in live_goals(kind):
        if matches(goal) and achieve(goal, contact, source, now):
            achieved += 1
    return achieved


def tag_applied(contact, tag, now=None) -> int:
    """Achieve the tag goals waiting for ``tag``."""
    return achieve_matching(
        "tag_applied",
        contact,
        lambda goal: _setting(goal, "tag_id") == tag.id,
        f"tag:{tag.id}",
        now,
    )


def link_clicked(contact, url: str, now=None) -> int:
    """Achieve the link-click goals whose URL part ``url`` contains."""
    return achieve_matching(
        "email_clicked",
        contact,
        lambda goal: (_setting(goal, "url_contains") or "") in (url or ""),
        "email_clicked",
        now,
    )


def score_reached(contact, score: int, now=None) -> int:
    """Achieve, once per contact, the score goals ``score`` reaches."""

    def matches(goal):
        if score < int(_setting(goal, "score", 0)):
            return False
        return not db.session.scalar(
            select(GoalAchievement.id).where(
                GoalAchievement.goal_id == goal.id,
                GoalAchievement.contact_id == contact.id,
            )
        )

    return achieve_matching("lead_score", contact, matches, "lead_score", now)


def api_achieve(contact, call_name: str, now=None) -> int:
    """Achieve the manual/API goals listening for ``call_name``."""
    if not call_name:
        raise ServiceError(_("Give the goal's call name."))
    return achieve_matching(
        "manual",
        contact,
        lambda goal: _setting(goal, "call_name") == call_name,
        f"api:{call_name}",
        now,
    )
