"""Building sequences and campaigns in automation tests."""

from datetime import UTC, datetime

from crm.automation.models import Campaign, Goal, Sequence, Step


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def make_sequence(db, name="Welcome", steps=(), campaign=None, **fields):
    """A sequence with ``steps``: (timer_kind, timer, action_kind, action) tuples."""
    sequence = Sequence(name=name, campaign=campaign, **fields)
    for position, (timer_kind, timer, action_kind, action) in enumerate(steps, 1):
        sequence.steps.append(
            Step(
                position=position,
                name=f"{name} step {position}",
                timer_kind=timer_kind,
                timer=timer,
                action_kind=action_kind,
                action=action,
            )
        )
    db.session.add(sequence)
    db.session.commit()
    return sequence


def make_campaign(db, name="Onboarding", time_zone="UTC", **fields):
    campaign = Campaign(name=name, time_zone=time_zone, **fields)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def add_goal(db, campaign, kind, position, sequence=None, **config):
    goal = Goal(
        campaign=campaign,
        name=f"{kind} goal",
        kind=kind,
        position=position,
        config=config or None,
        sequence=sequence,
    )
    db.session.add(goal)
    db.session.commit()
    return goal


def tag(db, name="Webinar"):
    from crm.tags.services import get_or_create_tag

    result = get_or_create_tag(name)
    db.session.commit()
    return result


def delay(amount, unit="days", **window):
    return {"amount": amount, "unit": unit, **window}
