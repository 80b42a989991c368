"""Admin screens for tags and tag categories, and the record's Tags tab."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.core.admin import SecuredModelView
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.tags import record, services
from crm.tags.models import Tag, TagCategory

SETTINGS = _l("Settings")


class _NamedReferenceView(SecuredModelView):
    """Everyone may list these; only administrators change them (access rules)."""

    column_searchable_list = ("name",)
    column_default_sort = "name"
    can_view_details = False
    what = _l("tag")

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            if self.model is Tag:
                model.name = services.clean_tag_name(model.name)
            else:
                model.name = services.clean_name(model.name, str(self.what))
            if services.name_taken(self.model, model.name, model.id):
                raise ServiceError(
                    _("The name %(name)s is already used.", name=model.name)
                )


class TagCategoryView(_NamedReferenceView):
    column_list = ("name", "description")
    form_columns = ("name", "description")
    column_labels = {"name": _l("Name"), "description": _l("Description")}
    what = _l("tag category")

    def __init__(self):
        super().__init__(
            TagCategory,
            name=_l("Tag categories"),
            endpoint="tag_category",
            category=SETTINGS,
        )


class TagView(_NamedReferenceView):
    column_list = ("name", "category", "description", "created_at")
    form_columns = ("name", "category", "description")
    column_labels = {
        "name": _l("Name"),
        "category": _l("Category"),
        "description": _l("Description"),
        "created_at": _l("Created"),
    }
    column_sortable_list = ("name", ("category", "category.name"), "created_at")

    def __init__(self):
        super().__init__(Tag, name=_l("Tags"), endpoint="tag", category=SETTINGS)


def views():
    yield TagCategoryView()
    yield TagView()
    yield record.ContactTagsView()
