"""Rules and writes for opportunities: stages, saving, moves, board and forecast.

Services add and flush; the request that called them commits once.

Decisions where the issue leaves a choice:

- Required checklist items are those of the stage being *left*, and they are
  asked for when an opportunity moves on: to a later stage (by stage order)
  or into the win or loss stage. Moving back to an earlier open stage is
  always allowed, so a mistaken move can be undone.
- A reason is asked for when moving into the win or loss stage; it must be
  one of that stage's reasons, and it is mandatory when the stage says so.
- The forecast counts each open, include-in-forecast opportunity with an
  estimated close date at the midpoint of its low and high projected revenue
  (the one amount given when only one is), times its stage's probability.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pycountry
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import selectinload

from crm.access import policy
from crm.access import services as access
from crm.activity import kinds
from crm.activity import services as activity
from crm.auth.models import User
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import clean
from crm.customfields import services as customfields
from crm.extensions import db
from crm.opportunities.models import (
    CLOSING_KINDS,
    LOST,
    OPEN,
    STAGE_KINDS,
    WON,
    ChecklistCheck,
    ChecklistItem,
    Opportunity,
    OpportunityField,
    OpportunityValue,
    Stage,
    StageMove,
)

log = logging.getLogger(__name__)

AREA = "opportunities"
#: The board's win and loss columns show what closed in this many days.
BOARD_CLOSED_DAYS = 90
#: Cards shown per column; the totals still count every opportunity.
BOARD_CARDS_PER_STAGE = 100
CENT = Decimal("0.01")
MONEY_LIMIT = Decimal("9999999999.99")

REASON_DETAIL = Markup('<span class="opportunity-reason">({})</span>')


def move_title(event) -> str | None:
    """The feed's line of a stage move, in the reader's language.

    "Shop lamps: Won → Negotiating" for a move, "Shop lamps: opened in New
    opportunity" for the first stage. Events written before the title was
    kept in the data read as stored.
    """
    data = event.data or {}
    if not data.get("title") or not data.get("to"):
        return None
    if not data.get("from"):
        return _(
            "%(title)s: opened in %(stage)s", title=data["title"], stage=data["to"]
        )
    return _(
        "%(title)s: %(from)s → %(to)s",
        title=data["title"],
        **{"from": data["from"], "to": data["to"]},
    )


def describe_move(event) -> Markup | None:
    """The feed's detail of a stage move: the reason, when one was given.

    The stages themselves are in the subject already.
    """
    reason = (event.data or {}).get("reason")
    return REASON_DETAIL.format(reason) if reason else None


STAGE_KIND = kinds.register(
    "opportunity_stage",
    _l("Opportunity stage changed"),
    "opportunity",
    describe=describe_move,
    title=move_title,
)


def default_currency() -> str:
    """The currency of new opportunities (setting CURRENCY, default USD)."""
    return (current_app.config.get("CURRENCY") or "USD").upper()


# Stages ----------------------------------------------------------------------


def stages() -> list[Stage]:
    """Every stage in pipeline order."""
    return list(db.session.scalars(select(Stage).order_by(Stage.position, Stage.id)))


def first_open_stage() -> Stage | None:
    """The stage new opportunities start in: the first open one."""
    return db.session.scalar(
        select(Stage).where(Stage.kind == OPEN).order_by(Stage.position, Stage.id)
    )


def check_stage(stage: Stage) -> None:
    """Validate a stage before it is saved; raises ServiceError with the field."""
    stage.name = clean(stage.name)
    if not stage.name:
        raise ServiceError(_("A stage needs a name."), field="name")
    if len(stage.name) > 100:
        raise ServiceError(_("A stage name has at most 100 characters."), field="name")
    if stage.probability is None or not 0 <= stage.probability <= 100:
        raise ServiceError(
            _("The probability is a whole number from 0 to 100."), field="probability"
        )
    if stage.target_days is None:
        stage.target_days = 0
    if stage.target_days < 0:
        raise ServiceError(
            _("The target days in stage cannot be negative."), field="target_days"
        )
    if stage.position is None:
        stage.position = 0
    stage.kind = stage.kind or OPEN
    stage.reason_required = bool(stage.reason_required)
    if stage.kind not in STAGE_KINDS:
        raise ServiceError(_("Choose open, win or loss for the stage."), field="kind")

    with db.session.no_autoflush:
        clash = db.session.scalar(
            select(Stage.id).where(
                func.lower(Stage.name) == stage.name.lower(),
                Stage.id != (stage.id or 0),
            )
        )
        if clash is not None:
            raise ServiceError(
                _("A stage named %(name)s already exists.", name=stage.name),
                field="name",
            )
        if stage.kind in CLOSING_KINDS:
            other = db.session.scalar(
                select(Stage).where(
                    Stage.kind == stage.kind, Stage.id != (stage.id or 0)
                )
            )
            if other is not None:
                if stage.kind == WON:
                    message = _(
                        "%(name)s is already the win stage; there is one win stage.",
                        name=other.name,
                    )
                else:
                    message = _(
                        "%(name)s is already the loss stage; there is one loss stage.",
                        name=other.name,
                    )
                raise ServiceError(message, field="kind")

    _check_children(stage)


def _check_children(stage: Stage) -> None:
    for item in stage.checklist:
        item.description = clean(item.description)
        if not item.description:
            raise ServiceError(_("Each checklist item needs a description."))
        item.required = bool(item.required)
        item.position = item.position or 0
    texts = []
    for reason in stage.reasons:
        reason.text = clean(reason.text)
        if not reason.text:
            raise ServiceError(_("Each reason needs a text."))
        reason.position = reason.position or 0
        texts.append(reason.text.casefold())
    if len(set(texts)) != len(texts):
        raise ServiceError(_("Each reason can be listed once."))
    if stage.kind == OPEN:
        if stage.reasons:
            raise ServiceError(
                _("Only the win and the loss stage have reasons."), field="reasons"
            )
        stage.reason_required = False
    elif stage.reason_required and not stage.reasons:
        raise ServiceError(
            _("A stage that requires a reason needs at least one reason to choose."),
            field="reasons",
        )


def check_stage_delete(stage: Stage) -> None:
    """Refuse to delete a stage that still holds opportunities."""
    count = db.session.scalar(
        select(func.count(Opportunity.id)).where(Opportunity.stage_id == stage.id)
    )
    if count:
        raise ServiceError(
            _(
                "The stage %(name)s still holds %(count)s opportunities; move them "
                "first.",
                name=stage.name,
                count=count,
            )
        )


def install_default_stages() -> list[Stage]:
    """Add the example pipeline when no stage exists yet; returns what was added."""
    if db.session.scalar(select(func.count(Stage.id))):
        return []
    rows = [
        ("New opportunity", 10, OPEN),
        ("Qualifying", 25, OPEN),
        ("Demo", 50, OPEN),
        ("Proposal pending", 70, OPEN),
        ("Negotiating", 85, OPEN),
        ("Won", 100, WON),
        ("Lost", 0, LOST),
    ]
    added = [
        Stage(name=name, position=i * 10, probability=p, kind=kind)
        for i, (name, p, kind) in enumerate(rows, start=1)
    ]
    db.session.add_all(added)
    db.session.flush()
    return added


# Reading -----------------------------------------------------------------------


def visible_query(user, action=policy.VIEW):
    """Opportunities ``user`` may act on."""
    return select(Opportunity).where(policy.scope(Opportunity, user, action))


def get_visible(opportunity_id, user, action=policy.VIEW) -> Opportunity | None:
    """The opportunity, when it exists and the user may act on it."""
    try:
        opportunity_id = int(opportunity_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        visible_query(user, action).where(Opportunity.id == opportunity_id)
    )


def editable_ids(ids, user) -> set[int]:
    """The ids among ``ids`` the user may change (move, edit)."""
    if not ids:
        return set()
    query = select(Opportunity.id).where(
        Opportunity.id.in_(list(ids)), policy.scope(Opportunity, user, policy.EDIT)
    )
    return set(db.session.scalars(query))


def of_contact(contact, user) -> tuple[list[Opportunity], list[Opportunity]]:
    """The contact's visible opportunities: (active, closed)."""
    rows = db.session.scalars(
        visible_query(user)
        .where(Opportunity.contact_id == contact.id)
        .order_by(Opportunity.created_at.desc(), Opportunity.id.desc())
    ).all()
    active = [o for o in rows if not o.is_closed]
    closed = [o for o in rows if o.is_closed]
    return active, closed


