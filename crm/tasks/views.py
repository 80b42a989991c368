"""The "My tasks" and "Reminders" screens of the signed-in user."""

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import expose
from flask_babel import LazyString, lazy_pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from crm.auth.models import User
from crm.core.admin import SecuredView
from crm.core.db import utcnow
from crm.core.text import as_id
from crm.extensions import db
from crm.tasks import reminders, services
from crm.tasks.models import PRIORITIES, Appointment, Task

GROUPS = (
    # Headings over a count: Spanish needs a wording that fits one task or many.
    ("overdue", lazy_pgettext("task group", "Overdue")),
    ("today", lazy_pgettext("task group", "Due today")),
    ("upcoming", lazy_pgettext("task group", "Upcoming")),
)


class MyTasksView(SecuredView):
    """Tasks assigned to the user on contacts they may see, by when they are due.

    Administrators may look at anyone's list with ``?user_id=``.
    """

    def __init__(self):
        super().__init__(
            name=_l("My tasks"), endpoint="my_tasks", url="/admin/my-tasks"
        )

    @expose("/")
    def index(self):
        owner = self._owner()
        priority = request.args.get("priority") or None
        if priority not in dict(PRIORITIES):
            priority = None
        groups = services.my_tasks(
            owner, now=utcnow(), priority=priority, viewer=current_user
        )
        users = []
        if current_user.is_admin:
            users = db.session.scalars(
                select(User)
                .where(User.active.is_(True))
                .order_by(User.name, User.email)
            ).all()
        return self.render(
            "tasks/my_tasks.html",
            owner=owner,
            groups=[(key, label, groups[key]) for key, label in GROUPS],
            priorities=PRIORITIES,
            priority=priority,
            users=users,
            local=lambda moment: services.local(moment, current_user),
            priority_label=dict(PRIORITIES),
        )

    def _owner(self):
        if current_user.is_admin and request.args.get("user_id"):
            user_id = as_id(request.args["user_id"])
            user = db.session.get(User, user_id) if user_id is not None else None
            if user is not None:
                return user
        return current_user._get_current_object()


def _reminders_label():
    label = _("Reminders")
    # Outside a request (start-up, CLI) there is nobody to count for.
    if has_request_context() and current_user.is_authenticated:
        count = reminders.count_for(current_user)
        if count:
            return f"{label} ({count})"
    return label


class RemindersView(SecuredView):
    """Tasks and appointments whose reminder time has come, until dismissed."""

    def __init__(self):
        super().__init__(
            name=LazyString(_reminders_label),
            endpoint="reminders",
            url="/admin/reminders",
        )

    @expose("/")
    def index(self):
        rows = reminders.due_for(current_user)
        return self.render(
            "tasks/reminders.html",
            rows=[(_kind(row), row) for row in rows],
            local=lambda moment: services.local(moment, current_user),
        )

    @expose("/<any(task,appointment):kind>/<int:id>/dismiss", methods=("POST",))
    def dismiss(self, kind, id):
        model = Task if kind == "task" else Appointment
        row = reminders.own_reminder(model, id, current_user)
        if row is None:
            abort(404)
        reminders.dismiss(row, current_user)
        db.session.commit()
        flash(_("Reminder dismissed."), "success")
        return redirect(url_for(".index"))


def _kind(row) -> str:
    return "task" if isinstance(row, Task) else "appointment"
