"""Settings screens for teams, default permissions and the audit log, and the
contact record's Access privileges tab with its POST endpoints."""

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_admin import expose
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from crm.access import audit, forms, policy, services
from crm.access.models import AuditEntry, Team, TeamMember
from crm.auth.models import User
from crm.contacts import tabs
from crm.contacts.services import get_visible
from crm.core.admin import SecuredModelView, SecuredView
from crm.core.errors import NotFound, ServiceError
from crm.core.text import as_id
from crm.extensions import db

log = logging.getLogger(__name__)

SETTINGS = _l("Settings")


class MemberInline(InlineFormAdmin):
    form_columns = ("id", "user", "is_manager")
    form_label = _l("Members")
    column_labels = {"user": _l("User"), "is_manager": _l("Manager")}


class TeamView(SecuredModelView):
    """Teams: members, and managers who see what the members own."""

    required_role = "admin"
    column_list = ("name", "members", "created_at")
    column_labels = {
        "name": _l("Name"),
        "members": _l("Members (managers marked)"),
        "created_at": _l("Created"),
    }
    column_searchable_list = ("name",)
    column_default_sort = ("name", False)
    form_columns = ("name",)
    inline_models = (MemberInline(TeamMember),)
    column_formatters = {
        "members": lambda view, context, model, name: ", ".join(
            str(m) for m in model.members
        )
    }

    def __init__(self, **kwargs):
        super().__init__(
            Team, name=_l("Teams"), endpoint="team", category=SETTINGS, **kwargs
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            self._check(model)
        db.session.flush()
        audit.record(
            audit.TEAM_CHANGED,
            target_type="team",
            target_ids=[model.id],
            details={
                "name": model.name,
                "members": [m.user.email for m in model.members if not m.is_manager],
                "managers": [m.user.email for m in model.members if m.is_manager],
            },
        )

    def _check(self, model):
        model.name = (model.name or "").strip()
        if not model.name:
            raise ServiceError(_("A team needs a name."))
        other = services.find_team(model.name)
        if other is not None and other is not model:
            raise ServiceError(
                _("A team named %(name)s already exists.", name=model.name)
            )
        seen = set()
        for member in model.members:
            if member.user is None:
                raise ServiceError(_("Choose a user for every member row."))
            if member.user.id in seen:
                raise ServiceError(
                    _("%(user)s is listed twice.", user=member.user.email)
                )
            seen.add(member.user.id)

    def on_model_delete(self, model):
        audit.record(
            audit.TEAM_CHANGED,
            target_type="team",
            target_ids=[model.id],
            details={"deleted": model.name},
        )


class DefaultPermissionsView(SecuredView):
    """The global default permissions given to users created from now on."""

    required_role = "admin"

    def __init__(self, **kwargs):
        super().__init__(
            name=_l("Default permissions"),
            endpoint="default_permissions",
            category=SETTINGS,
            url="/admin/default-permissions",
            **kwargs,
        )

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = forms.DefaultPermissionsForm()
        if form.validate_on_submit():
            try:
                changed = services.set_default_permissions(
                    forms.read_permissions(form), actor=current_user
                )
                db.session.commit()
            except ServiceError as exc:
                db.session.rollback()
                flash(exc.message, "error")
            else:
                flash(
                    _("Default permissions saved.")
                    if changed
                    else _("Nothing changed."),
                    "success",
                )
                return redirect(url_for(".index"))
        elif request.method == "GET":
            forms.fill_permissions(form, services.default_permissions())
        areas, columns = forms.table_rows()
        return self.render(
            "access/defaults.html", form=form, areas=areas, columns=columns
        )


class AuditLogView(SecuredModelView):
    """Read-only, filterable log of access changes, exports and imports."""

    required_role = "admin"
    allow_create = False
    allow_edit = False
    allow_delete = False
    allow_export = True
    simple_list_pager = True
    column_list = (
        "at",
        "actor_label",
        "action",
        "target_type",
        "target_ids",
        "details",
    )
    column_labels = {
        "at": _l("When (UTC)"),
        "actor_label": _l("Who"),
        "action": _l("What"),
        "target_type": _l("Record type"),
        "target_ids": _l("Records"),
        "details": _l("Details"),
    }
    column_filters = ("action", "actor_label", "target_type", "target_ids")
    column_searchable_list = ("actor_label", "target_ids", "details")
    column_default_sort = ("id", True)
    column_export_list = column_list

    def __init__(self, **kwargs):
        super().__init__(
            AuditEntry,
            name=_l("Audit log"),
            endpoint="audit_log",
            category=SETTINGS,
            url="/admin/audit-log",
            **kwargs,
        )


class ContactAccessView(SecuredView):
    """POST endpoints of the Access privileges tab (no menu entry)."""

    def __init__(self, **kwargs):
        super().__init__(
            name=_l("Contact access"),
            endpoint="contact_access",
            url="/admin/contact-access",
            **kwargs,
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        abort(404)

    def _contact(self, action):
        contact = get_visible(request.form.get("id"), current_user, action)
        if contact is None:
            abort(404)
        return contact

    def _back(self, contact):
        return redirect(url_for("contact.details_view", id=contact.id, tab="access"))

    def _finish(self, contact, work, success):
        try:
            work()
            db.session.commit()
        except NotFound:
            db.session.rollback()
            abort(404)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(success, "success")
        return self._back(contact)

    @expose("/share/", methods=("POST",))
    def share(self):
        contact = self._contact(policy.VIEW)
        principal = _principal(request.form.get("principal", ""))
        level = request.form.get("level", "")
        return self._finish(
            contact,
            lambda: services.share(contact, principal, level, current_user),
            _("Access granted."),
        )

    @expose("/unshare/", methods=("POST",))
    def unshare(self):
        contact = self._contact(policy.VIEW)
        grant_id = as_id(request.form.get("grant_id"))
        return self._finish(
            contact,
            lambda: services.unshare(contact, grant_id, current_user),
            _("Access removed."),
        )

    @expose("/reassign/", methods=("POST",))
    def reassign(self):
        contact = self._contact(policy.EDIT)
        owner_id = as_id(request.form.get("owner"))
        new_owner = db.session.get(User, owner_id) if owner_id is not None else None

        def work():
            if not services.can_reassign(current_user):
                raise ServiceError(_("You may not reassign the owner of a contact."))
            if new_owner is None:
                raise ServiceError(_("Choose an active user as the new owner."))
            services.reassign_owner(contact, new_owner, current_user)

        return self._finish(contact, work, _("Owner reassigned."))


def _principal(value: str):
    """The user or team a share form names (``user:<id>``), or None.

    An id past the database's range names nobody.
    """
    kind, _sep, ident = value.partition(":")
    ident = as_id(ident)
    if ident is None or ident < 0:
        return None
    return services.parse_principal(f"{kind}:{ident}")


@tabs.renderer("access")
def render_access_tab(contact, tab_key) -> Markup:
    """The Access privileges tab: owner, reassignment, grants, share form."""
    may_share = services.can_manage_shares(contact, current_user)
    may_reassign = services.can_reassign(current_user) and (
        get_visible(contact.id, current_user, policy.EDIT) is not None
    )
    users, teams = services.share_targets() if (may_share or may_reassign) else ([], [])
    return Markup(
        render_template(
            "access/tab.html",
            contact=contact,
            shares=services.shares_of(contact),
            may_share=may_share,
            may_reassign=may_reassign,
            users=users,
            teams=teams,
        )
    )


def views():
    yield TeamView()
    yield DefaultPermissionsView()
    yield AuditLogView()
    yield ContactAccessView()