def may_own(user) -> bool:
    """Whether ``user`` may own opportunities (active, and may add them)."""
    return bool(user.is_active) and access.area_allows(user, AREA, "create")


def eligible_owners() -> list[User]:
    """The users who may own opportunities, by name."""
    users = db.session.scalars(select(User).order_by(User.name, User.email))
    return [user for user in users if may_own(user)]


def pending_checklist(opportunity: Opportunity) -> list[ChecklistItem]:
    """Required items of the opportunity's stage that are not done yet."""
    done = {check.item_id for check in opportunity.checks}
    return [
        item
        for item in opportunity.stage.checklist
        if item.required and item.id not in done
    ]


def done_item_ids(opportunity: Opportunity) -> set[int]:
    """Ids of the checklist items done on the opportunity (any stage)."""
    return {check.item_id for check in opportunity.checks}


def days_in_stage(opportunity: Opportunity, now=None) -> int:
    """Whole days since the opportunity entered its stage."""
    return ((now or utcnow()) - opportunity.stage_entered_at).days


def is_overdue(opportunity: Opportunity, now=None) -> bool:
    """Open and longer in its stage than the stage's target days (when set)."""
    target = opportunity.stage.target_days or 0
    if opportunity.is_closed or target <= 0:
        return False
    return days_in_stage(opportunity, now) > target


