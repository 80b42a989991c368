"""Admin screens of campaigns and follow-up sequences, the queue and the report."""

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import SelectChoice, SelectField
from wtforms.validators import ValidationError

from crm.access import policy
from crm.automation import (  # noqa: F401
    actions,
    campaigns,
    listeners,
    record,
    report,
    services,
)
from crm.automation.models import (
    ACTION_KINDS,
    CAMPAIGN_STATUSES,
    GOAL_KINDS,
    RUN_STATUSES,
    TIMER_KINDS,
    Campaign,
    Goal,
    Sequence,
    Step,
    StepRun,
)
from crm.core.admin import SecuredModelView, SecuredView
from crm.core.errors import ServiceError
from crm.extensions import db

CATEGORY = _l("Campaigns")

TIMER_SETTINGS_HELP = _l(
    'Timer settings as JSON, e.g. {"amount": 1, "unit": "days", "start": "09:00", '
    '"end": "17:00", "weekdays": [0, 1, 2, 3, 4]}; a date timer {"day": '
    '"2026-06-01", "last_day": "2026-06-05"}; a field timer {"field": "birthday", '
    '"amount": 3, "unit": "days", "before": true, "use_year": false}.'
)
ACTION_SETTINGS_HELP = _l(
    'Action settings as JSON, e.g. {"tag_id": 3}, {"user_id": 2}, {"field": '
    '"lead_source", "value": "Webinar"}, {"sequence_id": 4} or {"subject": "Hello", '
    '"html": "<p>Hi</p>"}; a task {"title": "Call ~Contact.FirstName~", '
    '"description": "", "priority": "essential", "task_type": "call", '
    '"due_in_days": 2, "user_id": 2} (without user_id: the contact\'s owner); a '
    'note {"title": "Welcome", "note_type": "other", "body": "<p>Hi '
    '~Contact.FirstName~</p>"}.'
)


def _choices(pairs):
    return [SelectChoice(key, label) for key, label in pairs]


def _check_settings(value, label):
    if value is not None and not isinstance(value, dict):
        raise ValidationError(
            _("%(label)s must be a JSON object in braces.", label=label)
        )


class _AutomationView(SecuredModelView):
    """Definitions change the plans of contacts already in a live sequence."""

    def _replan(self, sequence):
        if sequence is None:
            return
        if sequence.campaign is None or sequence.campaign.is_live:
            services.recalculate(sequence)


class SequenceView(_AutomationView):
    column_list = ("name", "campaign", "position", "runs_until_complete", "created_at")
    column_labels = {
        "name": _l("Name"),
        "campaign": _l("Campaign"),
        "position": _l("Position in the campaign"),
        "runs_until_complete": _l("Runs until complete"),
        "created_at": _l("Created"),
        "steps": _l("Steps"),
    }
    column_searchable_list = ("name",)
    column_default_sort = "name"
    form_columns = ("name", "campaign", "position", "runs_until_complete", "steps")
    inline_models = (
        (
            Step,
            {
                "form_columns": (
                    "id",
                    "position",
                    "name",
                    "timer_kind",
                    "timer",
                    "action_kind",
                    "action",
                    "max_lateness_minutes",
                ),
                "form_overrides": {
                    "timer_kind": SelectField,
                    "action_kind": SelectField,
                },
                "form_args": {
                    "timer_kind": {
                        "choices": _choices(TIMER_KINDS),
                        "label": _l("Timer"),
                    },
                    "action_kind": {
                        "choices": _choices(ACTION_KINDS),
                        "label": _l("Action"),
                    },
                    "timer": {
                        "label": _l("Timer settings"),
                        "description": TIMER_SETTINGS_HELP,
                    },
                    "action": {
                        "label": _l("Action settings"),
                        "description": ACTION_SETTINGS_HELP,
                    },
                    "max_lateness_minutes": {"label": _l("Maximum lateness (minutes)")},
                    "position": {"label": _l("Step number")},
                    "name": {"label": _l("Name")},
                },
            },
        ),
    )

    def __init__(self):
        super().__init__(
            Sequence, name=_l("Sequences"), endpoint="sequence", category=CATEGORY
        )

    def on_model_change(self, form, model, is_created):
        for step in model.steps:
            _check_settings(step.timer, _("Timer settings"))
            _check_settings(step.action, _("Action settings"))
            if step.timer_kind == "date" and not (step.timer or {}).get("day"):
                raise ServiceError(_("A date timer needs a day."))
            actions.check_settings(step.action_kind, step.action)

    def after_model_change(self, form, model, is_created):
        if not is_created:
            self._replan(model)
            db.session.commit()


