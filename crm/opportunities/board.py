"""The pipeline board (cards per stage, moved by drag and drop) and the forecast."""

import logging

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from crm.access import policy
from crm.core.admin import STALE_MESSAGE, SecuredView
from crm.core.errors import ServiceError
from crm.core.i18n import format_money
from crm.core.text import as_id
from crm.extensions import db
from crm.opportunities import services
from crm.opportunities.models import Stage

log = logging.getLogger(__name__)

SALES = _l("Opportunities")


def owner_choice(raw) -> int | None:
    """The owner filter of the board and forecast: a user id, or None for all."""
    if raw == "me":
        return current_user.id
    return as_id(raw)


def money(amounts: dict) -> str:
    """Per-currency amounts for the reader: "$1,250.00; €80.00".

    A column without amounts shows zero in the default currency, so a total
    always says which money it counts.
    """
    if not amounts:
        return format_money(0, services.default_currency())
    return "; ".join(
        format_money(value, code) for code, value in sorted(amounts.items())
    )


def column_totals(column) -> dict:
    return {
        "count": column.count,
        "low": money(dict(column.low)),
        "high": money(dict(column.high)),
    }


class PipelineView(SecuredView):
    """The board: one column per stage, cards the user may see, totals per stage."""

    def __init__(self):
        super().__init__(
            name=_l("Pipeline"),
            endpoint="pipeline",
            url="/admin/pipeline",
            category=SALES,
        )

    @expose("/")
    def index(self):
        owner_id = owner_choice(request.args.get("owner"))
        columns = services.board(current_user, owner_id)
        pending = {
            card.id: [
                {"id": item.id, "text": item.description}
                for item in services.pending_checklist(card)
            ]
            for column in columns
            for card in column.cards
        }
        cards = [card.id for column in columns for card in column.cards]
        return self.render(
            "opportunities/board.html",
            columns=columns,
            editable=services.editable_ids(cards, current_user),
            pending=pending,
            totals={c.stage.id: column_totals(c) for c in columns},
            owners=services.eligible_owners(),
            owner_id=owner_id,
            money=money,
            days_in_stage=services.days_in_stage,
            is_overdue=services.is_overdue,
        )

    @expose("/move/<int:opportunity_id>", methods=("POST",))
    def move(self, opportunity_id):
        opportunity = services.get_visible(opportunity_id, current_user, policy.EDIT)
        if opportunity is None:
            return _answer(404, _("That opportunity does not exist."))
        data = request.get_json(silent=True) or request.form
        stage = _stage(data.get("stage_id"))
        if stage is None:
            return _answer(400, _("That stage does not exist."))
        checklist = data.get("checklist") or []
        if isinstance(checklist, str):
            checklist = [checklist]
        if hasattr(data, "getlist"):
            checklist = data.getlist("checklist")

        refusal = _move(opportunity, stage, data.get("reason"), checklist)
        if refusal is not None:
            message, extra = refusal
            return _answer(409, message, **extra)

        owner_id = owner_choice(data.get("owner"))
        columns = services.board(current_user, owner_id)
        return _answer(
            200,
            _("%(title)s moved to %(stage)s.", title=opportunity, stage=stage),
            ok=True,
            stage_id=stage.id,
            totals={c.stage.id: column_totals(c) for c in columns},
            pending=[
                {"id": item.id, "text": item.description}
                for item in services.pending_checklist(opportunity)
            ],
        )

    @expose("/move-form/<int:opportunity_id>", methods=("POST",))
    def move_form(self, opportunity_id):
        """The same move from the record tab's form, for keyboards and no script."""
        opportunity = services.get_visible(opportunity_id, current_user, policy.EDIT)
        if opportunity is None:
            abort(404)
        back = url_for(
            "contact.details_view", id=opportunity.contact_id, tab="opportunities"
        )
        if not request.form.get("stage_id"):
            flash(_("Choose a stage to move to."), "error")
            return redirect(back)
        stage = _stage(request.form.get("stage_id"))
        if stage is None:
            flash(_("That stage does not exist."), "error")
            return redirect(back)
        reason, checklist = (
            request.form.get("reason"),
            request.form.getlist("checklist"),
        )
        refusal = _move(opportunity, stage, reason, checklist)
        if refusal is not None:
            flash(refusal[0], "error")
            return redirect(back)
        flash(
            _("%(title)s moved to %(stage)s.", title=opportunity, stage=stage),
            "success",
        )
        return redirect(back)


def _move(opportunity, stage, reason, checklist):
    """Move and commit; None when done, else (message, details) after a rollback."""
    try:
        services.move(
            opportunity,
            stage,
            current_user,
            reason=reason or None,
            checklist_done=checklist,
        )
        db.session.commit()
    except services.MoveRefused as exc:
        db.session.rollback()
        return exc.message, {"reasons": exc.reasons, "checklist": exc.checklist}
    except ServiceError as exc:
        db.session.rollback()
        return exc.message, {}
    except StaleDataError:
        # Someone else moved or saved it in the meantime.
        db.session.rollback()
        return str(STALE_MESSAGE), {}
    return None


def _stage(raw) -> Stage | None:
    stage_id = as_id(raw)
    return db.session.get(Stage, stage_id) if stage_id is not None else None


def _answer(status, message, ok=False, **extra):
    response = jsonify(ok=ok, message=message, **extra)
    response.status_code = status
    return response


class ForecastView(SecuredView):
    """Projected revenue by estimated close month and owner, weighted by stage."""

    def __init__(self):
        super().__init__(
            name=_l("Forecast"),
            endpoint="forecast",
            url="/admin/forecast",
            category=SALES,
        )

    @expose("/")
    def index(self):
        owner_id = owner_choice(request.args.get("owner"))
        return self.render(
            "opportunities/forecast.html",
            tables=services.forecast(current_user, owner_id),
            owners=services.eligible_owners(),
            owner_id=owner_id,
            month_label=services.month_label,
            board_url=url_for("pipeline.index"),
        )
