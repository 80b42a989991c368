"""The contact record's Follow-up sequences and Campaigns tabs, and their buttons."""

import logging
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_admin import expose
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from crm.access import policy
from crm.automation import campaigns, services, timers
from crm.automation.models import (
    CANCELLED,
    ENROLLMENT_STATUSES,
    FINISHED,
    PUBLISHED,
    RUN_STATUSES,
    SCHEDULED,
    Campaign,
    Enrollment,
    Goal,
    Sequence,
    StepRun,
)
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.core.admin import SecuredView
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import as_id, stored_message
from crm.extensions import db

logger = logging.getLogger(__name__)

ENDPOINT = "contact_automation"
HISTORY_DAYS = 30
HISTORY_LIMIT = 25
STATUS_LABELS = dict(ENROLLMENT_STATUSES) | dict(RUN_STATUSES)
#: Runs the history lists: those that ran, and those cancelled before they did.
ENDED = (*FINISHED, CANCELLED)


def local_time(run: StepRun) -> str:
    """A run's time in the zone it was computed in, with UTC beside it."""
    moment = run.finished_at if run.status in ENDED and run.finished_at else run.due_at
    tz = timers.zone(run.zone)
    local = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if tz.key == "UTC":
        return f"{local} UTC"
    return f"{local} {tz.key} ({moment.strftime('%H:%M')} UTC)"


def _can_edit(contact) -> bool:
    return contacts.get_visible(contact.id, current_user, policy.EDIT) is not None


def _runs(contact, *conditions, order=(StepRun.id,), limit=None):
    query = (
        select(StepRun)
        .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(StepRun.contact_id == contact.id, *conditions)
        .order_by(*order)
        .limit(limit)
    )
    return db.session.scalars(query).all()


@tabs.renderer("sequences")
def render_sequences_tab(contact, tab_key):
    """The contact's follow-up sequences, their steps so far, and the controls."""
    enrollments = db.session.scalars(
        select(Enrollment)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.contact_id == contact.id, Sequence.campaign_id.is_(None))
        .order_by(Enrollment.started_at.desc())
    ).all()
    history = {e.id: [] for e in enrollments}
    for run in _runs(contact, Sequence.campaign_id.is_(None)):
        history.setdefault(run.enrollment_id, []).append(run)
    for runs in history.values():
        runs.sort(key=lambda r: (r.occurrence, r.step.position))
    startable = db.session.scalars(
        select(Sequence).where(Sequence.campaign_id.is_(None)).order_by(Sequence.name)
    ).all()
    return Markup(
        render_template(
            "automation/sequences_tab.html",
            contact=contact,
            enrollments=enrollments,
            history=history,
            startable=startable,
            can_edit=_can_edit(contact),
            can_build=policy.allowed(current_user, Sequence, policy.EDIT),
            endpoint=ENDPOINT,
            labels=STATUS_LABELS,
            stored_message=stored_message,
            local_time=local_time,
        )
    )


@tabs.renderer("campaigns")
def render_campaigns_tab(contact, tab_key):
    """Recent history (25 items, 30 days) and upcoming items of campaigns."""
    since = utcnow() - timedelta(days=HISTORY_DAYS)
    in_campaign = Sequence.campaign_id.is_not(None)
    history = _runs(
        contact,
        in_campaign,
        StepRun.status.in_(ENDED),
        StepRun.finished_at >= since,
        order=(StepRun.finished_at.desc(), StepRun.id.desc()),
        limit=HISTORY_LIMIT,
    )
    upcoming = _runs(
        contact, in_campaign, StepRun.status == SCHEDULED, order=(StepRun.due_at,)
    )
    memberships = db.session.scalars(
        select(Enrollment)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.contact_id == contact.id, in_campaign)
        .order_by(Enrollment.started_at.desc())
    ).all()
    manual_goals = db.session.scalars(
        select(Goal)
        .join(Campaign, Campaign.id == Goal.campaign_id)
        .where(Goal.kind == "manual", Campaign.status == PUBLISHED)
        .order_by(Campaign.name, Goal.position)
    ).all()
    return Markup(
        render_template(
            "automation/campaigns_tab.html",
            contact=contact,
            history=history,
            upcoming=upcoming,
            memberships=memberships,
            manual_goals=manual_goals,
            can_edit=_can_edit(contact),
            endpoint=ENDPOINT,
            labels=STATUS_LABELS,
            stored_message=stored_message,
            local_time=local_time,
        )
    )


