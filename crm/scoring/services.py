"""Lead scores: entries written as events are recorded, summed when read.

No running total is stored. Each rule that matches an event writes one
ScoreEntry (points, when earned, when it expires); a contact's score is the
sum of its entries that have not expired at the moment asked, so a score is
right without any job having run. Editing a rule rewrites its entries in the
same transaction; deleting one removes them. A new rule scores events from
then on and gives no points for what happened before it (as in Keap).

Whenever entries are written or changed, ``score_changed`` is sent with the
contacts concerned, so other domains (campaign goals) can react without
scoring knowing them.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crm.activity import services as activity
from crm.activity.services import EventFacts
from crm.core.db import UTCDateTime, utcnow
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.scoring import triggers
from crm.scoring.models import (
    DEFAULT_IDEAL_SCORE,
    ScoreEntry,
    ScoreRule,
    ScoreSetting,
)

log = logging.getLogger(__name__)

MAX_POINTS = 10
MAX_FLAMES = 5
MAX_EXPIRY_WEEKS = 520
MAX_IDEAL_SCORE = 100_000

_signals = Namespace()
#: Sent with ``contact_ids`` (a set) and ``now`` (when the change counts)
#: after entries of those contacts were written, changed or removed. It may
#: be sent while a flush runs: receivers note the ids and read scores later.
score_changed = _signals.signal("score-changed")


@dataclass(frozen=True, slots=True)
class Lead:
    """A contact's score and the flames it shows."""

    score: int
    flames: int
    ideal: int