class CampaignView(_AutomationView):
    column_list = ("name", "status", "time_zone", "published_at", "created_at")
    column_labels = {
        "name": _l("Name"),
        "status": _l("Status"),
        "time_zone": _l("Time zone"),
        "published_at": _l("Published"),
        "created_at": _l("Created"),
        "goals": _l("Goals"),
    }
    column_formatters = {
        "status": lambda v, c, m, n: dict(CAMPAIGN_STATUSES).get(m.status, m.status),
        "name": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for("campaign_report.index", campaign_id=m.id), m.name
        ),
    }
    column_searchable_list = ("name",)
    form_columns = ("name", "time_zone", "goals")
    inline_models = (
        (
            Goal,
            {
                "form_columns": (
                    "id",
                    "position",
                    "name",
                    "kind",
                    "config",
                    "sequence",
                ),
                "form_overrides": {"kind": SelectField},
                "form_args": {
                    "kind": {"choices": _choices(GOAL_KINDS), "label": _l("Goal")},
                    "config": {
                        "label": _l("Goal settings"),
                        "description": _l(
                            'As JSON: {"tag_id": 3}, {"url_contains": "/pricing"}, '
                            '{"score": 50} or {"call_name": "webinar_attended"}.'
                        ),
                    },
                    "position": {"label": _l("Position in the campaign")},
                    "name": {"label": _l("Name")},
                    "sequence": {"label": _l("Starts sequence")},
                },
            },
        ),
    )

    def __init__(self):
        super().__init__(
            Campaign, name=_l("Campaigns"), endpoint="campaign", category=CATEGORY
        )

    def on_model_change(self, form, model, is_created):
        from crm.automation import timers

        if timers.zone(model.time_zone, "").key != model.time_zone:
            raise ServiceError(
                _("%(zone)s is not a known time zone.", zone=model.time_zone)
            )
        for goal in model.goals:
            _check_settings(goal.config, _("Goal settings"))

    def after_model_change(self, form, model, is_created):
        if campaigns.recalculate(model):
            db.session.commit()

    @action("publish", _l("Publish"), _l("Publish the selected campaigns?"))
    def action_publish(self, ids):
        published = 0
        for campaign_id in self.get_action_ids(ids):
            campaign = db.session.get(Campaign, campaign_id)
            try:
                campaigns.publish(campaign, current_user)
            except ServiceError as exc:
                db.session.rollback()
                flash(f"{campaign.name}: {exc.message}", "error")
                return
            published += 1
        db.session.commit()
        flash(_("%(count)s campaign(s) published.", count=published), "success")

    @action("unpublish", _l("Unpublish"), _l("Unpublish the selected campaigns?"))
    def action_unpublish(self, ids):
        ids = self.get_action_ids(ids)
        for campaign_id in ids:
            campaigns.unpublish(db.session.get(Campaign, campaign_id), current_user)
        db.session.commit()
        flash(_("%(count)s campaign(s) unpublished.", count=len(ids)), "success")


class StepRunView(SecuredModelView):
    """The queue: every planned and finished step of the contacts one may see."""

    allow_create = False
    allow_edit = False
    allow_delete = False
    can_view_details = False
    column_list = (
        "contact",
        "step",
        "status",
        "due_at",
        "zone",
        "attempts",
        "claimed_by",
        "finished_at",
        "reason",
    )
    column_labels = {
        "contact": _l("Contact"),
        "step": _l("Step"),
        "status": _l("Status"),
        "due_at": _l("Due (UTC)"),
        "zone": _l("Time zone"),
        "attempts": _l("Attempts"),
        "claimed_by": _l("Worker"),
        "finished_at": _l("Finished (UTC)"),
        "reason": _l("Detail"),
    }
    column_formatters = {
        "status": lambda v, c, m, n: dict(RUN_STATUSES).get(m.status, m.status),
    }
    column_filters = ("status",)
    column_default_sort = ("due_at", True)

    def __init__(self):
        super().__init__(
            StepRun, name=_l("Queue"), endpoint="step_run", category=CATEGORY
        )


class CampaignReportView(SecuredView):
    """Contacts at each step; sent, opened, clicked; completed."""

    def __init__(self):
        super().__init__(
            name=_l("Campaign report"),
            endpoint="campaign_report",
            url="/admin/campaign-report",
        )

    def is_visible(self):
        return False

    @expose("/")
    def list_view(self):
        return redirect(url_for("campaign.index_view"))

    @expose("/<int:campaign_id>")
    def index(self, campaign_id):
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None or not policy.allowed(current_user, Campaign, policy.VIEW):
            abort(404)
        return self.render(
            "automation/report.html",
            campaign=campaign,
            rows=report.sequence_rows(campaign, current_user),
            goals=report.goal_rows(campaign, current_user),
            labels=dict(CAMPAIGN_STATUSES),
        )


def views():
    yield CampaignView()
    yield SequenceView()
    yield StepRunView()
    yield CampaignReportView()
    yield record.ContactAutomationView()
