"""The one secured base for every admin screen.

Flask-Admin reads rows along several paths that each bypass the list query
by default (single-record loads, ajax lookups and the ids posted back,
relation pickers, list editing). Every view of this project derives from the
classes here, which route each of those paths through ``access.policy``.
"""

import logging
import re
from datetime import datetime
from decimal import Decimal

from flask import (
    abort,
    after_this_request,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.fields import (
    InlineModelFormList,
    QuerySelectField,
    QuerySelectMultipleField,
)
from flask_admin.contrib.sqla.typefmt import DEFAULT_FORMATTERS
from flask_admin.helpers import get_redirect_target
from flask_admin.model import filters as admin_filters
from flask_admin.model.helpers import get_mdict_item_or_list
from flask_admin.model.typefmt import DETAIL_FORMATTERS
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Integer, Numeric, func, literal, literal_column, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import FormField, PasswordField
from wtforms.validators import ValidationError

from crm.access import audit, policy
from crm.core import csvsafe
from crm.core.errors import ServiceError
from crm.core.text import ID_MAX, ID_MIN, as_id, shorten
from crm.extensions import db

log = logging.getLogger(__name__)

#: Lazy: read it with ``str()`` where the request's language is known.
STALE_MESSAGE = _l(
    "This record was changed by someone else since you opened it. "
    "Nothing was saved: reload it to see their changes, then edit again."
)


def _login_redirect():
    return redirect(url_for("auth.login", next=request.full_path))


def key_value(column, raw):
    """A posted key as the value of ``column``, or None when it names no row.

    PostgreSQL refuses to compare an integer key with text, and both engines
    refuse to bind an integer past their range: such an id is no row's.
    """
    if isinstance(column.type, Integer):
        return as_id(raw)
    try:
        return column.type.python_type(raw)
    except (ValueError, TypeError, NotImplementedError):
        return None


class BoundedIntFilter:
    """Flask-Admin's integer filters, for values past the database's range.

    A list filter drops such a value (it names no row); a comparison reads
    it as a number, which both engines compare with an integer column
    without binding it as one.
    """

    def clean(self, value):
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [number for number in cleaned if ID_MIN <= number <= ID_MAX]
        if ID_MIN <= cleaned <= ID_MAX:
            return cleaned
        return literal(Decimal(cleaned), Numeric())


_bounded_classes: dict[type, type] = {}


def bound_int_filter(flt):
    """Make a stock integer filter on an integer column a ``BoundedIntFilter``."""
    cls = type(flt)
    column = getattr(flt, "column", None)
    if (
        isinstance(flt, (admin_filters.BaseIntFilter, admin_filters.BaseIntListFilter))
        and not isinstance(flt, BoundedIntFilter)
        and isinstance(getattr(column, "type", None), Integer)
    ):
        if cls not in _bounded_classes:
            _bounded_classes[cls] = type(cls.__name__, (BoundedIntFilter, cls), {})
        flt.__class__ = _bounded_classes[cls]
    return flt


class SecuredAjaxLoader(QueryAjaxModelLoader):
    """An ajax picker that lists and accepts only rows the user may see."""

    def get_query(self):
        return super().get_query().filter(policy.scope(self.model, current_user))

    def get_one(self, pk):
        if pk in (None, ""):
            return None
        pk_column = getattr(self.model, self.pk)
        value = key_value(pk_column, pk)
        if value is None:
            return None
        with db.session.no_autoflush:
            return self.get_query().filter(pk_column == value).one_or_none()

    def get_list(self, term, offset=0, limit=10):
        cap = current_app.config["LOOKUP_PAGE_CAP"]
        limit = max(1, min(limit or cap, cap))
        return super().get_list(term or "", max(offset or 0, 0), limit)


def secure_loader(loader):
    """Turn a stock loader into a secured one in place (fields keep their reference)."""
    if isinstance(loader, QueryAjaxModelLoader) and not isinstance(
        loader, SecuredAjaxLoader
    ):
        loader.__class__ = SecuredAjaxLoader
    return loader


# The label of a relation select's empty choice. WTForms 3.3 shows the value of a
# choice whose label is empty, which for Flask-Admin's blank choice is "__None".
BLANK_CHOICE = "—"
# Columns that hold credentials: never listed, shown, exported or put in a form.
SECRET_COLUMN = re.compile(r"password|secret|session_token", re.I)


def scope_relation_fields(form) -> None:
    """Limit every relation select of a form (and its inline forms) to visible rows,
    and give its empty choice a label."""
    for field in form:
        if isinstance(field, (QuerySelectField, QuerySelectMultipleField)):
            query = field.query_factory() if field.query_factory else field.query
            entity = query.column_descriptions[0]["entity"]
            field.query = query.filter(policy.scope(entity, current_user))
            if getattr(field, "allow_blank", False) and not field.blank_text:
                field.blank_text = BLANK_CHOICE
        elif isinstance(field, InlineModelFormList):
            for entry in field.entries:
                scope_relation_fields(entry.form)
            _label_blank_choices(field.unbound_field.args[0])
        elif isinstance(field, FormField):
            scope_relation_fields(field.form)


def _label_blank_choices(form_class) -> None:
    """Label the empty choice of an inline form's relation selects.

    Flask-Admin builds the row that "Add" copies from the inline form's class
    at render time, after the entries were scoped, so the label is set on the
    class's unbound fields as well.
    """
    for name in dir(form_class):
        unbound = getattr(form_class, name, None)
        field_class = getattr(unbound, "field_class", None)
        if isinstance(field_class, type) and issubclass(field_class, QuerySelectField):
            if not unbound.kwargs.get("blank_text"):
                unbound.kwargs["blank_text"] = BLANK_CHOICE


class SecuredMixin:
    """Login, an active account and a role for every view."""

    #: "user" for any signed-in user, "admin" for administrators only.
    required_role = "user"

    def is_accessible(self):
        if not current_user.is_authenticated or not current_user.is_active:
            return False
        if self.required_role == "admin":
            return bool(current_user.is_admin)
        return True

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return _login_redirect()
        abort(403)


def _format_timestamp(view, value, name=None):
    """Timestamps in lists to the minute, in UTC (they are stored in UTC)."""
    return (
        value.strftime("%Y-%m-%d %H:%M UTC")
        if value.tzinfo
        else value.strftime("%Y-%m-%d %H:%M")
    )


# A page number past the end of any list; larger ones read as this one.
PAGE_BEYOND_ANY_LIST = 10**9


def page_number(page) -> int:
    """The list page to read: a negative one is the first (PostgreSQL refuses
    a negative offset), and one past any list's end stays within a 64-bit
    offset (both engines refuse larger)."""
    return min(max(page or 0, 0), PAGE_BEYOND_ANY_LIST)


class SecuredModelView(SecuredMixin, ModelView):
    """A model view whose every read and write goes through the scope predicate."""

    column_type_formatters = {**DEFAULT_FORMATTERS, datetime: _format_timestamp}
    column_type_formatters_detail = {
        **DETAIL_FORMATTERS,
        datetime: _format_timestamp,
    }

    # Large tables skip the exact count; views that want a capped count say so.
    simple_list_pager = False
    can_view_details = True
    named_filter_urls = True
    page_size = 50
    can_set_page_size = False
    export_types = ["csv"]

    def __init__(self, model, **kwargs):
        super().__init__(model, db, **kwargs)

    # Permission flags follow the user on every request.
    def _allowed(self, action):
        return policy.allowed(current_user, self.model, action)

    @property
    def can_create(self):
        return self._allowed("create") and getattr(self, "allow_create", True)

    @can_create.setter
    def can_create(self, value):
        self.allow_create = value

    @property
    def can_edit(self):
        return self._allowed("edit") and getattr(self, "allow_edit", True)

    @can_edit.setter
    def can_edit(self, value):
        self.allow_edit = value

    @property
    def can_delete(self):
        return self._allowed("delete") and getattr(self, "allow_delete", True)

    @can_delete.setter
    def can_delete(self, value):
        self.allow_delete = value

    @property
    def can_export(self):
        return self._allowed("export") and getattr(self, "allow_export", False)

    @can_export.setter
    def can_export(self, value):
        self.allow_export = value

    @property
    def column_editable_list(self):
        # ajax_update ignores can_edit, so the list of editable columns itself
        # is empty for users who may not edit.
        if self.can_edit:
            return getattr(self, "editable_columns", ())
        return ()

    @column_editable_list.setter
    def column_editable_list(self, value):
        self.editable_columns = value or ()

    @property
    def export_max_rows(self):
        return current_app.config["EXPORT_MAX_ROWS"]

    @export_max_rows.setter
    def export_max_rows(self, value):
        pass

    # Reads.
    #: Endpoints that only read; every other path (edit, delete, mass actions,
    #: list editing, custom POSTs) needs edit rights on the rows it touches.
    read_endpoints = ("index_view", "details_view", "export", "ajax_lookup")

    def scope_action(self):
        """View for the reading endpoints, edit for every other path."""
        endpoint = (request.endpoint or "").rpartition(".")[2]
        return policy.VIEW if endpoint in self.read_endpoints else policy.EDIT

    def get_query(self):
        return (
            super()
            .get_query()
            .filter(policy.scope(self.model, current_user, self.scope_action()))
        )

    def _apply_pagination(self, query, page, page_size):
        return super()._apply_pagination(query, page_number(page), page_size)

    def _get_list_extra_args(self):
        # The page the list reads is also the one its pager counts from.
        args = super()._get_list_extra_args()
        args.page = page_number(args.page)
        return args

    def get_count_query(self):
        # A literal count(*) keeps SQLite on its fast counting path.
        return (
            db.session.query(func.count(literal_column("*")))
            .select_from(self.model)
            .filter(policy.scope(self.model, current_user, self.scope_action()))
        )

    def get_one(self, id):
        return self.get_one_for(id, self.scope_action())

    def get_one_for(self, id, action):
        """The row ``id`` if the user may ``action`` it, else None."""
        pk = self._get_model_pk()
        value = key_value(pk, id)
        if value is None:
            return None
        return (
            db.session.query(self.model)
            .filter(policy.scope(self.model, current_user, action))
            .filter(pk == value)
            .one_or_none()
        )

    def _get_model_pk(self):
        return getattr(self.model, self._primary_key)

    def get_filters(self):
        filters = super().get_filters()
        for flt in filters or ():
            bound_int_filter(flt)
        return filters

    def get_column_names(self, only_columns, excluded_columns):
        return [
            (name, label)
            for name, label in super().get_column_names(only_columns, excluded_columns)
            if not (isinstance(name, str) and SECRET_COLUMN.search(name))
        ]

    def scaffold_form(self):
        form_class = super().scaffold_form()
        for name in [n for n in vars(form_class) if SECRET_COLUMN.search(n)]:
            field = getattr(form_class, name)
            if getattr(field, "field_class", None) is not PasswordField:
                delattr(form_class, name)
        return form_class

    def _refresh_forms_cache(self):
        super()._refresh_forms_cache()
        for loader in self._form_ajax_refs.values():
            secure_loader(loader)

    def _create_ajax_loader(self, name, options):
        return secure_loader(super()._create_ajax_loader(name, options))

    def create_form(self, obj=None):
        form = super().create_form(obj)
        scope_relation_fields(form)
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        scope_relation_fields(form)
        return form

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self):
        if not self.column_editable_list:
            abort(404)
        if self.get_one(request.form.get("list_form_pk")) is None:
            abort(404)
        return super().ajax_update()

    @expose("/ajax/lookup/")
    def ajax_lookup(self):
        return super().ajax_lookup()

    def coerce_ids(self, ids) -> list:
        """Posted row ids as key values; ids that name no row are dropped."""
        if isinstance(self._primary_key, tuple):
            return list(ids)
        pk = self._get_model_pk()
        values = [key_value(pk, raw) for raw in ids]
        return [value for value in values if value is not None]

    def action_delete(self, ids):
        return super().action_delete(self.coerce_ids(ids))

    # Keep the stock "Delete" mass action registered on the override.
    action_delete._action = ModelView.action_delete._action

    def get_action_ids(self, ids, action=policy.EDIT):
        """The subset of posted ids the user may act on."""
        ids = self.coerce_ids(ids)
        pk = self._get_model_pk()
        rows = db.session.execute(
            select(pk).where(
                pk.in_(ids), policy.scope(self.model, current_user, action)
            )
        )
        return [row[0] for row in rows]

    # Refusals: say why, and send a user who may look at the row to the row.
    #: The sentence for a row the user may see but not change.
    read_only_message = _l("You may view this record but not change it.")

    def read_only_url(self, model) -> str:
        """Where a user who may see ``model`` but not change it is sent."""
        if self.can_view_details:
            return self.get_url(".details_view", id=self.get_pk_value(model))
        return self.get_save_return_url(model)

    def _refusal(self, name):
        """A redirect with the reason when the user may not open this screen."""
        list_url = get_redirect_target() or self.get_url(".index_view")
        if name == "create_view" and not self.can_create:
            flash(
                _(
                    "Your permissions do not let you add records to “%(screen)s”.",
                    screen=self.name,
                ),
                "error",
            )
            return redirect(list_url)
        if name not in ("edit_view", "delete_view"):
            return None

        # The screen as a whole: the same answer for every id, seen or not.
        if not (self.can_edit if name == "edit_view" else self.can_delete):
            flash(
                _(
                    "Your permissions do not let you change records in “%(screen)s”.",
                    screen=self.name,
                ),
                "error",
            )
            return redirect(list_url)

        # One row the user may see but not change: open it read-only.
        args = request.args if name == "edit_view" else request.form
        id = get_mdict_item_or_list(args, "id")
        if id is None or self.get_one_for(id, policy.EDIT) is not None:
            return None
        model = self.get_one_for(id, policy.VIEW)
        if model is None:
            return None
        flash(str(self.read_only_message), "error")
        return redirect(self.read_only_url(model))

    def _stray_list_arguments(self):
        """Answer a list URL with arguments its export link cannot repeat.

        The list's export link passes the query string on: "export_type" and
        "endpoint" would collide with the link's own arguments, and the
        names ``url_for`` reads itself ("_external", "_anchor"...) would
        change the link. A known export type opens that export; any other
        is refused with a message, on the list without those arguments.
        """
        stray = [
            key
            for key in request.args
            if key in ("export_type", "endpoint") or key.startswith("_")
        ]
        if not stray:
            return None
        kept = {key: request.args.getlist(key) for key in request.args}
        for key in stray:
            kept.pop(key)
        export_type = request.args.get("export_type")
        if export_type is None:
            return redirect(url_for(".index_view", **kept))
        if self.can_export and export_type in self.export_types:
            return redirect(url_for(".export", export_type=export_type, **kept))
        flash(
            _("This list has no export “%(type)s”.", type=shorten(export_type)),
            "error",
        )
        return redirect(url_for(".index_view", **kept))

    # Exports: audited, and cells a spreadsheet would evaluate are neutralised.
    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is None and name == "index_view":
            response = self._stray_list_arguments()
        if response is None:
            response = self._refusal(name)
        if response is None and name == "export":
            after_this_request(self._audit_export)
        return response

    def _audit_export(self, response):
        if response.status_code == 200:
            audit.record_now(
                audit.EXPORTED,
                target_type=self.endpoint,
                details={"query": request.query_string.decode("utf-8", "replace")},
            )
        return response

    def get_export_value(self, model, name):
        value = super().get_export_value(model, name)
        return csvsafe.neutralise(value) if isinstance(value, str) else value

    # Writes and errors.
    def handle_view_exception(self, exc):
        if isinstance(exc, ValidationError):
            flash(str(exc), "error")
            return True
        if isinstance(exc, ServiceError):
            flash(exc.message, "error")
            return True
        if isinstance(exc, StaleDataError):
            flash(str(STALE_MESSAGE), "error")
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc):
            # SQLite's one writer was busy for longer than the wait allowed.
            db.session.rollback()
            log.warning("%s: the database stayed locked; nothing saved", self.endpoint)
            flash(
                _(
                    "The database is busy with another change (an import or a dry "
                    "run, for instance); nothing was saved. Try again in a moment."
                ),
                "error",
            )
            return True
        if current_app.config.get("FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION"):
            raise exc
        if isinstance(exc, IntegrityError):
            log.warning("integrity error in %s: %s", self.endpoint, exc)
            flash(
                _("That change conflicts with another record; nothing was saved."),
                "error",
            )
            return True
        log.exception("unexpected error in %s", self.endpoint)
        flash(
            _("Something went wrong and nothing was saved. The error was logged."),
            "error",
        )
        return True


class SecuredView(SecuredMixin, BaseView):
    """A custom admin screen (not tied to one model) behind the same login."""


class SecuredIndexView(SecuredMixin, AdminIndexView):
    """The admin home page; open only to signed-in users."""

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))