def flames(score: int, ideal: int) -> int:
    """0 to 5 flames: 20 % of the ideal score per flame, rounded down."""
    if score <= 0 or ideal <= 0:
        return 0
    return min(MAX_FLAMES, score * MAX_FLAMES // ideal)


# Writing entries.


def _rules_for(facts: list[EventFacts], connection):
    """(rule id, points, weeks, trigger, target) of the enabled rules that apply."""
    found = triggers.for_kinds({f.kind for f in facts})
    if not found:
        return [], {}
    by_key = {t.key: t for t in found}
    rows = connection.execute(
        select(
            ScoreRule.id,
            ScoreRule.points,
            ScoreRule.expires_weeks,
            ScoreRule.trigger,
            ScoreRule.target,
        ).where(ScoreRule.trigger.in_(list(by_key)), ScoreRule.enabled.is_(True))
    ).all()
    return rows, by_key


def _expiry(earned_at, weeks):
    return earned_at + timedelta(weeks=weeks) if weeks else None


def score_events(facts: list[EventFacts], connection=None) -> int:
    """Write the entries that the enabled rules give for these events.

    Runs on ``connection`` (the session's when not given) without the ORM,
    so it may run inside a flush. A rule that scores once per target and
    already scored that target gives nothing: the unique constraint and
    ``ON CONFLICT DO NOTHING`` decide, also under concurrent requests.
    Returns the number of entries offered.
    """
    if not facts:
        return 0
    connection = connection if connection is not None else db.session.connection()
    rules, by_key = _rules_for(facts, connection)
    if not rules:
        return 0

    entries: dict[tuple, dict] = {}
    for fact in facts:
        for rule_id, points, weeks, trigger_key, target in rules:
            trigger = by_key[trigger_key]
            if trigger.event_kind != fact.kind:
                continue
            if not trigger.accepts(target, fact.target):
                continue
            once = trigger.once_per_target and fact.target
            entry = {
                "contact_id": fact.contact_id,
                "rule_id": rule_id,
                "event_id": fact.id,
                "points": points,
                "earned_at": fact.occurred_at,
                "expires_at": _expiry(fact.occurred_at, weeks),
                "target": fact.target if once else None,
            }
            key = (
                (rule_id, fact.contact_id, fact.target) if once else (fact.id, rule_id)
            )
            entries.setdefault(key, entry)
    if not entries:
        return 0

    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(ScoreEntry.__table__).on_conflict_do_nothing()
    connection.execute(statement, list(entries.values()))
    score_changed.send(
        None,
        contact_ids={e["contact_id"] for e in entries.values()},
        now=max(e["earned_at"] for e in entries.values()),
    )
    return len(entries)


@activity.listen
def _on_event(event) -> None:
    score_events([EventFacts.of(event)])


def any_rule_for(kind_keys, connection=None) -> bool:
    """Whether an enabled rule reacts to any of these event kinds."""
    keys = [t.key for t in triggers.for_kinds(kind_keys)]
    if not keys:
        return False
    connection = connection if connection is not None else db.session.connection()
    found = connection.execute(
        select(ScoreRule.id)
        .where(ScoreRule.trigger.in_(keys), ScoreRule.enabled.is_(True))
        .limit(1)
    ).first()
    return found is not None


@activity.listen_rows(any_rule_for)
def _on_rows(facts, connection) -> None:
    score_events(facts, connection)


# Reading scores.


def _unexpired(now):
    return or_(ScoreEntry.expires_at.is_(None), ScoreEntry.expires_at > now)


def ideal_score() -> int:
    """The score that shows five flames."""
    value = db.session.scalar(select(ScoreSetting.ideal_score).limit(1))
    return value if value and value > 0 else DEFAULT_IDEAL_SCORE


def score_of(contact_id: int, now=None) -> int:
    """The sum of the contact's points that have not expired at ``now``."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
            ScoreEntry.contact_id == contact_id, _unexpired(now or utcnow())
        )
    )
    return int(total or 0)


def lead_of(contact_id: int, now=None) -> Lead:
    """The contact's score with its flames."""
    ideal = ideal_score()
    score = score_of(contact_id, now)
    return Lead(score, flames(score, ideal), ideal)


def request_lead(contact_id: int) -> Lead:
    """``lead_of`` computed once per request (the header and the tab both show it)."""
    from flask import g, has_app_context

    if not has_app_context():
        return lead_of(contact_id)
    cache = g.setdefault("crm_leads", {})
    if contact_id not in cache:
        cache[contact_id] = lead_of(contact_id)
    return cache[contact_id]


def _page_scores_statement():
    ideal = (
        select(ScoreSetting.ideal_score).order_by(ScoreSetting.id).limit(1)
    ).scalar_subquery()
    return (
        select(ScoreEntry.contact_id, func.sum(ScoreEntry.points), ideal)
        .where(
            ScoreEntry.contact_id.in_(bindparam("ids", expanding=True)),
            or_(
                ScoreEntry.expires_at.is_(None),
                ScoreEntry.expires_at > bindparam("now", type_=UTCDateTime()),
            ),
        )
        .group_by(ScoreEntry.contact_id)
    )


# Built once: the contact list runs it on every page, and building the
# statement cost more than running it on an empty page.
_PAGE_SCORES = _page_scores_statement()


def leads_for(contact_ids, now=None) -> dict[int, Lead]:
    """Scores and flames of many contacts (a list page) in one grouped query.

    Contacts without entries are left out; callers treat them as zero.
    """
    ids = list(contact_ids)
    if not ids:
        return {}
    rows = db.session.execute(_PAGE_SCORES, {"ids": ids, "now": now or utcnow()})
    leads = {}
    for contact_id, total, best in rows:
        best = best if best and best > 0 else DEFAULT_IDEAL_SCORE
        leads[contact_id] = Lead(int(total), flames(int(total), best), best)
    return leads


def entries_page(contact_id: int, page: int = 1, size: int = 25):
    """One page of the contact's entries, newest first (expired ones too).

    Returns (rows, more): each row has rule_id, rule, subject (of the event,
    "" when it is gone), points, earned_at, expires_at; ``more`` says
    whether older entries follow. Plain columns, not ORM objects: the tab
    shows them only.
    """
    from crm.activity.models import ActivityEvent

    query = (
        select(
            ScoreEntry.rule_id,
            ScoreRule.name.label("rule"),
            func.coalesce(ActivityEvent.subject, "").label("subject"),
            ScoreEntry.points,
            ScoreEntry.earned_at,
            ScoreEntry.expires_at,
        )
        .join(ScoreRule, ScoreRule.id == ScoreEntry.rule_id)
        .outerjoin(ActivityEvent, ActivityEvent.id == ScoreEntry.event_id)
        .where(ScoreEntry.contact_id == contact_id)
        .order_by(ScoreEntry.earned_at.desc(), ScoreEntry.id.desc())
        .limit(size + 1)
        .offset((page - 1) * size)
    )
    rows = db.session.execute(query).all()
    return rows[:size], len(rows) > size


# Rules and settings.


def clean_rule(rule: ScoreRule) -> None:
    """Check a rule before it is saved; ServiceError with one sentence if wrong."""
    rule.name = (rule.name or "").strip()
    if not rule.name:
        raise ServiceError(_("A score rule needs a name."))
    trigger = triggers.get(rule.trigger)
    if trigger is None:
        raise ServiceError(_("Choose what the rule reacts to from the list."))
    if rule.points is None or not -MAX_POINTS <= rule.points <= MAX_POINTS:
        raise ServiceError(
            _(
                "A rule gives from %(low)s to %(high)s points.",
                low=-MAX_POINTS,
                high=MAX_POINTS,
            )
        )
    if rule.points == 0:
        raise ServiceError(_("A rule worth 0 points changes nothing: give it points."))
    weeks = rule.expires_weeks
    if weeks is not None and not 1 <= weeks <= MAX_EXPIRY_WEEKS:
        raise ServiceError(
            _(
                "Points expire after 1 to %(max)s weeks, or leave it empty for never.",
                max=MAX_EXPIRY_WEEKS,
            )
        )

    rule.target = (rule.target or "").strip() or None
    choices = {
        value for value, _label in (trigger.targets() if trigger.targets else [])
    }
    if rule.target is None and trigger.target_required:
        raise ServiceError(_("Choose the tag this rule is about."))
    if rule.target is not None and rule.target not in choices:
        raise ServiceError(_("That target does not exist for this kind of rule."))


def rule_saved(rule: ScoreRule, *, criteria_changed: bool) -> None:
    """Bring the rule's existing entries in line with it; the caller commits.

    Points and expiry follow the rule (expires_at = earned_at + weeks); a
    disabled rule's entries count 0 until it is enabled again. When what the
    rule reacts to changed, its old entries no longer apply and are removed.
    """
    db.session.flush()
    scored = set(
        db.session.scalars(
            select(ScoreEntry.contact_id)
            .where(ScoreEntry.rule_id == rule.id)
            .distinct()
        )
    )
    if scored:
        score_changed.send(None, contact_ids=scored, now=utcnow())
    if criteria_changed:
        removed = db.session.execute(
            delete(ScoreEntry).where(ScoreEntry.rule_id == rule.id)
        ).rowcount
        log.info(
            "score rule %s now reacts to something else: %s entries removed",
            rule.id,
            removed,
        )
        return

    points = rule.points if rule.enabled else 0
    db.session.execute(
        update(ScoreEntry)
        .where(ScoreEntry.rule_id == rule.id)
        .values(points=points)
        .execution_options(synchronize_session=False)
    )
    if not rule.expires_weeks:
        db.session.execute(
            update(ScoreEntry)
            .where(ScoreEntry.rule_id == rule.id)
            .values(expires_at=None)
            .execution_options(synchronize_session=False)
        )
    else:
        rows = db.session.execute(
            select(ScoreEntry.id, ScoreEntry.earned_at).where(
                ScoreEntry.rule_id == rule.id
            )
        ).all()
        if rows:
            db.session.execute(
                update(ScoreEntry),
                [
                    {"id": i, "expires_at": _expiry(earned, rule.expires_weeks)}
                    for i, earned in rows
                ],
                execution_options={"synchronize_session": False},
            )
    db.session.expire_all()
    log.info(
        "score rule %s saved: entries now %s points, expiry %s weeks",
        rule.id,
        points,
        rule.expires_weeks,
    )


def rule_deleted(rule: ScoreRule) -> None:
    """Remove the points the rule gave; the caller deletes the rule and commits."""
    scored = set(
        db.session.scalars(
            select(ScoreEntry.contact_id)
            .where(ScoreEntry.rule_id == rule.id)
            .distinct()
        )
    )
    if scored:
        # Removing a rule of negative points lifts its contacts' scores.
        score_changed.send(None, contact_ids=scored, now=utcnow())
    db.session.execute(delete(ScoreEntry).where(ScoreEntry.rule_id == rule.id))
    log.info("score rule %s deleted with its entries", rule.id)


def settings() -> ScoreSetting:
    """The one settings row, created with the default when missing."""
    row = db.session.scalar(select(ScoreSetting).order_by(ScoreSetting.id).limit(1))
    if row is None:
        row = ScoreSetting(id=1, ideal_score=DEFAULT_IDEAL_SCORE)
        db.session.add(row)
        db.session.flush()
    return row


def clean_ideal_score(value) -> int:
    """A usable ideal score, or ServiceError."""
    if value is None or not 1 <= value <= MAX_IDEAL_SCORE:
        raise ServiceError(
            _(
                "The ideal score is a whole number from 1 to %(max)s.",
                max=MAX_IDEAL_SCORE,
            )
        )
    return value