# Saving ----------------------------------------------------------------------


def _money(value, label) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ServiceError(
            _("%(field)s: enter an amount such as 1250.00.", field=label)
        ) from None
    if not amount.is_finite():
        raise ServiceError(
            _("%(field)s: enter an amount such as 1250.00.", field=label)
        )
    if amount < 0:
        raise ServiceError(_("%(field)s cannot be negative.", field=label))
    if amount.as_tuple().exponent < -2:
        raise ServiceError(_("%(field)s: use at most two decimal places.", field=label))
    if amount > MONEY_LIMIT:
        raise ServiceError(_("%(field)s is too large.", field=label))
    return amount.quantize(CENT)


def check_opportunity(opportunity: Opportunity, actor, *, is_new: bool) -> None:
    """Validate an opportunity before it is saved; raises ServiceError."""
    opportunity.title = clean(opportunity.title)
    if not opportunity.title:
        raise ServiceError(_("An opportunity needs a title."), field="title")
    if len(opportunity.title) > 255:
        raise ServiceError(_("A title has at most 255 characters."), field="title")
    if opportunity.contact_id is None and opportunity.contact is None:
        raise ServiceError(_("Choose the contact."), field="contact")
    if opportunity.stage is None and opportunity.stage_id is None:
        opportunity.stage = first_open_stage()
        if opportunity.stage is None:
            raise ServiceError(
                _("There is no stage yet; an administrator adds the stages first."),
                field="stage",
            )

    low = _money(opportunity.revenue_low, _("Projected revenue (low)"))
    high = _money(opportunity.revenue_high, _("Projected revenue (high)"))
    if low is not None and high is not None and low > high:
        raise ServiceError(
            _("The low projected revenue cannot be above the high one."),
            field="revenue_low",
        )
    opportunity.revenue_low, opportunity.revenue_high = low, high

    opportunity.currency = (clean(opportunity.currency) or default_currency()).upper()
    if pycountry.currencies.get(alpha_3=opportunity.currency) is None:
        raise ServiceError(
            _(
                "%(code)s is not a currency code; use one such as USD or EUR.",
                code=opportunity.currency,
            ),
            field="currency",
        )
    opportunity.lead_source = clean(opportunity.lead_source)
    if opportunity.include_in_forecast is None:
        opportunity.include_in_forecast = True
    _check_owner(opportunity, actor, is_new=is_new)


def _check_owner(opportunity: Opportunity, actor, *, is_new: bool) -> None:
    if opportunity.owner is None and opportunity.owner_id is None and is_new:
        opportunity.owner = actor
    owner = opportunity.owner or (
        db.session.get(User, opportunity.owner_id) if opportunity.owner_id else None
    )
    if owner is not None and not may_own(owner):
        raise ServiceError(
            _("%(user)s may not own opportunities.", user=owner), field="owner"
        )
    if actor is None or access.area_allows(actor, AREA, "reassign_owner"):
        return
    before = None
    if not is_new:
        history = inspect(opportunity).attrs.owner_id.history
        before = history.deleted[0] if history.deleted else opportunity.owner_id
    allowed = {actor.id} if is_new else {before}
    if owner is not None and owner.id not in allowed:
        raise ServiceError(
            _("You may not give opportunities to other users."), field="owner"
        )


