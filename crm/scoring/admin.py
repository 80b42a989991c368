"""Administrators' screens for lead scoring: the rules and the ideal score."""

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import inspect
from wtforms import SelectField

from crm.activity import record as activity_record  # noqa: F401  (the tab)
from crm.core.admin import SecuredModelView
from crm.scoring import display, services, tag_events, triggers  # noqa: F401  (hooks)
from crm.scoring.models import ScoreRule, ScoreSetting

SETTINGS = _l("Settings")


def target_choices() -> list[tuple[str, str]]:
    """Every target some trigger can narrow to, plus "any"."""
    choices = [("", str(_l("Any")))]
    seen = set()
    for trigger in triggers.all_triggers():
        if trigger.targets is None or trigger.targets in seen:
            continue
        seen.add(trigger.targets)
        choices.extend(trigger.targets())
    return choices


def _trigger_label(view, context, model, name):
    trigger = triggers.get(model.trigger)
    return str(trigger.label) if trigger else model.trigger


def _target_label(view, context, model, name):
    if not model.target:
        return str(_l("Any"))
    return dict(target_choices()).get(model.target, model.target)


def _expiry_label(view, context, model, name):
    if not model.expires_weeks:
        return str(_l("Never"))
    return str(_l("After %(n)s weeks", n=model.expires_weeks))


def _points_label(view, context, model, name):
    return Markup("<span class='points'>{}</span>").format(f"{model.points:+d}")


class ScoreRuleView(SecuredModelView):
    """The lead scoring rules: what scores, how many points, for how long."""

    required_role = "admin"
    can_view_details = False
    column_list = ("name", "trigger", "target", "points", "expires_weeks", "enabled")
    form_columns = ("name", "trigger", "target", "points", "expires_weeks", "enabled")
    column_labels = {
        "name": _l("Name"),
        "trigger": _l("When"),
        "target": _l("About"),
        "points": _l("Points"),
        "expires_weeks": _l("Points expire"),
        "enabled": _l("Active"),
    }
    column_descriptions = {
        "points": _l("From -10 to 10."),
        "expires_weeks": _l("In weeks; leave empty for never."),
        "target": _l("The tag (or form) the rule is about; tag rules need one."),
    }
    column_formatters = {
        "trigger": _trigger_label,
        "target": _target_label,
        "expires_weeks": _expiry_label,
        "points": _points_label,
    }
    column_default_sort = "name"
    form_overrides = {"trigger": SelectField, "target": SelectField}
    form_args = {
        "trigger": {"validate_choice": False},
        "target": {"validate_choice": False},
    }

    def __init__(self):
        super().__init__(
            ScoreRule,
            name=_l("Lead score rules"),
            endpoint="score_rule",
            category=SETTINGS,
        )

    def _with_choices(self, form):
        form.trigger.choices = [(t.key, str(t.label)) for t in triggers.all_triggers()]
        form.target.choices = target_choices()
        return form

    def create_form(self, obj=None):
        return self._with_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._with_choices(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        services.clean_rule(model)
        if is_created:
            return
        state = inspect(model)
        changed = any(
            state.attrs[name].history.has_changes() for name in ("trigger", "target")
        )
        services.rule_saved(model, criteria_changed=changed)

    def on_model_delete(self, model):
        services.rule_deleted(model)


class ScoreSettingView(SecuredModelView):
    """The ideal score: the score at which a contact shows five flames."""

    required_role = "admin"
    allow_create = False
    allow_delete = False
    can_view_details = False
    column_list = ("ideal_score",)
    form_columns = ("ideal_score",)
    column_labels = {"ideal_score": _l("Ideal score (five flames)")}
    column_descriptions = {
        "ideal_score": _l("Each flame is a fifth of this score."),
    }

    def __init__(self):
        super().__init__(
            ScoreSetting,
            name=_l("Lead score settings"),
            endpoint="score_setting",
            category=SETTINGS,
        )

    def on_model_change(self, form, model, is_created):
        model.ideal_score = services.clean_ideal_score(model.ideal_score)


def init_app(app) -> None:
    """Give templates ``lead_score(contact_id)`` and ``flames_html(lead)``."""
    app.add_template_global(services.request_lead, "lead_score")
    app.add_template_global(display.flames_html, "flames_html")


def views():
    yield ScoreRuleView()
    yield ScoreSettingView()
