"""The plain Flask-Admin scaffold the benchmarks compare against.

A stock ``ModelView(Contact, db)`` over the same tables and the same
database file: the project's models, none of its views, templates, search
or filters. Search covers given name, family name and e-mail; one filter on
tag name. Login is disabled. The only changes from Flask-Admin's defaults
are the page size, set to ours (50 rows) so both lists show the same rows,
and the details view, switched on as the scaffold's record page.
"""

import importlib
import pkgutil

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_babel import Babel

PAGE_SIZE = 50


def _import_models() -> None:
    # Every model module, so the Contact mapper finds all its relationships.
    import crm

    for module in pkgutil.iter_modules(crm.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"crm.{module.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"crm.{module.name}.models":
                    raise


def create_scaffold(db_file) -> Flask:
    """A Flask app with one stock ModelView of contacts over ``db_file``."""
    _import_models()
    from crm.contacts.models import Contact
    from crm.extensions import db

    class ContactScaffold(ModelView):
        column_searchable_list = ("given_name", "family_name", "primary_email")
        column_filters = ("tag_links.tag.name",)
        page_size = PAGE_SIZE
        can_view_details = True

    app = Flask("scaffold")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    app.config["SECRET_KEY"] = "scaffold-on-loopback-only"
    db.init_app(app)
    # Flask-Admin translates through Flask-Babel when it is installed.
    Babel(app)
    admin = Admin(app, name="Scaffold", theme=Bootstrap4Theme())
    admin.add_view(ContactScaffold(Contact, db, endpoint="contact"))
    return app


def case_urls(app, tag_name: str, name_term: str, email_term: str) -> dict:
    """The scaffold's URL for each benchmark case."""
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "contact")
    columns = [name for name, _ in view._list_columns]
    sort = columns.index("family_name")
    # Flask-Admin's numbered filter URL: flt<position>_<index of "equals">.
    equals = next(
        i for i, f in enumerate(view._filters) if type(f).__name__ == "FilterEqual"
    )
    tag_filter = f"flt0_{equals}"
    base = "/admin/contact/"
    return {
        "list page 1": base,
        "sort by last name": f"{base}?sort={sort}",
        "filter by one tag": f"{base}?{tag_filter}={tag_name}",
        "search name substring": f"{base}?search={name_term}",
        "search e-mail substring": f"{base}?search={email_term}",
    }