def after_create(opportunity: Opportunity, actor) -> None:
    """Record the first move (from no stage) of a new opportunity."""
    now = utcnow()
    opportunity.stage_entered_at = now
    opportunity.created_by_id = actor.id if actor else None
    opportunity.updated_by_id = opportunity.created_by_id
    if opportunity.stage is None:
        opportunity.stage = db.session.get(Stage, opportunity.stage_id)
    _set_closed(opportunity, opportunity.stage, None, now)
    db.session.flush()
    _record_move(opportunity, None, opportunity.stage, actor, None, now)
    log.info(
        "opportunity %s created by %s in stage %s",
        opportunity.id,
        getattr(actor, "email", None),
        opportunity.stage.name,
    )


def touch(opportunity: Opportunity, actor) -> None:
    opportunity.updated_at = utcnow()
    opportunity.updated_by_id = actor.id if actor else None


# Moves -------------------------------------------------------------------------


class MoveRefused(ServiceError):
    """A move was refused; ``reasons`` and ``checklist`` say what could be given."""

    def __init__(self, message: str, *, reasons=(), checklist=()):
        super().__init__(message)
        self.reasons = list(reasons)
        self.checklist = list(checklist)


def _order(stage: Stage) -> tuple[int, int]:
    return (stage.position or 0, stage.id or 0)


def moves_on(current: Stage, target: Stage) -> bool:
    """Whether a move counts as moving on (checklist required) or back."""
    return target.is_closing or _order(target) > _order(current)


def move(
    opportunity: Opportunity,
    stage: Stage,
    actor,
    reason: str | None = None,
    checklist_done=(),
) -> StageMove:
    """Move ``opportunity`` into ``stage`` and record the move.

    ``checklist_done`` are ids of checklist items of the current stage the
    user checks with this move. Refuses (MoveRefused) when required items of
    the stage being left are not done on moving on, or when the win or loss
    stage needs a reason that is missing or not one of its reasons. Sets the
    closed state for the win and loss stages and clears it otherwise.
    """
    if actor is not None and get_visible(opportunity.id, actor, policy.EDIT) is None:
        raise ServiceError(_("You may not change this opportunity."))
    current = opportunity.stage
    if stage is None:
        raise ServiceError(_("That stage does not exist."))
    if current.id == stage.id:
        raise ServiceError(
            _("%(title)s is already in %(stage)s.", title=opportunity, stage=stage)
        )

    now = utcnow()
    ticked = _tick(opportunity, current, checklist_done, actor, now)
    if moves_on(current, stage):
        missing = [i for i in current.checklist if i.required and i.id not in ticked]
        if missing:
            raise MoveRefused(
                _(
                    "Check the required items of %(stage)s before moving on: "
                    "%(items)s.",
                    stage=current,
                    items=", ".join(item.description for item in missing),
                ),
                checklist=[{"id": i.id, "text": i.description} for i in missing],
            )

    reason = clean(reason) if reason else None
    if stage.is_closing:
        reason = _checked_reason(stage, reason)
    else:
        reason = None

    _set_closed(opportunity, stage, reason, now)
    opportunity.stage = stage
    opportunity.stage_entered_at = now
    touch(opportunity, actor)
    db.session.flush()
    row = _record_move(opportunity, current, stage, actor, reason, now)
    log.info(
        "opportunity %s moved from %s to %s by %s",
        opportunity.id,
        current.name,
        stage.name,
        getattr(actor, "email", None),
    )
    return row


def _tick(opportunity, stage, checklist_done, actor, now) -> set[int]:
    done = done_item_ids(opportunity)
    own_items = {item.id for item in stage.checklist}
    for raw in checklist_done or ():
        try:
            item_id = int(raw)
        except (TypeError, ValueError):
            continue
        if item_id in own_items and item_id not in done:
            opportunity.checks.append(
                ChecklistCheck(
                    item_id=item_id, done_at=now, done_by_id=getattr(actor, "id", None)
                )
            )
            done.add(item_id)
    return done


