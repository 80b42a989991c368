"""The campaign report: contacts at each step; sent, opened, clicked; completed.

Every count covers only the contacts the reader may see.
"""

from dataclasses import dataclass

from sqlalchemy import func, select

from crm.access import policy
from crm.activity.models import ActivityEvent
from crm.automation.models import (
    ACTIVE,
    COMPLETED,
    DONE,
    SCHEDULED,
    Enrollment,
    GoalAchievement,
    StepRun,
)
from crm.contacts.models import Contact
from crm.extensions import db


@dataclass
class StepRow:
    step: object
    waiting: int
    done: int
    opened: int
    clicked: int


@dataclass
class SequenceRow:
    sequence: object
    active: int
    completed: int
    steps: list


def _visible(column, user):
    return column.in_(policy.visible_ids(Contact, user))


def _count(query) -> int:
    return db.session.scalar(query) or 0


def _step_row(step, user) -> StepRow:
    runs = (
        select(func.count())
        .select_from(StepRun)
        .where(StepRun.step_id == step.id, _visible(StepRun.contact_id, user))
    )
    refs = select(StepRun.result_ref).where(
        StepRun.step_id == step.id,
        StepRun.result_ref.is_not(None),
        _visible(StepRun.contact_id, user),
    )

    def reached(kind):
        return _count(
            select(func.count(func.distinct(ActivityEvent.target))).where(
                ActivityEvent.kind == kind, ActivityEvent.target.in_(refs)
            )
        )

    return StepRow(
        step=step,
        waiting=_count(runs.where(StepRun.status == SCHEDULED)),
        done=_count(runs.where(StepRun.status == DONE)),
        opened=reached("email_opened"),
        clicked=reached("email_clicked"),
    )


def sequence_rows(campaign, user) -> list[SequenceRow]:
    """One row per sequence of ``campaign`` with a row per step."""
    rows = []
    for sequence in campaign.sequences:
        members = (
            select(func.count())
            .select_from(Enrollment)
            .where(
                Enrollment.sequence_id == sequence.id,
                _visible(Enrollment.contact_id, user),
            )
        )
        rows.append(
            SequenceRow(
                sequence=sequence,
                active=_count(members.where(Enrollment.status == ACTIVE)),
                completed=_count(members.where(Enrollment.status == COMPLETED)),
                steps=[_step_row(step, user) for step in sequence.steps],
            )
        )
    return rows


def goal_rows(campaign, user) -> list[tuple]:
    """(goal, contacts who achieved it) for each goal of ``campaign``."""
    return [
        (
            goal,
            _count(
                select(func.count(func.distinct(GoalAchievement.contact_id))).where(
                    GoalAchievement.goal_id == goal.id,
                    _visible(GoalAchievement.contact_id, user),
                )
            ),
        )
        for goal in campaign.goals
    ]
