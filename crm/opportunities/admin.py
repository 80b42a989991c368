"""Admin screens: stages, custom fields, opportunities, the board and the forecast."""

import logging

from flask import request
from flask_admin.helpers import get_form_data
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice, SelectField
from wtforms.validators import NumberRange

from crm.access import policy
from crm.auth.models import User
from crm.contacts import services as contacts
from crm.core.admin import SecuredModelView, scope_relation_fields
from crm.core.errors import ServiceError
from crm.core.i18n import format_money
from crm.customfields.admin import FieldDefinitionView
from crm.customfields.services import form_value
from crm.extensions import db
from crm.links.record import contact_lookup
from crm.opportunities import board, record, services  # noqa: F401  (tab renderer)
from crm.opportunities.forms import PREFIX, with_custom_fields
from crm.opportunities.models import (
    LOST,
    OPEN,
    WON,
    ChecklistItem,
    Opportunity,
    OpportunityField,
    Stage,
    StageReason,
)

log = logging.getLogger(__name__)

SETTINGS = _l("Settings")
SALES = _l("Opportunities")
KIND_LABELS = {OPEN: _l("Open"), WON: _l("Win stage"), LOST: _l("Loss stage")}


def _money(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else format_money(value, model.currency)


class StageView(SecuredModelView):
    """The pipeline stages with their checklist items and reasons inline."""

    required_role = "admin"
    can_view_details = False
    column_list = ("position", "name", "probability", "target_days", "kind")
    column_labels = {
        "position": _l("Order"),
        "name": _l("Stage"),
        "probability": _l("Probability %"),
        "target_days": _l("Target days in stage"),
        "kind": _l("Kind"),
        "reason_required": _l("A reason is required"),
        "checklist": _l("Checklist"),
        "reasons": _l("Reasons"),
    }
    column_formatters = {
        "kind": lambda v, c, m, p: KIND_LABELS.get(m.kind, m.kind),
    }
    column_default_sort = [("position", False), ("id", False)]
    form_columns = (
        "name",
        "position",
        "probability",
        "target_days",
        "kind",
        "reason_required",
        "checklist",
        "reasons",
    )
    form_overrides = {"kind": SelectField}
    form_args = {
        "kind": {
            "label": _l("Kind"),
            "choices": [SelectChoice(k, label) for k, label in KIND_LABELS.items()],
            "description": _l("There is one win stage and one loss stage."),
        },
        "probability": {
            "validators": [
                NumberRange(
                    min=0, max=100, message=_l("The probability is from 0 to 100.")
                )
            ],
            "default": 0,
        },
        "target_days": {"default": 0},
        "position": {"default": 0},
        "reason_required": {
            "description": _l(
                "Win and loss stages only: moving in asks for one of the reasons."
            )
        },
    }
    inline_models = (
        InlineFormAdmin(
            ChecklistItem,
            form_columns=("id", "description", "required", "position"),
            form_label=_l("Checklist item"),
            column_labels={
                "description": _l("Description"),
                "required": _l("Required"),
                "position": _l("Order"),
            },
        ),
        InlineFormAdmin(
            StageReason,
            form_columns=("id", "text", "position"),
            form_label=_l("Reason"),
            column_labels={"text": _l("Reason"), "position": _l("Order")},
        ),
    )

    def __init__(self):
        super().__init__(
            Stage,
            name=_l("Pipeline stages"),
            endpoint="opportunity_stage",
            category=SETTINGS,
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            services.check_stage(model)

    def on_model_delete(self, model):
        services.check_stage_delete(model)


class OpportunityFieldView(FieldDefinitionView):
    """Custom fields of opportunities: administrators only."""

    column_list = ("label", "field_type", "field_name", "required", "position")
    column_default_sort = [("position", False), ("id", False)]
    form_columns = (
        "label",
        "machine_name",
        "field_type",
        "options",
        "required",
        "position",
    )

    def __init__(self):
        super().__init__(
            OpportunityField,
            name=_l("Opportunity fields"),
            endpoint="opportunity_field",
            category=SETTINGS,
        )

    def check(self, model, is_created):
        services.check_field(model)


def _owner_query():
    ids = [user.id for user in services.eligible_owners()]
    return db.session.query(User).filter(User.id.in_(ids)).order_by(User.name)


class OpportunityView(SecuredModelView):
    """Opportunities: list, create and edit; moves go through the board."""

    column_list = (
        "title",
        "contact",
        "stage",
        "owner",
        "revenue_low",
        "revenue_high",
        "estimated_close_on",
        "closed_at",
    )
    column_labels = {
        "title": _l("Title"),
        "contact": _l("Contact"),
        "stage": _l("Stage"),
        "stage.name": _l("Stage"),
        "owner": _l("Owner"),
        "owner.name": _l("Owner"),
        "revenue_low": _l("Projected revenue (low)"),
        "revenue_high": _l("Projected revenue (high)"),
        "currency": _l("Currency"),
        "estimated_close_on": _l("Estimated close date"),
        "closed_at": _l("Closed"),
        "close_reason": _l("Reason"),
        "include_in_forecast": _l("Include in forecast"),
        "lead_source": _l("Lead source"),
        "next_action_at": _l("Next action (UTC)"),
        "next_action_notes": _l("Next action notes"),
        "notes": _l("Notes"),
        "created_at": _l("Created"),
    }
    column_formatters = {"revenue_low": _money, "revenue_high": _money}
    column_formatters_export = {}
    column_searchable_list = ("title",)
    column_filters = (
        "stage.name",
        "owner.name",
        "estimated_close_on",
        "include_in_forecast",
    )
    # Exports follow the opportunities area's export right and the row rule.
    can_export = True
    column_export_list = (
        "id",
        "title",
        "contact",
        "stage",
        "owner",
        "revenue_low",
        "revenue_high",
        "currency",
        "include_in_forecast",
        "estimated_close_on",
        "lead_source",
        "closed_at",
        "close_reason",
    )
    column_sortable_list = (
        "title",
        "estimated_close_on",
        "revenue_high",
        "closed_at",
        ("stage", "stage.position"),
    )
    column_default_sort = ("id", True)
    column_details_list = (
        "title",
        "contact",
        "stage",
        "owner",
        "revenue_low",
        "revenue_high",
        "include_in_forecast",
        "estimated_close_on",
        "lead_source",
        "next_action_at",
        "next_action_notes",
        "notes",
        "closed_at",
        "close_reason",
        "created_at",
    )
    form_columns = (
        "title",
        "contact",
        "stage",
        "owner",
        "estimated_close_on",
        "revenue_low",
        "revenue_high",
        "currency",
        "include_in_forecast",
        "lead_source",
        "next_action_at",
        "next_action_notes",
        "notes",
    )
    form_args = {
        "owner": {"query_factory": _owner_query},
        "stage": {
            "query_factory": lambda: db.session.query(Stage).order_by(
                Stage.position, Stage.id
            ),
            "description": _l("The stage it starts in; later moves use the board."),
        },
        "currency": {"description": _l("Three letters, such as USD or EUR.")},
        "include_in_forecast": {"default": True},
    }

    def __init__(self):
        self.form_ajax_refs = {"contact": contact_lookup("contact")}
        super().__init__(
            Opportunity,
            name=_l("All opportunities"),
            endpoint="opportunity",
            category=SALES,
        )

    # Forms: custom fields are added per request, the stage only on create.
    def create_form(self, obj=None):
        form_class = with_custom_fields(self._create_form_class, services.fields())
        form = form_class(get_form_data(), obj=obj)
        scope_relation_fields(form)
        if request.method == "GET":
            form.currency.data = form.currency.data or services.default_currency()
            contact = contacts.get_visible(
                request.args.get("contact_id"), current_user, policy.EDIT
            )
            if contact is not None:
                form.contact.data = contact
        return form

    def edit_form(self, obj=None):
        form_class = with_custom_fields(self._edit_form_class, services.fields())
        form = form_class(get_form_data(), obj=obj)
        scope_relation_fields(form)
        del form.stage
        if request.method == "GET" and obj is not None:
            stored = services.values_of(obj)
            for definition in services.fields():
                value = form_value(definition, stored.get(definition.id))
                form[f"{PREFIX}{definition.id}"].data = value
        return form

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            contact_id = getattr(model.contact, "id", None) or model.contact_id
            if contacts.get_visible(contact_id, current_user, policy.EDIT) is None:
                raise ServiceError(_("You may not add opportunities to that contact."))
            services.check_opportunity(model, current_user, is_new=is_created)
            values = {
                d: form[f"{PREFIX}{d.id}"].data
                for d in services.fields()
                if f"{PREFIX}{d.id}" in form
            }
            services.set_field_values(model, values)
        if is_created:
            db.session.flush()
            services.after_create(model, current_user)
        else:
            services.touch(model, current_user)


def views():
    yield OpportunityView()
    yield board.PipelineView()
    yield board.ForecastView()
    yield StageView()
    yield OpportunityFieldView()
