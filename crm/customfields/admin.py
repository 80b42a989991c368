"""Admin screens defining custom tabs, headers and fields; the record's custom tabs."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from crm.core.admin import SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import clean
from crm.customfields import record, services
from crm.customfields.models import (
    FIELD_TYPES,
    CustomField,
    CustomHeader,
    CustomTab,
    CustomValue,
)
from crm.extensions import db

SETTINGS = _l("Settings")


class _DefinitionView(SecuredModelView):
    """Custom field definitions: administrators only."""

    required_role = "admin"
    can_view_details = False
    column_default_sort = ("position", False)


class CustomTabView(_DefinitionView):
    column_list = ("name", "position")
    column_labels = {"name": _l("Tab name"), "position": _l("Position")}
    column_descriptions = {"position": _l("Tabs are shown in this order.")}
    form_columns = ("name", "position")

    def __init__(self):
        super().__init__(
            CustomTab, name=_l("Custom tabs"), endpoint="custom_tab", category=SETTINGS
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            model.name = clean(model.name)
            if not model.name:
                raise ServiceError(_("A custom tab needs a name."))
            clash = db.session.scalar(
                select(CustomTab.id).where(
                    func.lower(CustomTab.name) == model.name.lower(),
                    CustomTab.id != (model.id or 0),
                )
            )
            if clash is not None:
                raise ServiceError(
                    _("A custom tab named %(name)s already exists.", name=model.name)
                )

    def on_model_delete(self, model):
        # Like Keap (409 on deleting a tab that still has groups).
        if model.headers:
            raise ServiceError(
                _(
                    "The tab %(name)s still has headers; delete or move them first.",
                    name=model.name,
                )
            )


class CustomHeaderView(_DefinitionView):
    column_list = ("tab", "name", "position")
    column_labels = {
        "tab": _l("Tab"),
        "name": _l("Header"),
        "position": _l("Position"),
    }
    column_sortable_list = (("tab", "tab.name"), "name", "position")
    column_default_sort = [("tab_id", False), ("position", False)]
    form_columns = ("tab", "name", "position")

    def __init__(self):
        super().__init__(
            CustomHeader,
            name=_l("Custom headers"),
            endpoint="custom_header",
            category=SETTINGS,
        )

    def on_model_change(self, form, model, is_created):
        model.name = clean(model.name)
        if not model.name:
            raise ServiceError(_("A header needs a name."))

    def on_model_delete(self, model):
        if model.fields:
            raise ServiceError(
                _(
                    "The header %(name)s still has fields; delete or move them first.",
                    name=model.name,
                )
            )


class FieldDefinitionView(_DefinitionView):
    """What every custom-field definition screen shares: contacts, tasks, opportunities.

    The type pick-list, the options box and the field name, which is left
    empty to be derived from the label; ``check`` validates the definition.
    """

    column_labels = {
        "label": _l("Label"),
        "field_type": _l("Type"),
        "field_name": _l("Field name"),
        "options": _l("Options"),
        "required": _l("Required"),
        "position": _l("Position"),
    }
    column_formatters = {
        "field_type": lambda v, c, m, p: dict(FIELD_TYPES).get(
            m.field_type, m.field_type
        )
    }
    form_overrides = {"options": TextAreaField, "field_type": SelectField}
    form_args = {
        "field_type": {
            "label": _l("Type"),
            "choices": [SelectChoice(key, label) for key, label in FIELD_TYPES],
        },
        "options": {
            "label": _l("Options"),
            "description": _l(
                "For drop-down, radio and list box fields: one option a line."
            ),
        },
        "position": {"default": 0},
    }
    form_extra_fields = {
        "machine_name": StringField(
            _l("Field name"),
            description=_l(
                "The name imports and the API use; leave empty to derive it "
                "from the label."
            ),
        )
    }

    def check(self, model, is_created: bool) -> None:
        raise NotImplementedError

    def on_form_prefill(self, form, id):
        model = self.get_one(id)
        if model is not None:
            form.machine_name.data = model.field_name

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            model.field_name = form.machine_name.data
            self.check(model, is_created)


class CustomFieldView(FieldDefinitionView):
    column_list = (
        "header",
        "label",
        "field_type",
        "field_name",
        "required",
        "position",
    )
    column_labels = {
        **FieldDefinitionView.column_labels,
        "header": _l("Tab › header"),
    }
    column_searchable_list = ("label", "field_name")
    column_default_sort = [("header_id", False), ("position", False)]
    form_columns = (
        "header",
        "label",
        "machine_name",
        "field_type",
        "options",
        "required",
        "position",
    )

    def __init__(self):
        super().__init__(
            CustomField,
            name=_l("Custom fields"),
            endpoint="custom_field",
            category=SETTINGS,
        )

    def check(self, model, is_created):
        services.check_definition(model)
        if not is_created and _type_changed(model) and _has_values(model):
            raise ServiceError(
                _(
                    "Contacts already have values in %(label)s, so its type "
                    "cannot change.",
                    label=model.label,
                )
            )


def _type_changed(model) -> bool:
    return inspect(model).attrs.field_type.history.has_changes()


def _has_values(model) -> bool:
    query = select(CustomValue.id).where(CustomValue.field_id == model.id).limit(1)
    return db.session.scalar(query) is not None


def views():
    yield CustomTabView()
    yield CustomHeaderView()
    yield CustomFieldView()
    yield record.CustomValuesView()