def _checked_reason(stage: Stage, reason: str | None) -> str | None:
    offered = [r.text for r in stage.reasons]
    if reason:
        for text in offered:
            if text.casefold() == reason.casefold():
                return text
        raise MoveRefused(
            _(
                "%(reason)s is not one of the reasons of %(stage)s.",
                reason=reason,
                stage=stage,
            ),
            reasons=offered,
        )
    if stage.reason_required:
        raise MoveRefused(
            _("Choose a reason for moving to %(stage)s.", stage=stage), reasons=offered
        )
    return None


def _set_closed(opportunity, stage, reason, now) -> None:
    if stage.is_closing:
        opportunity.closed_at = now
        opportunity.close_reason = reason
    else:
        opportunity.closed_at = None
        opportunity.close_reason = None


def _record_move(opportunity, current, stage, actor, reason, now) -> StageMove:
    row = StageMove(
        opportunity=opportunity,
        from_stage_id=current.id if current else None,
        to_stage_id=stage.id,
        moved_at=now,
        moved_by_id=getattr(actor, "id", None),
        reason=reason,
    )
    db.session.add(row)
    if current is None:
        subject = f"{opportunity.title}: {stage.name}"
    else:
        subject = f"{opportunity.title}: {current.name} → {stage.name}"
    activity.record(
        opportunity.contact_id,
        STAGE_KIND.key,
        subject=subject,
        actor_id=getattr(actor, "id", None),
        ref=("opportunity", opportunity.id),
        target=f"stage:{stage.id}",
        occurred_at=now,
        data={
            "title": opportunity.title,
            "from": current.name if current else None,
            "to": stage.name,
            "reason": reason,
        },
    )
    return row


# Custom fields -------------------------------------------------------------------


def fields() -> list[OpportunityField]:
    """The opportunity custom fields in form order."""
    return list(
        db.session.scalars(
            select(OpportunityField).order_by(
                OpportunityField.position, OpportunityField.id
            )
        )
    )


def check_field(definition: OpportunityField) -> None:
    """Validate a field definition (the contact custom-field rules)."""
    customfields.check_definition(definition)


def values_of(opportunity: Opportunity) -> dict[int, str]:
    return {row.field_id: row.value for row in opportunity.field_values}


def set_field_values(opportunity: Opportunity, values: dict) -> list:
    """Validate and store ``{field: raw}``; one bad value changes nothing."""
    canonical = {
        definition: customfields.coerce_value(definition, raw)
        for definition, raw in values.items()
    }
    existing = {row.field_id: row for row in opportunity.field_values}
    changed = []
    for definition, value in canonical.items():
        row = existing.get(definition.id)
        if value is None:
            if row is not None:
                opportunity.field_values.remove(row)
                changed.append(definition)
        elif row is None:
            opportunity.field_values.append(
                OpportunityValue(field_id=definition.id, value=value)
            )
            changed.append(definition)
        elif row.value != value:
            row.value = value
            changed.append(definition)
    return changed


def display_values(opportunity: Opportunity) -> list[tuple[str, str]]:
    """(label, text) of the opportunity's custom values, in form order."""
    stored = values_of(opportunity)
    return [
        (f.label, customfields.display_value(f, stored.get(f.id)))
        for f in fields()
        if stored.get(f.id)
    ]


# Board and forecast --------------------------------------------------------------


@dataclass
class Column:
    stage: Stage
    cards: list = field(default_factory=list)
    count: int = 0
    low: dict = field(default_factory=lambda: defaultdict(Decimal))
    high: dict = field(default_factory=lambda: defaultdict(Decimal))

    @property
    def more(self) -> int:
        """Opportunities counted in the totals but not shown as cards."""
        return self.count - len(self.cards)


def _owner_filter(query, owner_id):
    if owner_id is not None:
        query = query.where(Opportunity.owner_id == owner_id)
    return query