ENROLLMENT_ACTIONS = {
    "pause": (services.pause, _l("Sequence paused.")),
    "resume": (services.resume, _l("Sequence resumed.")),
    "remove": (services.remove, _l("Contact removed from the sequence.")),
    "run-next": (services.run_next_now, _l("The next step will run now.")),
}
RUN_ACTIONS = {
    "run-now": (services.run_now, _l("The step will run now.")),
    "cancel": (services.cancel_run, _l("The step was cancelled.")),
    "resend": (services.resend, _l("The step will run again now.")),
}


class ContactAutomationView(SecuredView):
    """The POST endpoints behind the two tabs; not in the menu."""

    def __init__(self):
        super().__init__(
            name=_l("Contact automation"), endpoint=ENDPOINT, url="/admin/automation-of"
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/<int:contact_id>/start", methods=("POST",))
    def start(self, contact_id):
        contact = self._contact(contact_id)
        sequence = as_id(request.form.get("sequence_id"))
        sequence = db.session.get(Sequence, sequence) if sequence else None
        if sequence is None or sequence.campaign_id is not None:
            return self._back(contact, "sequences", _("Choose a sequence to start."))
        existing = services.enrollment_for(contact.id, sequence.id)
        was_running = existing is not None and existing.status in ("active", "paused")
        services.start(contact, sequence, current_user)
        db.session.commit()
        if was_running:
            message = _("The contact is already in %(name)s.", name=sequence.name)
            return self._back(contact, "sequences", message, "info")
        message = _("Sequence %(name)s started.", name=sequence.name)
        return self._back(contact, "sequences", message, "success")

    @expose(
        "/<int:contact_id>/enrollment/<int:enrollment_id>/<action>", methods=("POST",)
    )
    def enrollment(self, contact_id, enrollment_id, action):
        contact = self._contact(contact_id)
        enrollment = db.session.scalar(
            select(Enrollment).where(
                Enrollment.id == enrollment_id, Enrollment.contact_id == contact.id
            )
        )
        if enrollment is None or action not in ENROLLMENT_ACTIONS:
            abort(404)
        tab = "sequences" if enrollment.sequence.campaign_id is None else "campaigns"
        function, message = ENROLLMENT_ACTIONS[action]
        try:
            if action == "remove":
                with force_locale("en"):  # stored in English, shown translated
                    reason = _("Removed by hand")
                if not function(enrollment, current_user, reason=reason):
                    raise ServiceError(_("The contact is no longer in this sequence."))
            else:
                function(enrollment, current_user)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, tab, exc.message)
        db.session.commit()
        return self._back(contact, tab, str(message), "success")

    @expose("/<int:contact_id>/run/<int:run_id>/<action>", methods=("POST",))
    def run(self, contact_id, run_id, action):
        contact = self._contact(contact_id)
        run = db.session.scalar(
            select(StepRun).where(
                StepRun.id == run_id, StepRun.contact_id == contact.id
            )
        )
        if run is None or action not in RUN_ACTIONS:
            abort(404)
        tab = "sequences" if run.step.sequence.campaign_id is None else "campaigns"
        function, message = RUN_ACTIONS[action]
        try:
            function(run, current_user)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, tab, exc.message)
        db.session.commit()
        return self._back(contact, tab, str(message), "success")

    @expose("/<int:contact_id>/achieve", methods=("POST",))
    def achieve(self, contact_id):
        contact = self._contact(contact_id)
        goal_id = as_id(request.form.get("goal_id"))
        goal = db.session.get(Goal, goal_id) if goal_id else None
        if goal is None or goal.kind != "manual":
            return self._back(contact, "campaigns", _("Choose a goal to achieve."))
        if not campaigns.achieve(goal, contact, source="manual"):
            return self._back(
                contact, "campaigns", _("That campaign is not published.")
            )
        db.session.commit()
        message = _("Goal %(name)s achieved.", name=goal.name or goal.kind)
        return self._back(contact, "campaigns", message, "success")

    def _contact(self, contact_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            abort(404)
        return contact

    def _back(self, contact, tab, message, category="error"):
        flash(message, category)
        return redirect(url_for("contact.details_view", id=contact.id, tab=tab))