def board(user, owner_id: int | None = None) -> list[Column]:
    """One column per stage with the visible opportunities and their totals.

    Totals are per currency over every visible opportunity of the stage: the
    count, and the exact sums of the low and high projected revenue. Each
    column shows at most BOARD_CARDS_PER_STAGE cards, soonest close date
    first. The win and loss columns hold what closed in the last
    BOARD_CLOSED_DAYS days.
    """
    columns = {stage.id: Column(stage) for stage in stages()}
    since = utcnow() - timedelta(days=BOARD_CLOSED_DAYS)
    recent = or_(Opportunity.closed_at.is_(None), Opportunity.closed_at >= since)

    # Totals from plain rows (exact Decimals, no ORM objects).
    amounts = _owner_filter(
        select(
            Opportunity.stage_id,
            Opportunity.currency,
            Opportunity.revenue_low,
            Opportunity.revenue_high,
        ).where(policy.scope(Opportunity, user), recent),
        owner_id,
    )
    for stage_id, currency, low, high in db.session.execute(amounts):
        column = columns.get(stage_id)
        if column is None:
            continue
        column.count += 1
        column.low[currency] += low or Decimal(0)
        column.high[currency] += high or Decimal(0)

    for column in columns.values():
        if not column.count:
            continue
        cards = (
            _owner_filter(visible_query(user).where(recent), owner_id)
            .where(Opportunity.stage_id == column.stage.id)
            .options(
                selectinload(Opportunity.contact), selectinload(Opportunity.checks)
            )
            .order_by(
                Opportunity.estimated_close_on.is_(None),
                Opportunity.estimated_close_on,
                Opportunity.id,
            )
            .limit(BOARD_CARDS_PER_STAGE)
        )
        column.cards = list(db.session.scalars(cards))
    return list(columns.values())


def forecast_amount(opportunity: Opportunity) -> Decimal | None:
    """The projected revenue a forecast counts: the midpoint of low and high."""
    low, high = opportunity.revenue_low, opportunity.revenue_high
    if low is None and high is None:
        return None
    if low is None or high is None:
        return low if high is None else high
    return (low + high) / 2


@dataclass
class Forecast:
    currency: str
    months: list = field(default_factory=list)  # date (first of month)
    owners: list = field(default_factory=list)  # (owner id or None, label)
    cells: dict = field(default_factory=dict)  # (month, owner id) -> Decimal
    month_totals: dict = field(default_factory=dict)
    owner_totals: dict = field(default_factory=dict)
    total: Decimal = Decimal("0.00")


def forecast(user, owner_id: int | None = None) -> list[Forecast]:
    """Weighted projected revenue by estimated close month and owner, per currency.

    Only open opportunities marked include-in-forecast, with an estimated
    close date and an amount, that ``user`` may see. Each cell is the exact
    sum of amount × probability / 100, rounded half-up to the cent.
    """
    query = _owner_filter(
        visible_query(user).where(
            Opportunity.include_in_forecast.is_(True),
            Opportunity.closed_at.is_(None),
            Opportunity.estimated_close_on.is_not(None),
        ),
        owner_id,
    )
    sums = defaultdict(lambda: defaultdict(Decimal))
    owners = {}
    for opportunity in db.session.scalars(query):
        amount = forecast_amount(opportunity)
        if amount is None or opportunity.stage.is_closing:
            continue
        month = opportunity.estimated_close_on.replace(day=1)
        weighted = amount * opportunity.stage.probability / 100
        sums[opportunity.currency][(month, opportunity.owner_id)] += weighted
        owners[opportunity.owner_id] = (
            str(opportunity.owner) if opportunity.owner else _("No owner")
        )

    result = []
    for currency in sorted(sums):
        exact = sums[currency]
        table = Forecast(currency)
        table.months = sorted({month for month, _owner in exact})
        owner_ids = sorted({o for _month, o in exact}, key=lambda o: owners[o].lower())
        table.owners = [(o, owners[o]) for o in owner_ids]
        table.cells = {key: _cents(value) for key, value in exact.items()}
        for month in table.months:
            table.month_totals[month] = _cents(
                sum((v for (m, _o), v in exact.items() if m == month), Decimal(0))
            )
        for owner in owner_ids:
            table.owner_totals[owner] = _cents(
                sum((v for (_m, o), v in exact.items() if o == owner), Decimal(0))
            )
        table.total = _cents(sum(exact.values(), Decimal(0)))
        result.append(table)
    return result


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def month_label(month: date) -> str:
    return month.strftime("%Y-%m")
